// tekdec in its default mode: TEKs from the real spcd on a private dbus-daemon (tests/spcd's
// harness), keys imported over D-Bus. Covers TEKs into the keyring, the mapping of spcd's D-Bus
// errors to "openbcast-stkm-rejected" reasons, the error when spcd is not there, one call per
// STKM in flight, repeats answered by the client library's answer cache (and not after
// RightsChanged, nor for another base CID), playing on and reconnecting across a SIGKILL of spcd,
// and no key bytes in the debug log. Every wait is on a bus message or a D-Bus name change, with a
// deadline.
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <mutex>

#include "gst-plugins/bcastprotect/keyring.h"
#include "spc/client/spc_client.h"
#include "tests/gst/test_util.h"
#include "tests/spcd/spcd_test_util.h"

namespace bcast_test {
namespace {

constexpr GstClockTime kWait = 20 * GST_SECOND;

std::string ErrorText(GstMessage* msg) {
  GError* error = nullptr;
  gst_message_parse_error(msg, &error, nullptr);
  std::string text = error != nullptr ? error->message : "";
  g_clear_error(&error);
  return text;
}

struct SentTek {
  std::uint16_t id;
  spc::Key128 key;
};

class TekDecSpcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EnsureGst();
    bus_ = std::make_unique<spcd_test::PrivateBus>(dir_.path());
    ASSERT_TRUE(bus_->ok());
    spcd_ = std::make_unique<spcd_test::Spcd>(*bus_, dir_.File("spc.db"), dir_.File("spcd.log"));
    ASSERT_TRUE(spcd_->Start());
    keys_ = spcd_test::RandomKeys(0x2a);
    salt_ = spc::MasterSalt{};
    for (std::size_t i = 0; i < salt_.size(); i++) salt_[i] = static_cast<std::uint8_t>(0xa0 + i);
    Import(spcd_test::KeyFileGroup(keys_));
  }

  void TearDown() override {
    if (h_ != nullptr) gst_harness_teardown(h_);
    if (gst_bus_) gst_bus_set_flushing(gst_bus_.get(), TRUE);
    spcd_.reset();
    bus_.reset();
  }

  // A client of its own on the private bus, as another process would have.
  std::unique_ptr<spc::client::Client> Connect() {
    spc::client::Options options;
    options.bus = spc::client::Bus::kAddress;
    options.address = bus_->address();
    std::string error;
    auto client = spc::client::Client::Connect(options, &error);
    EXPECT_NE(client, nullptr) << error;
    return client;
  }

  void Import(const std::string& key_file) {
    auto client = Connect();
    ASSERT_NE(client, nullptr);
    std::uint32_t imported = 0;
    spc::client::CallStatus st = client->ImportKeys(key_file, &imported);
    ASSERT_TRUE(st.ok()) << st.error_name << ": " << st.message;
  }

  spc::client::StatusInfo SpcdStatus() {
    auto client = Connect();
    spc::client::StatusInfo info;
    if (client) {
      EXPECT_TRUE(client->Status(&info).ok());
    }
    return info;
  }

  // tekdec on the private bus (no sek-file), a GStreamer bus of our own, caps with the base CID.
  void Start(const char* purpose = "play") {
    GstElement* element = gst_element_factory_make("tekdec", nullptr);
    ASSERT_NE(element, nullptr);
    gst_object_ref_sink(element);
    dec_ = element;
    gst_bus_.reset(gst_bus_new());
    gst_element_set_bus(element, gst_bus_.get());
    gst_util_set_object_arg(G_OBJECT(element), "purpose", purpose);
    g_object_set(element, "bus-address", bus_->address().c_str(), nullptr);
    // The key-stream path alone: held-TEK requests and fetches (tests/fetch) go through spcd's
    // processor too and would race the counts asserted here on a slow (sanitizer) build.
    g_object_set(element, "ask-held", FALSE, "fetch-after", 0u, nullptr);
    h_ = gst_harness_new_with_element(element, "sink", nullptr);
    gst_object_unref(element);
    gst_harness_play(h_);
    gst_harness_set_src_caps_str(
        h_, "application/x-bcast-stkm, base-cid=(string)urn:openbcast:svc:news:");
    GstContext* context = gst_element_get_context(element, BCAST_KEYRING_CONTEXT_TYPE);
    ASSERT_NE(context, nullptr);
    ring_.reset(bcast_keyring_from_context(context));
    gst_context_unref(context);
    ASSERT_NE(ring_, nullptr);
    gboolean connected = FALSE;
    g_object_get(dec_, "connected", &connected, nullptr);
    EXPECT_TRUE(connected);
  }

