// Known answers for the Smartcard Profile crypto: Milenage (3GPP TS 35.207 §4.3 / TS 35.208 test
// sets 1-3), the GBA KDF (TS 33.220 Annex B), the MIKEY PRF and message keys (RFC 3830 §4.1,
// RFC 6043 §6.1) and AES-CM (RFC 3711 Appendix B.2 keystream, MIKEY IV construction).
// Vectors other than the 3GPP/IETF ones come from make_mikey_vectors.py, an independent Python
// implementation of the RFC text.
#include <gtest/gtest.h>

#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/mikey_crypto.h"
#include "spc/libspc/smartcard/milenage.h"
#include "tests/smartcard/test_util.h"

namespace spc::smartcard {
namespace {

using testing::A;
using testing::H;
using testing::X;

struct MilenageSet {
  const char *k, *rand, *sqn, *amf, *op, *opc, *f1, *f1s, *f2, *f3, *f4, *f5, *f5s;
};

constexpr MilenageSet kSets[] = {
    {"465b5ce8b199b49faa5f0a2ee238a6bc", "23553cbe9637a89d218ae64dae47bf35", "ff9bb4d0b607", "b9b9",
     "cdc202d5123e20f62b6d676ac72cb318", "cd63cb71954a9f4e48a5994e37a02baf", "4a9ffac354dfafb3",
     "01cfaf9ec4e871e9", "a54211d5e3ba50bf", "b40ba9a3c58b2a05bbf0d987b21bf8cb",
     "f769bcd751044604127672711c6d3441", "aa689c648370", "451e8beca43b"},
    {"0396eb317b6d1c36f19c1c84cd6ffd16", "c00d603103dcee52c4478119494202e8", "fd8eef40df7d", "af17",
     "ff53bade17df5d4e793073ce9d7579fa", "53c15671c60a4b731c55b4a441c0bde2", "5df5b31807e258b0",
     "a8c016e51ef4a343", "d3a628ed988620f0", "58c433ff7a7082acd424220f2b67c556",
     "21a8c1f929702adb3e738488b9f5c5da", "c47783995f72", "30f1197061c1"},
    {"fec86ba6eb707ed08905757b1bb44b8f", "9f7c8d021accf4db213ccff0c7f71a6a", "9d0277595ffc", "725c",
     "dbc59adcb6f9a0ef735477b7fadf8374", "1006020f0a478bf6b699f15c062e42b3", "9cabc3e99baf7281",
     "95814ba2b3044324", "8011c48c0c214ed2", "5dbdbb2954e8f3cde665b046179a5098",
     "59a92d3b476a0443487055cf88b2307b", "33484dc2136b", "deacdd848cc6"},
};

class MilenageTest : public ::testing::TestWithParam<MilenageSet> {};

TEST_P(MilenageTest, MatchesTs35207TestSet) {
  const MilenageSet& s = GetParam();
  auto k = A<16>(s.k);
  auto opc = MilenageOpc(k, A<16>(s.op));
  EXPECT_EQ(X(opc), s.opc);
  auto rand = A<16>(s.rand);
  auto f1 = MilenageF1(k, opc, rand, A<6>(s.sqn), A<2>(s.amf));
  EXPECT_EQ(X(f1.mac_a), s.f1);
  EXPECT_EQ(X(f1.mac_s), s.f1s);
  auto f = MilenageF2345(k, opc, rand);
  EXPECT_EQ(X(f.res), s.f2);
  EXPECT_EQ(X(f.ck), s.f3);
  EXPECT_EQ(X(f.ik), s.f4);
  EXPECT_EQ(X(f.ak), s.f5);
  EXPECT_EQ(X(f.ak_s), s.f5s);
}

INSTANTIATE_TEST_SUITE_P(Ts35208, MilenageTest, ::testing::ValuesIn(kSets));

TEST(Milenage, AutnAndResyncRoundTrip) {
  const MilenageSet& s = kSets[0];
  auto k = A<16>(s.k);
  auto opc = A<16>(s.opc);
  auto rand = A<16>(s.rand);
  auto sqn = A<6>(s.sqn);
  Autn autn = MilenageMakeAutn(k, opc, rand, sqn, A<2>(s.amf));
  // SQN xor AK ‖ AMF ‖ MAC-A
  EXPECT_EQ(X(autn).substr(12), std::string(s.amf) + s.f1);
  Auts auts = MilenageMakeAuts(k, opc, rand, sqn);
  Sqn back{};
  ASSERT_TRUE(MilenageResync(k, opc, rand, auts, back));
  EXPECT_EQ(back, sqn);
  auts[13] ^= 1;
  EXPECT_FALSE(MilenageResync(k, opc, rand, auts, back));
}

TEST(Gba, KdfMatchesIndependentComputation) {
  std::array<std::uint8_t, 32> ks{};
  for (int i = 0; i < 32; ++i) ks[i] = static_cast<std::uint8_t>(i);
  auto rand = A<16>("101112131415161718191a1b1c1d1e1f");
  const std::string impi = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org";
  auto naf_id = GbaNafId("bsm.openbcast.test");
  EXPECT_EQ(X(naf_id), X(std::string("bsm.openbcast.test")) + "0100000002");
  EXPECT_EQ(X(GbaNafKey(ks, GbaNafKeyKind::kExt, rand, impi, naf_id)),
            "f58ac52000e8172ee976913e238d62df77eeeabcb255730a2f0946f6d89212a9");
  EXPECT_EQ(X(GbaNafKey(ks, GbaNafKeyKind::kInt, rand, impi, naf_id)),
            "f3ed1087004b233066fe359c26287b18e90a35218a1eec6240873e9d99adab77");
  EXPECT_EQ(GbaBtid(rand, "bsf.openbcast.test"), "EBESExQVFhcYGRobHB0eHw==@bsf.openbcast.test");
  auto ck = A<16>("000102030405060708090a0b0c0d0e0f");
  auto ik = A<16>("101112131415161718191a1b1c1d1e1f");
  EXPECT_EQ(X(GbaKs(ck, ik)), X(ck) + X(ik));
}

const std::vector<std::uint8_t> kLabel = [] {
  auto l = H("150533e1ff11223344");
  for (int i = 0; i < 16; ++i) l.push_back(static_cast<std::uint8_t>(i));
  return l;
}();

std::vector<std::uint8_t> Range(int from, int to) {
  std::vector<std::uint8_t> v;
  for (int i = from; i < to; ++i) v.push_back(static_cast<std::uint8_t>(i));
  return v;
}

TEST(MikeyPrf, KnownAnswers) {
  auto k16 = Range(0x40, 0x50);
  auto k40 = Range(0x80, 0xa8);  // two inkey pieces: 32 + 8 bytes
  EXPECT_EQ(X(MikeyPrf(kMikeyPrfHmacSha1, k16, kLabel, 16)), "9d2631afd3272129d3aaafd5648fddac");
  EXPECT_EQ(X(MikeyPrf(kMikeyPrfHmacSha1, k16, kLabel, 50)),
            "9d2631afd3272129d3aaafd5648fddac60d64aae7527862d61d5d01fe91bee051f2b5cc5a5807dcde8a3"
            "a38e3ea52d941dac");
  EXPECT_EQ(X(MikeyPrf(kMikeyPrfHmacSha1, k40, kLabel, 20)),
            "349854a7eda633636846ffc9f493b5ba3cfc29c6");
  EXPECT_EQ(X(MikeyPrf(kMikeyPrfHmacSha256, k40, kLabel, 40)),
            "db826125fe751ee9d57ae8d732311c7522f94146af6d50527b0e862060b751f9d3880a0b20252211");
}

TEST(MikeyPrf, MessageKeysAndAesCm) {
  auto k16 = Range(0x40, 0x50);
  auto keys = MikeyDeriveMessageKeys(kMikeyPrfHmacSha1, k16, 0x11223344, Range(0, 16));
  EXPECT_EQ(X(keys.encryption), "9d2631afd3272129d3aaafd5648fddac");
  EXPECT_EQ(X(keys.salt), "96eecfe9a0d6b3c0e87ab87a822e");
  EXPECT_EQ(X(keys.authentication), "4f800ec7ca2731bb5ed9ecd605d76cf1c89befe1");
  auto enc = MikeyAesCm(keys.encryption, keys.salt, 0x11223344, 7, Range(0, 40));
  EXPECT_EQ(X(enc),
            "cf64f0892017ba794ae29b92c2a6ccd8bd5a64c416ff2390fdeea04ab707de375ed5774b54b8663d");
  EXPECT_EQ(MikeyAesCm(keys.encryption, keys.salt, 0x11223344, 7, enc), Range(0, 40));
}

TEST(MikeyPrf, AesCmKeystreamOfRfc3711AppendixB2) {
  // With CSB-ID 0 and T 0 the MIKEY IV is salt ‖ 0000: RFC 3711 B.2's counter block.
  auto key = A<16>("2b7e151628aed2a6abf7158809cf4f3c");
  auto salt = A<14>("f0f1f2f3f4f5f6f7f8f9fafbfcfd");
  std::vector<std::uint8_t> zeros(48, 0);
  EXPECT_EQ(X(MikeyAesCm(key, salt, 0, 0, zeros)),
            "e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab41e95b3bb0a2e8dd477901"
            "e4fca894c0");
}

}  // namespace
}  // namespace spc::smartcard
