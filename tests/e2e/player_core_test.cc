// The SDP → caps mapping bcast-player uses (bcast::PlanForMedia, shared with bcastsrc), the
// player's report writer and the frame checksums.
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <string>

#include "gst-plugins/bcastprotect/service_caps.h"
#include "player/frame_hash.h"
#include "player/report.h"

namespace {

class PlayerCore : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
};

channels::MediaStream Video() {
  channels::MediaStream m;
  m.media = "video";
  m.address = "127.0.0.1";
  m.port = 5002;
  m.protocol = "RTP/SAVP";
  m.payload_type = 96;
  m.encoding_name = "H264";
  m.clock_rate = 90000;
  m.fmtp = {{"packetization-mode", "1"}, {"sprop-parameter-sets", "Z01ADdo=,aO8PyA=="}};
  m.key_stream_id = "1";
  m.mki_length = 2;
  m.srtp_authentication = "hmac-sha1-80";
  return m;
}

channels::MediaStream Audio() {
  channels::MediaStream m;
  m.media = "audio";
  m.protocol = "RTP/SAVP";
  m.payload_type = 97;
  m.encoding_name = "mpeg4-generic";
  m.clock_rate = 48000;
  m.channels = 2;
  m.fmtp = {{"mode", "AAC-hbr"},  {"config", "119056e500"},  {"sizelength", "13"},
            {"indexlength", "3"}, {"indexdeltalength", "3"}, {"payload", "99"}};
  m.mki_length = 2;
  m.srtp_authentication = "RCCm2,hmac-sha1-32";
  m.roc_tx_rate = 4;
  return m;
}

struct CapsDeleter {
  void operator()(GstCaps* c) const { gst_caps_unref(c); }
};

std::unique_ptr<GstCaps, CapsDeleter> Parse(const std::string& s) {
  return std::unique_ptr<GstCaps, CapsDeleter>(gst_caps_from_string(s.c_str()));
}

TEST_F(PlayerCore, SrtpAuthenticationValues) {
  auto a = bcast::ParseSrtpAuthentication("RCCm2,hmac-sha1-80");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rcc_mode, 2);
  EXPECT_EQ(a->auth, "hmac-sha1-80");
  a = bcast::ParseSrtpAuthentication("rccm3");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rcc_mode, 3);
  a = bcast::ParseSrtpAuthentication("");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rcc_mode, 0);
  EXPECT_EQ(a->auth, "hmac-sha1-80");
  a = bcast::ParseSrtpAuthentication("none, null");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->auth, "null");
  a = bcast::ParseSrtpAuthentication("RCCm2,sha256");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().field, "a=SRTPAuthentication");
  EXPECT_NE(a.error().message.find("sha256"), std::string::npos);
}

TEST_F(PlayerCore, VideoChainAndCaps) {
  auto chain = bcast::PlanForMedia(Video());
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_EQ(chain->protection, bcast::Protection::kSrtp);
  EXPECT_EQ(chain->decryptor, "bcastsrtpdec");
  EXPECT_TRUE(chain->video);
  EXPECT_EQ(chain->depayloader, "rtph264depay");
  EXPECT_EQ(chain->decoder, "avdec_h264");
  auto caps = Parse(chain->caps);
  ASSERT_TRUE(caps);
  const GstStructure* s = gst_caps_get_structure(caps.get(), 0);
  EXPECT_STREQ(gst_structure_get_name(s), "application/x-srtp");
  int v = 0;
  EXPECT_TRUE(gst_structure_get_int(s, "payload", &v));
  EXPECT_EQ(v, 96);
  EXPECT_TRUE(gst_structure_get_int(s, "clock-rate", &v));
  EXPECT_EQ(v, 90000);
  EXPECT_TRUE(gst_structure_get_int(s, "mki-length", &v));
  EXPECT_EQ(v, 2);
  EXPECT_TRUE(gst_structure_get_int(s, "srtp-rcc-mode", &v));
  EXPECT_EQ(v, 0);
  EXPECT_FALSE(gst_structure_has_field(s, "srtp-roc-tx-rate"));  // no RCC: no rate
  EXPECT_STREQ(gst_structure_get_string(s, "srtp-auth"), "hmac-sha1-80");
  EXPECT_STREQ(gst_structure_get_string(s, "sprop-parameter-sets"), "Z01ADdo=,aO8PyA==");
  EXPECT_STREQ(gst_structure_get_string(s, "encoding-name"), "H264");
}