  std::vector<std::uint8_t> Stkm(const SentTek& current, const std::optional<SentTek>& next,
                                 const spcd_test::ServiceKeys* keys = nullptr,
                                 std::optional<std::int64_t> timestamp = std::nullopt,
                                 const spc::Key128* mac_key = nullptr) {
    spcd_test::StkmSpec spec;
    spec.tek_id = current.id;
    spec.tek = current.key;
    spec.salt = salt_;
    spec.lifetime = 30;
    spec.timestamp = timestamp;
    if (next) {
      spec.next_id = next->id;
      spec.next_tek = next->key;
    }
    return spcd_test::MakeStkm(keys != nullptr ? *keys : keys_, spec, mac_key);
  }

  void Push(const std::vector<std::uint8_t>& bytes) {
    ASSERT_EQ(gst_harness_push(h_, ToBuffer(bytes)), GST_FLOW_OK);
  }

  MessagePtr Next(const char* name) {
    return WaitMessage(gst_bus_.get(), GST_MESSAGE_ELEMENT, name, kWait);
  }

  // The next "openbcast-stkm-rejected"; checks its reason and content ID.
  void ExpectRejected(const char* reason, const std::string& content_id) {
    auto msg = Next("openbcast-stkm-rejected");
    ASSERT_NE(msg, nullptr) << "no rejection (" << reason << ")";
    const GstStructure* s = gst_message_get_structure(msg.get());
    EXPECT_STREQ(gst_structure_get_string(s, "reason"), reason);
    EXPECT_EQ(gst_structure_get_string(s, "content-id"), content_id);
    EXPECT_NE(std::string(gst_structure_get_string(s, "detail")), "");
  }

  void ExpectInKeyring(const SentTek& tek) {
    BcastTek out{};
    ASSERT_TRUE(bcast_keyring_lookup(ring_.get(), tek.id, &out)) << "TEK " << tek.id;
    EXPECT_EQ(0, std::memcmp(out.key, tek.key.data(), 16)) << "TEK " << tek.id;
    EXPECT_EQ(0, std::memcmp(out.salt, salt_.data(), 14)) << "TEK " << tek.id;
    EXPECT_EQ(out.lifetime_s, 30);
    EXPECT_EQ(out.protocol, 1);
    EXPECT_TRUE(out.authenticated);
  }

  static SentTek Tek(std::uint16_t id) { return SentTek{id, spcd_test::RandomKey()}; }

  spcd_test::TempDir dir_;
  std::unique_ptr<spcd_test::PrivateBus> bus_;
  std::unique_ptr<spcd_test::Spcd> spcd_;
  spcd_test::ServiceKeys keys_;
  spc::MasterSalt salt_{};
  GstElement* dec_ = nullptr;  // owned by the harness
  GstPtr<GstBus> gst_bus_;
  GstHarness* h_ = nullptr;
  GObjPtr<BcastKeyring> ring_;
};

TEST_F(TekDecSpcdTest, TekFromSpcdLandsInTheKeyring) {
  Start();
  auto up = Next("openbcast-spcd");
  ASSERT_NE(up, nullptr);
  gboolean available = FALSE;
  gst_structure_get_boolean(gst_message_get_structure(up.get()), "available", &available);
  EXPECT_TRUE(available);
  EXPECT_EQ(gst_structure_get_string(gst_message_get_structure(up.get()), "bus"), bus_->address());
  EXPECT_STREQ(gst_structure_get_string(gst_message_get_structure(up.get()), "bus-name"),
               "org.openbcast.SPC1");

  SentTek current = Tek(0x101), next = Tek(0x102);
  Push(Stkm(current, next));
  auto msg = Next("openbcast-tek");
  ASSERT_NE(msg, nullptr);
  const GstStructure* s = gst_message_get_structure(msg.get());
  guint id = 0, next_id = 0, lifetime = 0;
  gboolean has_next = FALSE;
  gst_structure_get_uint(s, "tek-id", &id);
  gst_structure_get_uint(s, "next-tek-id", &next_id);
  gst_structure_get_uint(s, "lifetime", &lifetime);
  gst_structure_get_boolean(s, "has-next", &has_next);
  EXPECT_EQ(id, 0x101u);
  EXPECT_TRUE(has_next);
  EXPECT_EQ(next_id, 0x102u);
  EXPECT_EQ(lifetime, 30u);
  EXPECT_EQ(gst_structure_get_string(s, "content-id"), keys_.content_id());
  ExpectInKeyring(current);
  ExpectInKeyring(next);
  EXPECT_EQ(UintProperty(dec_, "teks"), 2u);
}

