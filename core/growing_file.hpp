#pragma once

// A file that one producer writes while a job already reads it: standard
// input spooled to disk, a compressed file being decoded, an upload still
// arriving. The producer says how far the bytes have landed; the planner
// (core/job_plan.hpp, plan_growing) waits for them and hands out each range
// as soon as its bytes and the first bytes after it are there, so the count
// runs alongside the writing instead of after it.
//
// Bytes written with write(2) are in the page cache at once, so a reader that
// maps [0, size()) sees them; no flush is needed between the two.
//
// A producer may free what the reader is done with (done_below) and wait
// while it is far enough ahead (wait_for_reader): a spool does both, so that
// a pipe of any size takes the memory and temp space of what is in flight,
// not of all of it. Bytes below `freed` cannot be read again; a reader that
// would need them (a lost worker's ranges) fails instead.

#include "core/failure.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>

namespace playcount {

class growing_file {
public:
  /// `mark_spacing`: how far apart the quote marks of grow(size, quotes)
  /// are kept at least (small only in tests).
  explicit growing_file(uint64_t mark_spacing = uint64_t{64} << 10)
      : mark_spacing_(mark_spacing) {}

  /// Why a job fails when it would have to read freed bytes again.
  static constexpr std::string_view freed_reread_error =
      "a worker was lost, and the input it had read is freed already "
      "(standard input and compressed files are not kept whole): count it "
      "again";

  /// What a reader knows of the file at one moment.
  struct state {
    uint64_t size = 0;             ///< bytes [0, size) are in the file
    bool whole = false;            ///< size is final
    std::optional<failure> failed; ///< the producer gave up: never whole
    bool abandoned = false;        ///< the reader gave up (see abandon)
    bool frees = false; ///< the producer frees what the reader is done with
    uint64_t done = 0;  ///< the reader reads nothing below this again
    uint64_t freed = 0; ///< bytes [0, freed) are gone (read as zeros)
  };

  /// A point of the file and the quote characters before it.
  struct quote_mark {
    uint64_t offset = 0;
    uint64_t quotes = 0;
  };

  // The producer's side.
  /// Bytes [0, size) are written.
  void grow(uint64_t size);
  /// The same, said by a producer that sees its bytes: `quotes` of them are
  /// '"'. The planner then reads only the head of each chunk and the bytes
  /// after the last mark in it, not the whole chunk, to learn the parity
  /// (quote_mark_before).
  void grow(uint64_t size, uint64_t quotes);
  /// All bytes are written: the size is final.
  void complete();
  /// The file will never be whole (a broken pipe, a corrupt stream, an upload
  /// cut off): readers stop and report `why`.
  void fail(failure why);
  /// This producer frees what the reader is done with; said before the
  /// reader starts.
  void frees_what_is_read();
  /// Bytes [0, offset) are about to be freed: said before they are.
  void freeing(uint64_t offset);
  /// Waits while more than `ahead` bytes have landed past what the reader
  /// is done with, unless it has read all it planned and waits for bytes
  /// (wait_beyond) to plan more (say a record longer than `ahead`),
  /// until the reader abandons or `most` has passed. True when the producer
  /// may go on.
  bool wait_for_reader(uint64_t ahead, std::chrono::milliseconds most) const;

  // The reader's side.
  /// The reader needs no more bytes (its job ended): a producer may stop, and
  /// waiting readers return.
  void abandon();
  /// The reader will read nothing in [0, offset) again.
  void done_below(uint64_t offset);
  [[nodiscard]] state now() const;
  /// The last mark at or before `offset` (see grow), if any; the ones
  /// before it are forgotten: the planner asks in increasing order.
  [[nodiscard]] std::optional<quote_mark>
  quote_mark_before(uint64_t offset) const;
  /// Waits until the file is larger than `size`, whole, failed or abandoned,
  /// or `most` has passed, and says how it is then. `planned`: how far the
  /// reader's ranges reach (a producer that keeps pace goes on while they
  /// are all read).
  [[nodiscard]] state wait_beyond(uint64_t size, uint64_t planned,
                                  std::chrono::milliseconds most) const;

private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  state state_;
  // A reader that has read all it planned and waits for bytes not there:
  // the producer must go on (wait_for_reader). Under mutex_.
  [[nodiscard]] bool starving() const;
  // Readers in wait_beyond; the size the last one waits to pass and how
  // far its ranges reach.
  mutable unsigned readers_waiting_ = 0;
  mutable uint64_t waiting_beyond_ = 0;
  mutable uint64_t planned_ = 0;
  // The marks of grow(size, quotes), at least mark_spacing_ apart and at
  // most max_marks of them (past that, the planner reads chunks whole).
  static constexpr size_t max_marks = size_t{1} << 16;
  uint64_t mark_spacing_;
  mutable std::deque<quote_mark> marks_;
};

} // namespace playcount
