// GstHarness tests of bcastsrtpdec with packets made by the project's SrtpSender and TEKs put in
// the keyring through a GstContext set on the element.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
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

constexpr std::uint32_t kSsrc = 0xcafe0001;
constexpr GstClockTime kWaitNs = 10 * GST_SECOND;

BcastTek MakeTek(std::uint16_t id, bool authenticated = true) {
  BcastTek tek{};
  tek.id = id;
  const auto k = TestKey(static_cast<std::uint8_t>(id * 17));
  const auto s = TestSalt(static_cast<std::uint8_t>(id * 5));
  std::copy(k.begin(), k.end(), tek.key);
  std::copy(s.begin(), s.end(), tek.salt);
  tek.lifetime_s = 600;
  tek.protocol = 1;
  tek.authenticated = authenticated;
  return tek;
}

// Every test runs on both crypto engines (the element's "engine" property).
class BcastSrtpDecTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    static bool registered = GST_ELEMENT_REGISTER(bcastsrtpdec, nullptr);
    ASSERT_TRUE(registered);
    keyring_ = bcast_keyring_new();
  }
  void TearDown() override {
    if (h_) gst_harness_teardown(h_);
    // The bus keeps the element's messages, which hold the element, which holds the bus: flushing
    // drops them so that both are freed.
    if (bus_) gst_bus_set_flushing(bus_, TRUE);
    if (element_) gst_object_unref(element_);
    if (bus_) gst_object_unref(bus_);
    g_object_unref(keyring_);
  }

  void Start(const std::string& caps_fields = "", const char* props = nullptr) {
    element_ = gst_element_factory_make("bcastsrtpdec", nullptr);
    ASSERT_NE(element_, nullptr);
    gst_object_ref_sink(element_);
    GstContext* ctx = bcast_keyring_context_new(keyring_);
    gst_element_set_context(element_, ctx);
    gst_context_unref(ctx);
    bus_ = gst_bus_new();
    gst_element_set_bus(element_, bus_);
    if (props) {
      gst_util_set_object_arg(G_OBJECT(element_), "hold-time", props);
    }
    gst_util_set_object_arg(G_OBJECT(element_), "engine", GetParam());
    h_ = gst_harness_new_with_element(element_, "sink", "src");
    std::string caps =
        "application/x-srtp, payload=(int)96, clock-rate=(int)90000, "
        "encoding-name=(string)H264, media=(string)video, "
        "srtp-cipher=(string)aes-128-icm";
    if (!caps_fields.empty()) caps += ", " + caps_fields;
    gst_harness_set_src_caps_str(h_, caps.c_str());
  }

  void AddTek(std::uint16_t id, bool authenticated = true) {
    const BcastTek tek = MakeTek(id, authenticated);
    bcast_keyring_add(keyring_, &tek);
  }

  GstBuffer* Srtp(bs::SrtpSender& sender, std::uint16_t seq, std::uint16_t tek) {
    auto p = MakeRtp(seq, kSsrc, 100);
    EXPECT_TRUE(sender.Protect(p, tek));
    return gst_buffer_new_memdup(p.data(), p.size());
  }

  // Pulls one buffer and checks it is the clear RTP packet `seq`.
  void ExpectClear(std::uint16_t seq) {
    GstBuffer* out = gst_harness_pull(h_);
    ASSERT_NE(out, nullptr) << "seq " << seq;
    const auto want = MakeRtp(seq, kSsrc, 100);
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
    if (!gst_structure_get_uint64(s, field, &v)) {
      guint u = 0;
      gint i = 0;
      if (gst_structure_get_uint(s, field, &u)) v = u;
      if (gst_structure_get_int(s, field, &i)) v = static_cast<guint64>(i);
    }
    gst_structure_free(s);
    return v;
  }

  // Waits (up to 10 s) until stats field `field` reaches `want`.
  bool WaitStat(const char* field, guint64 want) {
    const gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (Stat(field) != want) {
      if (g_get_monotonic_time() > end) return false;
      g_usleep(2000);
    }
    return true;
  }

  // Next warning on the element's bus (waits up to 10 s); its message text.
  std::string NextWarning() {
    GstMessage* m = gst_bus_timed_pop_filtered(bus_, kWaitNs, GST_MESSAGE_WARNING);
    if (!m) return {};
    GError* err = nullptr;
    gst_message_parse_warning(m, &err, nullptr);
    std::string text = err ? err->message : "";
    g_clear_error(&err);
    gst_message_unref(m);
    return text;
  }

  std::vector<std::pair<guint, gboolean>> KeyMessages() {
    std::vector<std::pair<guint, gboolean>> v;
    while (GstMessage* m = gst_bus_pop_filtered(bus_, GST_MESSAGE_ELEMENT)) {
      const GstStructure* s = gst_message_get_structure(m);
      if (gst_structure_has_name(s, "openbcast-srtp-key")) {
        guint tek = 0, ssrc = 0;
        gboolean initial = FALSE;
        EXPECT_TRUE(gst_structure_get_uint(s, "tek-id", &tek));
        EXPECT_TRUE(gst_structure_get_uint(s, "ssrc", &ssrc));
        EXPECT_TRUE(gst_structure_get_boolean(s, "initial", &initial));
        EXPECT_EQ(ssrc, kSsrc);
        v.emplace_back(tek, initial);
      }
      gst_message_unref(m);
    }
    return v;
  }

  BcastKeyring* keyring_ = nullptr;
  GstElement* element_ = nullptr;
  GstBus* bus_ = nullptr;
  GstHarness* h_ = nullptr;
};

