// bcast-player's SDP → caps mapping, its report writer and the frame checksums.
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <string>

#include "player/frame_hash.h"
#include "player/report.h"
#include "player/stream_caps.h"

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
  auto a = player::ParseSrtpAuthentication("RCCm2,hmac-sha1-80");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rcc_mode, 2);
  EXPECT_EQ(a->auth, "hmac-sha1-80");
  a = player::ParseSrtpAuthentication("rccm3");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rcc_mode, 3);
  a = player::ParseSrtpAuthentication("");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rcc_mode, 0);
  EXPECT_EQ(a->auth, "hmac-sha1-80");
  a = player::ParseSrtpAuthentication("none, null");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->auth, "null");
  a = player::ParseSrtpAuthentication("RCCm2,sha256");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().field, "a=SRTPAuthentication");
  EXPECT_NE(a.error().message.find("sha256"), std::string::npos);
}

TEST_F(PlayerCore, VideoChainAndCaps) {
  auto chain = player::ChainForMedia(Video());
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_TRUE(chain->srtp);
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
  auto chain = player::ChainForMedia(Audio());
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
  auto chain = player::ChainForMedia(m);
  ASSERT_TRUE(chain.ok());
  EXPECT_FALSE(chain->srtp);
  EXPECT_EQ(chain->caps.rfind("application/x-rtp,", 0), 0u) << chain->caps;
  EXPECT_EQ(chain->caps.find("srtp-"), std::string::npos);

  m.encoding_name = "VP8";
  chain = player::ChainForMedia(m);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().field, "a=rtpmap");

  auto a = Audio();
  a.fmtp.erase("mode");
  chain = player::ChainForMedia(a);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().field, "a=fmtp");

  m = Video();
  m.protocol = "UDP/TLS/RTP/SAVPF";
  EXPECT_FALSE(player::ChainForMedia(m).ok());
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
  s.srtp_stats = {{"received", 5}, {"lost", 1}};
  r.streams.push_back(s);
  r.decrypt_failures = 1;
  r.tek_changes = 3;
  r.tek_ids_in_use = {1, 2, 3, 4};
  r.time_to_first_frame_ms = 900;
  r.stkm_rejected = {{"bad-mac", 2}, {"malformed", 0}, {"no-rights", 1}};
  r.errors = {"x"};
  const std::string j = player::ReportToJson(r);
  EXPECT_NE(j.find("\"service\": \"a \\\"quoted\\\"\\nname\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"frames_decoded\": {\"video\": 12}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"tek_changes\": 3"), std::string::npos);
  EXPECT_NE(j.find("\"time_to_first_key_ms\": null"), std::string::npos);
  EXPECT_NE(j.find("\"video\": {\"received\": 5, \"lost\": 1}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"stkm_rejected\": {\"bad-mac\": 2, \"malformed\": 0, \"no-rights\": 1}"),
            std::string::npos);
  EXPECT_NE(j.find("\"errors\": [\"x\"]"), std::string::npos);
}

}  // namespace
