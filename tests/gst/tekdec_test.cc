// tekdec under GstHarness with a key file written by the test: TEKs into the keyring, element
// messages, rejections, key change, lifetime, and no key bytes in the debug log.
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <gtest/gtest.h>

#include <cstring>
#include <mutex>

#include "gst-plugins/bcastprotect/keyring.h"
#include "tests/gst/test_util.h"

namespace bcast_test {
namespace {

class TekDecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EnsureGst();
    keys_ = std::make_unique<TempKeyFile>(DefaultKeys());
  }
  void TearDown() override {
    if (h_ != nullptr) gst_harness_teardown(h_);
    // Queued messages hold the element, which holds the bus: drop them to break the cycle.
    if (bus_) gst_bus_set_flushing(bus_.get(), TRUE);
  }

  // tekdec with the test's key file, a bus of our own and caps carrying the base CID.
  void Start(
      const char* caps = "application/x-bcast-stkm, base-cid=(string)urn:openbcast:svc:news:") {
    GstElement* element = gst_element_factory_make("tekdec", nullptr);
    ASSERT_NE(element, nullptr);
    gst_object_ref_sink(element);
    dec_ = element;
    bus_.reset(gst_bus_new());
    gst_element_set_bus(element, bus_.get());
    g_object_set(element, "sek-file", keys_->path().c_str(), nullptr);
    h_ = gst_harness_new_with_element(element, "sink", nullptr);  // takes its own ref
    gst_object_unref(element);
    gst_harness_play(h_);
    gst_harness_set_src_caps_str(h_, caps);
    GstContext* context = gst_element_get_context(element, BCAST_KEYRING_CONTEXT_TYPE);
    ASSERT_NE(context, nullptr);
    ring_.reset(bcast_keyring_from_context(context));
    gst_context_unref(context);
    ASSERT_NE(ring_, nullptr);
  }

  void Push(const std::vector<std::uint8_t>& bytes) {
    ASSERT_EQ(gst_harness_push(h_, ToBuffer(bytes)), GST_FLOW_OK);
  }

  MessagePtr NextElementMessage(const char* name) {
    return WaitMessage(bus_.get(), GST_MESSAGE_ELEMENT, name, 2 * GST_SECOND);
  }

  void ExpectTekInKeyring(const TestTek& expected, guint16 lifetime) {
    BcastTek out{};
    ASSERT_TRUE(bcast_keyring_lookup(ring_.get(), expected.id, &out)) << "TEK " << expected.id;
    EXPECT_EQ(out.id, expected.id);
    EXPECT_EQ(0, std::memcmp(out.key, expected.key.data(), 16));
    EXPECT_EQ(0, std::memcmp(out.salt, expected.salt.data(), 14));
    EXPECT_EQ(out.lifetime_s, lifetime);
    EXPECT_EQ(out.protocol, 1);
    EXPECT_TRUE(out.authenticated);
  }

  std::unique_ptr<TempKeyFile> keys_;
  GstElement* dec_ = nullptr;  // owned by the harness
  GstPtr<GstBus> bus_;
  GstHarness* h_ = nullptr;
  GObjPtr<BcastKeyring> ring_;
};

