// stkmparse under GstHarness: good, malformed and repeated STKMs, base-cid caps.
#include <gst/check/gstharness.h>
#include <gtest/gtest.h>

#include "tests/gst/test_util.h"

namespace bcast_test {
namespace {

class StkmParseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EnsureGst();
    GstElement* element = gst_element_factory_make("stkmparse", nullptr);
    ASSERT_NE(element, nullptr);
    gst_object_ref_sink(element);
    parse_ = element;
    bus_.reset(gst_bus_new());
    gst_element_set_bus(element, bus_.get());
    g_object_set(element, "base-cid", kBaseCid, "repeat-timeout", 0u, nullptr);
    h_ = gst_harness_new_with_element(element, "sink", "src");  // takes its own ref
    gst_object_unref(element);
    gst_harness_set_src_caps_str(h_, "application/x-bcast-stkm");
  }
  void TearDown() override {
    if (h_ != nullptr) gst_harness_teardown(h_);
    // Queued messages hold the element, which holds the bus: drop them to break the cycle.
    if (bus_) gst_bus_set_flushing(bus_.get(), TRUE);
  }

  // Pushes and returns what came out (nullptr when dropped).
  GstBuffer* PushAndPull(const std::vector<std::uint8_t>& bytes) {
    EXPECT_EQ(gst_harness_push(h_, ToBuffer(bytes)), GST_FLOW_OK);
    return gst_harness_try_pull(h_);
  }

  static bool Holds(GstBuffer* buf, const std::vector<std::uint8_t>& bytes) {
    return buf != nullptr && gst_buffer_get_size(buf) == bytes.size() &&
           gst_buffer_memcmp(buf, 0, bytes.data(), bytes.size()) == 0;
  }

  GstElement* parse_ = nullptr;  // owned by the harness
  GstPtr<GstBus> bus_;
  GstHarness* h_ = nullptr;
};

TEST_F(StkmParseTest, PassesWellFormedStkmAndLabelsCapsWithBaseCid) {
  StkmSpec spec;
  spec.next = MakeTek(8);
  const auto stkm = MakeStkm(spec);
  GstBuffer* out = PushAndPull(stkm);
  EXPECT_TRUE(Holds(out, stkm));
  if (out != nullptr) gst_buffer_unref(out);

  GstCaps* caps = gst_pad_get_current_caps(h_->sinkpad);
  ASSERT_NE(caps, nullptr);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  EXPECT_TRUE(gst_structure_has_name(s, "application/x-bcast-stkm"));
  EXPECT_STREQ(gst_structure_get_string(s, "base-cid"), kBaseCid);
  gst_caps_unref(caps);

  EXPECT_EQ(UintProperty(parse_, "accepted"), 1u);
  EXPECT_EQ(UintProperty(parse_, "malformed"), 0u);
  EXPECT_EQ(UintProperty(parse_, "repeats"), 0u);
}

TEST_F(StkmParseTest, PropertyOverridesUpstreamBaseCid) {
  gst_harness_set_src_caps_str(h_, "application/x-bcast-stkm, base-cid=(string)urn:upstream:");
  GstBuffer* out = PushAndPull(MakeStkm(StkmSpec{}));
  ASSERT_NE(out, nullptr);
  gst_buffer_unref(out);
  GstCaps* caps = gst_pad_get_current_caps(h_->sinkpad);
  ASSERT_NE(caps, nullptr);
  EXPECT_STREQ(gst_structure_get_string(gst_caps_get_structure(caps, 0), "base-cid"), kBaseCid);
  gst_caps_unref(caps);
}

TEST_F(StkmParseTest, DropsMalformedWithWarningNamingFieldAndOffset) {
  const auto good = MakeStkm(StkmSpec{});
  // Cut inside the encrypted TEK: the parser runs out of bytes there.
  std::vector<std::uint8_t> truncated(good.begin(), good.begin() + 14);
  auto expected = spc::ParseStkm(truncated);
  ASSERT_FALSE(expected.ok());

  EXPECT_EQ(PushAndPull(truncated), nullptr);
  EXPECT_EQ(UintProperty(parse_, "malformed"), 1u);
  EXPECT_EQ(UintProperty(parse_, "accepted"), 0u);

  auto warning = WaitMessage(bus_.get(), GST_MESSAGE_WARNING, nullptr, GST_SECOND);
  ASSERT_NE(warning, nullptr);
  EXPECT_EQ(GST_MESSAGE_SRC(warning.get()), GST_OBJECT(parse_));
  const std::string text = WarningText(warning.get());
  EXPECT_NE(text.find("field " + expected.error().field), std::string::npos) << text;
  EXPECT_NE(text.find("offset " + std::to_string(expected.error().offset)), std::string::npos)
      << text;

  // Both flags set is not a valid STKM either (exactly one of programme/service).
  auto parsed = spc::ParseStkm(good);
  ASSERT_TRUE(parsed.ok());
  spc::Stkm bad = *parsed;
  bad.programme_flag = true;
  auto bad_bytes = spc::WriteStkm(bad, kSak);
  auto bad_err = spc::ParseStkm(bad_bytes);
  ASSERT_FALSE(bad_err.ok());
  EXPECT_EQ(PushAndPull(bad_bytes), nullptr);
  warning = WaitMessage(bus_.get(), GST_MESSAGE_WARNING, nullptr, GST_SECOND);
  ASSERT_NE(warning, nullptr);
  EXPECT_NE(WarningText(warning.get()).find(bad_err.error().field), std::string::npos);
  EXPECT_EQ(UintProperty(parse_, "malformed"), 2u);

  // A good STKM still passes afterwards.
  GstBuffer* out = PushAndPull(good);
  EXPECT_TRUE(Holds(out, good));
  if (out != nullptr) gst_buffer_unref(out);
}

