// Known-answer tests of the EVP wrappers: RFC 2202 (HMAC-SHA1) and FIPS-197 (AES-128).
#include "spc/libspc/crypto.h"

#include <gtest/gtest.h>

#include <string>

#include "spc/libspc/hex.h"

namespace spc {
namespace {

std::vector<std::uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }
std::vector<std::uint8_t> Repeat(std::uint8_t b, std::size_t n) { return std::vector(n, b); }
std::vector<std::uint8_t> FromHex(std::string_view hex) {
  auto v = HexDecode(hex);
  EXPECT_TRUE(v.has_value()) << hex;
  return v.value_or(std::vector<std::uint8_t>{});
}

struct HmacCase {
  std::vector<std::uint8_t> key;
  std::vector<std::uint8_t> data;
  const char* digest;
};

std::vector<HmacCase> Rfc2202Cases() {
  std::vector<std::uint8_t> key4;
  for (int i = 1; i <= 25; ++i) key4.push_back(static_cast<std::uint8_t>(i));
  return {
      {Repeat(0x0b, 20), Bytes("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
      {Bytes("Jefe"), Bytes("what do ya want for nothing?"),
       "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {Repeat(0xaa, 20), Repeat(0xdd, 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
      {key4, Repeat(0xcd, 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
      {Repeat(0x0c, 20), Bytes("Test With Truncation"), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
      {Repeat(0xaa, 80), Bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
       "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
      {Repeat(0xaa, 80),
       Bytes("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
       "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
  };
}

TEST(HmacSha1, Rfc2202AllSevenCases) {
  auto cases = Rfc2202Cases();
  ASSERT_EQ(cases.size(), 7u);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("RFC 2202 test case " + std::to_string(i + 1));
    EXPECT_EQ(HexEncode(HmacSha1(cases[i].key, cases[i].data)), cases[i].digest);
    EXPECT_EQ(HexEncode(Hmac("SHA1", cases[i].key, cases[i].data)), cases[i].digest);
  }
}

TEST(HmacSha1, Rfc2202Case5TruncatedTo96Bits) {
  auto c = Rfc2202Cases()[4];
  auto mac = HmacSha1(c.key, c.data);
  EXPECT_EQ(HexEncode(std::span(mac).first(12)), "4c1a03424b55e07fe7f27be1");
}

TEST(Hmac, Sha256Rfc4231Case2) {
  EXPECT_EQ(HexEncode(Hmac("SHA256", Bytes("Jefe"), Bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Aes128, Fips197AppendixC1) {
  auto key = FromHex("000102030405060708090a0b0c0d0e0f");
  auto plain = FromHex("00112233445566778899aabbccddeeff");
  std::span<const std::uint8_t, 16> k(key.data(), 16);
  std::span<const std::uint8_t, 16> p(plain.data(), 16);
  AesBlock c = Aes128EcbEncryptBlock(k, p);
  EXPECT_EQ(HexEncode(c), "69c4e0d86a7b0430d8cdb78070b4c55a");
  EXPECT_EQ(HexEncode(Aes128EcbDecryptBlock(k, c)), "00112233445566778899aabbccddeeff");
}

TEST(Aes128, Fips197AppendixB) {
  auto key = FromHex("2b7e151628aed2a6abf7158809cf4f3c");
  auto plain = FromHex("3243f6a8885a308d313198a2e0370734");
  std::span<const std::uint8_t, 16> k(key.data(), 16);
  AesBlock c = Aes128EcbEncryptBlock(k, std::span<const std::uint8_t, 16>(plain.data(), 16));
  EXPECT_EQ(HexEncode(c), "3925841d02dc09fbdc118597196a0b32");
  EXPECT_EQ(HexEncode(Aes128EcbDecryptBlock(k, c)), "3243f6a8885a308d313198a2e0370734");
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  std::vector<std::uint8_t> a = {1, 2, 3};
  std::vector<std::uint8_t> b = {1, 2, 3};
  std::vector<std::uint8_t> c = {1, 2, 4};
  EXPECT_TRUE(ConstantTimeEqual(a, b));
  EXPECT_FALSE(ConstantTimeEqual(a, c));
  EXPECT_FALSE(ConstantTimeEqual(a, std::span(b).first(2)));
  EXPECT_TRUE(ConstantTimeEqual({}, {}));
}

TEST(Cleanse, WipesBuffers) {
  std::array<std::uint8_t, 16> key;
  key.fill(0xab);
  { CleanseGuard guard(key); }
  EXPECT_EQ(key, (std::array<std::uint8_t, 16>{}));

  SecureKey<16> sk(
      std::span<const std::uint8_t, 16>(FromHex("000102030405060708090a0b0c0d0e0f").data(), 16));
  EXPECT_EQ(sk.data()[15], 0x0f);
}

TEST(RandomBytes, FillsBuffer) {
  std::array<std::uint8_t, 32> a{};
  std::array<std::uint8_t, 32> b{};
  RandomBytes(a);
  RandomBytes(b);
  EXPECT_NE(a, b);  // 2^-256 chance of a false failure
}

TEST(Hex, EncodeDecode) {
  std::vector<std::uint8_t> v = {0x00, 0x7f, 0x80, 0xff};
  EXPECT_EQ(HexEncode(v), "007f80ff");
  EXPECT_EQ(HexDecode("007F80ff"), v);
  EXPECT_FALSE(HexDecode("0").has_value());
  EXPECT_FALSE(HexDecode("0g").has_value());
  std::array<std::uint8_t, 2> out{};
  EXPECT_TRUE(HexDecodeInto("abcd", out));
  EXPECT_EQ(out[1], 0xcd);
  EXPECT_FALSE(HexDecodeInto("abcdef", out));
}

}  // namespace
}  // namespace spc