TEST_F(TekDecTest, PutsCurrentAndNextTekIntoKeyringAndAnnouncesThem) {
  Start();
  StkmSpec spec;
  spec.current = MakeTek(7);
  spec.next = MakeTek(8);
  spec.lifetime = 40;
  Push(MakeStkm(spec));

  ExpectTekInKeyring(spec.current, 40);
  ExpectTekInKeyring(*spec.next, 40);

  auto msg = NextElementMessage("openbcast-tek");
  ASSERT_NE(msg, nullptr);
  EXPECT_EQ(GST_MESSAGE_SRC(msg.get()), GST_OBJECT(dec_));
  const GstStructure* s = gst_message_get_structure(msg.get());
  guint id = 0, next = 0, protocol = 0, lifetime = 0;
  gboolean has_next = FALSE;
  EXPECT_TRUE(gst_structure_get_uint(s, "tek-id", &id));
  EXPECT_TRUE(gst_structure_get_boolean(s, "has-next", &has_next));
  EXPECT_TRUE(gst_structure_get_uint(s, "next-tek-id", &next));
  EXPECT_TRUE(gst_structure_get_uint(s, "protocol", &protocol));
  EXPECT_TRUE(gst_structure_get_uint(s, "lifetime", &lifetime));
  EXPECT_EQ(id, 7u);
  EXPECT_TRUE(has_next);
  EXPECT_EQ(next, 8u);
  EXPECT_EQ(protocol, 1u);
  EXPECT_EQ(lifetime, 40u);
  EXPECT_STREQ(gst_structure_get_string(s, "content-id"), "urn:openbcast:svc:news:0000002a");
  EXPECT_EQ(UintProperty(dec_, "teks"), 2u);

  // The same STKM again (no stkmparse in front): no new message, nothing new counted.
  Push(MakeStkm(spec));
  EXPECT_TRUE(DrainMessages(bus_.get(), GST_MESSAGE_ELEMENT, "openbcast-tek").empty());
  EXPECT_EQ(UintProperty(dec_, "teks"), 2u);
}

TEST_F(TekDecTest, KeyChangeMidStreamUpdatesKeyring) {
  Start();
  StkmSpec first;
  first.current = MakeTek(7);
  first.next = MakeTek(8);
  Push(MakeStkm(first));
  ASSERT_NE(NextElementMessage("openbcast-tek"), nullptr);

  guint added_9 = 0;
  auto on_added = +[](BcastKeyring*, guint id, gpointer data) {
    if (id == 9) ++*static_cast<guint*>(data);
  };
  g_signal_connect(ring_.get(), "tek-added", G_CALLBACK(on_added), &added_9);

  StkmSpec second;
  second.current = MakeTek(8);
  second.next = MakeTek(9);
  Push(MakeStkm(second));
  auto msg = NextElementMessage("openbcast-tek");
  ASSERT_NE(msg, nullptr);
  guint id = 0, next = 0;
  gst_structure_get_uint(gst_message_get_structure(msg.get()), "tek-id", &id);
  gst_structure_get_uint(gst_message_get_structure(msg.get()), "next-tek-id", &next);
  EXPECT_EQ(id, 8u);
  EXPECT_EQ(next, 9u);
  EXPECT_EQ(added_9, 1u);
  ExpectTekInKeyring(second.current, 30);
  ExpectTekInKeyring(*second.next, 30);
  EXPECT_EQ(UintProperty(dec_, "teks"), 3u);
  EXPECT_EQ(bcast_keyring_get_n_added(ring_.get()), 3u);
}

TEST_F(TekDecTest, BadMacIsRejectedAndNoTekEntersTheKeyring) {
  Start();
  StkmSpec spec;
  spec.current = MakeTek(11);
  spec.sak = Key(0xee);  // not the SAK of the key file
  Push(MakeStkm(spec));

  auto msg = NextElementMessage("openbcast-stkm-rejected");
  ASSERT_NE(msg, nullptr);
  const GstStructure* s = gst_message_get_structure(msg.get());
  EXPECT_STREQ(gst_structure_get_string(s, "reason"), "bad-mac");
  EXPECT_STREQ(gst_structure_get_string(s, "content-id"), "urn:openbcast:svc:news:0000002a");
  EXPECT_NE(gst_structure_get_string(s, "detail"), nullptr);

  // Popping filters discards other kinds of message: take the warning before draining.
  auto warning = WaitMessage(bus_.get(), GST_MESSAGE_WARNING, nullptr, GST_SECOND);
  ASSERT_NE(warning, nullptr);
  EXPECT_NE(WarningText(warning.get()).find("MAC"), std::string::npos);

  BcastTek out{};
  EXPECT_FALSE(bcast_keyring_lookup(ring_.get(), 11, &out));
  EXPECT_EQ(UintProperty(dec_, "bad-mac"), 1u);
  EXPECT_EQ(UintProperty(dec_, "teks"), 0u);
  EXPECT_TRUE(DrainMessages(bus_.get(), GST_MESSAGE_ELEMENT, "openbcast-tek").empty());

  // A flipped bit in the encrypted TEK of a correctly signed STKM is just as bad.
  StkmSpec good;
  good.current = MakeTek(12);
  auto tampered = MakeStkm(good);
  tampered[tampered.size() - 13] ^= 0x01;
  Push(tampered);
  msg = NextElementMessage("openbcast-stkm-rejected");
  ASSERT_NE(msg, nullptr);
  EXPECT_STREQ(gst_structure_get_string(gst_message_get_structure(msg.get()), "reason"), "bad-mac");
  EXPECT_FALSE(bcast_keyring_lookup(ring_.get(), 12, &out));
  EXPECT_EQ(UintProperty(dec_, "bad-mac"), 2u);
}

