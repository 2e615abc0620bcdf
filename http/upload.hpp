#pragma once

// An upload on its way to disk, and from the received body to the job's
// input file. No sockets here: the server feeds bytes in as they arrive.
//
// What holds:
// - Memory stays bounded whatever the upload's size: a 1 MiB write buffer,
//   and the multipart body is mapped, parsed in place and its `file` part
//   copied file to file (copy_file_range), never read into the heap.
// - The job's input appears under its final name only complete and flushed
//   (a temporary name, fsync, rename, fsync of the directory), so that a
//   crash leaves either no input or the whole of it.

#include "core/compression.hpp"
#include "core/failure.hpp"
#include "http/api.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace playcount::http {

/// Writes a body to a file as it arrives. Writeback is started every few
/// MiB (sync_file_range), so that dirty pages stay bounded and the final
/// fsync is short.
class file_sink {
public:
  file_sink() = default;
  file_sink(const file_sink&) = delete;
  file_sink& operator=(const file_sink&) = delete;
  ~file_sink();

  /// Creates `path` (it must not exist). `writeback`: start writing to disk
  /// early, for a file that will be flushed; a temporary file that is gone
  /// soon is better left in the page cache.
  result<void> open(const std::string& path, bool writeback);
  /// False when it failed: error() says why. (Kept as state, not returned:
  /// the chunk decoder that calls it only takes a yes or no.)
  [[nodiscard]] bool write(std::string_view bytes);
  /// Writes what is buffered, flushes the file to disk when `durable`, and
  /// closes it.
  result<void> finish(bool durable);

  [[nodiscard]] uint64_t size() const noexcept { return size_; }
  /// Bytes handed to the kernel: what a reader of the file sees.
  [[nodiscard]] uint64_t written() const noexcept { return written_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// Why write failed; empty while it has not.
  [[nodiscard]] const std::optional<failure>& error() const noexcept {
    return error_;
  }

private:
  bool flush_buffer();

  int fd_ = -1;
  std::string path_;
  std::string buffer_;
  uint64_t size_ = 0;    // bytes accepted
  uint64_t written_ = 0; // bytes handed to the kernel
  uint64_t flushed_ = 0; // bytes whose writeback was started
  bool writeback_ = true;
  std::optional<failure> error_;
};

/// A body, received whole, as the request described it.
struct received_body {
  std::string path; ///< the body file
  bool multipart = false;
  std::string content_type; ///< the request's Content-Type (for the boundary)
  std::string file_name;    ///< raw uploads: none
  /// From the query string (`on_bad_rows=skip`); a form field of the same
  /// name wins.
  bad_row_policy on_bad_rows = bad_row_policy::fail;
  /// The request's Content-Encoding: the whole body is compressed so.
  compression coding = compression::none;
  /// The decoded input's limit (--max-input-size).
  uint64_t max_input = UINT64_MAX;
};

/// A Content-Encoding's compression: gzip (or x-gzip), zstd, identity
/// (none); nullopt for anything else (a 415).
[[nodiscard]] std::optional<compression>
parse_content_encoding(std::string_view value);

/// What the registry needs to know of a job's input.
struct job_input {
  std::string file_name;
  uint64_t bytes = 0;
  bad_row_policy on_bad_rows = bad_row_policy::fail;
};

/// Turns a received body into the job's input at `input_path`: a
/// multipart body's `file` part is copied out (and the body file removed),
/// a raw CSV body is renamed. A compressed body (by Content-Encoding) is
/// decoded first; a compressed file (a raw body or the `file` part, by its
/// magic bytes) is decoded into the input, up to `max_input` bytes and the
/// free space of the input's directory. Either way the input is flushed to
/// disk before its final name appears, and nothing of a failed decoding
/// is left. Errors: file_required (no `file` part), bad_multipart,
/// bad_request (a bad `on_bad_rows`), bad_encoding (corrupt, cut, or
/// compressed twice), too_large (inflates past the limit), storage.
[[nodiscard]] std::variant<job_input, api_error>
make_job_input(const received_body& body, const std::string& input_path);

} // namespace playcount::http