TEST_F(PlayerCore, AudioChainCapsWithRcc) {
  auto chain = bcast::PlanForMedia(Audio());
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_FALSE(chain->video);
  EXPECT_EQ(chain->depayloader, "rtpmp4gdepay");
  EXPECT_EQ(chain->rcc_mode, 2);
  auto caps = Parse(chain->caps);
  ASSERT_TRUE(caps);
  const GstStructure* s = gst_caps_get_structure(caps.get(), 0);
  int v = 0;
  EXPECT_TRUE(gst_structure_get_int(s, "payload", &v));
  EXPECT_EQ(v, 97) << "an fmtp parameter may not override the payload type";
  EXPECT_TRUE(gst_structure_get_int(s, "srtp-roc-tx-rate", &v));
  EXPECT_EQ(v, 4);
  EXPECT_STREQ(gst_structure_get_string(s, "encoding-name"), "MPEG4-GENERIC");
  EXPECT_STREQ(gst_structure_get_string(s, "encoding-params"), "2");
  EXPECT_STREQ(gst_structure_get_string(s, "config"), "119056e500");
  EXPECT_STREQ(gst_structure_get_string(s, "srtp-auth"), "hmac-sha1-32");
}

TEST_F(PlayerCore, ClearAndUnsupportedStreams) {
  auto m = Video();
  m.protocol = "RTP/AVP";
  auto chain = bcast::PlanForMedia(m);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->protection, bcast::Protection::kClear);
  EXPECT_EQ(chain->decryptor, "");
  EXPECT_EQ(chain->caps.rfind("application/x-rtp,", 0), 0u) << chain->caps;
  EXPECT_EQ(chain->caps.find("srtp-"), std::string::npos);

  m.encoding_name = "VP8";
  chain = bcast::PlanForMedia(m);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().field, "a=rtpmap");

  auto a = Audio();
  a.fmtp.erase("mode");
  chain = bcast::PlanForMedia(a);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().field, "a=fmtp");

  m = Video();
  m.protocol = "UDP/TLS/RTP/SAVPF";
  EXPECT_FALSE(bcast::PlanForMedia(m).ok());
}

// The head-end's ISMACryp media lines (enc-mpeg4-generic on RTP/AVP): ismacrypdec depayloads and
// decrypts, and gets every fmtp parameter as a lower-case string field.
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
  m.fmtp = {{"ISMACrypCryptoSuite", "AES_CTR_128"},
            {"ISMACrypIVLength", "4"},
            {"ISMACrypKeyIndicatorLength", "2"},
            {"ISMACrypSelectiveEncryption", "1"},
            {"config", "119056e500"},
            {"mode", "AAC-hbr"},
            {"sizeLength", "13"},
            {"indexLength", "3"},
            {"indexDeltaLength", "3"},
            {"streamType", "5"}};
  m.key_stream_id = "2";
  return m;
}