TEST_F(TekDecTest, NoRightsNamesTheContentId) {
  Start();
  StkmSpec spec;
  spec.extension = 0x2b;  // no group for ...0000002b in the key file
  Push(MakeStkm(spec));
  auto msg = NextElementMessage("openbcast-stkm-rejected");
  ASSERT_NE(msg, nullptr);
  const GstStructure* s = gst_message_get_structure(msg.get());
  EXPECT_STREQ(gst_structure_get_string(s, "reason"), "no-rights");
  EXPECT_STREQ(gst_structure_get_string(s, "content-id"), "urn:openbcast:svc:news:0000002b");
  EXPECT_EQ(UintProperty(dec_, "no-rights"), 1u);
  BcastTek out{};
  EXPECT_FALSE(bcast_keyring_lookup(ring_.get(), spec.current.id, &out));

  auto warning = WaitMessage(bus_.get(), GST_MESSAGE_WARNING, nullptr, GST_SECOND);
  ASSERT_NE(warning, nullptr);
  EXPECT_NE(WarningText(warning.get()).find("urn:openbcast:svc:news:0000002b"), std::string::npos);
}

TEST_F(TekDecTest, WrongKeyDomainIsNoRights) {
  Start();
  StkmSpec spec;
  spec.domain = 0x010203;
  Push(MakeStkm(spec));
  auto msg = NextElementMessage("openbcast-stkm-rejected");
  ASSERT_NE(msg, nullptr);
  EXPECT_STREQ(gst_structure_get_string(gst_message_get_structure(msg.get()), "reason"),
               "no-rights");
}

TEST_F(TekDecTest, MalformedIsRejected) {
  Start();
  Push({0x10, 0x20});
  auto msg = NextElementMessage("openbcast-stkm-rejected");
  ASSERT_NE(msg, nullptr);
  const GstStructure* s = gst_message_get_structure(msg.get());
  EXPECT_STREQ(gst_structure_get_string(s, "reason"), "malformed");
  EXPECT_STREQ(gst_structure_get_string(s, "content-id"), "");
  EXPECT_NE(std::string(gst_structure_get_string(s, "detail")).find("field "), std::string::npos);
  EXPECT_EQ(UintProperty(dec_, "malformed"), 1u);
}

TEST_F(TekDecTest, BaseCidPropertyOverridesCaps) {
  Start("application/x-bcast-stkm, base-cid=(string)urn:wrong:");
  g_object_set(dec_, "base-cid", kBaseCid, nullptr);
  Push(MakeStkm(StkmSpec{}));
  auto msg = NextElementMessage("openbcast-tek");
  ASSERT_NE(msg, nullptr);
  EXPECT_STREQ(gst_structure_get_string(gst_message_get_structure(msg.get()), "content-id"),
               "urn:openbcast:svc:news:0000002a");
}

TEST_F(TekDecTest, TekExpiresAfterItsLifetime) {
  Start();
  StkmSpec spec;
  spec.current = MakeTek(30);
  spec.lifetime = 1;
  const auto stkm = MakeStkm(spec);
  Push(stkm);
  BcastTek out{};
  ASSERT_TRUE(bcast_keyring_lookup(ring_.get(), 30, &out));  // first use

  const gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  bool gone = false;
  while (!gone && g_get_monotonic_time() < deadline) {
    gone = !bcast_keyring_lookup(ring_.get(), 30, &out);
    if (!gone) g_usleep(20 * 1000);
  }
  ASSERT_TRUE(gone);
  // The key stream still repeats the STKM: the expired TEK must stay out.
  Push(stkm);
  EXPECT_FALSE(bcast_keyring_lookup(ring_.get(), 30, &out));
}

