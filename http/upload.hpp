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
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace playcount::http {

/// Writes a body to a file as it arrives. Writeback is started every few
/// MiB (sync_file_range, on a thread of its own: core/file_chores.hpp), so
/// that dirty pages stay bounded and the final fsync is short.
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
  /// A reader (the job counting the upload as it lands) is done with
  /// [0, upto): once on disk, those pages leave the page cache (when the
  /// sink writes back), so that the upload takes recently freed pages rather
  /// than fresh ones (core/file_chores.hpp).
  void release_read(uint64_t upto);
  /// Writes what is buffered, flushes the file to disk when `durable`, and
  /// closes it.
  result<void> finish(bool durable);

  [[nodiscard]] uint64_t size() const noexcept { return size_; }
  /// Bytes handed to the kernel: what a reader of the file sees.
  [[nodiscard]] uint64_t written() const noexcept { return written_; }
  /// Quote characters in those bytes, counted as they pass (for the
  /// planner: growing_file::grow).
  [[nodiscard]] uint64_t quotes_written() const noexcept { return quotes_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// Why write failed; empty while it has not.
  [[nodiscard]] const std::optional<failure>& error() const noexcept {
    return error_;
  }

private:
  bool flush_buffer();
  bool write_out(std::string_view bytes);

  int fd_ = -1;
  std::string path_;
  std::string buffer_;
  uint64_t size_ = 0;    // bytes accepted
  uint64_t written_ = 0; // bytes handed to the kernel
  uint64_t quotes_ = 0;  // '"' among them
  uint64_t flushed_ = 0; // bytes whose writeback was started
  uint64_t dropped_ = 0; // bytes dropped from the page cache
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

/// How far a compressed upload may inflate: --max-input-size, or the free
/// space of the input's file system when that is less (a bomb then fails
/// with a clear message, not with "no space left" after filling the disk).
struct input_limit {
  uint64_t bytes = UINT64_MAX;
  bool by_free_space = false;
};

[[nodiscard]] input_limit decoded_limit(uint64_t max_input,
                                        const std::string& input_path);

/// A compressed stream decoded into a file_sink as its pieces come: the
/// one way an upload is decoded, whole (make_job_input) or as it arrives
/// (http/upload_session.cpp). A stream whose output is itself compressed
/// (a .gz sent with Content-Encoding: gzip) fails as compressed twice.
class decoding_sink {
public:
  /// `out` is open and outlives this.
  decoding_sink(compression kind, input_limit limit, file_sink& out);

  /// Decodes `in` into the sink; false when it failed (error() says why;
  /// nothing more is taken).
  [[nodiscard]] bool feed(std::string_view in);
  /// The compressed input is over: false when the stream is incomplete.
  [[nodiscard]] bool finish();

  /// Why feed or finish failed, as the upload's answer: bad_encoding
  /// (corrupt, cut, compressed twice), too_large (inflates past the
  /// limit), storage (the sink cannot write).
  [[nodiscard]] const std::optional<api_error>& error() const noexcept {
    return error_;
  }
  [[nodiscard]] uint64_t bytes_in() const noexcept {
    return decoder_->bytes_in();
  }
  [[nodiscard]] uint64_t bytes_out() const noexcept {
    return decoder_->bytes_out();
  }

private:
  bool failed(const failure& why);

  compression kind_;
  input_limit limit_;
  file_sink& out_;
  std::unique_ptr<stream_decoder> decoder_;
  std::string head_; // the first 4 bytes of output, to tell a second coding
  compression inner_ = compression::none;
  std::optional<api_error> error_;
};

/// A turn to decode an upload as it arrives, held while it lives; null when
/// all are taken (the upload is then kept as it came and decoded once
/// whole, by make_job_input). At most one per core at once, apart from the
/// turns of whole decodings: each holds a Pistache thread while it decodes
/// and up to a zstd window (128 MiB) of memory.
[[nodiscard]] std::shared_ptr<void> try_streaming_decode();

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
/// free space of the input's directory. (Most compressed uploads come here
/// decoded already, as they arrived; this decodes those kept as they came:
/// a form sent with Content-Encoding, or one that found no turn free.) Either
/// way the input is flushed to disk before its final name appears, and nothing
/// of a failed decoding is left. Errors: file_required (no `file` part),
/// bad_multipart, bad_request (a bad `on_bad_rows`), bad_encoding (corrupt,
/// cut, or compressed twice), too_large (inflates past the limit), storage.
[[nodiscard]] std::variant<job_input, api_error>
make_job_input(const received_body& body, const std::string& input_path);

} // namespace playcount::http
