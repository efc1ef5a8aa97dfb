// APDU layer of USIM AUTHENTICATE: command and response round trips for every GBA and MBMS
// operation, short and extended APDUs, BER lengths past 127 bytes, and malformed commands and
// responses refused with field and offset.
#include <gtest/gtest.h>

#include "spc/libspc/smartcard/apdu.h"
#include "tests/smartcard/test_util.h"

namespace spc::smartcard {
namespace {

using testing::A;
using testing::H;
using testing::X;

Result<AuthenticateRequest> ThroughWire(const CommandApdu& c) {
  auto parsed = ParseCommandApdu(WriteCommandApdu(c));
  EXPECT_TRUE(parsed);
  if (!parsed) return parsed.error();
  return ParseAuthenticateCommand(*parsed);
}

TEST(Apdu, GbaBootstrapCommandLayout) {
  auto rand = A<16>("23553cbe9637a89d218ae64dae47bf35");
  auto autn = A<16>("55f328b43577b9b94a9ffac354dfafb3");
  auto c = MakeGbaBootstrapCommand(rand, autn);
  EXPECT_EQ(X(WriteCommandApdu(c)), "0088008423dd10" + X(rand) + "10" + X(autn) + "00");
  auto r = ThroughWire(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, AuthenticateRequest::Kind::kGbaBootstrap);
  EXPECT_EQ(r->rand, rand);
  EXPECT_EQ(r->autn, autn);
}

TEST(Apdu, GbaNafCommandAndResponses) {
  std::vector<std::uint8_t> naf = {'b', 's', 'm', 1, 0, 0, 0, 2};
  auto r = ThroughWire(MakeGbaNafDerivationCommand(naf, "impi@x"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, AuthenticateRequest::Kind::kGbaNafDerivation);
  EXPECT_EQ(r->naf_id, naf);
  EXPECT_EQ(r->impi, "impi@x");

  std::vector<std::uint8_t> res = H("a54211d5e3ba50bf");
  auto b = ParseGbaBootstrapResponse(MakeGbaBootstrapResponse(res));
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->sync_failure);
  EXPECT_EQ(b->res, res);
  auto auts = A<14>("000102030405060708090a0b0c0d");
  auto s = ParseGbaBootstrapResponse(MakeGbaSyncFailureResponse(auts));
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->sync_failure);
  EXPECT_EQ(s->auts, auts);
  std::vector<std::uint8_t> ks(32, 7);
  auto k = ParseGbaNafResponse(MakeGbaNafResponse(ks));
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, ks);
}

TEST(Apdu, MbmsCommandsWithBerLengthsAndExtendedApdus) {
  for (std::size_t n : {10u, 126u, 127u, 200u, 254u, 300u, 1000u}) {
    std::vector<std::uint8_t> mikey(n, 0x5a);
    auto c = MakeMtkGenerationCommand(mikey);
    auto wire = WriteCommandApdu(c);
    // 53 L 02 ‖ MIKEY, L in BER: one byte below 128, 81 xx below 256, 82 xx xx above.
    const std::size_t tlv_len = 1 + mikey.size();
    const std::size_t len_bytes = tlv_len < 128 ? 1 : tlv_len < 256 ? 2 : 3;
    EXPECT_EQ(c.data.size(), 1 + len_bytes + tlv_len) << n;
    if (c.data.size() > 255) {
      EXPECT_EQ(wire[4], 0) << "extended APDU for " << n;
    }
    auto r = ThroughWire(c);
    ASSERT_TRUE(r) << n << " " << r.error().field;
    EXPECT_EQ(r->kind, AuthenticateRequest::Kind::kMtkGeneration);
    EXPECT_EQ(r->mikey, mikey);
  }
  auto u = ThroughWire(MakeMskUpdateCommand(std::vector<std::uint8_t>(40, 1)));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, AuthenticateRequest::Kind::kMskUpdate);
  auto d = ThroughWire(MakeMskDeletionCommand({1, 2, 3}, 0x0007));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, AuthenticateRequest::Kind::kMskDeletion);
  EXPECT_EQ(X(d->key_domain), "010203");
  EXPECT_EQ(d->key_group, 7);
  EXPECT_EQ(X(WriteCommandApdu(MakeMskDeletionCommand({1, 2, 3}, 7))),
            "0089808508530603010203000700");
}

TEST(Apdu, MbmsResponses) {
  auto mtk = A<16>("000102030405060708090a0b0c0d0e0f");
  auto salt = A<14>("101112131415161718191a1b1c1d");
  auto m = ParseMtkResponse(MakeMtkResponse(mtk, salt));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mtk, mtk);
  EXPECT_TRUE(m->has_salt);
  EXPECT_EQ(m->salt, salt);
  // The BCAST container form.
  auto c =
      ParseMtkResponse(H("ae2586"
                         "10" +
                         X(mtk) +
                         "87"
                         "0e" +
                         X(salt) +
                         "8801"
                         "12"));
  ASSERT_TRUE(c) << c.error().field;
  EXPECT_EQ(c->mtk, mtk);
  EXPECT_EQ(c->salt, salt);
  EXPECT_EQ(c->parental_control, std::vector<std::uint8_t>{0x12});
  // MSK update with a 200-byte verification message: 53 81 C9 DB ....
  std::vector<std::uint8_t> ver(200, 9);
  auto mu = MakeMskUpdateResponse(ver);
  EXPECT_EQ(X(std::vector<std::uint8_t>(mu.begin(), mu.begin() + 4)), "5381c9db");
  auto v = ParseMskUpdateResponse(mu);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, ver);
  EXPECT_TRUE(ParseMskDeletionResponse(MakeMskDeletionResponse()));
}