// Collects every debug line of the plugin's categories.
struct LogCapture {
  std::mutex mu;
  std::string text;
};

void CaptureLog(GstDebugCategory* category, GstDebugLevel, const gchar*, const gchar*, gint,
                GObject*, GstDebugMessage* message, gpointer user_data) {
  const char* name = gst_debug_category_get_name(category);
  if (g_strcmp0(name, "tekdec") != 0 && g_strcmp0(name, "stkmparse") != 0 &&
      g_strcmp0(name, "bcastkeyring") != 0) {
    return;
  }
  auto* capture = static_cast<LogCapture*>(user_data);
  std::lock_guard<std::mutex> lock(capture->mu);
  capture->text += gst_debug_message_get(message);
  capture->text += '\n';
}

std::string Hex(const std::uint8_t* data, std::size_t n, const char* format) {
  std::string out;
  char buf[8];
  for (std::size_t i = 0; i < n; i++) {
    std::snprintf(buf, sizeof buf, format, data[i]);
    out += buf;
  }
  return out;
}

TEST_F(TekDecTest, NeverLogsKeyBytesEvenAtLevel9) {
  LogCapture capture;
  gst_debug_add_log_function(CaptureLog, &capture, nullptr);
  gst_debug_remove_log_function(gst_debug_log_default);  // keep the test output readable
  gst_debug_set_threshold_for_name("tekdec", GST_LEVEL_MEMDUMP);
  gst_debug_set_threshold_for_name("stkmparse", GST_LEVEL_MEMDUMP);
  gst_debug_set_threshold_for_name("bcastkeyring", GST_LEVEL_MEMDUMP);

  Start();
  StkmSpec spec;
  spec.current = MakeTek(40);
  spec.next = MakeTek(41);
  Push(MakeStkm(spec));
  StkmSpec bad = spec;
  bad.sak = Key(0x33);
  Push(MakeStkm(bad));
  ASSERT_NE(NextElementMessage("openbcast-tek"), nullptr);
  gst_harness_teardown(h_);
  h_ = nullptr;

  gst_debug_remove_log_function(CaptureLog);
  gst_debug_add_log_function(gst_debug_log_default, nullptr, nullptr);
  gst_debug_set_threshold_for_name("tekdec", GST_LEVEL_NONE);
  gst_debug_set_threshold_for_name("stkmparse", GST_LEVEL_NONE);
  gst_debug_set_threshold_for_name("bcastkeyring", GST_LEVEL_NONE);

  std::lock_guard<std::mutex> lock(capture.mu);
  ASSERT_FALSE(capture.text.empty()) << "debug log not captured: test would prove nothing";
  const std::vector<std::pair<const std::uint8_t*, std::size_t>> secrets = {
      {spec.current.key.data(), 16},
      {spec.next->key.data(), 16},
      {kSek.data(), 16},
      {kSak.data(), 16}};
  for (const auto& [data, n] : secrets) {
    // A 6-byte window is enough to catch partial dumps in any usual format.
    for (const char* format : {"%02x", "%02X", "%02x ", "%02X ", "%02x:"}) {
      const std::string needle = Hex(data, 6, format);
      EXPECT_EQ(capture.text.find(needle), std::string::npos) << "key bytes in log: " << needle;
    }
  }
}

