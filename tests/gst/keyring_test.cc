// BcastKeyring: storage, lifetime, capacity, the tek-added signal and the GstContext sharing.
#include <gst/app/gstappsrc.h>
#include <gtest/gtest.h>

#include <cstring>

#include "gst-plugins/bcastprotect/keyring.h"
#include "tests/gst/test_util.h"

namespace bcast_test {
namespace {

BcastTek Tek(guint16 id, guint16 lifetime = 30, std::uint8_t key_first = 0) {
  BcastTek tek{};
  tek.id = id;
  for (guint i = 0; i < sizeof(tek.key); i++) tek.key[i] = static_cast<guint8>(key_first + id + i);
  for (guint i = 0; i < sizeof(tek.salt); i++) tek.salt[i] = static_cast<guint8>(0x80 + id + i);
  tek.lifetime_s = lifetime;
  tek.protocol = 1;
  tek.authenticated = TRUE;
  return tek;
}

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override { EnsureGst(); }
};

TEST_F(KeyringTest, AddThenLookupCopiesTheTek) {
  GObjPtr<BcastKeyring> ring(bcast_keyring_new());
  BcastTek in = Tek(5, 12);
  bcast_keyring_add(ring.get(), &in);

  BcastTek out{};
  ASSERT_TRUE(bcast_keyring_lookup(ring.get(), 5, &out));
  EXPECT_EQ(out.id, 5);
  EXPECT_EQ(0, std::memcmp(out.key, in.key, sizeof(in.key)));
  EXPECT_EQ(0, std::memcmp(out.salt, in.salt, sizeof(in.salt)));
  EXPECT_EQ(out.lifetime_s, 12);
  EXPECT_EQ(out.protocol, 1);
  EXPECT_TRUE(out.authenticated);
  EXPECT_FALSE(bcast_keyring_lookup(ring.get(), 6, &out));
  EXPECT_EQ(bcast_keyring_get_n_added(ring.get()), 1u);
}

struct SignalLog {
  BcastKeyring* ring;
  std::vector<guint> ids;
  bool lookup_ok_in_handler = true;
};

void OnTekAdded(BcastKeyring* ring, guint id, gpointer user_data) {
  auto* log = static_cast<SignalLog*>(user_data);
  log->ids.push_back(id);
  // Would deadlock if the signal were emitted with the keyring lock held.
  BcastTek out{};
  log->lookup_ok_in_handler &= bcast_keyring_lookup(ring, static_cast<guint16>(id), &out) != FALSE;
}

TEST_F(KeyringTest, TekAddedOnlyForNewIdsAndWithoutTheLock) {
  GObjPtr<BcastKeyring> ring(bcast_keyring_new());
  SignalLog log{ring.get(), {}, true};
  g_signal_connect(ring.get(), "tek-added", G_CALLBACK(OnTekAdded), &log);

  BcastTek a = Tek(1), b = Tek(2);
  bcast_keyring_add(ring.get(), &a);
  bcast_keyring_add(ring.get(), &a);  // repeat: no signal
  bcast_keyring_add(ring.get(), &b);
  EXPECT_EQ(log.ids, (std::vector<guint>{1, 2}));
  EXPECT_TRUE(log.lookup_ok_in_handler);
  EXPECT_EQ(bcast_keyring_get_n_added(ring.get()), 2u);
}

TEST_F(KeyringTest, SameIdWithNewKeyReplacesIt) {
  GObjPtr<BcastKeyring> ring(bcast_keyring_new());
  BcastTek old_key = Tek(3, 30, 0x00), new_key = Tek(3, 30, 0x55);
  bcast_keyring_add(ring.get(), &old_key);
  bcast_keyring_add(ring.get(), &new_key);
  BcastTek out{};
  ASSERT_TRUE(bcast_keyring_lookup(ring.get(), 3, &out));
  EXPECT_EQ(0, std::memcmp(out.key, new_key.key, sizeof(out.key)));
}

TEST_F(KeyringTest, HoldsAtMostSixteenOldestGoFirst) {
  GObjPtr<BcastKeyring> ring(bcast_keyring_new());
  for (guint16 id = 100; id < 120; id++) {
    BcastTek t = Tek(id);
    bcast_keyring_add(ring.get(), &t);
  }
  BcastTek out{};
  for (guint16 id = 100; id < 104; id++) EXPECT_FALSE(bcast_keyring_lookup(ring.get(), id, &out));
  for (guint16 id = 104; id < 120; id++) EXPECT_TRUE(bcast_keyring_lookup(ring.get(), id, &out));
  EXPECT_EQ(bcast_keyring_get_n_added(ring.get()), 20u);
}

TEST_F(KeyringTest, LifetimeCountsFromFirstUseAndExpiredKeyIsNotReadmitted) {
  GObjPtr<BcastKeyring> ring(bcast_keyring_new());
  BcastTek tek = Tek(9, /*lifetime=*/1);
  bcast_keyring_add(ring.get(), &tek);

  BcastTek out{};
  const gint64 first_use = g_get_monotonic_time();
  ASSERT_TRUE(bcast_keyring_lookup(ring.get(), 9, &out));  // starts the lifetime

  // Expiry is a matter of time: poll with a generous deadline.
  const gint64 deadline = first_use + 10 * G_USEC_PER_SEC;
  gboolean still_there = TRUE;
  gint64 gone_at = 0;
  while (still_there && g_get_monotonic_time() < deadline) {
    still_there = bcast_keyring_lookup(ring.get(), 9, &out);
    if (!still_there) {
      gone_at = g_get_monotonic_time();
    } else {
      g_usleep(20 * 1000);
    }
  }
  ASSERT_FALSE(still_there) << "TEK with a 1 s lifetime still usable after 10 s";
  EXPECT_GE(gone_at - first_use, G_USEC_PER_SEC) << "expired before its lifetime";

  // The STKM carrying it is repeated on the key stream: the same key must not come back.
  SignalLog log{ring.get(), {}, true};
  g_signal_connect(ring.get(), "tek-added", G_CALLBACK(OnTekAdded), &log);
  bcast_keyring_add(ring.get(), &tek);
  EXPECT_FALSE(bcast_keyring_lookup(ring.get(), 9, &out));
  EXPECT_TRUE(log.ids.empty());

  // A different key under the same ID (ID space wrapped) is a new TEK.
  BcastTek reused = Tek(9, 1, 0x77);
  bcast_keyring_add(ring.get(), &reused);
  ASSERT_TRUE(bcast_keyring_lookup(ring.get(), 9, &out));
  EXPECT_EQ(0, std::memcmp(out.key, reused.key, sizeof(out.key)));
}

// A restarted head-end numbers its TEKs from 1 again: decryptors holding packets under an ID,
// or a copy of the old key, must hear of the new key under it.
TEST_F(KeyringTest, NewKeyUnderAHeldIdIsAnnounced) {
  GObjPtr<BcastKeyring> ring(bcast_keyring_new());
  SignalLog log{ring.get(), {}, true};
  g_signal_connect(ring.get(), "tek-added", G_CALLBACK(OnTekAdded), &log);
  BcastTek old_key = Tek(6, 30, 0x00), new_key = Tek(6, 30, 0x66);
  bcast_keyring_add(ring.get(), &old_key);
  bcast_keyring_add(ring.get(), &new_key);
  bcast_keyring_add(ring.get(), &new_key);  // repeat: no signal
  EXPECT_EQ(log.ids, (std::vector<guint>{6, 6}));
  EXPECT_EQ(bcast_keyring_get_n_added(ring.get()), 1u);
}

TEST_F(KeyringTest, UnusedTekDoesNotExpire) {
  GObjPtr<BcastKeyring> ring(bcast_keyring_new());
  BcastTek tek = Tek(4, 1);
  bcast_keyring_add(ring.get(), &tek);
  // Adding other keys runs the expiry sweep; the unused key must survive it.
  BcastTek other = Tek(5, 1);
  bcast_keyring_add(ring.get(), &other);
  BcastTek out{};
  EXPECT_TRUE(bcast_keyring_lookup(ring.get(), 4, &out));
}

TEST_F(KeyringTest, ContextRoundTrip) {
  GObjPtr<BcastKeyring> ring(bcast_keyring_new());
  GstContext* context = bcast_keyring_context_new(ring.get());
  EXPECT_STREQ(gst_context_get_context_type(context), BCAST_KEYRING_CONTEXT_TYPE);
  EXPECT_TRUE(gst_context_is_persistent(context));
  GObjPtr<BcastKeyring> back(bcast_keyring_from_context(context));
  EXPECT_EQ(back.get(), ring.get());
  gst_context_unref(context);

  GstContext* other = gst_context_new("gst.gl.GLDisplay", TRUE);
  EXPECT_EQ(bcast_keyring_from_context(other), nullptr);
  gst_context_unref(other);
}

GObjPtr<BcastKeyring> KeyringOf(GstElement* element) {
  GstContext* context = gst_element_get_context(element, BCAST_KEYRING_CONTEXT_TYPE);
  if (context == nullptr) return nullptr;
  GObjPtr<BcastKeyring> ring(bcast_keyring_from_context(context));
  gst_context_unref(context);
  return ring;
}

// Two keyring users in one pipeline (here two tekdecs on separate key streams) end up with one
// keyring, and a TEK learned by one is visible through the other's keyring.
TEST_F(KeyringTest, SharedBetweenElementsOfOnePipeline) {
  TempKeyFile keys(DefaultKeys());
  GError* error = nullptr;
  std::string launch =
      "appsrc name=a is-live=true format=time caps=application/x-bcast-stkm ! "
      "stkmparse base-cid=" +
      std::string(kBaseCid) + " ! tekdec name=t1 sek-file=" + keys.path() +
      " appsrc name=b is-live=true format=time caps=application/x-bcast-stkm ! "
      "tekdec name=t2 sek-file=" +
      keys.path();
  GstPtr<GstElement> pipeline(gst_parse_launch(launch.c_str(), &error));
  ASSERT_EQ(error, nullptr) << error->message;
  gst_object_ref_sink(pipeline.get());
  GstPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
  GstPtr<GstElement> t1(gst_bin_get_by_name(GST_BIN(pipeline.get()), "t1"));
  GstPtr<GstElement> t2(gst_bin_get_by_name(GST_BIN(pipeline.get()), "t2"));
  GstPtr<GstElement> a(gst_bin_get_by_name(GST_BIN(pipeline.get()), "a"));

  ASSERT_NE(gst_element_set_state(pipeline.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  auto r1 = KeyringOf(t1.get());
  auto r2 = KeyringOf(t2.get());
  ASSERT_NE(r1, nullptr);
  EXPECT_EQ(r1.get(), r2.get());
  auto rp = KeyringOf(pipeline.get());  // the bin kept the announced context
  EXPECT_EQ(rp.get(), r1.get());

  StkmSpec spec;
  spec.current = MakeTek(21);
  ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(a.get()), ToBuffer(MakeStkm(spec))), GST_FLOW_OK);
  auto msg =
      WaitMessage(bus.get(), static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR),
                  "openbcast-tek", 5 * GST_SECOND);
  ASSERT_NE(msg, nullptr);
  ASSERT_EQ(GST_MESSAGE_TYPE(msg.get()), GST_MESSAGE_ELEMENT);
  EXPECT_EQ(GST_MESSAGE_SRC(msg.get()), GST_OBJECT(t1.get()));

