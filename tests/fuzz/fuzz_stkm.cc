// libFuzzer target: the STKM parser, the writer on what it accepts, and the MAC/TEK path.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

namespace {

constexpr spc::Key128 kSek = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr spc::Key128 kSak = {16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> message(data, size);
  auto parsed = spc::ParseStkm(message);
  if (!parsed) {
    // A rejection must say where.
    if (parsed.error().field.empty() || parsed.error().offset > size) std::abort();
    return 0;
  }
  // What parses must write back to the same bytes apart from the MAC.
  std::vector<std::uint8_t> rewritten = spc::WriteStkm(*parsed, kSak);
  if (rewritten.size() != size ||
      !std::equal(rewritten.begin(), rewritten.end() - spc::kStkmMacLength, data)) {
    std::abort();
  }
  auto reparsed = spc::ParseStkm(rewritten);
  if (!reparsed) std::abort();

  spc::LongTermKey key;
  key.key_domain_id = parsed->key_domain_id;
  key.programme = parsed->programme_flag;
  key.encryption_key = kSek;
  key.authentication_key = kSak;
  auto opened = spc::OpenStkm(message, "urn:fuzz:", [&](const std::string&) { return &key; });
  // Only a message whose MAC holds may yield a key.
  if (opened.ok() != spc::VerifyStkmMac(message, kSak)) std::abort();
  auto reopened = spc::OpenStkm(rewritten, "urn:fuzz:", [&](const std::string&) { return &key; });
  if (!reopened) std::abort();
  return 0;
}
