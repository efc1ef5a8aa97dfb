// ismacrypdec under GstHarness: every fmtp combination, aggregation, fragments, TEK switches
// inside a packet, losses, bad input, an AU encrypted by the openssl program, and real decoders.
#include <gst/app/gstappsink.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
#include "gst-plugins/bcastprotect/ismacrypdec.h"
#include "gst-plugins/bcastprotect/keyring.h"
#include "tests/ismacryp/ismacryp_tek.h"

namespace bcast::ismacryp {
namespace {

const Tek kTek1 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
const Tek kTek2 = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                   0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf};

std::string Hex(std::span<const std::uint8_t> b) {
  static constexpr char kD[] = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s += kD[c >> 4];
    s += kD[c & 15];
  }
  return s;
}

Bytes Pattern(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& c : b) c = static_cast<std::uint8_t>(rng());
  return b;
}

// Packetizer options that cut payloads at `max_payload_size` bytes (AUs fragmented across packets).
PacketizerOptions PayloadsUpTo(std::size_t max_payload_size) {
  PacketizerOptions o;
  o.max_payload_size = max_payload_size;
  return o;
}

// One AU per clear buffer (each AU's data refers to it), `ts_step` RTP ticks apart, all under one
// TEK.
std::vector<AccessUnit> AusUnderOneTek(const std::vector<Bytes>& clear, std::uint32_t ts_step,
                                       std::uint64_t key_indicator, const Tek& tek) {
  std::vector<AccessUnit> aus;
  for (std::size_t i = 0; i < clear.size(); ++i) {
    AccessUnit au;
    au.data = clear[i];
    au.rtp_timestamp = static_cast<std::uint32_t>(ts_step * i);
    au.key_indicator = key_indicator;
    au.tek = tek;
    aus.push_back(au);
  }
  return aus;
}

Fmtp AacFmtp() {
  Fmtp f;
  f.stream_type = 5;
  f.mode = "AAC-hbr";
  f.config = {0x12, 0x10};  // AAC-LC 44.1 kHz stereo
  f.size_length = 13;
  f.index_length = 3;
  f.index_delta_length = 3;
  f.iv_length = 4;
  f.key_indicator_length = 2;
  return f;
}

// Caps as GStreamer's SDP library makes them from the fmtp line: lowercased names, string values.
GstCaps* CapsFor(const Fmtp& f, const char* media, int rate) {
  GstCaps* caps = gst_caps_new_simple(
      "application/x-rtp", "media", G_TYPE_STRING, media, "clock-rate", G_TYPE_INT, rate,
      "encoding-name", G_TYPE_STRING, "ENC-MPEG4-GENERIC", "payload", G_TYPE_INT, 96, nullptr);
  GstStructure* s = gst_caps_get_structure(caps, 0);
  g_auto(GStrv) items = g_strsplit(FormatFmtp(f).c_str(), "; ", -1);
  for (gchar** it = items; *it; ++it) {
    gchar* eq = strchr(*it, '=');
    if (!eq) continue;
    *eq = '\0';
    g_autofree gchar* key = g_ascii_strdown(*it, -1);
    gst_structure_set(s, key, G_TYPE_STRING, eq + 1, nullptr);
  }
  return caps;
}

class Dec {
 public:
  // `launch`: decoders after ismacrypdec ("" for none).
  Dec(const Fmtp& f, const char* media = "audio", int rate = 44100, const std::string& launch = "")
      : rate_(rate), ring_(bcast_keyring_new()) {
    GstContext* ctx = bcast_keyring_context_new(ring_);
    if (launch.empty()) {
      GstElement* e = gst_element_factory_make("ismacrypdec", nullptr);
      gst_element_set_context(e, ctx);
      h_ = gst_harness_new_with_element(e, "sink", "src");
      dec_ = GST_ELEMENT(gst_object_ref(e));
      gst_object_unref(e);
    } else {
      h_ = gst_harness_new_parse(("ismacrypdec name=dec ! " + launch).c_str());
      gst_element_set_context(h_->element, ctx);
      dec_ = gst_bin_get_by_name(GST_BIN(h_->element), "dec");
    }
    gst_context_unref(ctx);
    gst_harness_set_src_caps(h_, CapsFor(f, media, rate));
  }
  ~Dec() {
    gst_object_unref(dec_);
    gst_harness_teardown(h_);
    g_object_unref(ring_);
  }

  void AddTek(guint16 id, const Tek& key) { AddIsmacrypTek(ring_, id, key); }

  void Push(const Bytes& payload, std::uint32_t ts, bool marker) {
    GstBuffer* b = gst_rtp_buffer_new_allocate(static_cast<guint>(payload.size()), 0, 0);
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    ASSERT_TRUE(gst_rtp_buffer_map(b, GST_MAP_WRITE, &rtp));
    gst_rtp_buffer_set_payload_type(&rtp, 96);
    gst_rtp_buffer_set_seq(&rtp, seq_++);
    gst_rtp_buffer_set_timestamp(&rtp, ts);
    gst_rtp_buffer_set_marker(&rtp, marker);
    gst_rtp_buffer_set_ssrc(&rtp, 0x1234);
    if (!payload.empty())
      std::memcpy(gst_rtp_buffer_get_payload(&rtp), payload.data(), payload.size());
    gst_rtp_buffer_unmap(&rtp);
    GST_BUFFER_PTS(b) = gst_util_uint64_scale_int(ts, GST_SECOND, rate_);
    EXPECT_EQ(gst_harness_push(h_, b), GST_FLOW_OK);
  }
  void Push(const RtpPayload& p) { Push(p.bytes, p.rtp_timestamp, p.marker); }
  void Lose() { ++seq_; }

  std::vector<Bytes> Pull() {
    std::vector<Bytes> out;
    while (gst_harness_buffers_in_queue(h_) > 0) {
      GstBuffer* b = gst_harness_pull(h_);
      GstMapInfo m;
      EXPECT_TRUE(gst_buffer_map(b, &m, GST_MAP_READ));
      out.emplace_back(m.data, m.data + m.size);
      gst_buffer_unmap(b, &m);
      pts_.push_back(GST_BUFFER_PTS(b));
      gst_buffer_unref(b);
    }
    return out;
  }

  guint64 Stat(const char* name) {
    GstStructure* s = nullptr;
    g_object_get(dec_, "stats", &s, nullptr);
    guint64 v = 0;
    EXPECT_TRUE(gst_structure_get_uint64(s, name, &v)) << name;
    gst_structure_free(s);
    return v;
  }

  GstHarness* h() { return h_; }
  GstElement* dec() { return dec_; }
  const std::vector<GstClockTime>& pts() const { return pts_; }

 private:
  int rate_;
  BcastKeyring* ring_;
  GstHarness* h_ = nullptr;
  GstElement* dec_ = nullptr;
  guint16 seq_ = 1000;
  std::vector<GstClockTime> pts_;
};

class IsmacrypDecTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    gst_element_register(nullptr, "ismacrypdec", GST_RANK_NONE, GST_TYPE_ISMACRYP_DEC);
  }
};

std::vector<RtpPayload> Packetize(Packetizer& pk, const std::vector<AccessUnit>& aus) {
  std::vector<RtpPayload> out;
  for (const AccessUnit& au : aus) {
    auto r = pk.Push(au);
    EXPECT_TRUE(r) << r.error().field << ": " << r.error().message;
    if (r) out.insert(out.end(), r->begin(), r->end());
  }
  for (auto& p : pk.Flush()) out.push_back(std::move(p));
  return out;
}

TEST_F(IsmacrypDecTest, AacCapsAndAggregatedAus) {
  Fmtp f = AacFmtp();
  Dec d(f);
  d.AddTek(0x0102, kTek1);
  PacketizerOptions o;
  o.max_aus_per_packet = 4;
  auto pk = Packetizer::Create(f, o);
  ASSERT_TRUE(pk);
  pk->set_bso(123457);
  std::vector<Bytes> clear;
  for (unsigned i = 0; i < 8; ++i) clear.push_back(Pattern(100 + 7 * i, i));
  const auto aus = AusUnderOneTek(clear, 1024, 0x0102, kTek1);
  auto packets = Packetize(*pk, aus);
  ASSERT_EQ(packets.size(), 2u);
  for (auto& p : packets) d.Push(p);
  auto got = d.Pull();
  ASSERT_EQ(got.size(), clear.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(Hex(got[i]), Hex(clear[i])) << i;
  // Later AUs of a packet are timed by AU index × 1024 samples.
  ASSERT_EQ(d.pts().size(), 8u);
  EXPECT_EQ(d.pts()[1] - d.pts()[0], gst_util_uint64_scale_int(1024, GST_SECOND, 44100));
  EXPECT_EQ(d.Stat("aus-decrypted"), 8u);
  EXPECT_EQ(d.Stat("aus-dropped"), 0u);

  GstCaps* caps = gst_pad_get_current_caps(d.h()->sinkpad);
  ASSERT_NE(caps, nullptr);
  GstStructure* s = gst_caps_get_structure(caps, 0);
  EXPECT_STREQ(gst_structure_get_name(s), "audio/mpeg");
  EXPECT_STREQ(gst_structure_get_string(s, "stream-format"), "raw");
  int rate = 0, channels = 0, version = 0;
  EXPECT_TRUE(gst_structure_get_int(s, "mpegversion", &version));
  EXPECT_EQ(version, 4);
  EXPECT_TRUE(gst_structure_get_int(s, "rate", &rate));
  EXPECT_EQ(rate, 44100);
  EXPECT_TRUE(gst_structure_get_int(s, "channels", &channels));
  EXPECT_EQ(channels, 2);
  const GValue* cd = gst_structure_get_value(s, "codec_data");
  ASSERT_NE(cd, nullptr);
  GstBuffer* cdb = gst_value_get_buffer(cd);
  EXPECT_EQ(gst_buffer_get_size(cdb), 2u);
  gst_caps_unref(caps);
}

// Every ISMACryp option combination (and CTS/DTS deltas, RAP, stream state): packets from the
// packetizer, including a BSO jump that the delta IV carries, decrypt to the clear AUs.
TEST_F(IsmacrypDecTest, EveryFmtpCombination) {
  int runs = 0;
  for (unsigned iv : {0u, 1u, 4u, 8u})
    for (unsigned div : {0u, 2u})
      for (unsigned ki : {0u, 2u, 3u})
        for (bool per_au : {false, true})
          for (bool se : {false, true})
            for (bool rfc_extras : {false, true}) {
              if (ki == 0 && per_au) continue;
              Fmtp f = AacFmtp();
              f.iv_length = iv;
              f.delta_iv_length = div;
              f.key_indicator_length = ki;
              f.key_indicator_per_au = per_au;
              f.selective_encryption = se;
              if (rfc_extras) {
                f.cts_delta_length = 14;
                f.dts_delta_length = 6;
                f.random_access_indication = true;
                f.stream_state_indication = 2;
                f.auxiliary_data_size_length = 5;
                f.salt = {9, 8, 7, 6, 5, 4, 3, 2};
              }
              SCOPED_TRACE(FormatFmtp(f));
              Dec d(f);
              d.AddTek(7, kTek1);
              PacketizerOptions o;
              o.max_aus_per_packet = 3;
              auto pk = Packetizer::Create(f, o);
              ASSERT_TRUE(pk);
              std::vector<Bytes> clear;
              std::vector<AccessUnit> aus;
              for (unsigned i = 0; i < 6; ++i) clear.push_back(Pattern(20 + i, 40 + i));
              std::uint64_t bso = iv ? 3 : 0;  // without IV the stream starts at 0
              for (unsigned i = 0; i < 6; ++i) {
                AccessUnit au;
                au.data = clear[i];
                au.rtp_timestamp = 1024 * i;
                if (rfc_extras && i % 2) au.dts = au.rtp_timestamp - 5;
                au.rap = i == 0;
                au.key_indicator = ki ? 7 : 0;
                au.tek = kTek1;
                au.encrypt = !se || i % 3 != 1;
                if (i == 1 && div > 0 && iv > 0)
                  bso += 37;  // gap in the byte stream, carried by delta IV
                au.bso = bso;
                bso += clear[i].size();
                aus.push_back(au);
              }
              auto packets = Packetize(*pk, aus);
              ASSERT_EQ(packets.size(), 2u);
              for (auto& p : packets) d.Push(p);
              auto got = d.Pull();
              ASSERT_EQ(got.size(), clear.size());
              for (std::size_t i = 0; i < got.size(); ++i) {
                EXPECT_EQ(Hex(got[i]), Hex(clear[i])) << i;
              }
              // Later AUs of a packet: timed by CTS-delta, or by AU index × 1024 without it.
              ASSERT_EQ(d.pts().size(), clear.size());
              for (std::size_t i = 0; i < clear.size(); ++i) {
                EXPECT_NEAR(
                    static_cast<double>(d.pts()[i]),
                    static_cast<double>(gst_util_uint64_scale_int(1024 * i, GST_SECOND, 44100)),
                    1.0)  // ns rounding of packet PTS + delta
                    << i;
              }
              EXPECT_EQ(d.Stat("aus-clear"), se ? 2u : 0u);
              EXPECT_EQ(d.Stat("aus-decrypted"), se ? 4u : 6u);
              EXPECT_EQ(d.Stat("aus-dropped"), 0u);
              ++runs;
            }
  EXPECT_EQ(runs, 4 * 2 * 5 * 2 * 2);
}

TEST_F(IsmacrypDecTest, TekSwitchInsideOnePacket) {
  Fmtp f = AacFmtp();
  f.key_indicator_per_au = true;
  Dec d(f);
  d.AddTek(1, kTek1);
  d.AddTek(2, kTek2);
  PacketizerOptions o;
  o.max_aus_per_packet = 4;
  auto pk = Packetizer::Create(f, o);
  ASSERT_TRUE(pk);
  std::vector<Bytes> clear;
  std::vector<AccessUnit> aus;
  for (unsigned i = 0; i < 4; ++i) clear.push_back(Pattern(50, 100 + i));
  for (unsigned i = 0; i < 4; ++i) {
    AccessUnit au;
    au.data = clear[i];
    au.rtp_timestamp = 1024 * i;
    au.key_indicator = i < 2 ? 1 : 2;
    au.tek = i < 2 ? kTek1 : kTek2;
    aus.push_back(au);
  }
  auto packets = Packetize(*pk, aus);
  ASSERT_EQ(packets.size(), 1u);
  d.Push(packets[0]);
  auto got = d.Pull();
  ASSERT_EQ(got.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(Hex(got[i]), Hex(clear[i])) << i;
  EXPECT_EQ(d.Stat("aus-decrypted"), 4u);
}

Fmtp H264Fmtp() {
  Fmtp f;
  f.mode = "avc-video";
  f.size_length = 16;
  f.index_length = 0;
  f.index_delta_length = 0;
  f.iv_length = 4;
  f.key_indicator_length = 2;
  f.random_access_indication = true;
  return f;
}

TEST_F(IsmacrypDecTest, FragmentedAusAndParameterSets) {
  Fmtp f = H264Fmtp();
  // SPS/PPS in the SDP go in front of the first AU.
  f.sprop_parameter_sets = "Z0IAHpWoKA9k,aM48gA==";
  Dec d(f, "video", 90000);
  d.AddTek(5, kTek2);
  auto pk = Packetizer::Create(f, PayloadsUpTo(700));
  ASSERT_TRUE(pk);
  std::vector<Bytes> clear = {Pattern(3000, 1), Pattern(500, 2), Pattern(1401, 3)};
  auto aus = AusUnderOneTek(clear, 3000, 5, kTek2);
  aus[0].rap = true;
  auto packets = Packetize(*pk, aus);
  EXPECT_EQ(packets.size(), 5u + 1u + 3u);
  for (auto& p : packets) d.Push(p);
  auto got = d.Pull();
  ASSERT_EQ(got.size(), 3u);
  gsize sps_len = 0, pps_len = 0;
  g_autofree guchar* sps = g_base64_decode("Z0IAHpWoKA9k", &sps_len);
  g_autofree guchar* pps = g_base64_decode("aM48gA==", &pps_len);
  Bytes first = {0, 0, 0, 1};
  first.insert(first.end(), sps, sps + sps_len);
  first.insert(first.end(), {0, 0, 0, 1});
  first.insert(first.end(), pps, pps + pps_len);
  first.insert(first.end(), clear[0].begin(), clear[0].end());
  EXPECT_EQ(Hex(got[0]), Hex(first));
  EXPECT_EQ(Hex(got[1]), Hex(clear[1]));
  EXPECT_EQ(Hex(got[2]), Hex(clear[2]));
  GstCaps* caps = gst_pad_get_current_caps(d.h()->sinkpad);
  ASSERT_NE(caps, nullptr);
  GstStructure* s = gst_caps_get_structure(caps, 0);
  EXPECT_STREQ(gst_structure_get_name(s), "video/x-h264");
  EXPECT_STREQ(gst_structure_get_string(s, "stream-format"), "byte-stream");
  EXPECT_STREQ(gst_structure_get_string(s, "alignment"), "au");
  gst_caps_unref(caps);
}

// RTP padding and CSRCs (the element reads packets with the project's RTP header parser, not
// GstRTPBuffer): the padding is not AU data, the CSRC list is skipped; a padding count larger
// than the packet makes it invalid; the marker ends a fragmented AU.
TEST_F(IsmacrypDecTest, PaddingCsrcsAndMarkerAreRead) {
  const Fmtp f = H264Fmtp();
  Dec d(f, "video", 90000);
  d.AddTek(5, kTek2);
  auto pk = Packetizer::Create(f, PayloadsUpTo(700));
  ASSERT_TRUE(pk);
  const std::vector<Bytes> clear = {Pattern(1500, 4), Pattern(300, 5)};
  const auto aus = AusUnderOneTek(clear, 3000, 5, kTek2);
  const auto packets = Packetize(*pk, aus);
  ASSERT_EQ(packets.size(), 3u + 1u);
  guint16 seq = 7;
  auto make = [&](const RtpPayload& p, guint8 pad, guint8 pad_count) {
    GstBuffer* b = gst_rtp_buffer_new_allocate(static_cast<guint>(p.bytes.size()), pad, 2);
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    EXPECT_TRUE(gst_rtp_buffer_map(b, GST_MAP_WRITE, &rtp));
    gst_rtp_buffer_set_payload_type(&rtp, 96);
    gst_rtp_buffer_set_seq(&rtp, seq++);
    gst_rtp_buffer_set_timestamp(&rtp, p.rtp_timestamp);
    gst_rtp_buffer_set_marker(&rtp, p.marker);
    gst_rtp_buffer_set_ssrc(&rtp, 0x1234);
    gst_rtp_buffer_set_csrc(&rtp, 0, 0x11111111);
    gst_rtp_buffer_set_csrc(&rtp, 1, 0x22222222);
    std::memcpy(gst_rtp_buffer_get_payload(&rtp), p.bytes.data(), p.bytes.size());
    gst_rtp_buffer_unmap(&rtp);
    if (pad > 0) {
      gst_buffer_memset(b, gst_buffer_get_size(b) - pad, 0xee, pad - 1);
      gst_buffer_memset(b, gst_buffer_get_size(b) - 1, pad_count, 1);
    }
    return b;
  };
  for (const auto& p : packets) {
    EXPECT_EQ(gst_harness_push(d.h(), make(p, 5, 5)), GST_FLOW_OK);
  }
  auto got = d.Pull();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(Hex(got[0]), Hex(clear[0]));
  EXPECT_EQ(Hex(got[1]), Hex(clear[1]));
  // A padding count past the packet: the packet is invalid (dropped before its AU is looked at).
  EXPECT_EQ(gst_harness_push(d.h(), make(packets[3], 5, 250)), GST_FLOW_OK);
  EXPECT_TRUE(d.Pull().empty());
  EXPECT_EQ(d.Stat("aus-decrypted"), 2u);
  // The last fragment alone, after a loss: its marker ends an AU that did not start here.
  const std::uint64_t au_size_drops = d.Stat("dropped-au-size");
  RtpPayload last = packets[2];
  ASSERT_TRUE(last.marker);
  EXPECT_EQ(gst_harness_push(d.h(), make(last, 0, 0)), GST_FLOW_OK);
  EXPECT_TRUE(d.Pull().empty());
  RtpPayload middle = packets[1];
  ASSERT_FALSE(middle.marker);
  middle.marker = true;  // a fragment that says it ends its AU but does not
  ++seq;                 // after a loss: not the continuation of anything
  EXPECT_EQ(gst_harness_push(d.h(), make(middle, 0, 0)), GST_FLOW_OK);
  EXPECT_TRUE(d.Pull().empty());
  EXPECT_EQ(d.Stat("dropped-au-size"), au_size_drops + 1);
}

// Losses: a middle fragment, a first fragment, a last fragment, and a packet of complete AUs.
// Each costs exactly the AU it carried; the next packets decrypt from their own IV.
TEST_F(IsmacrypDecTest, LostPacketsCostOnlyTheirAus) {
  Fmtp f = H264Fmtp();
  Dec d(f, "video", 90000);
  d.AddTek(5, kTek1);
  auto pk = Packetizer::Create(f, PayloadsUpTo(400));
  ASSERT_TRUE(pk);
  // AU sizes: fragmented (3 packets) x4, then small ones.
  std::vector<Bytes> clear;
  for (unsigned i = 0; i < 8; ++i) clear.push_back(Pattern(i < 4 ? 1000 : 100, 200 + i));
  std::vector<std::vector<RtpPayload>> per_au;
  for (unsigned i = 0; i < clear.size(); ++i) {
    AccessUnit au;
    au.data = clear[i];
    au.rtp_timestamp = 3000 * i;
    au.key_indicator = 5;
    au.tek = kTek1;
    auto r = pk->Push(au);
    ASSERT_TRUE(r);
    per_au.push_back(*r);
  }
  ASSERT_EQ(per_au[0].size(), 3u);
  // AU0 whole; AU1 loses its middle fragment; AU2 loses its first; AU3 loses its last;
  // AU4 whole; AU5 (one packet) lost; AU6, AU7 whole.
  for (auto& p : per_au[0]) d.Push(p);
  d.Push(per_au[1][0]);
  d.Lose();
  d.Push(per_au[1][2]);
  d.Lose();
  d.Push(per_au[2][1]);
  d.Push(per_au[2][2]);
  d.Push(per_au[3][0]);
  d.Push(per_au[3][1]);
  d.Lose();
  d.Push(per_au[4][0]);
  d.Lose();
  d.Push(per_au[6][0]);
  d.Push(per_au[7][0]);
  auto got = d.Pull();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(Hex(got[0]), Hex(clear[0]));
  EXPECT_EQ(Hex(got[1]), Hex(clear[4]));
  EXPECT_EQ(Hex(got[2]), Hex(clear[6]));
  EXPECT_EQ(Hex(got[3]), Hex(clear[7]));
  EXPECT_EQ(d.Stat("dropped-incomplete"), 3u);  // AU1, AU2, AU3 (AU5 never arrived)
  EXPECT_EQ(d.Stat("packets-lost"), 4u);
  EXPECT_EQ(d.Stat("aus-decrypted"), 4u);
}

// Bad input: each case drops the affected AU with its reason; the next good packet decrypts.
TEST_F(IsmacrypDecTest, BadInputIsDroppedAndCounted) {
  Fmtp f = AacFmtp();
  Dec d(f);
  d.AddTek(1, kTek1);
  PacketizerOptions o;
  o.max_aus_per_packet = 2;
  auto pk = Packetizer::Create(f, o);
  ASSERT_TRUE(pk);
  unsigned seed = 0;
  std::vector<Bytes> sent;
  auto good = [&]() {
    sent.push_back(Pattern(64, ++seed));
    AccessUnit au;
    au.data = sent.back();
    au.key_indicator = 1;
    au.tek = kTek1;
    auto r = pk->Push(au);
    EXPECT_TRUE(r);
    auto fl = pk->Flush();
    EXPECT_EQ(fl.size(), 1u);
    d.Push(fl[0]);
  };
  good();
  // AU-headers-length larger than the packet.
  d.Push(Bytes{0x7f, 0xff, 0, 0, 0, 0, 0, 1, 0x02, 0x00, 1, 2, 3}, 0, true);
  good();
  // IV runs past the AU-header section (and the packet ends there).
  d.Push(Bytes{0x00, 0x10, 0, 0}, 0, true);
  good();
  // Key indicator runs past the section.
  d.Push(Bytes{0x00, 0x28, 0, 0, 0, 0, 0, 0xaa, 0xbb}, 0, true);
  good();
  // AU size that lies: two AUs, the second claims more than is there.
  {
    AuHeader a, b;
    a.iv = 5000;
    a.key_indicator = {0, 1};
    a.size = 4;
    b.size = 100;
    const AuHeader hs[] = {a, b};
    auto sec = WriteAuHeaderSection(f, hs);
    ASSERT_TRUE(sec);
    Bytes p = *sec;
    p.insert(p.end(), 30, 0x11);
    d.Push(p, 0, true);
  }
  // One AU that claims more than the packet, in a packet that ends the AU.
  {
    AuHeader a;
    a.iv = 9000;
    a.key_indicator = {0, 1};
    a.size = 500;
    const AuHeader hs[] = {a};
    auto sec = WriteAuHeaderSection(f, hs);
    ASSERT_TRUE(sec);
    Bytes p = *sec;
    p.insert(p.end(), 30, 0x11);
    d.Push(p, 0, true);
  }
  good();
  // Unknown key indicator.
  {
    AccessUnit au;
    Bytes x = Pattern(40, 77);
    au.data = x;
    au.key_indicator = 0x0bad;
    au.tek = kTek2;
    auto r = pk->Push(au);
    ASSERT_TRUE(r);
    auto fl = pk->Flush();
    d.Push(fl[0]);
  }
  good();
  // Empty payload.
  d.Push(Bytes{}, 0, true);
  good();
  auto got = d.Pull();
  ASSERT_EQ(got.size(), sent.size() + 1);  // + the first AU of the lying packet
  std::vector<Bytes> good_out;
  for (auto& g : got)
    if (g.size() == 64) good_out.push_back(g);
  ASSERT_EQ(good_out.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(Hex(good_out[i]), Hex(sent[i])) << i;
  EXPECT_EQ(d.Stat("dropped-headers-length"), 2u);  // too long + empty payload
  EXPECT_EQ(d.Stat("dropped-header-truncated"), 2u);
  EXPECT_EQ(d.Stat("dropped-au-size"), 2u);
  EXPECT_EQ(d.Stat("dropped-unknown-key"), 1u);
  EXPECT_EQ(d.Stat("aus-dropped"), 7u);
}

// Without IV (ISMACrypIVLength=0) the BSO is counted by the receiver; after a loss it is gone, so
// encrypted AUs are dropped rather than decrypted wrong.
TEST_F(IsmacrypDecTest, NoIvStreamStopsDecryptingAfterALoss) {
  Fmtp f = AacFmtp();
  f.iv_length = 0;
  Dec d(f);
  d.AddTek(1, kTek1);
  auto pk = Packetizer::Create(f, PacketizerOptions{});
  ASSERT_TRUE(pk);
  std::vector<Bytes> clear;
  for (unsigned i = 0; i < 5; ++i) clear.push_back(Pattern(33, 300 + i));
  const auto aus = AusUnderOneTek(clear, 0, 1, kTek1);
  auto packets = Packetize(*pk, aus);
  ASSERT_EQ(packets.size(), 5u);
  d.Push(packets[0]);
  d.Push(packets[1]);
  d.Lose();
  d.Push(packets[3]);
  d.Push(packets[4]);
  auto got = d.Pull();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(Hex(got[1]), Hex(clear[1]));
  EXPECT_EQ(d.Stat("dropped-bso-unknown"), 2u);
}

// The warnings on `bus`: how many, and their debug texts one per line.
std::pair<int, std::string> PopWarnings(GstBus* bus) {
  int warnings = 0;
  std::string all;
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING)) {
    GError* err = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_warning(m, &err, &dbg);
    all += std::string(dbg ? dbg : "") + "\n";
    ++warnings;
    g_clear_error(&err);
    g_free(dbg);
    gst_message_unref(m);
  }
  return {warnings, all};
}

// Drops are reported on the bus as warnings naming the reason.
TEST_F(IsmacrypDecTest, DropsPostWarnings) {
  Fmtp f = AacFmtp();
  Dec d(f);
  // Nothing was decrypted yet: without this the unknown key would be the join (next test).
  g_object_set(d.dec(), "join-time", 0u, nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(d.dec(), bus);
  d.Push(Bytes{0x7f, 0xff, 0, 0}, 0, true);                 // headers length
  d.Push(Bytes{0x00, 0x28, 0, 0, 0, 0, 0, 0xaa}, 0, true);  // key indicator truncated
  AuHeader a;
  a.iv = 16;
  a.key_indicator = {0, 9};
  a.size = 3;
  const AuHeader hs[] = {a};
  auto sec = WriteAuHeaderSection(f, hs);
  ASSERT_TRUE(sec);
  Bytes p = *sec;
  p.insert(p.end(), {1, 2, 3});
  d.Push(p, 0, true);  // unknown key 9
  const auto [warnings, all] = PopWarnings(bus);
  EXPECT_EQ(warnings, 3);
  EXPECT_NE(all.find("dropped-headers-length"), std::string::npos) << all;
  EXPECT_NE(all.find("dropped-header-truncated"), std::string::npos) << all;
  EXPECT_NE(all.find("dropped-unknown-key"), std::string::npos) << all;
  EXPECT_NE(all.find("no TEK with ID 9"), std::string::npos) << all;
  gst_element_set_bus(d.dec(), nullptr);
  gst_object_unref(bus);
}

// Joining a running service: AUs under a TEK whose STKM went by before the join come before the
// first decrypted AU. They are counted apart (not in aus-dropped) and post no warning; after the
// first decrypted AU an unknown TEK is a failure again.
TEST_F(IsmacrypDecTest, UnknownTekBeforeTheFirstDecryptIsTheJoin) {
  Fmtp f = AacFmtp();
  Dec d(f);
  guint join_time = 0;
  g_object_get(d.dec(), "join-time", &join_time, nullptr);
  EXPECT_EQ(join_time, 10000u);
  d.AddTek(2, kTek2);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(d.dec(), bus);
  auto pk = Packetizer::Create(f, PacketizerOptions{});
  ASSERT_TRUE(pk);
  std::vector<Bytes> clear;
  for (unsigned i = 0; i < 6; ++i) clear.push_back(Pattern(40, 500 + i));
  std::vector<AccessUnit> aus = AusUnderOneTek(clear, 1024, 1, kTek1);  // TEK 1: never seen
  for (std::size_t i = 3; i < 5; ++i) {
    aus[i].key_indicator = 2;
    aus[i].tek = kTek2;
  }
  auto packets = Packetize(*pk, aus);  // TEK 1, 1, 1, 2, 2, 1
  ASSERT_EQ(packets.size(), 6u);
  for (const auto& p : packets) d.Push(p);
  auto got = d.Pull();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(Hex(got[0]), Hex(clear[3]));
  EXPECT_EQ(Hex(got[1]), Hex(clear[4]));
  EXPECT_EQ(d.Stat("dropped-at-join"), 3u);
  EXPECT_EQ(d.Stat("dropped-unknown-key"), 1u);
  EXPECT_EQ(d.Stat("aus-dropped"), 1u);
  const auto [warnings, all] = PopWarnings(bus);
  EXPECT_EQ(warnings, 1) << all;  // the last AU's, after the join
  EXPECT_NE(all.find("no TEK with ID 1"), std::string::npos) << all;
  gst_element_set_bus(d.dec(), nullptr);
  gst_object_unref(bus);
}

TEST_F(IsmacrypDecTest, RandomPayloadsNeverCrash) {
  Fmtp f = AacFmtp();
  f.selective_encryption = true;
  f.key_indicator_per_au = true;
  f.cts_delta_length = 4;
  Dec d(f);
  d.AddTek(1, kTek1);
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    Bytes b(rng() % 60);
    for (auto& c : b) c = static_cast<std::uint8_t>(rng());
    d.Push(b, 1024u * static_cast<unsigned>(i), rng() % 2);
  }
  d.Pull();
  EXPECT_GT(d.Stat("aus-dropped"), 0u);
}

// An AU encrypted by the openssl program (not the project's code) at an unaligned BSO, in a packet
// built by hand.
TEST_F(IsmacrypDecTest, DecryptsWhatOpensslEncrypted) {
  const std::uint64_t bso = 0x12345677;  // bso % 16 = 7
  const Bytes clear = Pattern(300, 99);
  char tmpl[] = "/tmp/ismacryp-dec-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  ASSERT_NE(dir, nullptr);
  const std::string in = std::string(dir) + "/in", out = std::string(dir) + "/out";
  {
    std::ofstream o(in, std::ios::binary);
    Bytes padded(bso % 16, 0);
    padded.insert(padded.end(), clear.begin(), clear.end());
    o.write(reinterpret_cast<const char*>(padded.data()),
            static_cast<std::streamsize>(padded.size()));
  }
  char iv[33];
  std::snprintf(iv, sizeof iv, "%016llx%016llx", 0ULL, static_cast<unsigned long long>(bso / 16));
  const std::string cmd =
      "openssl enc -aes-128-ctr -K " + Hex(kTek2) + " -iv " + iv + " -in " + in + " -out " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream is(out, std::ios::binary);
  Bytes enc((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(dir);
  ASSERT_EQ(enc.size(), bso % 16 + clear.size());
  // AU-headers-length = 64 bits: IV 0x12345677, key indicator 0x0042, AU-size 300, index 0.
  Bytes p = {0x00,
             0x40,
             0x12,
             0x34,
             0x56,
             0x77,
             0x00,
             0x42,
             static_cast<std::uint8_t>((300 << 3) >> 8),
             static_cast<std::uint8_t>(300 << 3)};
  p.insert(p.end(), enc.begin() + static_cast<std::ptrdiff_t>(bso % 16), enc.end());
  Dec d(AacFmtp());
  d.AddTek(0x42, kTek2);
  d.Push(p, 0, true);
  auto got = d.Pull();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Hex(got[0]), Hex(clear));
}

// Encodes real media with GStreamer's encoders into access units.
std::vector<Bytes> Encode(const char* launch, GstCaps** caps_out) {
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(launch, &err);
  EXPECT_EQ(err, nullptr) << (err ? err->message : "");
  if (!pipe) return {};
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  std::vector<Bytes> aus;
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 20 * GST_SECOND)) {
    if (caps_out && !*caps_out) *caps_out = gst_caps_ref(gst_sample_get_caps(s));
    GstBuffer* b = gst_sample_get_buffer(s);
    GstMapInfo m;
    gst_buffer_map(b, &m, GST_MAP_READ);
    aus.emplace_back(m.data, m.data + m.size);
    gst_buffer_unmap(b, &m);
    gst_sample_unref(s);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipe);
  return aus;
}

