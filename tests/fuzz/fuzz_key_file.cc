// libFuzzer target: the key file parser, and write/parse round trip of what it accepts.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "spc/libspc/key_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = spc::ParseKeyFile(text);
  if (!parsed) return 0;
  auto again = spc::ParseKeyFile(spc::WriteKeyFile(*parsed));
  if (!again || again->size() != parsed->size()) std::abort();
  for (const auto& [cid, k] : *parsed) {
    auto it = again->find(cid);
    if (it == again->end() || it->second.encryption_key != k.encryption_key ||
        it->second.authentication_key != k.authentication_key ||
        it->second.key_domain_id != k.key_domain_id || it->second.programme != k.programme) {
      std::abort();
    }
  }
  return 0;
}
