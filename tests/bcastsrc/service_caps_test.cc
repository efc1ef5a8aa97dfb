// service_caps: the SDP media line → caps and element chain mapping that bcastsrc builds from.
#include "gst-plugins/bcastprotect/service_caps.h"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>

namespace {

channels::MediaStream SrtpVideo() {
  channels::MediaStream m;
  m.media = "video";
  m.address = "127.0.0.1";
  m.port = 5002;
  m.protocol = "RTP/SAVP";
  m.payload_type = 96;
  m.encoding_name = "H264";
  m.clock_rate = 90000;
  m.fmtp = {{"packetization-mode", "1"}, {"sprop-parameter-sets", "Z0IAHpWoKA9k,aM48gA=="}};
  m.key_stream_id = "1";
  m.mki_length = 2;
  m.srtp_authentication = "hmac-sha1-80";
  return m;
}

channels::MediaStream IsmacrypAudio() {
  channels::MediaStream m;
  m.media = "audio";
  m.address = "127.0.0.1";
  m.port = 5004;
  m.protocol = "RTP/AVP";
  m.payload_type = 97;
  m.encoding_name = "enc-mpeg4-generic";
  m.clock_rate = 48000;
  m.channels = 2;
  m.fmtp = {{"mode", "AAC-hbr"},   {"sizeLength", "13"},      {"indexLength", "3"},
            {"config", "1190"},    {"ISMACrypIVLength", "4"}, {"ISMACrypKeyIndicatorLength", "2"},
            {"clock-rate", "8000"}};
  m.key_stream_id = "2";
  return m;
}

GstStructure* Structure(const std::string& caps_text, GstCaps** keep) {
  *keep = gst_caps_from_string(caps_text.c_str());
  EXPECT_NE(*keep, nullptr) << caps_text;
  return *keep ? gst_caps_get_structure(*keep, 0) : nullptr;
}

class ServiceCapsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
};

TEST_F(ServiceCapsTest, SrtpH264) {
  auto plan = bcast::PlanForMedia(SrtpVideo());
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->protection, bcast::Protection::kSrtp);
  EXPECT_EQ(plan->decryptor, "bcastsrtpdec");
  EXPECT_EQ(plan->depayloader, "rtph264depay");
  EXPECT_EQ(plan->parser, "h264parse");
  EXPECT_TRUE(plan->video);
  g_autoptr(GstCaps) caps = nullptr;
  GstStructure* s = Structure(plan->caps, &caps);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(gst_structure_get_name(s), "application/x-srtp");
  EXPECT_STREQ(gst_structure_get_string(s, "encoding-name"), "H264");
  EXPECT_STREQ(gst_structure_get_string(s, "srtp-auth"), "hmac-sha1-80");
  EXPECT_STREQ(gst_structure_get_string(s, "sprop-parameter-sets"), "Z0IAHpWoKA9k,aM48gA==");
  int v = -1;
  EXPECT_TRUE(gst_structure_get_int(s, "mki-length", &v));
  EXPECT_EQ(v, 2);
  EXPECT_TRUE(gst_structure_get_int(s, "srtp-rcc-mode", &v));
  EXPECT_EQ(v, 0);
  EXPECT_FALSE(gst_structure_has_field(s, "srtp-roc-tx-rate"));
}

TEST_F(ServiceCapsTest, Rfc4771ModeAndRate) {
  auto m = SrtpVideo();
  m.srtp_authentication = "RCCm2,hmac-sha1-32";
  m.roc_tx_rate = 8;
  auto plan = bcast::PlanForMedia(m);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->rcc_mode, 2);
  g_autoptr(GstCaps) caps = nullptr;
  GstStructure* s = Structure(plan->caps, &caps);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(gst_structure_get_string(s, "srtp-auth"), "hmac-sha1-32");
  int rate = 0;
  EXPECT_TRUE(gst_structure_get_int(s, "srtp-roc-tx-rate", &rate));
  EXPECT_EQ(rate, 8);
  // A mode without a=SRTPROCTxRate: RFC 5159's default R = 1.
  m.roc_tx_rate = 0;
  plan = bcast::PlanForMedia(m);
  ASSERT_TRUE(plan);
  g_autoptr(GstCaps) caps2 = nullptr;
  s = Structure(plan->caps, &caps2);
  EXPECT_TRUE(gst_structure_get_int(s, "srtp-roc-tx-rate", &rate));
  EXPECT_EQ(rate, 1);
}

TEST_F(ServiceCapsTest, IsmacrypAacAndH264) {
  auto plan = bcast::PlanForMedia(IsmacrypAudio());
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->protection, bcast::Protection::kIsmacryp);
  EXPECT_EQ(plan->decryptor, "");
  EXPECT_EQ(plan->depayloader, "ismacrypdec");
  EXPECT_EQ(plan->parser, "aacparse");
  EXPECT_FALSE(plan->video);
  g_autoptr(GstCaps) caps = nullptr;
  GstStructure* s = Structure(plan->caps, &caps);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(gst_structure_get_name(s), "application/x-rtp");
  EXPECT_STREQ(gst_structure_get_string(s, "encoding-name"), "ENC-MPEG4-GENERIC");
  // fmtp names lower-cased as ismacrypdec reads them; a stray fmtp clock-rate changes nothing.
  EXPECT_STREQ(gst_structure_get_string(s, "ismacrypkeyindicatorlength"), "2");
  EXPECT_STREQ(gst_structure_get_string(s, "sizelength"), "13");
  int rate = 0;
  EXPECT_TRUE(gst_structure_get_int(s, "clock-rate", &rate));
  EXPECT_EQ(rate, 48000);
  EXPECT_STREQ(gst_structure_get_string(s, "encoding-params"), "2");

  auto video = IsmacrypAudio();
  video.media = "video";
  video.encoding_name = "enc-mpeg4-generic";
  video.clock_rate = 90000;
  video.fmtp = {{"mode", "avc-video"}, {"ISMACrypIVLength", "4"}};
  plan = bcast::PlanForMedia(video);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->parser, "h264parse");
  EXPECT_TRUE(plan->video);
}

TEST_F(ServiceCapsTest, ClearAac) {
  auto m = IsmacrypAudio();
  m.encoding_name = "MPEG4-GENERIC";
  m.key_stream_id.clear();
  auto plan = bcast::PlanForMedia(m);
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->protected_stream());
  EXPECT_EQ(plan->depayloader, "rtpmp4gdepay");
}

TEST_F(ServiceCapsTest, ErrorsNameTheAttribute) {
  auto m = SrtpVideo();
  m.encoding_name = "VP8";
  auto plan = bcast::PlanForMedia(m);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().field, "a=rtpmap");

  m = SrtpVideo();
  m.srtp_authentication = "hmac-md5";
  plan = bcast::PlanForMedia(m);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().field, "a=SRTPAuthentication");

  m = SrtpVideo();
  m.protocol = "UDP/TLS/RTP/SAVPF";
  plan = bcast::PlanForMedia(m);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().field, "m=");

  m = SrtpVideo();
  m.clock_rate = 0;
  plan = bcast::PlanForMedia(m);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().field, "a=rtpmap");

  auto isma = IsmacrypAudio();
  isma.key_stream_id.clear();
  plan = bcast::PlanForMedia(isma);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().field, "a=stkmstream");

  isma = IsmacrypAudio();
  isma.fmtp.erase("mode");
  plan = bcast::PlanForMedia(isma);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().field, "a=fmtp");
}

}  // namespace
