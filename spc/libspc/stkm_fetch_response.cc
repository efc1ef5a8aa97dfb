#include "spc/libspc/stkm_fetch_response.h"

#include <string>

#include "spc/libspc/wire.h"

namespace spc {

Result<std::vector<FetchedStkm>> ParseStkmFetchResponse(std::span<const std::uint8_t> body) {
  if (body.empty()) {
    return ParseError{"stkm_length: the answer holds no STKM (empty body)", "stkm_length", 0};
  }
  std::vector<FetchedStkm> out;
  wire::Reader r(body, body.size(), " (answer truncated, or a length field is wrong)");
  while (r.left() > 0) {
    const std::size_t at = r.pos();
    if (out.size() == kMaxFetchedStkms) {
      return ParseError{"body: more than " + std::to_string(kMaxFetchedStkms) +
                            " STKMs in one answer (at offset " + std::to_string(at) + ")",
                        "body", at};
    }
    r.context = "STKM " + std::to_string(out.size() + 1) + ": ";
    std::size_t length = 0;
    if (!r.Number("stkm_length", 2, length)) return r.error();
    if (length == 0) {
      return ParseError{"stkm_length: " + r.context + "zero length at offset " + std::to_string(at),
                        "stkm_length", at};
    }
    const std::size_t start = r.pos();
    if (length > r.left()) {
      return ParseError{"stkm: " + r.context + "announced " + std::to_string(length) +
                            " bytes at offset " + std::to_string(start) + " but only " +
                            std::to_string(r.left()) + " remain (answer truncated?)",
                        "stkm", start};
    }
    out.push_back({body.subspan(start, length), start});
    std::vector<std::uint8_t> skip;
    r.Take("stkm", length, skip);
  }
  return out;
}

std::vector<std::uint8_t> WriteStkmFetchResponse(
    const std::vector<std::vector<std::uint8_t>>& stkms) {
  std::vector<std::uint8_t> out;
  for (const auto& s : stkms) {
    if (s.empty() || s.size() > 0xffff) return {};
    wire::PutUint(out, s.size(), 2);
    wire::PutBytes(out, s);
  }
  return out;
}

}  // namespace spc
