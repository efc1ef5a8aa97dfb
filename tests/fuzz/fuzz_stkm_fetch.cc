// libFuzzer target: the STKM fetch answer framing (16-bit length + STKM, repeated), the writer on
// what it accepts, and the STKM parser on every STKM it yields.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "spc/libspc/stkm.h"
#include "spc/libspc/stkm_fetch_response.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> body(data, size);
  auto parsed = spc::ParseStkmFetchResponse(body);
  if (!parsed) {
    // A rejection must say where.
    if (parsed.error().field.empty() || parsed.error().offset > size) std::abort();
    return 0;
  }
  if (parsed->empty() || parsed->size() > spc::kMaxFetchedStkms) std::abort();
  std::vector<std::vector<std::uint8_t>> stkms;
  for (const spc::FetchedStkm& s : *parsed) {
    if (s.bytes.empty() || s.offset + s.bytes.size() > size) std::abort();
    stkms.emplace_back(s.bytes.begin(), s.bytes.end());
    auto stkm = spc::ParseStkm(s.bytes);
    if (!stkm && stkm.error().offset > s.bytes.size()) std::abort();
  }
  // What parses writes back to the same bytes.
  std::vector<std::uint8_t> rewritten = spc::WriteStkmFetchResponse(stkms);
  if (rewritten.size() != size || !std::equal(rewritten.begin(), rewritten.end(), data)) {
    std::abort();
  }
  return 0;
}