// Without sek-file the keys come from spcd on the system bus; this process's system bus does not
// exist, so starting fails with an error that names the bus and the name.
TEST(TekDecPipelineTest, NoSekFileAndNoSpcdIsAnError) {
  EnsureGst();
  g_setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/openbcast-test-bus", TRUE);
  GError* error = nullptr;
  GstPtr<GstElement> pipeline(
      gst_parse_launch("appsrc is-live=true caps=application/x-bcast-stkm ! tekdec", &error));
  ASSERT_EQ(error, nullptr);
  gst_object_ref_sink(pipeline.get());
  GstPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
  EXPECT_EQ(gst_element_set_state(pipeline.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  auto msg = WaitMessage(bus.get(), GST_MESSAGE_ERROR, nullptr, 2 * GST_SECOND);
  ASSERT_NE(msg, nullptr);
  GError* err = nullptr;
  gst_message_parse_error(msg.get(), &err, nullptr);
  ASSERT_NE(err, nullptr);
  const std::string text = err->message;
  EXPECT_EQ(text.rfind("spcd not reachable on the system bus as org.openbcast.SPC1: ", 0), 0u)
      << text;
  EXPECT_NE(text.find("start spcd or set sek-file"), std::string::npos) << text;
  g_error_free(err);
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
}

TEST(TekDecPipelineTest, UnreadableKeyFileIsAnError) {
  EnsureGst();
  GError* error = nullptr;
  GstPtr<GstElement> pipeline(gst_parse_launch(
      "appsrc is-live=true caps=application/x-bcast-stkm ! tekdec sek-file=/nonexistent/keys.ini",
      &error));
  ASSERT_EQ(error, nullptr);
  gst_object_ref_sink(pipeline.get());
  GstPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
  EXPECT_EQ(gst_element_set_state(pipeline.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  auto msg = WaitMessage(bus.get(), GST_MESSAGE_ERROR, nullptr, 2 * GST_SECOND);
  ASSERT_NE(msg, nullptr);
  GError* err = nullptr;
  gst_message_parse_error(msg.get(), &err, nullptr);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err->message).find("/nonexistent/keys.ini"), std::string::npos);
  g_error_free(err);
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
}

// The key branch as the player builds it: stkmparse labels the caps, tekdec learns the base CID
// from them, repeats stop at stkmparse.
TEST(TekDecPipelineTest, StkmparseFeedsTekdecThroughCaps) {
  EnsureGst();
  TempKeyFile keys(DefaultKeys());
  std::string launch =
      "appsrc name=src is-live=true caps=application/x-bcast-stkm ! "
      "stkmparse name=parse base-cid=" +
      std::string(kBaseCid) + " ! tekdec name=dec sek-file=" + keys.path();
  GError* error = nullptr;
  GstPtr<GstElement> pipeline(gst_parse_launch(launch.c_str(), &error));
  ASSERT_EQ(error, nullptr);
  gst_object_ref_sink(pipeline.get());
  GstPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
  GstPtr<GstElement> src(gst_bin_get_by_name(GST_BIN(pipeline.get()), "src"));
  GstPtr<GstElement> parse(gst_bin_get_by_name(GST_BIN(pipeline.get()), "parse"));
  GstPtr<GstElement> dec(gst_bin_get_by_name(GST_BIN(pipeline.get()), "dec"));
  ASSERT_NE(gst_element_set_state(pipeline.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);

  StkmSpec spec;
  spec.next = MakeTek(8);
  const auto stkm = MakeStkm(spec);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src.get()), ToBuffer(stkm)), GST_FLOW_OK);
  }
  StkmSpec change;
  change.current = MakeTek(8);
  change.next = MakeTek(9);
  ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src.get()), ToBuffer(MakeStkm(change))),
            GST_FLOW_OK);

  auto first =
      WaitMessage(bus.get(), static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR),
                  "openbcast-tek", 5 * GST_SECOND);
  ASSERT_NE(first, nullptr);
  EXPECT_STREQ(gst_structure_get_string(gst_message_get_structure(first.get()), "content-id"),
               "urn:openbcast:svc:news:0000002a");
  auto second =
      WaitMessage(bus.get(), static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR),
                  "openbcast-tek", 5 * GST_SECOND);
  ASSERT_NE(second, nullptr);
  guint id = 0;
  gst_structure_get_uint(gst_message_get_structure(second.get()), "tek-id", &id);
  EXPECT_EQ(id, 8u);
  EXPECT_EQ(UintProperty(parse.get(), "repeats"), 2u);
  EXPECT_EQ(UintProperty(parse.get(), "accepted"), 2u);
  EXPECT_EQ(UintProperty(dec.get(), "teks"), 3u);
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
}

}  // namespace
}  // namespace bcast_test
