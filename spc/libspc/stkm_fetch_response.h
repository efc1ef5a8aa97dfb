// The body of an STKM fetch answer over the interaction channel (interaction.md, [project]): one or
// more STKMs, each preceded by its length as a 16-bit big-endian number. The one parser and the
// one writer of that framing; the STKMs themselves are judged by spcd's StkmProcessor like
// broadcast ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "spc/libspc/result.h"

namespace spc {

// Media type of the answer (and of one STKM).
inline constexpr char kStkmMediaType[] = "application/vnd.oma.bcast.stkm";
// Most STKMs one answer may carry: an answer holds the current and the next key of one service.
inline constexpr std::size_t kMaxFetchedStkms = 16;

// A view of one STKM inside the parsed body, with where it starts (after its length field).
struct FetchedStkm {
  std::span<const std::uint8_t> bytes;
  std::size_t offset = 0;
};

// Splits `body` into its STKMs. Errors name the field ("stkm_length", "stkm", "body") and the byte
// offset: an empty body, a zero length, a length running past the end, more than
// kMaxFetchedStkms. The spans point into `body`.
Result<std::vector<FetchedStkm>> ParseStkmFetchResponse(std::span<const std::uint8_t> body);

// Frames `stkms`; an STKM of 0 or more than 65535 bytes gives an empty vector.
std::vector<std::uint8_t> WriteStkmFetchResponse(
    const std::vector<std::vector<std::uint8_t>>& stkms);

}  // namespace spc