TEST(Apdu, StatusWords) {
  auto r = ParseResponseApdu(H("9862"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->data.empty());
  EXPECT_EQ(StatusWordName(r->sw), "bad-mac");
  EXPECT_EQ(StatusWordName(0x9865), "key-freshness-failure");
  EXPECT_EQ(StatusWordName(0x6A88), "key-not-found");
  EXPECT_EQ(StatusWordName(0x1234), "sw-1234");
  EXPECT_EQ(X(WriteResponseApdu(H("db01aa"), kSwOk)), "db01aa9000");
  EXPECT_EQ(ParseResponseApdu(H("90")).error().field, "SW1SW2");
}

struct BadResponse {
  const char* name;
  const char* hex;
  Result<bool> (*parse)(std::span<const std::uint8_t>);
  const char* field;
  std::size_t offset;
};

Result<bool> Mtk(std::span<const std::uint8_t> d) {
  auto r = ParseMtkResponse(d);
  if (!r) return r.error();
  return true;
}
Result<bool> Gba(std::span<const std::uint8_t> d) {
  auto r = ParseGbaBootstrapResponse(d);
  if (!r) return r.error();
  return true;
}
Result<bool> Naf(std::span<const std::uint8_t> d) {
  auto r = ParseGbaNafResponse(d);
  if (!r) return r.error();
  return true;
}
Result<bool> Msk(std::span<const std::uint8_t> d) {
  auto r = ParseMskUpdateResponse(d);
  if (!r) return r.error();
  return true;
}

TEST(Apdu, MalformedResponsesAreNamed) {
  const BadResponse cases[] = {
      {"empty", "", Gba, "GBA.tag", 0},
      {"tag only", "db", Gba, "GBA.length", 1},
      {"RES length lies", "db08a54211d5", Gba, "GBA.length", 1},
      {"RES too short", "db02a542", Gba, "GBA.RES_length", 1},
      {"AUTS not 14", "dc0300aabb", Gba, "GBA.AUTS_length", 1},
      {"unknown tag", "dd0100", Gba, "GBA.tag", 0},
      {"trailing", "db04a54211d500", Gba, "trailing_data", 6},
      {"Ks_ext_NAF short", "db0401020304", Naf, "GBA.Ks_ext_NAF_length", 1},
      {"MBMS truncated", "53", Mtk, "MBMS.length", 1},
      {"BER length past end", "53811fdb00", Mtk, "MBMS.length", 1},
      {"BER length bytes past end", "5382", Mtk, "MBMS.length", 1},
      {"BER indefinite", "5380db", Mtk, "MBMS.length", 1},
      {"BER 4-byte form", "5384000000010000", Mtk, "MBMS.length", 1},
      {"not DB", "530298aa", Mtk, "MBMS.result", 2},
      {"wrong tag", "5401db", Mtk, "MBMS.tag", 0},
      {"MTK length", "5305db01020304", Mtk, "MBMS.length", 1},
      {"container item past end", "ae048610aabb", Mtk, "BCAST.item.length", 3},
      {"container TEK short", "ae03860100", Mtk, "BCAST.TEK_length", 3},
      {"container without TEK", "ae03880100", Mtk, "BCAST.TEK", 5},
      {"container unknown tag", "ae03990100", Mtk, "BCAST.tag", 2},
      {"MSK update empty", "5300", Msk, "MBMS.result", 2},
  };
  for (const auto& c : cases) {
    auto r = c.parse(H(c.hex));
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().field, c.field) << c.name << ": " << r.error().message;
    EXPECT_EQ(r.error().offset, c.offset) << c.name << ": " << r.error().message;
  }
}

struct BadCommand {
  const char* name;
  const char* hex;
  const char* field;
  std::size_t offset;
};

TEST(Apdu, MalformedCommandsAreNamed) {
  const BadCommand cases[] = {
      {"header short", "008800", "header", 3},
      {"Lc lies", "0088008405dd1001", "Lc", 4},
      {"extended Lc lies", "00880084000010dd", "Lc", 5},
      {"extended Lc zero", "008800840000000000", "Lc", 5},
      {"CLA", "a0880084021234", "CLA", 0},
      {"INS", "00b00084021234", "INS", 1},
      {"P2", "0088008102dd00", "P1P2", 3},
      {"GBA P1", "0088018402dd00", "P1P2", 2},
      {"GBA tag", "0088008402aa00", "GBA.tag", 5},
      {"RAND length", "0088008402dd08", "GBA.RAND_length", 6},
      {"NAF_ID length past end", "0088008403de0561", "GBA.NAF_ID_length", 6},
      {"IMPI length lies", "0088008405de01610361", "GBA.IMPI_length", 8},
      {"MBMS BER past end", "0089808503530902", "MBMS.length", 6},
      {"MBMS tag", "0089808503540102", "MBMS.tag", 5},
      {"MBMS mode", "0089808504530209aa", "MBMS.mode", 7},
      {"MBMS no MIKEY",
       "00898085035301"
       "02",
       "MBMS.MIKEY", 8},
      {"MSK deletion short", "00898085055303030102", "MBMS.length", 7},
      {"MBMS trailing", "008980850553020201ff", "trailing_data", 9},
  };
  for (const auto& c : cases) {
    auto cmd = ParseCommandApdu(H(c.hex));
    Result<AuthenticateRequest> r =
        cmd ? ParseAuthenticateCommand(*cmd) : Result<AuthenticateRequest>(cmd.error());
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().field, c.field) << c.name << ": " << r.error().message;
    EXPECT_EQ(r.error().offset, c.offset) << c.name << ": " << r.error().message;
  }
}

}  // namespace
}  // namespace spc::smartcard
