// bcastsrtpdec with the Smartcard Profile's 6-byte MKI (MSK ID ‖ MTK ID): TEKs from the keyring
// by MSK ID and MTK ID, next to DRM Profile TEKs whose 16-bit ID equals an MTK ID, on both crypto
// engines; an unknown MSK/MTK pair is held, then dropped and counted; the key message names both
// IDs; a 5-byte MKI is refused.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "gst-plugins/bcastprotect/bcastsrtpdec.h"
#include "gst-plugins/bcastprotect/keyring.h"
#include "gst-plugins/bcastprotect/srtp/srtp_sender.h"
#include "tests/srtp/srtp_test_util.h"

namespace {

namespace bs = bcast::srtp;
using srtp_test::MakeRtp;
using srtp_test::TestKey;
using srtp_test::TestSalt;

constexpr std::uint32_t kSsrc = 0x5c000001;

BcastTek MakeTek(std::uint32_t msk_id, std::uint16_t mtk_id, std::uint8_t seed) {
  BcastTek tek{};
  tek.id = mtk_id;
  tek.msk_id = msk_id;
  const auto k = TestKey(seed);
  const auto s = TestSalt(static_cast<std::uint8_t>(seed + 3));
  std::copy(k.begin(), k.end(), tek.key);
  std::copy(s.begin(), s.end(), tek.salt);
  tek.lifetime_s = 600;
  tek.protocol = 1;
  tek.authenticated = TRUE;
  return tek;
}

std::array<std::uint8_t, 6> Mki(std::uint32_t msk_id, std::uint16_t mtk_id) {
  return {static_cast<std::uint8_t>(msk_id >> 24), static_cast<std::uint8_t>(msk_id >> 16),
          static_cast<std::uint8_t>(msk_id >> 8),  static_cast<std::uint8_t>(msk_id),
          static_cast<std::uint8_t>(mtk_id >> 8),  static_cast<std::uint8_t>(mtk_id)};
}

class Mki6Test : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    static bool registered = GST_ELEMENT_REGISTER(bcastsrtpdec, nullptr);
    ASSERT_TRUE(registered);
    keyring_ = bcast_keyring_new();
  }
  void TearDown() override {
    if (h_) gst_harness_teardown(h_);
    if (bus_) gst_bus_set_flushing(bus_, TRUE);
    if (element_) gst_object_unref(element_);
    if (bus_) gst_object_unref(bus_);
    g_object_unref(keyring_);
  }

  void Start(int mki_length) {
    element_ = gst_element_factory_make("bcastsrtpdec", nullptr);
    ASSERT_NE(element_, nullptr);
    gst_object_ref_sink(element_);
    GstContext* ctx = bcast_keyring_context_new(keyring_);
    gst_element_set_context(element_, ctx);
    gst_context_unref(ctx);
    bus_ = gst_bus_new();
    gst_element_set_bus(element_, bus_);
    gst_util_set_object_arg(G_OBJECT(element_), "hold-time", "100");
    gst_util_set_object_arg(G_OBJECT(element_), "engine", GetParam());
    h_ = gst_harness_new_with_element(element_, "sink", "src");
    const std::string caps =
        "application/x-srtp, payload=(int)96, clock-rate=(int)90000, "
        "encoding-name=(string)H264, media=(string)video, srtp-cipher=(string)aes-128-icm, "
        "mki-length=(int)" +
        std::to_string(mki_length);
    gst_harness_set_src_caps_str(h_, caps.c_str());
  }

  // A sender key (handle) with the smartcard MKI and the TEK's bytes.
  void AddSenderKey(bs::SrtpSender& sender, std::uint16_t handle, const BcastTek& tek) {
    const auto mki = Mki(tek.msk_id, tek.id);
    ASSERT_TRUE(sender.AddKey(handle, std::span<const std::uint8_t, 16>(tek.key, 16),
                              std::span<const std::uint8_t, 14>(tek.salt, 14), true, mki));
  }

  GstBuffer* Srtp(bs::SrtpSender& sender, std::uint16_t seq, std::uint16_t handle) {
    auto p = MakeRtp(seq, kSsrc, 120);
    EXPECT_TRUE(sender.Protect(p, handle));
    return gst_buffer_new_memdup(p.data(), p.size());
  }

  void ExpectClear(std::uint16_t seq) {
    GstBuffer* out = gst_harness_pull(h_);
    ASSERT_NE(out, nullptr) << "seq " << seq;
    const auto want = MakeRtp(seq, kSsrc, 120);
    GstMapInfo map;
    ASSERT_TRUE(gst_buffer_map(out, &map, GST_MAP_READ));
    EXPECT_EQ(std::vector<std::uint8_t>(map.data, map.data + map.size), want) << "seq " << seq;
    gst_buffer_unmap(out, &map);
    gst_buffer_unref(out);
  }

  guint64 Stat(const char* field) {
    GstStructure* s = nullptr;
    g_object_get(element_, "stats", &s, nullptr);
    guint64 v = 0;
    gst_structure_get_uint64(s, field, &v);
    gst_structure_free(s);
    return v;
  }

  BcastKeyring* keyring_ = nullptr;
  GstElement* element_ = nullptr;
  GstBus* bus_ = nullptr;
  GstHarness* h_ = nullptr;
};