TEST_F(StkmParseTest, MalformedWarningsAreRateLimitedButAllCounted) {
  const std::vector<std::uint8_t> garbage{0xff, 0x00, 0x01};
  for (int i = 0; i < 100; i++) EXPECT_EQ(PushAndPull(garbage), nullptr);
  EXPECT_EQ(UintProperty(parse_, "malformed"), 100u);
  // First five, then every 100th.
  EXPECT_EQ(DrainMessages(bus_.get(), GST_MESSAGE_WARNING).size(), 6u);
}

TEST_F(StkmParseTest, DropsRepeatsOfRecentStkms) {
  StkmSpec spec_a, spec_b;
  spec_b.current = MakeTek(9);
  const auto a = MakeStkm(spec_a);
  const auto b = MakeStkm(spec_b);

  GstBuffer* out = PushAndPull(a);
  EXPECT_TRUE(Holds(out, a));
  if (out != nullptr) gst_buffer_unref(out);
  EXPECT_EQ(PushAndPull(a), nullptr);
  out = PushAndPull(b);
  EXPECT_TRUE(Holds(out, b));
  if (out != nullptr) gst_buffer_unref(out);
  EXPECT_EQ(PushAndPull(a), nullptr);
  EXPECT_EQ(PushAndPull(b), nullptr);

  EXPECT_EQ(UintProperty(parse_, "accepted"), 2u);
  EXPECT_EQ(UintProperty(parse_, "repeats"), 3u);
  EXPECT_EQ(UintProperty(parse_, "malformed"), 0u);
  EXPECT_TRUE(DrainMessages(bus_.get(), GST_MESSAGE_WARNING).empty());
}

TEST_F(StkmParseTest, OnlyTheLast32AreRemembered) {
  std::vector<std::vector<std::uint8_t>> stkms;
  for (guint16 id = 1; id <= 33; id++) {
    StkmSpec spec;
    spec.current = MakeTek(id);
    stkms.push_back(MakeStkm(spec));
  }
  for (const auto& s : stkms) {
    GstBuffer* out = PushAndPull(s);
    ASSERT_NE(out, nullptr);
    gst_buffer_unref(out);
  }
  // The first has been pushed out by 32 newer ones: it passes again; the last one is a repeat.
  GstBuffer* out = PushAndPull(stkms.front());
  EXPECT_NE(out, nullptr);
  if (out != nullptr) gst_buffer_unref(out);
  EXPECT_EQ(PushAndPull(stkms.back()), nullptr);
}

TEST_F(StkmParseTest, RepeatPassesAgainAfterRepeatTimeout) {
  g_object_set(parse_, "repeat-timeout", 50u, nullptr);
  const auto a = MakeStkm(StkmSpec{});
  GstBuffer* out = PushAndPull(a);
  ASSERT_NE(out, nullptr);
  gst_buffer_unref(out);

  // Keep repeating as the head-end does until the repeat is let through (or give up).
  const gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  GstBuffer* again = nullptr;
  while (again == nullptr && g_get_monotonic_time() < deadline) {
    again = PushAndPull(a);
    if (again == nullptr) g_usleep(5 * 1000);
  }
  ASSERT_NE(again, nullptr);
  gst_buffer_unref(again);
  EXPECT_EQ(UintProperty(parse_, "accepted"), 2u);
  // Repeats within the timeout were dropped (the loop may have dropped several).
  EXPECT_EQ(PushAndPull(a), nullptr);
  EXPECT_GE(UintProperty(parse_, "repeats"), 1u);
}

}  // namespace
}  // namespace bcast_test
