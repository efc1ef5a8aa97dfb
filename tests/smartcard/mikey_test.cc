// MIKEY MSK/MTK messages: an independently built message (make_mikey_vectors.py) parsed,
// MAC-checked and decrypted, the writer reproducing it byte for byte; round trips; bad MACs;
// malformed messages refused with field and offset; generic payload framing against GStreamer's
// GstMIKEYMessage writer.
#include <gst/gst.h>
#include <gst/sdp/gstmikey.h>
#include <gtest/gtest.h>

#include "spc/libspc/smartcard/mikey.h"
#include "spc/libspc/smartcard/mikey_crypto.h"
#include "tests/smartcard/test_util.h"

namespace spc::smartcard {
namespace {

using testing::A;
using testing::H;
using testing::X;

std::vector<std::uint8_t> Range(int from, int to) {
  std::vector<std::uint8_t> v;
  for (int i = from; i < to; ++i) v.push_back(static_cast<std::uint8_t>(i));
  return v;
}

// From make_mikey_vectors.py: MSK 60..6f, key domain 0a0b0c, MSK ID 00010002, MTK ID 0005,
// counter 9, RAND c0..cf, MTK 20..2f, salt 30..3d, STKM extension with one parental rating.
const char kIndependentMtkMessage[] =
    "010015000001000200010506000c0200090a0b0c0001000200050b02000000091510c0c1c2c3c4c5c6c7c8c9cacbcc"
    "cdcecf0105000802010201010101120001002727c0bd94ed44d2b370f1d8191b8db41e045b7a298a312f0be7ff9d7a"
    "84076c02d611714404d46501b0323a59937f30ea87541fe28da0cefe33712660";

MikeyMessage IndependentFields() {
  MikeyMessage m;
  m.csb_id = 0x00010002;
  m.key_id = {MikeyKeyIdType::kMtk, {0x0a, 0x0b, 0x0c}, 0x00010002, 5};
  m.counter = 9;
  m.rand = Range(0xc0, 0xd0);
  m.stkm_ext = BcastStkmExt{1, 2, 1, {{1, {18}}}};
  return m;
}

TEST(Mikey, IndependentMtkMessageParsesOpensAndIsReproduced) {
  auto bytes = H(kIndependentMtkMessage);
  auto msk = Range(0x60, 0x70);
  auto parsed = ParseMikey(bytes);
  ASSERT_TRUE(parsed) << parsed.error().field << " " << parsed.error().message;
  EXPECT_EQ(parsed->key_id.type, MikeyKeyIdType::kMtk);
  EXPECT_EQ(X(parsed->key_id.key_domain), "0a0b0c");
  EXPECT_EQ(parsed->key_id.msk_id, 0x00010002u);
  EXPECT_EQ(parsed->key_id.key_group(), 1);
  EXPECT_EQ(parsed->key_id.mtk_id, 5);
  EXPECT_EQ(parsed->counter, 9u);
  ASSERT_TRUE(parsed->stkm_ext);
  EXPECT_EQ(parsed->stkm_ext->traffic_protection_protocol, 2);
  ASSERT_EQ(parsed->stkm_ext->access_criteria.size(), 1u);
  EXPECT_EQ(parsed->stkm_ext->access_criteria[0].data, std::vector<std::uint8_t>{18});

  auto kd = OpenMikeyKemac(*parsed, msk);
  ASSERT_TRUE(kd) << MikeyOpenErrorName(kd.error().code) << " " << kd.error().detail.message;
  EXPECT_EQ(kd->type, kMikeyKeyDataTekSalt);
  EXPECT_EQ(kd->key, Range(0x20, 0x30));
  EXPECT_EQ(kd->salt, Range(0x30, 0x3e));
  EXPECT_EQ(X(kd->spi), "0005");

  EXPECT_EQ(X(WriteMikey(IndependentFields(), *kd, msk)), kIndependentMtkMessage);
}

TEST(Mikey, MskMessageRoundTripWithVerification) {
  std::vector<std::uint8_t> muk = Range(0, 32);  // Ks_int_NAF is 256 bits
  auto msk = A<16>("00112233445566778899aabbccddeeff");
  BcastLtkmExt ext{3, {0, 0, 0, 0, 1}, {0, 0, 0, 0xff, 0xff}};
  auto bytes = MakeMikeyMskMessage({1, 2, 3}, 0x00070001, 42, msk, muk, "bsm.openbcast.test",
                                   "btid@bsf", ext, true);
  auto m = ParseMikey(bytes);
  ASSERT_TRUE(m) << m.error().field;
  EXPECT_TRUE(m->v);
  EXPECT_EQ(m->key_id.type, MikeyKeyIdType::kMsk);
  EXPECT_EQ(m->idi->value, "bsm.openbcast.test");
  EXPECT_EQ(m->idr->value, "btid@bsf");
  ASSERT_TRUE(m->ltkm_ext);
  EXPECT_EQ(m->ltkm_ext->permissions, 3);
  EXPECT_EQ(X(m->ltkm_ext->not_after), "000000ffff");
  auto kd = OpenMikeyKemac(*m, muk);
  ASSERT_TRUE(kd);
  EXPECT_EQ(X(kd->key), X(msk));
  EXPECT_EQ(kd->type, kMikeyKeyDataTgk);

  auto ver = WriteMikeyVerification(*m, muk);
  auto vm = ParseMikey(ver);
  ASSERT_TRUE(vm) << vm.error().field << " " << vm.error().message;
  EXPECT_EQ(vm->data_type, kMikeyDataTypeVerification);
  EXPECT_TRUE(CheckMikeyVerification(*vm, *m, muk));
  muk[0] ^= 1;
  EXPECT_FALSE(CheckMikeyVerification(*vm, *m, muk));
}

TEST(Mikey, BadMacIsRefusedBeforeDecryption) {
  auto msk = Range(0x60, 0x70);
  auto good = H(kIndependentMtkMessage);
  // Wrong key, flipped MAC bit, flipped ciphertext bit, flipped counter: all kBadMac.
  auto wrong = msk;
  wrong[15] ^= 0x80;
  EXPECT_EQ(OpenMikeyKemac(*ParseMikey(good), wrong).error().code, MikeyOpenError::kBadMac);
  for (std::size_t at : {good.size() - 1, good.size() - 30, std::size_t{31}, std::size_t{40}}) {
    auto bad = good;
    bad[at] ^= 0x01;
    auto m = ParseMikey(bad);
    ASSERT_TRUE(m) << at;
    auto r = OpenMikeyKemac(*m, msk);
    ASSERT_FALSE(r) << at;
    EXPECT_EQ(r.error().code, MikeyOpenError::kBadMac);
    EXPECT_EQ(r.error().detail.field, "KEMAC.MAC");
  }
}

TEST(Mikey, KeyIdDisagreementIsRefused) {
  auto msk = Range(0x60, 0x70);
  MikeyKeyData kd;
  kd.type = kMikeyKeyDataTekSalt;
  kd.key = Range(0, 16);
  kd.salt = Range(0, 14);
  kd.spi = {0, 6};  // EXT says MTK 5
  auto bytes = WriteMikey(IndependentFields(), kd, msk);
  auto r = OpenMikeyKemac(*ParseMikey(bytes), msk);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, MikeyOpenError::kKeyIdMismatch);
  EXPECT_EQ(r.error().detail.field, "KEY_DATA.SPI");
}

TEST(Mikey, SrtpMkiIsMskIdThenMtkId) {
  EXPECT_EQ(X(SrtpMkiFor(0x00010002, 0x0005)), "000100020005");
}

TEST(Mikey, EveryTruncationIsRefusedWithAField) {
  auto good = H(kIndependentMtkMessage);
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto r = ParseMikey(std::span<const std::uint8_t>(good.data(), n));
    ASSERT_FALSE(r) << n;
    EXPECT_FALSE(r.error().field.empty()) << n;
    EXPECT_LE(r.error().offset, n) << n;
  }
}

