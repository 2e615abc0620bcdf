#include "cluster/handshake.hpp"

#include "cluster/sockets.hpp"
#include "core/write_all.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <sys/random.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace playcount::handshake {

namespace {

constexpr char magic_bytes[magic_size] = {'P', 'C', 'C', 'L', 0, 0, 0, 1};

mac proof(std::string_view context, std::string_view token, const nonce& server,
          const nonce& node) {
  std::string data(context);
  data.append(reinterpret_cast<const char*>(server.data()), server.size());
  data.append(reinterpret_cast<const char*>(node.data()), node.size());
  mac out{};
  unsigned int length = 0;
  // An empty key is a valid HMAC key: a server without a token still runs
  // the same exchange.
  static const unsigned char no_key = 0;
  HMAC(EVP_sha256(),
       token.empty() ? &no_key : reinterpret_cast<const void*>(token.data()),
       static_cast<int>(token.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       out.data(), &length);
  return out;
}

// Reads one handshake message before `until`.
result<void> read_exactly(int fd, unsigned char* into, size_t size,
                          std::chrono::steady_clock::time_point until) {
  auto done = read_within(fd, into, size, until);
  if (done)
    return done;
  if (done.error().code == 0 && done.error().reason == peer_closed)
    return failure::words(
        "the server closed the connection during the cluster handshake");
  return std::move(done).error().within("cluster handshake");
}

} // namespace

bool random_nonce(nonce& out) {
  for (size_t got = 0; got < out.size();) {
    const ssize_t n = ::getrandom(out.data() + got, out.size() - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

std::string_view magic() {
  return {magic_bytes, magic_size};
}

mac node_proof(std::string_view token, const nonce& server, const nonce& node) {
  return proof("playcount-cluster-v1 node", token, server, node);
}

mac server_proof(std::string_view token, const nonce& server,
                 const nonce& node) {
  return proof("playcount-cluster-v1 server", token, server, node);
}

bool same(const mac& a, const unsigned char* b) {
  return CRYPTO_memcmp(a.data(), b, a.size()) == 0;
}

result<uint64_t> join(int fd, std::string_view token, bool& refused) {
  refused = false;
  const auto until = std::chrono::steady_clock::now() + deadline;
  unsigned char hello[hello_size];
  if (auto read = read_exactly(fd, hello, sizeof hello, until); !read)
    return std::move(read).error();
  if (std::memcmp(hello, magic_bytes, magic_size) != 0)
    return failure::words("the peer is not a playcount server of this version "
                          "(cluster handshake)");
  nonce server_nonce{};
  std::memcpy(server_nonce.data(), hello + magic_size, nonce_size);
  nonce node_nonce{};
  if (!random_nonce(node_nonce))
    return failure::words("no random bytes for the cluster handshake");
  const mac mine = node_proof(token, server_nonce, node_nonce);
  unsigned char answer[answer_size];
  std::memcpy(answer, magic_bytes, magic_size);
  std::memcpy(answer + magic_size, node_nonce.data(), nonce_size);
  std::memcpy(answer + magic_size + nonce_size, mine.data(), mac_size);
  if (!send_all(fd, {reinterpret_cast<const char*>(answer), sizeof answer}))
    return failure::of_errno({}, {}, errno).within("cluster handshake");
  unsigned char verdict[verdict_size];
  if (auto read = read_exactly(fd, verdict, sizeof verdict, until); !read)
    return std::move(read).error();
  if (verdict[0] == static_cast<uint8_t>(status::refused)) {
    refused = true;
    return failure::words("wrong or missing cluster token");
  }
  if (verdict[0] != static_cast<uint8_t>(status::accepted) ||
      !same(server_proof(token, server_nonce, node_nonce), verdict + 1))
    return failure::words("the server could not prove it has the cluster "
                          "token (a different token, or not the server)");
  uint64_t session = 0;
  for (size_t i = 0; i < 8; ++i)
    session = (session << 8) | verdict[1 + mac_size + i];
  return session;
}

} // namespace playcount::handshake
