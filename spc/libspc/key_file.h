// The key file of stkm.md (GKeyFile syntax, one group per content ID) for conformance runs, tests
// and the head-end. One parser and one writer.
#pragma once

#include <map>
#include <string>

#include "spc/libspc/keys.h"
#include "spc/libspc/result.h"

namespace spc {

using KeyTable = std::map<std::string, LongTermKey, std::less<>>;  // content ID → keys

// Errors name the group (content ID) as `field` and the key name in the message; offset is the
// 1-based line number where known, else 0.
Result<KeyTable> ParseKeyFile(std::string_view text);
Result<KeyTable> LoadKeyFile(const std::string& path);
std::string WriteKeyFile(const KeyTable& keys);

}  // namespace spc
