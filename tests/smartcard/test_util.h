// Small helpers shared by the tests/smartcard programs.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "spc/libspc/hex.h"

namespace spc::smartcard::testing {

inline std::vector<std::uint8_t> H(const std::string& hex) {
  auto v = spc::HexDecode(hex);
  EXPECT_TRUE(v.has_value()) << hex;
  return v.value_or(std::vector<std::uint8_t>{});
}

template <std::size_t N>
std::array<std::uint8_t, N> A(const std::string& hex) {
  std::array<std::uint8_t, N> a{};
  EXPECT_TRUE(spc::HexDecodeInto(hex, a)) << hex;
  return a;
}

template <class T>
std::string X(const T& bytes) {
  return spc::HexEncode(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace spc::smartcard::testing