TEST_F(TekDecSpcdTest, SpcdErrorsMapToRejectionReasons) {
  // Rights for three more content IDs: expired, play not permitted, for the record test below.
  spcd_test::ServiceKeys expired = spcd_test::RandomKeys(0x30);
  spcd_test::ServiceKeys no_play = spcd_test::RandomKeys(0x31);
  Import(spcd_test::KeyFileGroup(expired, {"not-after=1000"}) +
         spcd_test::KeyFileGroup(no_play, {"play=false"}));
  Start();

  spc::Key128 wrong_sak = spcd_test::RandomKey();
  Push(Stkm(Tek(1), std::nullopt, nullptr, std::nullopt, &wrong_sak));
  ExpectRejected("bad-mac", keys_.content_id());
  // Popping filters drops other kinds of message: take the warning before going on.
  auto warning = WaitMessage(gst_bus_.get(), GST_MESSAGE_WARNING, nullptr, kWait);
  ASSERT_NE(warning, nullptr);
  EXPECT_NE(WarningText(warning.get()).find("MAC"), std::string::npos);

  spcd_test::ServiceKeys unknown = spcd_test::RandomKeys(0x2b);
  Push(Stkm(Tek(2), std::nullopt, &unknown));
  ExpectRejected("no-rights", unknown.content_id());
  warning = WaitMessage(gst_bus_.get(), GST_MESSAGE_WARNING, nullptr, kWait);
  ASSERT_NE(warning, nullptr);
  EXPECT_NE(WarningText(warning.get()).find(unknown.content_id()), std::string::npos);

  const std::int64_t now = spcd_test::Now();
  Push(Stkm(Tek(3), std::nullopt, nullptr, now));
  ASSERT_NE(Next("openbcast-tek"), nullptr);
  Push(Stkm(Tek(4), std::nullopt, nullptr, now - 3600));
  ExpectRejected("replay", keys_.content_id());

  Push({0x10, 0x20});
  ExpectRejected("malformed", "");

  Push(Stkm(Tek(5), std::nullopt, &expired));
  ExpectRejected("expired", expired.content_id());

  Push(Stkm(Tek(6), std::nullopt, &no_play));
  ExpectRejected("not-permitted", no_play.content_id());

  EXPECT_EQ(UintProperty(dec_, "bad-mac"), 1u);
  EXPECT_EQ(UintProperty(dec_, "no-rights"), 1u);
  EXPECT_EQ(UintProperty(dec_, "replay"), 1u);
  EXPECT_EQ(UintProperty(dec_, "malformed"), 1u);
  EXPECT_EQ(UintProperty(dec_, "expired"), 1u);
  EXPECT_EQ(UintProperty(dec_, "not-permitted"), 1u);
  EXPECT_EQ(UintProperty(dec_, "unavailable"), 0u);
  EXPECT_EQ(UintProperty(dec_, "teks"), 1u);
  BcastTek out{};
  for (std::uint16_t id : {1, 2, 4, 5, 6}) {
    EXPECT_FALSE(bcast_keyring_lookup(ring_.get(), id, &out)) << "TEK " << id;
  }
}

TEST_F(TekDecSpcdTest, RecordPurposeNeedsTheRecordPermission) {
  spcd_test::ServiceKeys no_record = spcd_test::RandomKeys(0x32);
  Import(spcd_test::KeyFileGroup(no_record, {"record=false"}));
  Start("record");
  Push(Stkm(Tek(7), std::nullopt, &no_record));
  ExpectRejected("not-permitted", no_record.content_id());
  // The service's own rights allow recording.
  SentTek tek = Tek(8);
  Push(Stkm(tek, std::nullopt));
  ASSERT_NE(Next("openbcast-tek"), nullptr);
  ExpectInKeyring(tek);
}