TEST_F(PlayerCore, IsmacrypAudioPlan) {
  auto plan = bcast::PlanForMedia(IsmacrypAudio());
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->protection, bcast::Protection::kIsmacryp);
  EXPECT_TRUE(plan->protected_stream());
  EXPECT_EQ(plan->decryptor, "");
  EXPECT_EQ(plan->depayloader, "ismacrypdec");
  EXPECT_EQ(plan->parser, "aacparse");
  EXPECT_EQ(plan->decoder, "avdec_aac");
  EXPECT_FALSE(plan->video);
  auto caps = Parse(plan->caps);
  ASSERT_TRUE(caps) << plan->caps;
  const GstStructure* s = gst_caps_get_structure(caps.get(), 0);
  EXPECT_STREQ(gst_structure_get_name(s), "application/x-rtp");
  EXPECT_STREQ(gst_structure_get_string(s, "encoding-name"), "ENC-MPEG4-GENERIC");
  EXPECT_STREQ(gst_structure_get_string(s, "ismacrypivlength"), "4");
  EXPECT_STREQ(gst_structure_get_string(s, "ismacrypkeyindicatorlength"), "2");
  EXPECT_STREQ(gst_structure_get_string(s, "ismacrypselectiveencryption"), "1");
  EXPECT_STREQ(gst_structure_get_string(s, "config"), "119056e500");
  EXPECT_FALSE(gst_structure_has_field(s, "srtp-auth"));
  // ismacrypdec accepts exactly these caps on its sink pad.
  GstElementFactory* factory = gst_element_factory_find("ismacrypdec");
  if (factory != nullptr) {
    EXPECT_TRUE(gst_element_factory_can_sink_any_caps(factory, caps.get())) << plan->caps;
    gst_object_unref(factory);
  }
}

TEST_F(PlayerCore, IsmacrypVideoPlanAndErrors) {
  auto m = IsmacrypAudio();
  m.media = "video";
  m.clock_rate = 90000;
  m.channels = 0;
  m.fmtp = {{"mode", "avc-video"}, {"sprop-parameter-sets", "Z01ADdo=,aO8PyA=="}};
  auto plan = bcast::PlanForMedia(m);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_TRUE(plan->video);
  EXPECT_EQ(plan->depayloader, "ismacrypdec");
  EXPECT_EQ(plan->parser, "h264parse");
  EXPECT_EQ(plan->decoder, "avdec_h264");

  m.key_stream_id.clear();  // ISMACryp without a key stream cannot be played
  plan = bcast::PlanForMedia(m);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().field, "a=stkmstream");

  auto a = IsmacrypAudio();
  a.fmtp.erase("mode");  // audio that is not AAC
  plan = bcast::PlanForMedia(a);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().field, "a=fmtp");

  a = IsmacrypAudio();
  a.protocol = "RTP/SAVP";  // ISMACryp inside SRTP is not a BCAST combination
  EXPECT_FALSE(bcast::PlanForMedia(a).ok());
}

TEST_F(PlayerCore, VideoChecksumIgnoresStridePadding) {
  GstVideoInfo tight;
  gst_video_info_set_format(&tight, GST_VIDEO_FORMAT_I420, 6, 4);
  GstVideoInfo padded = tight;
  // Same picture in rows padded to 16 bytes.
  padded.stride[0] = 16;
  padded.stride[1] = 16;
  padded.stride[2] = 16;
  padded.offset[1] = 16 * 4;
  padded.offset[2] = padded.offset[1] + 16 * 2;
  padded.size = padded.offset[2] + 16 * 2;
  GstBuffer* a = gst_buffer_new_and_alloc(GST_VIDEO_INFO_SIZE(&tight));
  GstBuffer* b = gst_buffer_new_and_alloc(padded.size);
  GstVideoFrame fa, fb;
  ASSERT_TRUE(gst_video_frame_map(&fa, &tight, a, GST_MAP_WRITE));
  ASSERT_TRUE(gst_video_frame_map(&fb, &padded, b, GST_MAP_WRITE));
  for (guint p = 0; p < 3; ++p) {
    const int w = GST_VIDEO_FRAME_COMP_WIDTH(&fa, p), h = GST_VIDEO_FRAME_COMP_HEIGHT(&fa, p);
    auto* da = static_cast<guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&fa, p));
    auto* db = static_cast<guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&fb, p));
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < 16; ++x) {
        if (x < GST_VIDEO_FRAME_PLANE_STRIDE(&fa, p)) {
          da[y * GST_VIDEO_FRAME_PLANE_STRIDE(&fa, p) + x] =
              static_cast<guint8>(p * 50 + y * 7 + x);
        }
        db[y * 16 + x] = x < w ? static_cast<guint8>(p * 50 + y * 7 + x) : 0xee;  // padding junk
      }
    }
  }
  gst_video_frame_unmap(&fa);
  gst_video_frame_unmap(&fb);
  auto ha = player::HashVideoFrame(a, tight);
  auto hb = player::HashVideoFrame(b, padded);
  ASSERT_TRUE(ha && hb);
  EXPECT_EQ(*ha, *hb);
  EXPECT_EQ(ha->size(), 40u);
  // One visible byte changed: a different checksum.
  GstMapInfo map;
  ASSERT_TRUE(gst_buffer_map(b, &map, GST_MAP_WRITE));
  map.data[1] ^= 1;
  gst_buffer_unmap(b, &map);
  EXPECT_NE(*player::HashVideoFrame(b, padded), *ha);
  gst_buffer_unref(a);
  gst_buffer_unref(b);
}