TEST_P(BcastSrtpDecTest, TekChangeMidStreamSinglesAndLists) {
  Start();
  AddTek(1);
  AddTek(2);
  bs::SrtpSender sender;
  sender.AddKey(1, TestKey(17), TestSalt(5));
  sender.AddKey(2, TestKey(34), TestSalt(10));
  for (std::uint16_t seq = 0; seq < 50; ++seq) {
    ASSERT_EQ(gst_harness_push(h_, Srtp(sender, seq, 1)), GST_FLOW_OK);
  }
  // The change happens inside a buffer list.
  GstBufferList* list = gst_buffer_list_new();
  for (std::uint16_t seq = 50; seq < 100; ++seq) {
    gst_buffer_list_add(list, Srtp(sender, seq, seq < 70 ? 1 : 2));
  }
  ASSERT_EQ(gst_pad_push_list(h_->srcpad, list), GST_FLOW_OK);
  for (std::uint16_t seq = 0; seq < 100; ++seq) ExpectClear(seq);
  EXPECT_EQ(Stat("received"), 100u);
  EXPECT_EQ(Stat("decrypted"), 100u);
  EXPECT_EQ(Stat("key-changes"), 1u);
  EXPECT_EQ(Stat("tek-id"), 2u);
  const auto msgs = KeyMessages();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0], (std::pair<guint, gboolean>(1u, TRUE)));
  EXPECT_EQ(msgs[1], (std::pair<guint, gboolean>(2u, FALSE)));
  // Output caps: RTP with the SRTP fields gone.
  GstCaps* caps = gst_pad_get_current_caps(h_->sinkpad);
  ASSERT_NE(caps, nullptr);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  EXPECT_TRUE(gst_structure_has_name(s, "application/x-rtp"));
  EXPECT_FALSE(gst_structure_has_field(s, "srtp-cipher"));
  EXPECT_TRUE(gst_structure_has_field(s, "encoding-name"));
  gst_caps_unref(caps);
}