// Pulls until EOS; counts decoded buffers.
int CountDecoded(Dec& d) {
  gst_harness_push_event(d.h(), gst_event_new_eos());
  int n = 0;
  for (;;) {
    GstEvent* ev = gst_harness_try_pull_event(d.h());
    while (GstBuffer* b = gst_harness_try_pull(d.h())) {
      ++n;
      gst_buffer_unref(b);
    }
    if (ev) {
      const bool eos = GST_EVENT_TYPE(ev) == GST_EVENT_EOS;
      gst_event_unref(ev);
      if (eos) break;
    } else {
      GstEvent* e = gst_harness_pull_event(d.h());  // blocks up to the harness timeout
      if (!e) break;
      const bool eos = GST_EVENT_TYPE(e) == GST_EVENT_EOS;
      gst_event_unref(e);
      if (eos) break;
    }
  }
  while (GstBuffer* b = gst_harness_try_pull(d.h())) {
    ++n;
    gst_buffer_unref(b);
  }
  return n;
}

TEST_F(IsmacrypDecTest, AacDecoderPlaysDecryptedAus) {
  GstCaps* caps = nullptr;
  auto frames = Encode(
      "audiotestsrc num-buffers=30 samplesperbuffer=1024 ! audio/x-raw,rate=44100,channels=2 ! "
      "avenc_aac ! aacparse ! audio/mpeg,stream-format=raw ! appsink name=sink sync=false",
      &caps);
  ASSERT_GT(frames.size(), 20u);
  ASSERT_NE(caps, nullptr);
  GstBuffer* cd =
      gst_value_get_buffer(gst_structure_get_value(gst_caps_get_structure(caps, 0), "codec_data"));
  ASSERT_NE(cd, nullptr);
  Fmtp f = AacFmtp();
  GstMapInfo m;
  gst_buffer_map(cd, &m, GST_MAP_READ);
  f.config.assign(m.data, m.data + m.size);
  gst_buffer_unmap(cd, &m);
  gst_caps_unref(caps);
  Dec d(f, "audio", 44100, "aacparse ! avdec_aac");
  d.AddTek(3, kTek1);
  PacketizerOptions o;
  o.max_aus_per_packet = 3;
  auto pk = Packetizer::Create(f, o);
  ASSERT_TRUE(pk);
  for (auto& p : Packetize(*pk, AusUnderOneTek(frames, 1024, 3, kTek1))) d.Push(p);
  const int decoded = CountDecoded(d);
  EXPECT_GE(decoded, static_cast<int>(frames.size()) - 2);
  EXPECT_EQ(d.Stat("aus-decrypted"), frames.size());
}

