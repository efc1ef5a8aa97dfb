// Lowercase hex for key files, JSON output and logs of non-secret identifiers.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spc {

std::string HexEncode(std::span<const std::uint8_t> bytes);

// Accepts upper and lower case; no separators, no "0x". nullopt on odd length or a non-hex digit.
std::optional<std::vector<std::uint8_t>> HexDecode(std::string_view hex);

// Decodes exactly out.size() bytes (2 * out.size() digits); false otherwise, `out` then
// unspecified.
bool HexDecodeInto(std::string_view hex, std::span<std::uint8_t> out);

}  // namespace spc