struct Malformed {
  const char* name;
  std::size_t at;
  std::uint8_t value;
  const char* field;
  std::size_t offset;
};

TEST(Mikey, MalformedFieldsAreNamed) {
  const auto good = H(kIndependentMtkMessage);
  const Malformed cases[] = {
      {"version", 0, 2, "HDR.version", 0},
      {"data type", 1, 7, "HDR.data_type", 1},
      {"PRF", 3, 5, "HDR.PRF_func", 3},
      {"#CS", 8, 1, "HDR.#CS", 8},
      {"map type", 9, 0, "HDR.CS_ID_map_type", 9},
      {"unknown payload", 2, 3, "next_payload", 2},
      {"EXT type", 11, 9, "EXT.type", 11},
      {"key ID type", 14, 3, "EXT.key_ID_type", 14},
      {"key ID length lies", 16, 8, "EXT.key_ID_length", 15},
      {"EXT length past end", 12, 0xff, "EXT.data", 14},
      {"TS type", 27, 0, "T.TS_type", 27},
      {"RAND short", 33, 8, "RAND.RAND_len", 33},
      {"BCAST subtype", 54, 9, "EXT.subtype", 54},
      {"descriptor count lies", 58, 2, "EXT.access_criteria_descriptor", 62},
      {"descriptor length lies", 60, 5, "EXT.access_criteria_descriptor.length", 60},
      {"encr alg", 63, 2, "KEMAC.encr_alg", 63},
      {"encr len past end", 64, 0xff, "KEMAC.encr_data", 66},
      {"CSB ID", 7, 3, "HDR.CSB_ID", 4},
  };
  for (const auto& c : cases) {
    auto bad = good;
    bad[c.at] = c.value;
    auto r = ParseMikey(bad);
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().field, c.field) << c.name << ": " << r.error().message;
    EXPECT_EQ(r.error().offset, c.offset) << c.name << ": " << r.error().message;
  }
  auto trailing = good;
  trailing.push_back(0);
  auto r = ParseMikey(trailing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "trailing_data");
  EXPECT_EQ(r.error().offset, good.size());
}