TEST_F(IsmacrypDecTest, H264DecoderPlaysDecryptedAus) {
  auto frames = Encode(
      "videotestsrc num-buffers=10 ! video/x-raw,width=320,height=240,framerate=25/1 ! "
      "openh264enc gop-size=5 ! h264parse config-interval=-1 ! "
      "video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
      nullptr);
  ASSERT_EQ(frames.size(), 10u);
  Fmtp f = H264Fmtp();
  Dec d(f, "video", 90000, "h264parse ! avdec_h264");
  d.AddTek(9, kTek2);
  auto pk = Packetizer::Create(f, PayloadsUpTo(1200));
  ASSERT_TRUE(pk);
  std::vector<AccessUnit> aus;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    AccessUnit au;
    au.data = frames[i];
    au.rtp_timestamp = static_cast<std::uint32_t>(3600 * i);
    au.key_indicator = 9;
    au.tek = kTek2;
    au.rap = i % 5 == 0;
    aus.push_back(au);
  }
  auto packets = Packetize(*pk, aus);
  EXPECT_GT(packets.size(), frames.size());  // the IDR frames are fragmented
  for (auto& p : packets) d.Push(p);
  EXPECT_EQ(CountDecoded(d), 10);
  EXPECT_EQ(d.Stat("aus-decrypted"), 10u);
}

