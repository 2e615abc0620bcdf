// Fuzz property (e): the group store (core/aggregate.hpp) against a plain
// std::map, on rows read from the input: any number of songs, days near or
// far apart, totals across the 32-bit slot limit, ranges in any order, and
// two partials merged (also through their byte form) give the same result.

#include "checks.hpp"

#include "core/aggregate.hpp"
#include "core/hash.hpp"
#include "core/result_writer.hpp"

#include <deque>
#include <map>

namespace playcount::fuzz {

std::string check_group_store(std::string_view input) {
  if (input.size() < 2)
    return {};
  // The first two bytes choose the shape: how many songs, how spread out.
  const uint32_t songs = 1u + static_cast<uint8_t>(input[0]) * 37u;
  const uint32_t spread = 1u << (static_cast<uint8_t>(input[1]) % 22);
  input.remove_prefix(2);
  // Names made as rows name them (a deque: the rows view them until added).
  std::deque<std::string> names;
  const auto name_of = [&names](uint32_t i) -> const std::string& {
    return names.emplace_back(
        (i % 3 == 0 ? "a name longer than sixteen bytes " : "s") +
        std::to_string(i));
  };
  struct model_song {
    uint64_t first = UINT64_MAX;
    std::map<day_number, int64_t> days;
  };
  std::map<std::string, model_song> model;
  partial_aggregate whole, first, second;
  std::vector<pending_row> batch;
  uint32_t tag = 0;
  partial_aggregate* half = &first;
  const auto flush = [&] {
    for (partial_aggregate* p : {&whole, half})
      if (p->add_rows(batch.data(), batch.size(), tag) != batch.size())
        return false;
    batch.clear();
    return true;
  };
  // Each row: 6 bytes (song, day, count, and whether a new range starts).
  for (size_t at = 0; at + 6 <= input.size(); at += 6) {
    const auto* b = reinterpret_cast<const uint8_t*>(input.data() + at);
    const uint32_t song = (b[0] | uint32_t{b[1]} << 8) % songs;
    const auto day =
        static_cast<day_number>((b[2] | uint32_t{b[3]} << 8) % spread);
    const int64_t count = b[4] == 0xff ? int64_t{UINT32_MAX} - 2 : b[4];
    if (b[5] & 0x80) { // a new range, perhaps read into the other partial
      if (!flush())
        return {}; // an overflow: both stop alike, nothing more to compare
      ++tag;
      half = (b[5] & 0x40) ? &second : &first;
    }
    const uint64_t offset = uint64_t{tag} << 32 | at;
    const std::string& name = name_of(song);
    batch.push_back(
        {name, hash_bytes(name.data(), name.size()), day, count, offset});
    model_song& m = model[name];
    m.first = std::min(m.first, offset);
    m.days[day] += count; // at most ~2^44: never overflows here
    if (batch.size() == partial_aggregate::max_batch) {
      if (!flush())
        return {};
      names.clear(); // added: no row views them any more
    }
  }
  if (!flush())
    return {};
  std::vector<std::pair<uint64_t, const std::string*>> order;
  for (const auto& [name, m] : model)
    order.emplace_back(m.first, &name);
  std::sort(order.begin(), order.end());
  std::string expected(result_header);
  uint64_t groups = 0;
  for (const auto& [offset, name] : order)
    for (const auto& [day, total] : model[*name].days) {
      append_csv_field(expected, *name);
      expected += ',' + format_date(day) + ',' + std::to_string(total) + '\n';
      ++groups;
    }
  if (whole.groups() != groups)
    return "groups " + std::to_string(whole.groups()) + ", expected " +
           std::to_string(groups);
  if (format_result(whole) != expected)
    return "one partial differs from the map:\n  " +
           printable(format_result(whole)) + "\n  " + printable(expected);
  partial_aggregate decoded;
  if (!partial_aggregate::decode(second.encode(), decoded))
    return "a partial's byte form does not decode";
  if (!first.merge(std::move(decoded), 2))
    return "a merge overflows";
  if (format_result(first) != expected)
    return "two merged partials differ from the map:\n  " +
           printable(format_result(first)) + "\n  " + printable(expected);
  return {};
}

} // namespace playcount::fuzz