TEST_P(Mki6Test, TeksByMskIdAndMtkIdBesideDrmTeks) {
  // Same MTK ID 7 under two MSKs, and a DRM Profile TEK 7: three different keys.
  const BcastTek a = MakeTek(0x00010001, 7, 10);
  const BcastTek b = MakeTek(0x00010002, 7, 60);
  const BcastTek drm = MakeTek(0, 7, 110);
  bcast_keyring_add(keyring_, &a);
  bcast_keyring_add(keyring_, &b);
  bcast_keyring_add(keyring_, &drm);
  BcastTek got{};
  ASSERT_TRUE(bcast_keyring_lookup(keyring_, 7, &got));
  EXPECT_EQ(got.msk_id, 0u);
  EXPECT_EQ(got.key[0], drm.key[0]);
  ASSERT_TRUE(bcast_keyring_lookup_key(keyring_, 0x000100020007ull, &got));
  EXPECT_EQ(got.msk_id, 0x00010002u);
  EXPECT_EQ(std::vector<guint8>(got.key, got.key + 16), std::vector<guint8>(b.key, b.key + 16));
  EXPECT_EQ(bcast_tek_key_id(&a), 0x000100010007ull);

  ASSERT_NO_FATAL_FAILURE(Start(6));
  bs::SrtpSender sender(bs::SrtpAuth::kHmacSha1_80, 2);
  ASSERT_NO_FATAL_FAILURE(AddSenderKey(sender, 1, a));
  ASSERT_NO_FATAL_FAILURE(AddSenderKey(sender, 2, b));
  // MSK change mid-stream and back: each packet names its key by the 6-byte MKI.
  std::uint16_t seq = 100;
  for (std::uint16_t handle : {1, 1, 2, 2, 1, 2}) {
    ASSERT_EQ(gst_harness_push(h_, Srtp(sender, seq, handle)), GST_FLOW_OK);
    ExpectClear(seq);
    ++seq;
  }
  EXPECT_EQ(Stat("decrypted"), 6u);
  EXPECT_EQ(Stat("auth-failures"), 0u);

  // The key change message names the MSK and the MTK.
  bool saw = false;
  while (GstMessage* m = gst_bus_pop_filtered(bus_, GST_MESSAGE_ELEMENT)) {
    const GstStructure* s = gst_message_get_structure(m);
    if (gst_structure_has_name(s, "openbcast-srtp-key")) {
      guint tek = 0, msk = 0;
      EXPECT_TRUE(gst_structure_get_uint(s, "tek-id", &tek));
      EXPECT_TRUE(gst_structure_get_uint(s, "msk-id", &msk));
      EXPECT_EQ(tek, 7u);
      EXPECT_TRUE(msk == 0x00010001u || msk == 0x00010002u) << msk;
      saw = true;
    }
    gst_message_unref(m);
  }
  EXPECT_TRUE(saw);
}

TEST_P(Mki6Test, UnknownMskIsHeldThenDroppedAndLateKeyReleases) {
  const BcastTek a = MakeTek(0x00010001, 3, 20);
  const BcastTek unknown = MakeTek(0x00010003, 3, 90);
  bcast_keyring_add(keyring_, &a);
  ASSERT_NO_FATAL_FAILURE(Start(6));
  bs::SrtpSender sender(bs::SrtpAuth::kHmacSha1_80, 2);
  ASSERT_NO_FATAL_FAILURE(AddSenderKey(sender, 1, a));
  ASSERT_NO_FATAL_FAILURE(AddSenderKey(sender, 2, unknown));
  ASSERT_EQ(gst_harness_push(h_, Srtp(sender, 1, 1)), GST_FLOW_OK);
  ExpectClear(1);
  // A packet under an MSK the keyring lacks: held (the MTK may be late), never passed on.
  ASSERT_EQ(gst_harness_push(h_, Srtp(sender, 2, 2)), GST_FLOW_OK);
  EXPECT_EQ(Stat("unknown-mki"), 1u);
  // The key arrives within the hold time: the held packet goes on, in order, decrypted.
  bcast_keyring_add(keyring_, &unknown);
  ExpectClear(2);
  ASSERT_EQ(gst_harness_push(h_, Srtp(sender, 3, 1)), GST_FLOW_OK);
  ExpectClear(3);
  EXPECT_EQ(Stat("decrypted"), 3u);
}

TEST_P(Mki6Test, FiveByteMkiRefused) {
  ASSERT_NO_FATAL_FAILURE(Start(5));
  auto p = MakeRtp(1, kSsrc, 120);
  gst_harness_push(h_, gst_buffer_new_memdup(p.data(), p.size()));
  bool error = false;
  while (GstMessage* m = gst_bus_pop_filtered(bus_, GST_MESSAGE_ERROR)) {
    error = true;
    gst_message_unref(m);
  }
  EXPECT_TRUE(error);
}

INSTANTIATE_TEST_SUITE_P(Engines, Mki6Test, ::testing::Values("openssl", "libsrtp"));

}  // namespace