TEST_P(BcastSrtpDecTest, LateTekIsHeldThenReleasedInOrder) {
  Start("", "5000");  // generous hold-time: the TEK arrives after 200 ms, on a busy machine too
  AddTek(1);
  bs::SrtpSender sender;
  sender.AddKey(1, TestKey(17), TestSalt(5));
  sender.AddKey(2, TestKey(34), TestSalt(10));
  for (std::uint16_t seq = 0; seq < 10; ++seq) gst_harness_push(h_, Srtp(sender, seq, 1));
  for (std::uint16_t seq = 10; seq < 20; ++seq) gst_harness_push(h_, Srtp(sender, seq, 2));
  for (std::uint16_t seq = 0; seq < 10; ++seq) ExpectClear(seq);
  EXPECT_EQ(gst_harness_try_pull(h_), nullptr);
  EXPECT_EQ(Stat("held"), 10u);
  EXPECT_EQ(Stat("held-now"), 10u);
  EXPECT_EQ(Stat("unknown-mki"), 10u);
  // The STKM is late: the TEK shows up 200 ms after its first packet. The held packets go on
  // without any further input (the release thread reacts to the keyring's "tek-added").
  g_usleep(200 * 1000);
  AddTek(2);
  for (std::uint16_t seq = 10; seq < 20; ++seq) ExpectClear(seq);
  for (std::uint16_t seq = 20; seq < 25; ++seq) gst_harness_push(h_, Srtp(sender, seq, 2));
  for (std::uint16_t seq = 20; seq < 25; ++seq) ExpectClear(seq);
  EXPECT_EQ(Stat("decrypted"), 25u);
  EXPECT_EQ(Stat("dropped-held"), 0u);
  EXPECT_EQ(Stat("held-now"), 0u);
}

TEST_P(BcastSrtpDecTest, TekThatNeverArrivesIsDroppedAfterHoldTime) {
  Start("", "300");
  AddTek(1);
  bs::SrtpSender sender;
  sender.AddKey(1, TestKey(17), TestSalt(5));
  sender.AddKey(3, TestKey(51), TestSalt(15));
  gst_harness_push(h_, Srtp(sender, 0, 1));
  ExpectClear(0);
  for (std::uint16_t seq = 1; seq < 6; ++seq) gst_harness_push(h_, Srtp(sender, seq, 3));
  EXPECT_EQ(Stat("held-now"), 5u);
  const std::string w = NextWarning();  // posted when hold-time runs out
  EXPECT_NE(w.find("TEK never arrived"), std::string::npos) << w;
  // Each packet has its own deadline; the later ones expire a moment after the first.
  EXPECT_TRUE(WaitStat("dropped-held", 5));
  EXPECT_EQ(Stat("dropped-held-at-join"), 0u);  // the stream was playing: these are lost
  EXPECT_EQ(Stat("unknown-mki"), 5u);
  EXPECT_EQ(Stat("held-now"), 0u);
  EXPECT_EQ(gst_harness_try_pull(h_), nullptr);
  // The stream goes on under a known TEK.
  gst_harness_push(h_, Srtp(sender, 6, 1));
  ExpectClear(6);
}

// Joining: the first packets are under a TEK whose STKMs went by before; the first STKM seen
// brings the next TEK. Held packets from before the first decrypted one that never get their TEK
// are counted as the join (dropped-held-at-join), without a warning.
TEST_P(BcastSrtpDecTest, HeldFromBeforeTheFirstDecryptAreTheJoin) {
  Start("", "200");
  bs::SrtpSender sender;
  sender.AddKey(1, TestKey(17), TestSalt(5));
  sender.AddKey(2, TestKey(34), TestSalt(10));
  for (std::uint16_t seq = 0; seq < 4; ++seq) gst_harness_push(h_, Srtp(sender, seq, 1));
  AddTek(2);
  for (std::uint16_t seq = 4; seq < 8; ++seq) gst_harness_push(h_, Srtp(sender, seq, 2));
  for (std::uint16_t seq = 4; seq < 8; ++seq) ExpectClear(seq);
  EXPECT_TRUE(WaitStat("dropped-held", 4));
  EXPECT_EQ(Stat("dropped-held-at-join"), 4u);
  // Once playing, a packet under a TEK that never comes is lost, and said so.
  sender.AddKey(3, TestKey(51), TestSalt(15));
  gst_harness_push(h_, Srtp(sender, 8, 3));
  const std::string w = NextWarning();
  EXPECT_NE(w.find("TEK never arrived"), std::string::npos) << w;
  EXPECT_TRUE(WaitStat("dropped-held", 5));
  EXPECT_EQ(Stat("dropped-held-at-join"), 4u);
  EXPECT_EQ(Stat("decrypted"), 4u);
}

