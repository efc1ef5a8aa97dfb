// Rights from the key file of stkm.md, for `spcctl import-keys` / the ImportKeys D-Bus method.
//
// The key material (key-domain, sek/sak or pek/pak) is read by spc::ParseKeyFile, the one parser
// of that format. A group may also carry these optional keys, read here:
//   not-before=  start of validity: ISO 8601 with a zone ("2024-01-01T00:00:00Z") or seconds since
//                1970 UTC; absent or 0: no start limit
//   not-after=   end of validity, same syntax; absent or 0: no end limit
//   play=        true/false, default true
//   record=      true/false, default true (an STKM with protection_after_reception 3 forbids
//                recording whatever this says)
#pragma once

#include <string_view>
#include <vector>

#include "spc/libspc/result.h"
#include "spc/store/key_store.h"

namespace spc::store {

// The whole file or nothing: any bad group makes the result an error naming the group (content ID)
// in `field` and the key in the message.
Result<std::vector<Rights>> ParseRightsFile(std::string_view text);

// Seconds since 1970 UTC from ISO 8601 or a decimal number; nullopt when neither.
std::optional<std::int64_t> ParseTime(std::string_view text);

}  // namespace spc::store