// ---- one packet at a time and buffer lists give the same output ----
//
// The element handles packets itself (own_chain / own_chain_list) instead of through
// GstRTPBaseDepayload's per-packet path, which it still uses when the caps carry RTP header
// extensions (extmap-*). The same packets go through three ways: the base class's path (caps with
// an extmap), the element's path one buffer at a time, and its path as buffer lists cut across
// fragmented AUs. Every output buffer (bytes, PTS, DTS, duration, flags), every event and the
// stats must be the same.

// An RTP packet as the test hands it on.
struct TestPacket {
  Bytes payload;
  std::uint32_t ts = 0;
  bool marker = false;
  guint16 seq = 0;
  guint32 ssrc = 0x1234;
  bool discont = false;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  GstClockTime dts = GST_CLOCK_TIME_NONE;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
};

GstBuffer* MakeRtp(const TestPacket& p) {
  GstBuffer* b = gst_rtp_buffer_new_allocate(static_cast<guint>(p.payload.size()), 0, 0);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  EXPECT_TRUE(gst_rtp_buffer_map(b, GST_MAP_WRITE, &rtp));
  gst_rtp_buffer_set_payload_type(&rtp, 96);
  gst_rtp_buffer_set_seq(&rtp, p.seq);
  gst_rtp_buffer_set_timestamp(&rtp, p.ts);
  gst_rtp_buffer_set_marker(&rtp, p.marker);
  gst_rtp_buffer_set_ssrc(&rtp, p.ssrc);
  if (!p.payload.empty()) {
    std::memcpy(gst_rtp_buffer_get_payload(&rtp), p.payload.data(), p.payload.size());
  }
  gst_rtp_buffer_unmap(&rtp);
  GST_BUFFER_PTS(b) = p.pts;
  GST_BUFFER_DTS(b) = p.dts;
  GST_BUFFER_DURATION(b) = p.duration;
  if (p.discont) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DISCONT);
  return b;
}