TEST_F(TekDecSpcdTest, AnStkmInFlightIsNotSentTwice) {
  Start();
  SentTek tek = Tek(0x301);
  const auto stkm = Stkm(tek, std::nullopt);
  // A stopped spcd cannot answer: every copy below arrives while the first is in flight.
  g_subprocess_send_signal(spcd_->proc(), SIGSTOP);
  for (int i = 0; i < 5; i++) Push(stkm);
  g_subprocess_send_signal(spcd_->proc(), SIGCONT);
  ASSERT_NE(Next("openbcast-tek"), nullptr);
  ExpectInKeyring(tek);
  EXPECT_EQ(SpcdStatus().stkms_processed, 1u);
  EXPECT_EQ(UintProperty(dec_, "opened"), 1u);
  // Once answered, a repeat within the answer cache's TTL is answered by the client library in
  // this process, before the push returns (no thread hop): spcd does not see it.
  Push(stkm);
  EXPECT_EQ(UintProperty(dec_, "opened"), 2u);
  ExpectInKeyring(tek);
  SentTek later = Tek(0x302);
  Push(Stkm(later, std::nullopt));
  ASSERT_NE(Next("openbcast-tek"), nullptr);
  ExpectInKeyring(later);
  spc::client::StatusInfo status = SpcdStatus();
  EXPECT_EQ(status.stkms_processed, 2u);
  EXPECT_EQ(status.stkms_cached, 0u);
  EXPECT_EQ(UintProperty(dec_, "opened"), 3u);
}

TEST_F(TekDecSpcdTest, RightsChangedClearsTheAnswerCache) {
  Start();
  SentTek tek = Tek(0x311);
  const auto stkm = Stkm(tek, std::nullopt);
  Push(stkm);
  ASSERT_NE(Next("openbcast-tek"), nullptr);
  Push(stkm);
  EXPECT_EQ(UintProperty(dec_, "opened"), 2u);
  EXPECT_EQ(SpcdStatus().stkms_processed, 1u);

  // Rights written again by another process: spcd emits RightsChanged, and tekdec's client drops
  // its answers on its own thread some time after ImportKeys returned. Until then a repeat is
  // answered from the cache; then spcd is asked. (Each Status call is a round trip to spcd.)
  Import(spcd_test::KeyFileGroup(keys_));
  const gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  std::uint64_t processed = 1;
  while (processed == 1 && g_get_monotonic_time() < deadline) {
    Push(stkm);
    processed = SpcdStatus().stkms_processed;
  }
  ASSERT_EQ(processed, 2u) << "no repeat reached spcd after RightsChanged";
  ExpectInKeyring(tek);
  // Its answer is kept again (or still in flight): further repeats do not reach spcd.
  Push(stkm);
  EXPECT_EQ(SpcdStatus().stkms_processed, 2u);
}

// A parental rating lowered by another process reaches tekdec's answer cache: spcd's
// RightsChanged (empty list) clears it, and the repeat of a programme rated above the new
// setting is refused.
TEST_F(TekDecSpcdTest, ParentalRatingSetElsewhereClearsTheAnswerCache) {
  Start();
  SentTek tek = Tek(0x315);
  spcd_test::StkmSpec spec;
  spec.tek_id = tek.id;
  spec.tek = tek.key;
  spec.salt = salt_;
  spec.lifetime = 30;
  spec.parental_rating = 16;
  const auto stkm = spcd_test::MakeStkm(keys_, spec);
  Push(stkm);
  ASSERT_NE(Next("openbcast-tek"), nullptr);
  Push(stkm);
  EXPECT_EQ(SpcdStatus().stkms_processed, 1u);

  auto other = Connect();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->SetParentalRating(12).ok());
  // tekdec's client drops its answers on its own thread some time after the call returned; the
  // wait ends well within the answers' lifetime, so only the signal can have dropped them.
  const gint64 deadline =
      g_get_monotonic_time() + gint64{spc::client::kDefaultAnswerCacheMs} * 1000 / 2;
  std::uint64_t processed = 1;
  while (processed == 1 && g_get_monotonic_time() < deadline) {
    Push(stkm);
    processed = SpcdStatus().stkms_processed;
  }
  ASSERT_EQ(processed, 2u) << "no repeat reached spcd after the parental rating changed";
  ExpectRejected("not-permitted", keys_.content_id());
}

