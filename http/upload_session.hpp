#pragma once

// The second job: a streaming upload (`POST /jobs/count/`) from its judged
// head to its answer; the body goes to disk as it arrives, never to memory.

#include "actors/job_store.hpp"
#include "core/growing_file.hpp"
#include "core/wall_clock.hpp"
#include "http/connection.hpp"
#include "http/multipart_stream.hpp"
#include "http/upload.hpp"
#include "http/wire.hpp"

#include <pistache/peer.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace playcount::http {

struct server_context;

/// An upload being received.
struct upload_state {
  uint64_t since_reset = 0; // bytes received since Pistache's clock reset
  request_head head;
  std::string id;
  job_paths paths;
  received_body body;
  body_decoder decoder;
  file_sink sink;
  bool too_large = false;
  // The registry has room for the job (asked when the head arrived; the
  // body is received meanwhile). Submitted once this and body_done hold.
  bool admitted = false;
  bool body_done = false;
  // Counted while it arrives (issue 13): a raw body is submitted as soon
  // as the registry has room and its first bytes say how it is written;
  // the job reads the input as it lands (`growing`), and the registry hears
  // when it is whole or cut off.
  // A form is parsed as it arrives, its `file` part written out as the
  // input (as a raw body is); null for a raw body, and for a form sent with
  // Content-Encoding (decoded whole, then parsed, by make_job_input).
  std::unique_ptr<multipart_stream> form;
  bool in_file_part = false;
  bool file_part_seen = false;
  bool in_policy_part = false;
  std::optional<std::string> policy_field; // the first on_bad_rows part
  // How the input (a raw body, a form's file part) reaches the job's input
  // file: as it is (plain CSV), decoded as it arrives (gzip or zstd, by its
  // magic bytes or the Content-Encoding of a raw body), or kept as it came
  // and decoded once whole (a form sent with Content-Encoding, or no turn
  // to decode was free: make_job_input). Undecided until its first 4 bytes
  // (held in `input_head`) are in.
  enum class input_mode : uint8_t { undecided, plain, decoded, whole };
  input_mode mode = input_mode::undecided;
  std::string input_head;
  std::shared_ptr<void> decode_turn;       // held while `decoding` lives
  std::unique_ptr<decoding_sink> decoding; // while mode is decoded
  enum class early : uint8_t { undecided, no, pending, taken };
  early streamed = early::undecided;
  std::shared_ptr<growing_file> growing; // set once submitted so
  /// Set once submitted while arriving: what ends the job when the upload
  /// does not complete (the registry then owns the job's files).
  std::function<void(const std::string& why)> cut;
  steady::time_point started = steady::now();
  int64_t started_ms = now_ms(); // the job's uploadStartedAt
  steady::time_point clock_reset = steady::now();
  // Counted in server_context::uploads until its answer is out.
  std::shared_ptr<void> counted;
};

// Both hold `c.mutex` and run on the peer's Pistache thread (or on a CAF
// thread, for a request that was waiting behind another's answer).

/// Begins an upload whose head was judged: its limits are checked, its
/// files made, the registry is asked whether it has room; `rest` is the
/// start of the body. `name_segment`: the file name in the path
/// (`PUT /jobs/count/<name>`, percent-encoded), or empty.
void start_upload(const std::shared_ptr<server_context>& ctx,
                  const std::shared_ptr<connection>& c, request_head head,
                  std::optional<uint64_t> length, const std::string& rest,
                  const std::string& name_segment,
                  const std::shared_ptr<Pistache::Tcp::Peer>& peer);

/// More of the body.
void continue_upload(const std::shared_ptr<server_context>& ctx,
                     const std::shared_ptr<connection>& c,
                     std::string_view bytes,
                     const std::shared_ptr<Pistache::Tcp::Peer>& peer);

} // namespace playcount::http