enum class Feed { kBaseClass, kBuffers, kLists };

struct FeedResult {
  std::vector<std::string> buffers;  // one line per output buffer
  std::vector<std::string> events;
  std::string stats;
};

std::string Describe(GstBuffer* b) {
  GstMapInfo m;
  EXPECT_TRUE(gst_buffer_map(b, &m, GST_MAP_READ));
  std::string s = Hex(std::span<const std::uint8_t>(m.data, m.size));
  gst_buffer_unmap(b, &m);
  auto t = [](GstClockTime v) {
    return GST_CLOCK_TIME_IS_VALID(v) ? std::to_string(v) : std::string("none");
  };
  return "pts=" + t(GST_BUFFER_PTS(b)) + " dts=" + t(GST_BUFFER_DTS(b)) +
         " duration=" + t(GST_BUFFER_DURATION(b)) +
         " flags=" + std::to_string(GST_BUFFER_FLAGS(b)) + " " + s;
}

// `upstream_seqnum`: the segment's seqnum is the upstream one's (each harness has its own).
std::string Describe(GstEvent* e, guint32 upstream_seqnum) {
  std::string s = GST_EVENT_TYPE_NAME(e);
  if (GST_EVENT_TYPE(e) == GST_EVENT_STREAM_START) return s;  // the stream-id names the element
  if (GST_EVENT_TYPE(e) == GST_EVENT_SEGMENT) {
    const GstSegment* seg = nullptr;
    gst_event_parse_segment(e, &seg);
    g_autofree gchar* str =
        g_strdup_printf(" rate=%f applied=%f start=%" G_GUINT64_FORMAT " stop=%" G_GUINT64_FORMAT
                        " time=%" G_GUINT64_FORMAT " position=%" G_GUINT64_FORMAT
                        " base=%" G_GUINT64_FORMAT " upstream-seqnum=%d",
                        seg->rate, seg->applied_rate, seg->start, seg->stop, seg->time,
                        seg->position, seg->base, gst_event_get_seqnum(e) == upstream_seqnum);
    s += str;
  } else if (const GstStructure* st = gst_event_get_structure(e)) {
    g_autofree gchar* str = gst_structure_to_string(st);
    s += std::string(" ") + str;
  }
  return s;
}

