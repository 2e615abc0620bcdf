#pragma once

// The cluster port's handshake: a node proves it has the cluster token, and
// the server proves it has it too, before CAF sees a single byte. The token
// never crosses the wire: each side sends an HMAC-SHA256 of both sides'
// fresh nonces, keyed with the token (an empty key when the server has none;
// the protocol is the same).
//
//   server -> node   hello: magic, version, server nonce        (40 bytes)
//   node -> server   answer: magic, version, node nonce,
//                    HMAC(token, "node" context, nonces)        (72 bytes)
//   server -> node   verdict: status, HMAC(token, "server"
//                    context, nonces), session id               (41 bytes)
//
// Every message has a fixed size, so the server reads at most
// `answer_size` bytes from a peer that has not proven the token. The
// session id names the connection to the gate (the node says it when it
// registers), which tells the node's address in the log and the stats.

#include "core/failure.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace playcount::handshake {

inline constexpr size_t nonce_size = 32;
inline constexpr size_t mac_size = 32;  // SHA-256
inline constexpr size_t magic_size = 8; // "PCCL" and a big-endian version
inline constexpr size_t hello_size = magic_size + nonce_size;
inline constexpr size_t answer_size = magic_size + nonce_size + mac_size;
inline constexpr size_t verdict_size = 1 + mac_size + 8;
/// How long either side waits for the other's next handshake message.
inline constexpr auto deadline = std::chrono::seconds(5);

enum class status : uint8_t { accepted = 0, refused = 1 };

using nonce = std::array<unsigned char, nonce_size>;
using mac = std::array<unsigned char, mac_size>;

/// Fresh random bytes (getrandom); false when the kernel has none to give.
[[nodiscard]] bool random_nonce(nonce& out);

/// The magic and version both sides open their first message with.
[[nodiscard]] std::string_view magic();

/// HMAC-SHA256(token, context || server_nonce || node_nonce), with the
/// context "playcount-cluster-v1 node" for the node's proof and
/// "playcount-cluster-v1 server" for the server's: a proof sent by one side
/// is never accepted from the other.
[[nodiscard]] mac node_proof(std::string_view token, const nonce& server,
                             const nonce& node);
[[nodiscard]] mac server_proof(std::string_view token, const nonce& server,
                               const nonce& node);

/// Compares two proofs without an early exit.
[[nodiscard]] bool same(const mac& a, const unsigned char* b);

/// The node's side on a connected, blocking socket `fd`: reads the hello,
/// answers, checks the server's verdict and proof, each within `deadline`.
/// Returns the session id when the server accepted the node; else why not
/// (and `refused` set when the server refused the token, as opposed to a
/// broken or impostor connection).
result<uint64_t> join(int fd, std::string_view token, bool& refused);

} // namespace playcount::handshake
