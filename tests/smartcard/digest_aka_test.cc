// HTTP Digest AKA helpers of GBA's Ub interface: RFC 2617 §3.5's worked example, an AKAv1-MD5
// auth-int digest with a binary RES as password (independently computed with Python's hashlib),
// nonce = base64(RAND ‖ AUTN), header parameters and BootstrappingInfo, malformed input named.
#include <gtest/gtest.h>

#include "spc/libspc/smartcard/digest_aka.h"
#include "tests/smartcard/test_util.h"

namespace spc::smartcard {
namespace {

using testing::A;
using testing::H;

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(DigestAka, Rfc2617Example) {
  EXPECT_EQ(DigestResponse("Mufasa", Bytes("Circle Of Life"), "testrealm@host.com", "GET",
                           "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001",
                           "0a4f113b", "auth"),
            "6629fae49393a05397450978507c4ef1");
}

TEST(DigestAka, AkaV1Md5AuthIntWithBinaryRes) {
  EXPECT_EQ(DigestResponse("impi@example", H("a54211d5e3ba50bf"), "bsf.example", "GET", "/",
                           "bm9uY2U=", "00000001", "0a4f113b", "auth-int", ""),
            "b3ec223b385ac9b9356ad7343797a270");
}

TEST(DigestAka, NonceCarriesRandAndAutn) {
  auto rand = A<16>("23553cbe9637a89d218ae64dae47bf35");
  auto autn = A<16>("55f328b43577b9b94a9ffac354dfafb3");
  std::vector<std::uint8_t> server = {1, 2, 3};
  auto parts = ParseAkaNonce(AkaNonce(rand, autn, server));
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->rand, rand);
  EXPECT_EQ(parts->autn, autn);
  EXPECT_EQ(ParseAkaNonce("AAAA").error().field, "nonce");
  EXPECT_EQ(ParseAkaNonce("AA*A").error().offset, 2u);
}

TEST(DigestAka, HeaderParameters) {
  auto p = ParseDigestParams(
      "Digest realm=\"bsf.example\", nonce=\"bm9u\\\"Y2U=\", algorithm=AKAv1-MD5, "
      "qop=\"auth-int\"");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->at("realm"), "bsf.example");
  EXPECT_EQ(p->at("nonce"), "bm9u\"Y2U=");
  EXPECT_EQ(p->at("algorithm"), "AKAv1-MD5");
  EXPECT_EQ(p->at("qop"), "auth-int");
  auto back = ParseDigestParams(FormatDigestHeader(*p));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *p);
  // A qop that is not a token is quoted on the way out (found by fuzz_apdu).
  std::map<std::string, std::string> odd = {{"qop", "aut,-int"}, {"nc", ""}, {"algorithm", "a b"}};
  auto odd_back = ParseDigestParams(FormatDigestHeader(odd));
  ASSERT_TRUE(odd_back);
  EXPECT_EQ(*odd_back, odd);
  EXPECT_EQ(ParseDigestParams("Basic abc").error().field, "scheme");
  EXPECT_EQ(ParseDigestParams("Digest realm=\"open").error().offset, 13u);
  EXPECT_EQ(ParseDigestParams("Digest realm").error().field, "auth-param");
}

TEST(DigestAka, BootstrappingInfo) {
  auto info = ParseBootstrappingInfo(
      WriteBootstrappingInfo({"I1U8vpY3qJ0hiuZNrke/NQ==@bsf.example", "2026-11-26T12:00:00Z"}));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->btid, "I1U8vpY3qJ0hiuZNrke/NQ==@bsf.example");
  EXPECT_EQ(info->lifetime, "2026-11-26T12:00:00Z");
  EXPECT_EQ(ParseBootstrappingInfo("<x/>").error().field, "BootstrappingInfo");
  EXPECT_EQ(ParseBootstrappingInfo("<BootstrappingInfo><lifetime>t</lifetime></BootstrappingInfo>")
                .error()
                .field,
            "btid");
}

}  // namespace
}  // namespace spc::smartcard