TEST_F(PlayerCore, ReportJson) {
  player::Report r;
  r.service = "a \"quoted\"\nname";
  player::StreamReport s;
  s.name = "video";
  s.frames = 12;
  s.first_frame_ms = 900;
  s.srtp = true;
  s.protection = "srtp";
  s.srtp_stats = {{"received", 5}, {"lost", 1}};
  r.streams.push_back(s);
  r.decrypt_failures = 1;
  r.tek_changes = 3;
  r.tek_ids_in_use = {1, 2, 3, 4};
  r.time_to_first_frame_ms = 900;
  r.stkm_rejected = {{"bad-mac", 2}, {"malformed", 0}, {"no-rights", 1}};
  player::StreamReport a;
  a.name = "audio";
  a.protection = "ismacryp";
  a.ismacryp_stats = {{"aus-decrypted", 40}, {"aus-dropped", 2}, {"lost", 2}};
  a.tek_ids_in_use = {2, 4};
  r.streams.push_back(a);
  r.key_source = "spcd on the system bus";
  r.decrypt_failures_by_reason = {{"ismacryp-dropped-unknown-key", 2}};
  r.no_rights_content_ids = {"urn:x:1"};
  r.errors = {"x"};
  const std::string j = player::ReportToJson(r);
  EXPECT_NE(j.find("\"service\": \"a \\\"quoted\\\"\\nname\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"frames_decoded\": {\"video\": 12, \"audio\": 0}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"tek_changes\": 3"), std::string::npos);
  EXPECT_NE(j.find("\"time_to_first_key_ms\": null"), std::string::npos);
  EXPECT_NE(j.find("\"video\": {\"received\": 5, \"lost\": 1}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"stkm_rejected\": {\"bad-mac\": 2, \"malformed\": 0, \"no-rights\": 1}"),
            std::string::npos);
  EXPECT_NE(j.find("\"errors\": [\"x\"]"), std::string::npos);
  EXPECT_NE(j.find("\"protection\": {\"video\": \"srtp\", \"audio\": \"ismacryp\"}"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"audio\": {\"aus-decrypted\": 40, \"aus-dropped\": 2, \"lost\": 2}"),
            std::string::npos)
      << j;
  EXPECT_EQ(j.find("\"audio\": {\"received\""), std::string::npos) << "no SRTP stats for audio";
  EXPECT_NE(j.find("\"tek_ids_by_stream\": {\"video\": [], \"audio\": [2, 4]}"), std::string::npos)
      << j;
  EXPECT_NE(j.find("\"decrypt_failures_by_reason\": {\"ismacryp-dropped-unknown-key\": 2}"),
            std::string::npos);
  EXPECT_NE(j.find("\"key_source\": \"spcd on the system bus\""), std::string::npos);
  EXPECT_NE(j.find("\"no_rights_content_ids\": [\"urn:x:1\"]"), std::string::npos);
}

}  // namespace