// The join has a time bound: with join-time 0 (or after it) a TEK that never comes is a loss even
// before the first decrypted packet, and said so.
TEST_P(BcastSrtpDecTest, HeldPastTheJoinTimeAreLosses) {
  Start("", "200");
  guint join_time = 0;
  g_object_get(element_, "join-time", &join_time, nullptr);
  EXPECT_EQ(join_time, 10000u);
  g_object_set(element_, "join-time", 0u, nullptr);
  bs::SrtpSender sender;
  sender.AddKey(1, TestKey(17), TestSalt(5));
  for (std::uint16_t seq = 0; seq < 3; ++seq) gst_harness_push(h_, Srtp(sender, seq, 1));
  const std::string w = NextWarning();
  EXPECT_NE(w.find("TEK never arrived"), std::string::npos) << w;
  EXPECT_TRUE(WaitStat("dropped-held", 3));
  EXPECT_EQ(Stat("dropped-held-at-join"), 0u);
  EXPECT_EQ(Stat("decrypted"), 0u);
}

TEST_P(BcastSrtpDecTest, BadTagAndReplayAreCounted) {
  Start("", "0");
  AddTek(1);
  bs::SrtpSender sender;
  sender.AddKey(1, TestKey(17), TestSalt(5));
  auto p = MakeRtp(7, kSsrc, 100);
  ASSERT_TRUE(sender.Protect(p, 1));
  gst_harness_push(h_, gst_buffer_new_memdup(p.data(), p.size()));
  gst_harness_push(h_, gst_buffer_new_memdup(p.data(), p.size()));  // replay
  auto bad = MakeRtp(8, kSsrc, 100);
  ASSERT_TRUE(sender.Protect(bad, 1));
  bad[bad.size() - 1] ^= 0x40;
  gst_harness_push(h_, gst_buffer_new_memdup(bad.data(), bad.size()));
  std::vector<std::uint8_t> junk = {0x80, 0x60};
  gst_harness_push(h_, gst_buffer_new_memdup(junk.data(), junk.size()));
  auto unknown = MakeRtp(9, kSsrc, 100);
  sender.AddKey(44, TestKey(1), TestSalt(2));
  ASSERT_TRUE(sender.Protect(unknown, 44));
  gst_harness_push(h_, gst_buffer_new_memdup(unknown.data(), unknown.size()));
  ExpectClear(7);
  EXPECT_EQ(gst_harness_try_pull(h_), nullptr);
  EXPECT_EQ(Stat("received"), 5u);
  EXPECT_EQ(Stat("decrypted"), 1u);
  EXPECT_EQ(Stat("replays"), 1u);
  EXPECT_EQ(Stat("auth-failures"), 1u);
  EXPECT_EQ(Stat("malformed"), 1u);
  EXPECT_EQ(Stat("unknown-mki"), 1u);
  EXPECT_EQ(Stat("held"), 0u);
  std::vector<std::string> warnings;
  for (int i = 0; i < 4; ++i) warnings.push_back(NextWarning());
  auto has = [&](const char* s) {
    for (const auto& w : warnings) {
      if (w.find(s) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("replay"));
  EXPECT_TRUE(has("authentication failed"));
  EXPECT_TRUE(has("Malformed"));
  EXPECT_TRUE(has("unknown TEK"));
}

TEST_P(BcastSrtpDecTest, UnknownRocIsReported) {
  Start();
  AddTek(1);
  bs::SrtpSender sender;
  sender.AddKey(1, TestKey(17), TestSalt(5));
  sender.SetRoc(kSsrc, 4);  // the receiver joined after wraps and has no RFC 4771
  for (std::uint16_t seq = 100; seq < 120; ++seq) gst_harness_push(h_, Srtp(sender, seq, 1));
  std::string w;
  for (int i = 0; i < 3 && w.find("ROC is probably unknown") == std::string::npos; ++i) {
    w = NextWarning();
  }
  EXPECT_NE(w.find("ROC is probably unknown"), std::string::npos) << w;
  EXPECT_EQ(Stat("auth-failures"), 20u);
  EXPECT_EQ(Stat("decrypted"), 0u);
}

TEST_P(BcastSrtpDecTest, RocFromCapsAndRfc4771) {
  Start("srtp-rcc-mode=(int)2, srtp-roc-tx-rate=(int)8");
  AddTek(1);
  bs::SrtpSender sender(bs::SrtpAuth::kHmacSha1_80, 2, bs::RccMode::kRccm2, 8);
  sender.AddKey(1, TestKey(17), TestSalt(5));
  sender.SetRoc(kSsrc, 6);
  for (std::uint16_t seq = 1; seq < 40; ++seq) gst_harness_push(h_, Srtp(sender, seq, 1));
  for (std::uint16_t seq = 8; seq < 40; ++seq) ExpectClear(seq);  // from the first ROC packet
  EXPECT_EQ(Stat("roc-unknown"), 7u);
  EXPECT_EQ(Stat("roc"), 6u);
  EXPECT_EQ(Stat("decrypted"), 32u);
}

TEST_P(BcastSrtpDecTest, RocCapsFieldWithoutRcc) {
  Start("roc=(uint)2");
  AddTek(1);
  bs::SrtpSender sender;
  sender.AddKey(1, TestKey(17), TestSalt(5));
  sender.SetRoc(kSsrc, 2);
  for (std::uint16_t seq = 65530; seq != 10; ++seq) gst_harness_push(h_, Srtp(sender, seq, 1));
  for (std::uint16_t seq = 65530; seq != 10; ++seq) ExpectClear(seq);
  EXPECT_EQ(Stat("roc"), 3u);
}

TEST_P(BcastSrtpDecTest, NoMkiUsesLatestTekAndUnauthenticatedTek) {
  Start("mki-length=(int)0");
  AddTek(5, /*authenticated=*/false);
  bs::SrtpSender sender(bs::SrtpAuth::kHmacSha1_80, 0);
  sender.AddKey(5, TestKey(85), TestSalt(25), /*authenticated=*/false);
  for (std::uint16_t seq = 0; seq < 10; ++seq) gst_harness_push(h_, Srtp(sender, seq, 5));
  for (std::uint16_t seq = 0; seq < 10; ++seq) ExpectClear(seq);
  EXPECT_EQ(Stat("tek-id"), 5u);
}

TEST_P(BcastSrtpDecTest, EngineProperty) {
  Start();
  GParamSpec* spec = g_object_class_find_property(G_OBJECT_GET_CLASS(element_), "engine");
  ASSERT_NE(spec, nullptr);
  GEnumValue* def =
      g_enum_get_value(G_PARAM_SPEC_ENUM(spec)->enum_class, G_PARAM_SPEC_ENUM(spec)->default_value);
  ASSERT_NE(def, nullptr);
  EXPECT_STREQ(def->value_nick, "openssl");
  gint engine = -1;
  g_object_get(element_, "engine", &engine, nullptr);
  GEnumValue* now = g_enum_get_value(G_PARAM_SPEC_ENUM(spec)->enum_class, engine);
  ASSERT_NE(now, nullptr);
  EXPECT_STREQ(now->value_nick, GetParam());
}

// A buffer list is decrypted in place: good packets leave in the same memory, in order; a broken
// tag, a replay and a packet under a TEK not in the keyring yet are taken out of the list; the
// held packet follows once its TEK arrives.
TEST_P(BcastSrtpDecTest, ListDecryptedInPlace) {
  Start();
  AddTek(1);
  bs::SrtpSender sender;
  ASSERT_TRUE(sender.AddKey(1, TestKey(17), TestSalt(5)));
  ASSERT_TRUE(sender.AddKey(2, TestKey(34), TestSalt(10)));
  GstBufferList* list = gst_buffer_list_new();
  std::vector<const guint8*> data;  // where each good packet's bytes live
  auto add = [&](GstBuffer* b, bool good) {
    if (good) {
      GstMapInfo map;
      ASSERT_TRUE(gst_buffer_map(b, &map, GST_MAP_READ));
      data.push_back(map.data);
      gst_buffer_unmap(b, &map);
    }
    gst_buffer_list_add(list, b);
  };
  add(Srtp(sender, 1, 1), true);
  GstBuffer* bad = Srtp(sender, 2, 1);
  GstMapInfo map;
  ASSERT_TRUE(gst_buffer_map(bad, &map, GST_MAP_WRITE));
  map.data[map.size - 1] ^= 0x40;  // tag
  gst_buffer_unmap(bad, &map);
  add(bad, false);
  add(Srtp(sender, 3, 1), true);
  add(Srtp(sender, 4, 2), false);  // TEK 2 not in the keyring yet: held
  add(Srtp(sender, 5, 1), true);
  GstBuffer* again = Srtp(sender, 6, 1);
  add(gst_buffer_copy_deep(again), true);
  add(again, false);  // replay of 6
  ASSERT_EQ(gst_pad_push_list(h_->srcpad, list), GST_FLOW_OK);
  const std::uint16_t order[] = {1, 3, 5, 6};
  for (std::size_t i = 0; i < 4; ++i) {
    GstBuffer* out = gst_harness_pull(h_);
    ASSERT_NE(out, nullptr);
    ASSERT_TRUE(gst_buffer_map(out, &map, GST_MAP_READ));
    EXPECT_EQ(map.data, data[i]) << "packet " << order[i] << " was copied";
    EXPECT_EQ(std::vector<std::uint8_t>(map.data, map.data + map.size),
              MakeRtp(order[i], kSsrc, 100));
    gst_buffer_unmap(out, &map);
    gst_buffer_unref(out);
  }
  EXPECT_EQ(Stat("auth-failures"), 1u);
  EXPECT_EQ(Stat("replays"), 1u);
  EXPECT_EQ(Stat("held-now"), 1u);
  AddTek(2);
  ExpectClear(4);
  EXPECT_EQ(Stat("decrypted"), 5u);
  EXPECT_EQ(Stat("received"), 7u);
}

// EOS waits for held packets: one whose TEK arrives (from another thread, while or before EOS
// waits) goes out before EOS; one whose TEK never comes is dropped when its hold-time ends, then
// EOS goes on.
TEST_P(BcastSrtpDecTest, EosWaitsForHeldPackets) {
  Start("", "5000");
  AddTek(1);
  bs::SrtpSender sender;
  ASSERT_TRUE(sender.AddKey(1, TestKey(17), TestSalt(5)));
  ASSERT_TRUE(sender.AddKey(2, TestKey(34), TestSalt(10)));
  gst_harness_push(h_, Srtp(sender, 0, 1));
  gst_harness_push(h_, Srtp(sender, 1, 2));  // held: TEK 2 not there yet
  ExpectClear(0);
  ASSERT_EQ(Stat("held-now"), 1u);
  std::thread late([&] { AddTek(2); });
  // Returns only once the queue is empty: the held packet went out first.
  ASSERT_TRUE(gst_harness_push_event(h_, gst_event_new_eos()));
  late.join();
  EXPECT_EQ(gst_harness_buffers_in_queue(h_), 1u);
  ExpectClear(1);
  EXPECT_EQ(Stat("held-now"), 0u);
  EXPECT_EQ(Stat("dropped-held"), 0u);
}

TEST_P(BcastSrtpDecTest, EosAfterHoldTimeWhenTekNeverComes) {
  Start("", "200");
  AddTek(1);
  bs::SrtpSender sender;
  ASSERT_TRUE(sender.AddKey(3, TestKey(51), TestSalt(15)));
  gst_harness_push(h_, Srtp(sender, 0, 3));
  ASSERT_EQ(Stat("held-now"), 1u);
  const gint64 start = g_get_monotonic_time();
  ASSERT_TRUE(gst_harness_push_event(h_, gst_event_new_eos()));
  EXPECT_GE(g_get_monotonic_time() - start, 150 * 1000);  // it waited for the hold-time
  EXPECT_EQ(Stat("dropped-held"), 1u);
  EXPECT_EQ(Stat("held-now"), 0u);
  EXPECT_EQ(gst_harness_try_pull(h_), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Engines, BcastSrtpDecTest, ::testing::Values("openssl", "libsrtp"));

}  // namespace
