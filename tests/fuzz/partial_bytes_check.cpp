// Fuzz property (d): the byte form of a partial aggregate, which arrives from
// other nodes (actors/messages.hpp, partial_blob): decode takes any bytes
// without a crash or undefined behaviour; what it accepts encodes back to
// bytes that decode to the same totals, merges, and formats.

#include "checks.hpp"

#include "core/aggregate.hpp"
#include "core/result_writer.hpp"

namespace playcount::fuzz {

std::string check_partial_bytes(std::string_view input) {
  partial_aggregate decoded;
  if (!partial_aggregate::decode(input, decoded))
    return {};
  const std::string text = format_result(decoded);
  const std::string bytes = decoded.encode();
  partial_aggregate again;
  if (!partial_aggregate::decode(bytes, again))
    return "encode of an accepted form does not decode: " + printable(bytes);
  if (format_result(again) != text)
    return "encode and decode change the totals:\n  " + printable(text) +
           "\n  " + printable(format_result(again));
  // Merging into an empty partial changes nothing (a total may overflow
  // only where two partials add up).
  partial_aggregate merged;
  if (!merged.merge(decoded))
    return "merging into an empty partial overflows";
  if (format_result(merged) != text)
    return "a merge into an empty partial changes the totals";
  (void)merged.merge(again); // doubles every total or overflows; no crash
  return {};
}

} // namespace playcount::fuzz