// A cached answer is for its own request only: the same STKM for another base CID goes to spcd
// (and is refused there: the content ID it names has no rights).
TEST_F(TekDecSpcdTest, AnswerCacheIsNotSharedAcrossBaseCids) {
  Start();
  SentTek tek = Tek(0x321);
  const auto stkm = Stkm(tek, std::nullopt);
  Push(stkm);
  ASSERT_NE(Next("openbcast-tek"), nullptr);
  g_object_set(dec_, "base-cid", "urn:openbcast:svc:other:", nullptr);
  Push(stkm);
  auto msg = Next("openbcast-stkm-rejected");
  ASSERT_NE(msg, nullptr);
  EXPECT_STREQ(gst_structure_get_string(gst_message_get_structure(msg.get()), "reason"),
               "no-rights");
  EXPECT_EQ(SpcdStatus().stkms_processed, 2u);
  EXPECT_EQ(UintProperty(dec_, "opened"), 1u);
}

TEST_F(TekDecSpcdTest, PlaysOnAcrossSpcdKillAndReconnectsByItself) {
  Start();
  ASSERT_NE(Next("openbcast-spcd"), nullptr);  // available at start
  SentTek t1 = Tek(0x201), t2 = Tek(0x202), t3 = Tek(0x203), t4 = Tek(0x204);
  Push(Stkm(t1, t2));
  ASSERT_NE(Next("openbcast-tek"), nullptr);

  spcd_->Kill();
  // One warning, then the message (popping by type drops the other kinds: this order).
  auto warning = WaitMessage(gst_bus_.get(), GST_MESSAGE_WARNING, nullptr, kWait);
  ASSERT_NE(warning, nullptr);
  EXPECT_NE(WarningText(warning.get()).find("spcd"), std::string::npos);
  auto down = Next("openbcast-spcd");
  ASSERT_NE(down, nullptr);
  gboolean available = TRUE;
  gst_structure_get_boolean(gst_message_get_structure(down.get()), "available", &available);
  EXPECT_FALSE(available);
  gboolean connected = TRUE;
  g_object_get(dec_, "connected", &connected, nullptr);
  EXPECT_FALSE(connected);
  // Playback goes on: the TEKs held are still there.
  ExpectInKeyring(t1);
  ExpectInKeyring(t2);

  // The key change arrives while spcd is away: dropped and counted, not an error.
  Push(Stkm(t2, t3));
  EXPECT_GE(UintProperty(dec_, "unavailable"), 1u);
  BcastTek out{};
  EXPECT_FALSE(bcast_keyring_lookup(ring_.get(), t3.id, &out));

  ASSERT_TRUE(spcd_->Start());
  // Back without anything pushed: tekdec sends the kept STKM by itself.
  auto up = Next("openbcast-spcd");
  ASSERT_NE(up, nullptr);
  gst_structure_get_boolean(gst_message_get_structure(up.get()), "available", &available);
  EXPECT_TRUE(available);
  auto tek = Next("openbcast-tek");
  ASSERT_NE(tek, nullptr);
  guint next_id = 0;
  gst_structure_get_uint(gst_message_get_structure(tek.get()), "next-tek-id", &next_id);
  EXPECT_EQ(next_id, t3.id);
  ExpectInKeyring(t3);
  g_object_get(dec_, "connected", &connected, nullptr);
  EXPECT_TRUE(connected);

  // And new STKMs bring new TEKs.
  Push(Stkm(t3, t4));
  ASSERT_NE(Next("openbcast-tek"), nullptr);
  ExpectInKeyring(t4);
  EXPECT_TRUE(DrainMessages(gst_bus_.get(), GST_MESSAGE_ERROR).empty());
}

// Collects every debug line of the plugin's categories.
struct LogCapture {
  std::mutex mu;
  std::string text;
};