// `lists`: sizes of the successive buffer lists (cycled); `shared`: the test keeps a ref on
// every packet while it is pushed (a tee upstream).
FeedResult RunFeed(const Fmtp& f, const char* media, int rate, const std::vector<TestPacket>& in,
                   Feed feed, bool shared, const std::vector<std::size_t>& lists = {5}) {
  FeedResult r;
  BcastKeyring* ring = bcast_keyring_new();
  AddIsmacrypTek(ring, 5, kTek1);
  AddIsmacrypTek(ring, 6, kTek2);
  GstContext* ctx = bcast_keyring_context_new(ring);
  GstElement* e = gst_element_factory_make("ismacrypdec", nullptr);
  gst_element_set_context(e, ctx);
  gst_context_unref(ctx);
  GstHarness* h = gst_harness_new_with_element(e, "sink", "src");
  GstCaps* caps = CapsFor(f, media, rate);
  // The base class reads npt-start and clock-base for its segment.
  gst_caps_set_simple(caps, "clock-base", G_TYPE_UINT, in.empty() ? 0u : in[0].ts - 9000,
                      "npt-start", G_TYPE_UINT64, static_cast<guint64>(GST_SECOND), nullptr);
  if (feed == Feed::kBaseClass) {
    // An extension no implementation is known for: the element leaves the packets to the base
    // class, which finds nothing to read in them.
    gst_caps_set_simple(caps, "extmap-1", G_TYPE_STRING, "urn:openbcast:test:unknown", nullptr);
  }
  gst_harness_set_src_caps(h, caps);
  std::vector<GstBuffer*> held;
  std::size_t i = 0;
  std::size_t list_index = 0;
  while (i < in.size()) {
    const std::size_t n =
        feed == Feed::kLists ? std::min(lists[list_index++ % lists.size()], in.size() - i) : 1;
    GstBufferList* list = gst_buffer_list_new_sized(static_cast<guint>(n));
    for (std::size_t j = 0; j < n; ++j) {
      GstBuffer* b = MakeRtp(in[i + j]);
      if (shared) held.push_back(gst_buffer_ref(b));
      gst_buffer_list_add(list, b);
    }
    i += n;
    if (feed == Feed::kLists) {
      EXPECT_EQ(gst_pad_push_list(h->srcpad, list), GST_FLOW_OK);
    } else {
      GstBuffer* b = gst_buffer_ref(gst_buffer_list_get(list, 0));
      gst_buffer_list_unref(list);
      EXPECT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
    }
  }
  while (GstBuffer* b = gst_harness_try_pull(h)) {
    r.buffers.push_back(Describe(b));
    gst_buffer_unref(b);
  }
  GstEvent* upstream = gst_pad_get_sticky_event(h->srcpad, GST_EVENT_SEGMENT, 0);
  const guint32 upstream_seqnum = upstream ? gst_event_get_seqnum(upstream) : 0;
  if (upstream != nullptr) gst_event_unref(upstream);
  while (GstEvent* ev = gst_harness_try_pull_event(h)) {
    r.events.push_back(Describe(ev, upstream_seqnum));
    gst_event_unref(ev);
  }
  GstStructure* s = nullptr;
  g_object_get(e, "stats", &s, nullptr);
  g_autofree gchar* str = gst_structure_to_string(s);
  r.stats = str;
  gst_structure_free(s);
  for (GstBuffer* b : held) gst_buffer_unref(b);
  gst_harness_teardown(h);
  gst_object_unref(e);
  g_object_unref(ring);
  return r;
}