  BcastTek out{};
  ASSERT_TRUE(bcast_keyring_lookup(r2.get(), 21, &out));
  EXPECT_EQ(0, std::memcmp(out.key, spec.current.key.data(), 16));

  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
}

// The real pair: the key branch's tekdec and the media branch's bcastsrtpdec share one keyring
// without any application code (the gst-launch case of architecture.md).
TEST_F(KeyringTest, TekdecAndBcastsrtpdecShareOneKeyring) {
  TempKeyFile keys(DefaultKeys());
  std::string launch =
      "appsrc is-live=true caps=application/x-bcast-stkm ! stkmparse ! tekdec name=t sek-file=" +
      keys.path() + " appsrc is-live=true ! bcastsrtpdec name=s ! fakesink";
  GError* error = nullptr;
  GstPtr<GstElement> pipeline(gst_parse_launch(launch.c_str(), &error));
  ASSERT_EQ(error, nullptr) << error->message;
  gst_object_ref_sink(pipeline.get());
  ASSERT_NE(gst_element_set_state(pipeline.get(), GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  GstPtr<GstElement> t(gst_bin_get_by_name(GST_BIN(pipeline.get()), "t"));
  GstPtr<GstElement> s(gst_bin_get_by_name(GST_BIN(pipeline.get()), "s"));
  auto from_tekdec = KeyringOf(t.get());
  ASSERT_NE(from_tekdec, nullptr);
  EXPECT_EQ(KeyringOf(s.get()).get(), from_tekdec.get());
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
}

// An application that sets its own keyring on the pipeline gets it used by every element.
TEST_F(KeyringTest, ApplicationKeyringSetOnPipelineIsUsed) {
  TempKeyFile keys(DefaultKeys());
  std::string launch =
      "appsrc is-live=true caps=application/x-bcast-stkm ! tekdec name=t1 sek-file=" + keys.path() +
      " appsrc is-live=true caps=application/x-bcast-stkm ! tekdec name=t2 sek-file=" + keys.path();
  GError* error = nullptr;
  GstPtr<GstElement> pipeline(gst_parse_launch(launch.c_str(), &error));
  ASSERT_EQ(error, nullptr) << error->message;
  gst_object_ref_sink(pipeline.get());

  GObjPtr<BcastKeyring> mine(bcast_keyring_new());
  GstContext* context = bcast_keyring_context_new(mine.get());
  gst_element_set_context(pipeline.get(), context);
  gst_context_unref(context);

  ASSERT_NE(gst_element_set_state(pipeline.get(), GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  GstPtr<GstElement> t1(gst_bin_get_by_name(GST_BIN(pipeline.get()), "t1"));
  GstPtr<GstElement> t2(gst_bin_get_by_name(GST_BIN(pipeline.get()), "t2"));
  EXPECT_EQ(KeyringOf(t1.get()).get(), mine.get());
  EXPECT_EQ(KeyringOf(t2.get()).get(), mine.get());
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
}

// Without a bin: the keyring is found by a context query on the peer that has one.
TEST_F(KeyringTest, FoundByContextQueryOnPeer) {
  TempKeyFile keys(DefaultKeys());
  GstPtr<GstElement> dec(gst_element_factory_make("tekdec", nullptr));
  GstPtr<GstElement> src(gst_element_factory_make("appsrc", nullptr));
  gst_object_ref_sink(dec.get());
  gst_object_ref_sink(src.get());
  GObjPtr<BcastKeyring> mine(bcast_keyring_new());
  GstContext* context = bcast_keyring_context_new(mine.get());
  gst_element_set_context(dec.get(), context);
  gst_context_unref(context);
  ASSERT_TRUE(gst_element_link(src.get(), dec.get()));

  // appsrc does not hold keyrings; obtain() run on its behalf must find tekdec's by query.
  GObjPtr<BcastKeyring> found(bcast_keyring_obtain(src.get()));
  EXPECT_EQ(found.get(), mine.get());
  gst_element_unlink(src.get(), dec.get());
}

}  // namespace
}  // namespace bcast_test