void CaptureLog(GstDebugCategory* category, GstDebugLevel, const gchar*, const gchar*, gint,
                GObject*, GstDebugMessage* message, gpointer user_data) {
  const char* name = gst_debug_category_get_name(category);
  if (g_strcmp0(name, "tekdec") != 0 && g_strcmp0(name, "bcastkeyring") != 0) return;
  auto* capture = static_cast<LogCapture*>(user_data);
  std::lock_guard<std::mutex> lock(capture->mu);
  capture->text += gst_debug_message_get(message);
  capture->text += '\n';
}

TEST_F(TekDecSpcdTest, NeverLogsKeyBytesEvenAtLevel9) {
  LogCapture capture;
  gst_debug_add_log_function(CaptureLog, &capture, nullptr);
  gst_debug_remove_log_function(gst_debug_log_default);
  gst_debug_set_threshold_for_name("tekdec", GST_LEVEL_MEMDUMP);
  gst_debug_set_threshold_for_name("bcastkeyring", GST_LEVEL_MEMDUMP);

  Start();
  SentTek current = Tek(0x401), next = Tek(0x402);
  Push(Stkm(current, next));
  ASSERT_NE(Next("openbcast-tek"), nullptr);
  spc::Key128 wrong = spcd_test::RandomKey();
  Push(Stkm(Tek(0x403), std::nullopt, nullptr, std::nullopt, &wrong));
  ASSERT_NE(Next("openbcast-stkm-rejected"), nullptr);
  gst_harness_teardown(h_);
  h_ = nullptr;

  gst_debug_remove_log_function(CaptureLog);
  gst_debug_add_log_function(gst_debug_log_default, nullptr, nullptr);
  gst_debug_set_threshold_for_name("tekdec", GST_LEVEL_NONE);
  gst_debug_set_threshold_for_name("bcastkeyring", GST_LEVEL_NONE);

  std::lock_guard<std::mutex> lock(capture.mu);
  ASSERT_NE(capture.text.find("spcd"), std::string::npos)
      << "debug log not captured: test would prove nothing";
  for (const spc::Key128* secret : {&current.key, &next.key, &keys_.sek, &keys_.sak}) {
    const std::string hex = spcd_test::Hex(std::span<const std::uint8_t>(secret->data(), 6));
    const std::string upper = spcd_test::HexUpper(std::span<const std::uint8_t>(secret->data(), 6));
    EXPECT_EQ(capture.text.find(hex), std::string::npos) << "key bytes in the log";
    EXPECT_EQ(capture.text.find(upper), std::string::npos) << "key bytes in the log";
  }
}

// spcd not there: starting fails with an error that names the bus and the name.
std::string StartFailure(const std::string& launch) {
  GError* error = nullptr;
  GstPtr<GstElement> pipeline(gst_parse_launch(launch.c_str(), &error));
  EXPECT_EQ(error, nullptr);
  if (error != nullptr) return "";
  gst_object_ref_sink(pipeline.get());
  GstPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
  EXPECT_EQ(gst_element_set_state(pipeline.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  auto msg = WaitMessage(bus.get(), GST_MESSAGE_ERROR, nullptr, kWait);
  std::string text = msg ? ErrorText(msg.get()) : "";
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  return text;
}

TEST(TekDecSpcdUnreachableTest, ErrorNamesTheBusAndTheName) {
  EnsureGst();
  spcd_test::TempDir dir;
  spcd_test::PrivateBus bus(dir.path());
  ASSERT_TRUE(bus.ok());
  const std::string head = "appsrc is-live=true caps=application/x-bcast-stkm ! tekdec ";

  std::string text = StartFailure(head + "bus-address=\"" + bus.address() + "\"");
  EXPECT_NE(
      text.find("spcd not reachable on the bus at " + bus.address() + " as org.openbcast.SPC1: "),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("start spcd or set sek-file"), std::string::npos) << text;

  text = StartFailure(head + "bus-address=\"" + bus.address() +
                      "\" bus-name=org.openbcast.Nobody auto-start=false");
  EXPECT_NE(text.find(" as org.openbcast.Nobody: "), std::string::npos) << text;

  // The session bus of this process is the private one, where nobody owns the name.
  g_setenv("DBUS_SESSION_BUS_ADDRESS", bus.address().c_str(), TRUE);
  text = StartFailure(head + "bus=session");
  EXPECT_NE(text.find("spcd not reachable on the session bus as org.openbcast.SPC1: "),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace bcast_test
