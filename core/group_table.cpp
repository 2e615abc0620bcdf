#include "core/group_table.hpp"

#include <cstring>
#include <new>
#include <sys/mman.h>

namespace playcount {

namespace {

constexpr size_t huge_page = size_t{2} << 20;

} // namespace

group_table::entries group_table::allocate(size_t capacity) {
  const size_t bytes = capacity * sizeof(entry);
  if (bytes < huge_page) {
    // Zeroed by writing, not calloc: a large calloc maps zero pages that
    // the first probe reads, and the write after it copies (see below).
    // GCC turns malloc + memset into calloc; the empty asm, which might
    // read or write the block for all it knows, keeps them apart.
    void* p = std::malloc(bytes);
    if (p == nullptr)
      throw std::bad_alloc();
    asm volatile("" : : "r"(p) : "memory");
    std::memset(p, 0, bytes);
    return entries(static_cast<entry*>(p), release{0, 0});
  }
  const size_t mapped = bytes + huge_page;
  void* base = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    throw std::bad_alloc();
  // The first huge-page boundary in the mapping, reached by pointer
  // arithmetic (an integer made a pointer would hide it from the optimizer).
  const auto at = reinterpret_cast<uintptr_t>(base);
  const uintptr_t skip = ((at + huge_page - 1) & ~(huge_page - 1)) - at;
  void* aligned = static_cast<char*>(base) + skip;
  (void)::madvise(aligned, bytes, MADV_HUGEPAGE);
  // Pages made writable now: a probe reads a slot before it writes it, and
  // a page first read maps the shared zero page, whose copy on the write
  // then flushes the TLB of every core (4 % of a count in perf).
  if (::madvise(aligned, bytes, MADV_POPULATE_WRITE) != 0)
    std::memset(aligned, 0, bytes);
  return entries(static_cast<entry*>(aligned), release{mapped, skip});
}

void group_table::release::operator()(entry* p) const noexcept {
  if (mapped == 0)
    std::free(p);
  else
    ::munmap(reinterpret_cast<char*>(p) - shift, mapped);
}

group_table::group_table(const group_table& other)
    : size_(other.size_)
    , capacity_(other.capacity_) {
  if (capacity_ == 0)
    return;
  entries_ = allocate(capacity_);
  std::memcpy(entries_.get(), other.entries_.get(), capacity_ * sizeof(entry));
}

void group_table::grow() {
  const size_t capacity = capacity_ < 16 ? 16 : capacity_ + capacity_ / 2;
  entries old = allocate(capacity);
  old.swap(entries_);
  const size_t old_capacity = capacity_;
  capacity_ = capacity;
  for (size_t i = 0; i < old_capacity; ++i) {
    const entry& e = old[i];
    if (e.song == 0)
      continue;
    size_t at = home(hash(e.song - 1, e.day));
    while (entries_[at].song != 0)
      at = next(at);
    entries_[at] = e;
  }
}

// Backward-shift deletion: the entries after the hole that could live in it
// move back, so no tombstones slow later probes.
bool group_table::erase(uint32_t song, int32_t day) noexcept {
  if (size_ == 0)
    return false;
  size_t hole = home(hash(song, day));
  for (;; hole = next(hole)) {
    const entry& e = entries_[hole];
    if (e.song == 0)
      return false;
    if (e.song == song + 1 && e.day == day)
      break;
  }
  for (size_t at = next(hole);; at = next(at)) {
    entry& e = entries_[at];
    if (e.song == 0)
      break;
    const size_t h = home(hash(e.song - 1, e.day));
    // Does `h` lie cyclically in (hole, at]? Then e stays where it is.
    const bool stays =
        hole <= at ? (hole < h && h <= at) : (hole < h || h <= at);
    if (!stays) {
      entries_[hole] = e;
      hole = at;
    }
  }
  entries_[hole] = entry{0, 0, 0};
  --size_;
  return true;
}

} // namespace playcount
