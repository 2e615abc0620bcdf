#pragma once

// A tiny blocking HTTP/1.1 client over a loopback socket, for driving the
// real server in tests: it sends the bytes it is given, exactly, and reads
// the answer until the server closes the connection (every answer of the
// server closes it unless the request asked for keep-alive).

#include "tests/support/loopback.hpp"
#include "tests/support/slowdown.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace playcount::test {

struct http_response {
  bool received = false; ///< false: no answer at all (connection dropped)
  int status = 0;
  std::map<std::string, std::string> headers; ///< names in lower case
  std::string body;
  std::string raw;

  [[nodiscard]] std::string header(const std::string& name) const {
    auto i = headers.find(name);
    return i == headers.end() ? std::string() : i->second;
  }
};

/// Parses one response (the last one if `raw` holds a `100 Continue`
/// first).
inline http_response parse_response(const std::string& raw) {
  http_response r;
  r.raw = raw;
  size_t start = 0;
  while (true) {
    const size_t end = raw.find("\r\n\r\n", start);
    if (raw.compare(start, 5, "HTTP/") != 0 || end == std::string::npos)
      return r;
    const size_t sp = raw.find(' ', start);
    r.status = std::atoi(raw.c_str() + sp + 1);
    if (r.status == 100) {
      start = end + 4;
      continue;
    }
    r.headers.clear();
    size_t line = raw.find("\r\n", start) + 2;
    while (line < end) {
      const size_t eol = raw.find("\r\n", line);
      const std::string h = raw.substr(line, eol - line);
      const size_t colon = h.find(':');
      std::string name = h.substr(0, colon);
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = colon + 1;
      while (v < h.size() && h[v] == ' ')
        ++v;
      r.headers[name] = h.substr(v);
      line = eol + 2;
    }
    r.body = raw.substr(end + 4);
    auto cl = r.headers.find("content-length");
    if (cl != r.headers.end() && r.body.size() > std::stoull(cl->second))
      r.body.resize(std::stoull(cl->second));
    r.received = true;
    return r;
  }
}

class http_connection {
public:
  explicit http_connection(uint16_t port)
      : fd_(connect_loopback(port)) {}
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;
  ~http_connection() { close(); }

  [[nodiscard]] bool connected() const noexcept { return fd_ >= 0; }

  /// Sends all of `bytes`; false when the server closed or reset first.
  bool send(const std::string& bytes) {
    size_t done = 0;
    while (fd_ >= 0 && done < bytes.size()) {
      const ssize_t n =
          ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      done += static_cast<size_t>(n);
    }
    return fd_ >= 0;
  }

  /// Reads one whole answer: until its Content-Length is complete, the
  /// server closes, or `timeout` passes.
  std::string
  read_all(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    while (!complete(out)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(out, left))
        break;
    }
    return out;
  }

  /// Reads until `out` contains `marker`, or timeout.
  bool read_until(std::string& out, const std::string& marker,
                  std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    while (out.find(marker) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(out, left))
        return false;
    }
    return true;
  }

  /// Whether the answer in `out` is whole, by its Content-Length (a
  /// `100 Continue` before it does not count).
  [[nodiscard]] static bool complete(const std::string& out) {
    size_t start = 0;
    while (out.compare(start, 12, "HTTP/1.1 100") == 0) {
      const size_t end = out.find("\r\n\r\n", start);
      if (end == std::string::npos)
        return false;
      start = end + 4;
    }
    const size_t end = out.find("\r\n\r\n", start);
    if (end == std::string::npos)
      return false;
    std::string head = out.substr(start, end - start);
    for (auto& c : head)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t cl = head.find("\r\ncontent-length:");
    if (cl == std::string::npos)
      return false; // until the server closes
    return out.size() - (end + 4) >= std::stoull(head.substr(cl + 17));
  }

  /// One read; false when closed, failed or timed out.
  bool read_some(std::string& out, std::chrono::milliseconds timeout) {
    if (fd_ < 0)
      return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
      return false;
    char buf[65536];
    ssize_t n;
    do
      n = ::recv(fd_, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
      return false;
    out.append(buf, static_cast<size_t>(n));
    return true;
  }

  /// Whether the server closes (or resets) the connection within
  /// `timeout`; bytes that still arrive are read and dropped.
  bool closed_by_server(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    while (fd_ >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return false;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        return true;
    }
    return true;
  }

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_ = -1;
};

/// Sends `raw` as it is and returns the answer. If the server answers
/// before the whole request is sent (an early 413), the answer still
/// counts.
inline http_response http_exchange(uint16_t port, const std::string& raw) {
  http_connection c(port);
  if (!c.connected())
    return {};
  c.send(raw);
  return parse_response(c.read_all());
}

inline std::string request_text(const std::string& method,
                                const std::string& target,
                                const std::vector<std::string>& headers = {},
                                const std::string& body = {},
                                bool with_length = true) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : headers)
    out += h + "\r\n";
  if (with_length && (!body.empty() || method == "POST"))
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

inline http_response http_get(uint16_t port, const std::string& target) {
  return http_exchange(port, request_text("GET", target));
}

inline http_response http_delete(uint16_t port, const std::string& target) {
  return http_exchange(port, request_text("DELETE", target));
}

struct form_part {
  std::string name;
  std::string content;
  std::string filename; ///< empty: a plain field
};

inline std::string multipart_body(const std::string& boundary,
                                  const std::vector<form_part>& parts) {
  std::string body;
  for (const auto& p : parts) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" +
            p.name + "\"";
    if (!p.filename.empty())
      body += "; filename=\"" + p.filename + "\"\r\nContent-Type: text/csv";
    body += "\r\n\r\n" + p.content + "\r\n";
  }
  return body + "--" + boundary + "--\r\n";
}

/// `curl -F file=@name` with `content`, plus any other fields.
inline http_response upload_form(uint16_t port,
                                 const std::vector<form_part>& parts,
                                 const std::string& target = "/jobs/count/") {
  const std::string boundary = "------------------------playcount0123456789";
  return http_exchange(
      port,
      request_text("POST", target,
                   {"Content-Type: multipart/form-data; boundary=" + boundary},
                   multipart_body(boundary, parts)));
}

inline http_response upload_file(uint16_t port, const std::string& content,
                                 const std::string& filename = "plays.csv") {
  return upload_form(port, {{"file", content, filename}});
}

/// A raw `text/csv` body.
inline http_response upload_csv(uint16_t port, const std::string& content,
                                const std::string& target = "/jobs/count/") {
  return http_exchange(
      port, request_text("POST", target, {"Content-Type: text/csv"}, content));
}

} // namespace playcount::test