// GStreamer writes the generic payloads (HDR, T, RAND, key data) with the same RFC 3830 framing.
TEST(Mikey, GenericPayloadFramingMatchesGstMikey) {
  gst_init(nullptr, nullptr);
  auto fields = IndependentFields();
  auto bytes = H(kIndependentMtkMessage);
  auto msk = Range(0x60, 0x70);

  GstMIKEYMessage* gm = gst_mikey_message_new();
  gst_mikey_message_set_info(gm, 1, GST_MIKEY_TYPE_PSK_INIT, FALSE, GST_MIKEY_PRF_MIKEY_1,
                             fields.csb_id, static_cast<GstMIKEYMapType>(1));
  const std::uint8_t counter[4] = {0, 0, 0, 9};
  gst_mikey_message_add_t(gm, GST_MIKEY_TS_TYPE_COUNTER, counter);
  gst_mikey_message_add_rand(gm, 16, fields.rand.data());
  GstMIKEYPayload* kemac = gst_mikey_payload_new(GST_MIKEY_PT_KEMAC);
  gst_mikey_payload_kemac_set(kemac, GST_MIKEY_ENC_NULL, GST_MIKEY_MAC_NULL);
  GstMIKEYPayload* kd = gst_mikey_payload_new(GST_MIKEY_PT_KEY_DATA);
  auto mtk = Range(0x20, 0x30);
  auto salt = Range(0x30, 0x3e);
  const std::uint8_t spi[2] = {0, 5};
  gst_mikey_payload_key_data_set_key(kd, GST_MIKEY_KD_TEK, 16, mtk.data());
  gst_mikey_payload_key_data_set_salt(kd, 14, salt.data());
  gst_mikey_payload_key_data_set_spi(kd, 2, spi);
  gst_mikey_payload_kemac_add_sub(kemac, kd);
  gst_mikey_message_add_payload(gm, kemac);
  GBytes* gb = gst_mikey_message_to_bytes(gm, nullptr, nullptr);
  gsize gsize_ = 0;
  auto* gd = static_cast<const std::uint8_t*>(g_bytes_get_data(gb, &gsize_));
  std::vector<std::uint8_t> g(gd, gd + gsize_);
  g_bytes_unref(gb);
  gst_mikey_message_unref(gm);

  // HDR except its next-payload byte (ours names the EXT key ID first).
  std::vector<std::uint8_t> ours_hdr(bytes.begin(), bytes.begin() + 10);
  std::vector<std::uint8_t> gst_hdr(g.begin(), g.begin() + 10);
  ours_hdr[2] = gst_hdr[2] = 0;
  EXPECT_EQ(X(ours_hdr), X(gst_hdr));
  // T (ours after HDR + 16-byte EXT key ID), both naming RAND next.
  EXPECT_EQ(X(std::vector<std::uint8_t>(bytes.begin() + 26, bytes.begin() + 32)),
            X(std::vector<std::uint8_t>(g.begin() + 10, g.begin() + 16)));
  // RAND except its next-payload byte.
  EXPECT_EQ(X(std::vector<std::uint8_t>(bytes.begin() + 33, bytes.begin() + 50)),
            X(std::vector<std::uint8_t>(g.begin() + 17, g.begin() + 34)));
  // Key data sub-payload: ours decrypted vs GStreamer's clear KEMAC content.
  auto m = ParseMikey(bytes);
  ASSERT_TRUE(m);
  auto keys = MikeyDeriveMessageKeys(0, msk, m->csb_id, m->rand);
  auto plain = MikeyAesCm(keys.encryption, keys.salt, m->csb_id, m->counter, m->encrypted_key_data);
  const std::size_t kemac_at = 34;
  ASSERT_GE(g.size(), kemac_at + 4);
  const std::size_t len = static_cast<std::size_t>(g[kemac_at + 2] << 8 | g[kemac_at + 3]);
  ASSERT_GE(g.size(), kemac_at + 4 + len);
  EXPECT_EQ(X(plain),
            X(std::vector<std::uint8_t>(g.begin() + kemac_at + 4, g.begin() + kemac_at + 4 + len)));
}

}  // namespace
}  // namespace spc::smartcard