void ExpectSameOutput(const Fmtp& f, const char* media, int rate,
                      const std::vector<TestPacket>& packets, std::size_t min_outputs) {
  for (bool shared : {false, true}) {
    SCOPED_TRACE(shared ? "shared packets" : "packets the element alone holds");
    const FeedResult base = RunFeed(f, media, rate, packets, Feed::kBaseClass, shared);
    ASSERT_GE(base.buffers.size(), min_outputs);
    const FeedResult one = RunFeed(f, media, rate, packets, Feed::kBuffers, shared);
    // List cuts that fall inside fragmented AUs, lists of one, and one list of everything.
    const std::vector<std::vector<std::size_t>> cuts = {{5}, {1, 7, 3, 12, 2}, {32}, {1000}};
    std::vector<FeedResult> lists;
    for (const auto& c : cuts)
      lists.push_back(RunFeed(f, media, rate, packets, Feed::kLists, shared, c));
    std::vector<const FeedResult*> all = {&one};
    for (const auto& l : lists) all.push_back(&l);
    for (std::size_t k = 0; k < all.size(); ++k) {
      SCOPED_TRACE(k == 0 ? std::string("one buffer at a time")
                          : "buffer lists, cut " + std::to_string(k - 1));
      const FeedResult& r = *all[k];
      ASSERT_EQ(r.buffers.size(), base.buffers.size());
      for (std::size_t i = 0; i < r.buffers.size(); ++i) {
        EXPECT_EQ(r.buffers[i], base.buffers[i]) << "output " << i;
      }
      EXPECT_EQ(r.events, base.events);
      EXPECT_EQ(r.stats, base.stats);
    }
  }
}

// RTP packets from AUs, numbered from `seq`, timestamped from the RTP time (90 kHz), with DTS
// and duration so that the base class's fill-in of missing ones shows.
std::vector<TestPacket> ToPackets(const std::vector<RtpPayload>& payloads, guint16 seq, int rate) {
  std::vector<TestPacket> out;
  for (const RtpPayload& p : payloads) {
    TestPacket t;
    t.payload = p.bytes;
    t.ts = p.rtp_timestamp;
    t.marker = p.marker;
    t.seq = seq++;
    t.pts = gst_util_uint64_scale_int(p.rtp_timestamp, GST_SECOND, rate);
    t.dts = t.pts;
    t.duration = 1000;
    out.push_back(std::move(t));
  }
  return out;
}

// GCC 12 at -O3 reports the vector inserts below as out of bounds (a -Warray-bounds false positive
// in the inlined std::vector code), which -Werror turns into a failed release build.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
TEST_F(IsmacrypDecTest, BufferListsGiveTheSameOutputAsSingleBuffers) {
  Fmtp f = H264Fmtp();
  f.sprop_parameter_sets = "Z0IAHpWoKA9k,aM48gA==";
  auto pk = Packetizer::Create(f, PayloadsUpTo(1400));
  ASSERT_TRUE(pk);
  // 16 KB, 4 KB, 1 KB and small AUs; the TEK changes from ID 5 to 6 halfway.
  const std::vector<std::size_t> sizes = {16384, 4096,  1024, 300,  16384, 4096,  1000, 200,
                                          4096,  16384, 1024, 4096, 700,   16384, 4096, 1024};
  std::vector<Bytes> clear;
  std::vector<AccessUnit> aus;
  for (std::size_t i = 0; i < sizes.size(); ++i) clear.push_back(Pattern(sizes[i], 300 + i));
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    AccessUnit au;
    au.data = clear[i];
    au.rtp_timestamp = static_cast<std::uint32_t>(3000 * i + 90000);
    au.rap = i % 5 == 0;
    au.key_indicator = i < sizes.size() / 2 ? 5 : 6;
    au.tek = i < sizes.size() / 2 ? kTek1 : kTek2;
    aus.push_back(au);
  }
  const std::vector<TestPacket> clean = ToPackets(Packetize(*pk, aus), 65500, 90000);
  ASSERT_GT(clean.size(), 60u);

  {
    SCOPED_TRACE("no loss");
    ExpectSameOutput(f, "video", 90000, clean, sizes.size());
  }
  // Losses, reordering, a duplicate, DISCONT, a packet without timestamps, a sender restart and
  // a new SSRC (sequence numbers wrap at 65535 on the way).
  std::vector<TestPacket> bad = clean;
  bad.erase(bad.begin() + 3);             // a middle fragment of the first 16 KB AU
  std::swap(bad[14], bad[15]);            // reordered: the late one is dropped
  bad.insert(bad.begin() + 20, bad[19]);  // a duplicate
  bad[25].discont = true;                 // upstream says so
  bad[27].pts = GST_CLOCK_TIME_NONE;      // the AU it starts takes a later packet's
  bad[27].dts = GST_CLOCK_TIME_NONE;
  bad.erase(bad.begin() + 30, bad.begin() + 33);  // a burst
  for (std::size_t i = 40; i < bad.size(); ++i) bad[i].seq = static_cast<guint16>(bad[i].seq - 500);
  for (std::size_t i = 50; i < bad.size(); ++i) bad[i].ssrc = 0x5678;
  SCOPED_TRACE("losses, reordering, restarts");
  ExpectSameOutput(f, "video", 90000, bad, 6);
  // What the comparison covers: DISCONT on outputs, a PTS and DTS filled in from a later packet,
  // losses counted, incomplete AUs dropped.
  const FeedResult base = RunFeed(f, "video", 90000, bad, Feed::kBaseClass, false);
  std::size_t discont = 0;
  for (const std::string& b : base.buffers) {
    const auto flags = std::stoul(b.substr(b.find("flags=") + 6));
    if (flags & GST_BUFFER_FLAG_DISCONT) ++discont;
  }
  EXPECT_GE(discont, 3u);
  EXPECT_NE(base.stats.find("dropped-incomplete=(guint64)"), std::string::npos);
  EXPECT_EQ(base.stats.find("packets-lost=(guint64)0"), std::string::npos) << base.stats;
  EXPECT_EQ(base.stats.find("dropped-incomplete=(guint64)0"), std::string::npos) << base.stats;
}
#pragma GCC diagnostic pop

TEST_F(IsmacrypDecTest, BufferListsOfAggregatedAusWithTekSwitches) {
  Fmtp f = AacFmtp();
  f.key_indicator_per_au = true;
  PacketizerOptions o;
  o.max_aus_per_packet = 3;
  auto pk = Packetizer::Create(f, o);
  ASSERT_TRUE(pk);
  std::vector<Bytes> clear;
  std::vector<AccessUnit> aus;
  for (unsigned i = 0; i < 60; ++i) clear.push_back(Pattern(80 + 13 * (i % 7), 400 + i));
  for (unsigned i = 0; i < 60; ++i) {
    AccessUnit au;
    au.data = clear[i];
    au.rtp_timestamp = 1024 * i;
    // The TEK changes inside packets and inside lists.
    au.key_indicator = (i / 4) % 2 == 0 ? 5 : 6;
    au.tek = (i / 4) % 2 == 0 ? kTek1 : kTek2;
    aus.push_back(au);
  }
  std::vector<TestPacket> packets = ToPackets(Packetize(*pk, aus), 100, 44100);
  ExpectSameOutput(f, "audio", 44100, packets, 60);
  packets.erase(packets.begin() + 4);
  packets[9].discont = true;
  ExpectSameOutput(f, "audio", 44100, packets, 50);
}

}  // namespace
}  // namespace bcast::ismacryp
