// bcast-headend in ISMACryp mode as a real process on loopback: its enc-mpeg4-generic RTP is
// received on UDP sockets, the AU headers are read with the ismacryp library's parser (configured
// from the SDP fmtp through the library's ParseFmtp), the AUs are decrypted with the library's
// AES-128-CTR under TEKs that libspc opens from the key stream with the key file, and every
// decrypted AU must be a piece of the source file: an AAC frame of it, or an Annex B access unit
// whose NAL units are all NAL units of it. Also mixed SRTP + ISMACryp, and tshark's ISMACryp
// dissector against the library parser on a pcap of what the head-end sent.
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "channels/session_description.h"
#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
#include "gst-plugins/bcastprotect/srtp/srtp_keys.h"
#include "samples/headend/key_schedule.h"
#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"
#include "tests/headend/headend_process.h"

namespace {

using namespace headend_test;
using namespace std::chrono_literals;
namespace ism = bcast::ismacryp;
using Bytes = std::vector<std::uint8_t>;

constexpr const char* kBaseCid = "urn:openbcast:svc:sample:";
enum { kVideo = 0, kAudio = 1 };

std::uint16_t Be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t Be32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}
std::string Key(std::span<const std::uint8_t> b) { return std::string(b.begin(), b.end()); }

// ---- The source file's access units, read independently of the head-end ----

struct SourceUnits {
  std::set<std::string> aac_frames;
  std::set<std::string> h264_nals;  // every NAL unit of every AU, and the codec_data SPS/PPS
  Bytes aac_config;
  bool ok = false;
};

Bytes BufferField(const GstStructure* s, const char* name) {
  const GValue* v = gst_structure_get_value(s, name);
  if (v == nullptr || !GST_VALUE_HOLDS_BUFFER(v)) return {};
  GstBuffer* b = gst_value_get_buffer(v);
  Bytes out(gst_buffer_get_size(b));
  gst_buffer_extract(b, 0, out.data(), out.size());
  return out;
}

const SourceUnits& Source() {
  static SourceUnits units = [] {
    gst_init(nullptr, nullptr);
    SourceUnits u;
    const std::string desc =
        "filesrc location=\"" + SampleMedia() +
        "\" ! qtdemux name=d d.video_0 ! queue ! h264parse ! "
        "video/x-h264,stream-format=avc,alignment=au ! appsink name=v sync=false wait-on-eos=false "
        "d.audio_0 ! queue ! aacparse ! audio/mpeg,stream-format=raw ! appsink name=a sync=false "
        "wait-on-eos=false";
    GError* err = nullptr;
    GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
    if (pipeline == nullptr || err != nullptr) {
      ADD_FAILURE() << (err ? err->message : "no pipeline");
      g_clear_error(&err);
      return u;
    }
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, 60 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    const bool eos = msg != nullptr && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS;
    if (msg != nullptr) gst_message_unref(msg);
    gst_object_unref(bus);
    EXPECT_TRUE(eos) << "reading the source media failed";
    unsigned length_size = 4;
    for (const char* name : {"v", "a"}) {
      GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), name);
      const bool video = name[0] == 'v';
      while (GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0)) {
        const GstStructure* s = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
        const Bytes codec_data = BufferField(s, "codec_data");
        if (video && codec_data.size() > 7) {
          length_size = (codec_data[4] & 3u) + 1;
          // SPS/PPS of the avcC record.
          std::size_t pos = 5;
          for (int list = 0; list < 2 && pos < codec_data.size(); ++list) {
            unsigned n = list == 0 ? codec_data[pos] & 0x1f : codec_data[pos];
            ++pos;
            for (unsigned i = 0; i < n && pos + 2 <= codec_data.size(); ++i) {
              std::size_t len = Be16(&codec_data[pos]);
              pos += 2;
              u.h264_nals.insert(Key(std::span(codec_data).subspan(pos, len)));
              pos += len;
            }
          }
        } else if (!video) {
          u.aac_config = codec_data;
        }
        GstBuffer* buffer = gst_sample_get_buffer(sample);
        GstMapInfo map;
        gst_buffer_map(buffer, &map, GST_MAP_READ);
        std::span<const std::uint8_t> data(map.data, map.size);
        if (video) {
          for (std::size_t pos = 0; pos + length_size <= data.size();) {
            std::size_t len = 0;
            for (unsigned i = 0; i < length_size; ++i) len = len << 8 | data[pos + i];
            pos += length_size;
            u.h264_nals.insert(Key(data.subspan(pos, std::min(len, data.size() - pos))));
            pos += len;
          }
        } else {
          u.aac_frames.insert(Key(data));
        }
        gst_buffer_unmap(buffer, &map);
        gst_sample_unref(sample);
      }
      gst_object_unref(sink);
    }
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
    u.ok = eos && !u.aac_frames.empty() && !u.h264_nals.empty();
    return u;
  }();
  return units;
}

// An ISMA E&A H.264 AU: Annex B with 4-byte start codes (emulation prevention keeps 00 00 00 01
// out of NAL units, so splitting there is exact) whose every NAL unit is one of the source's.
struct AnnexBCheck {
  bool valid = false;
  bool idr = false, sps = false, pps = false;
  std::string problem;
};
AnnexBCheck CheckAnnexB(const Bytes& au, const SourceUnits& src) {
  AnnexBCheck c;
  static const Bytes kStart = {0, 0, 0, 1};
  if (au.size() < 5 || !std::equal(kStart.begin(), kStart.end(), au.begin())) {
    c.problem = "does not start with 00 00 00 01";
    return c;
  }
  std::size_t pos = 4;
  while (pos < au.size()) {
    auto next =
        std::search(au.begin() + static_cast<long>(pos), au.end(), kStart.begin(), kStart.end());
    const std::size_t end = static_cast<std::size_t>(next - au.begin());
    std::span<const std::uint8_t> nal(au.data() + pos, end - pos);
    if (nal.empty() || (nal[0] & 0x80) != 0) {
      c.problem = "empty NAL unit or forbidden bit set";
      return c;
    }
    const int type = nal[0] & 0x1f;
    c.idr |= type == 5;
    c.sps |= type == 7;
    c.pps |= type == 8;
    if (!src.h264_nals.count(Key(nal))) {
      c.problem = "NAL unit of type " + std::to_string(type) + " (" + std::to_string(nal.size()) +
                  " bytes) is not in the source";
      return c;
    }
    pos = end + 4;
  }
  c.valid = true;
  return c;
}

// ---- Receiving ----

struct RtpPacket {
  int stream = 0;
  std::uint8_t pt = 0;
  bool marker = false;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  std::uint32_t ssrc = 0;
  Bytes payload;
  std::size_t datagram_size = 0;
};

std::optional<RtpPacket> ParseRtp(int stream, const Bytes& d) {
  if (d.size() < 12 || (d[0] >> 6) != 2 || (d[0] & 0x3f) != 0) return std::nullopt;
  RtpPacket p;
  p.stream = stream;
  p.marker = (d[1] & 0x80) != 0;
  p.pt = d[1] & 0x7f;
  p.seq = Be16(&d[2]);
  p.ts = Be32(&d[4]);
  p.ssrc = Be32(&d[8]);
  p.payload.assign(d.begin() + 12, d.end());
  p.datagram_size = d.size();
  return p;
}

struct ReceivedAu {
  Bytes wire;  // as sent (encrypted unless selective encryption left it clear)
  bool encrypted = true;
  std::optional<std::uint64_t> key_indicator;
  std::uint64_t bso = 0;
  std::uint32_t ts = 0;
  bool rap = false;
  unsigned fragments = 1;
  unsigned packet_aus = 1;  // AUs in the packet that carried it (1 for fragments)
};

// The test-side model of an ISMACryp receiver, on the library's parser: AU boundaries, BSOs, key
// indicators and fragments. Problems (not decryption: that needs the TEKs) go to `problems`.
class IsmaReceiver {
 public:
  explicit IsmaReceiver(ism::Fmtp fmtp) : f_(std::move(fmtp)) {}
  const ism::Fmtp& fmtp() const { return f_; }

  void Take(const RtpPacket& p, std::vector<ReceivedAu>* out, std::vector<std::string>* problems) {
    auto parsed = ism::ParsePayload(f_, p.payload);
    if (!parsed) {
      problems->push_back("seq " + std::to_string(p.seq) + ": " + parsed.error().message);
      return;
    }
    if (parsed->header_error) {
      problems->push_back("seq " + std::to_string(p.seq) + ": " + parsed->header_error->message);
    }
    const auto& headers = parsed->headers;
    std::size_t off = parsed->data_offset;
    const std::size_t avail = p.payload.size() - off;
    std::optional<std::uint64_t> ki;
    if (headers.size() == 1 && headers[0].size > avail) {
      const ism::AuHeader& h = headers[0];
      if (h.has_key_indicator) ki = ism::KeyIndicatorValue(h.key_indicator);
      if (!frag_) {
        frag_ = ReceivedAu{};
        frag_->bso = h.iv;
        frag_->encrypted = h.encrypted;
        frag_->key_indicator = ki;
        frag_->ts = p.ts;
        frag_->rap = h.rap;
        frag_->fragments = 0;
        frag_size_ = h.size;
      } else if (h.iv != frag_->bso + frag_->wire.size() || h.size != frag_size_ ||
                 p.ts != frag_->ts) {
        problems->push_back("seq " + std::to_string(p.seq) + ": fragment does not continue the AU");
      }
      frag_->wire.insert(frag_->wire.end(), p.payload.begin() + static_cast<long>(off),
                         p.payload.end());
      ++frag_->fragments;
      if (frag_->wire.size() >= frag_size_) {
        if (frag_->wire.size() != frag_size_ || !p.marker) {
          problems->push_back("seq " + std::to_string(p.seq) + ": bad last fragment");
        }
        out->push_back(std::move(*frag_));
        frag_.reset();
      } else if (p.marker) {
        problems->push_back("seq " + std::to_string(p.seq) + ": marker on a middle fragment");
      }
      return;
    }
    if (frag_) {
      problems->push_back("seq " + std::to_string(p.seq) +
                          ": AU started before a fragmented one "
                          "was complete");
      frag_.reset();
    }
    if (!p.marker) problems->push_back("seq " + std::to_string(p.seq) + ": no marker");
    std::uint64_t bso = 0;
    for (std::size_t i = 0; i < headers.size(); ++i) {
      const ism::AuHeader& h = headers[i];
      bso = i == 0 ? h.iv : bso + h.iv;
      if (h.has_key_indicator) ki = ism::KeyIndicatorValue(h.key_indicator);
      if (h.size > p.payload.size() - off) {
        problems->push_back("seq " + std::to_string(p.seq) + ": AU-size past the packet");
        return;
      }
      ReceivedAu au;
      au.wire.assign(p.payload.begin() + static_cast<long>(off),
                     p.payload.begin() + static_cast<long>(off + h.size));
      au.encrypted = h.encrypted;
      au.key_indicator = ki;
      au.bso = bso;
      au.ts = p.ts + (i > 0 && h.cts_delta ? *h.cts_delta : 0);
      au.rap = h.rap;
      au.packet_aus = static_cast<unsigned>(headers.size());
      out->push_back(std::move(au));
      off += h.size;
      bso += h.size;
    }
    if (off != p.payload.size()) {
      problems->push_back("seq " + std::to_string(p.seq) + ": bytes after the last AU");
    }
  }

 private:
  ism::Fmtp f_;
  std::optional<ReceivedAu> frag_;
  std::size_t frag_size_ = 0;
};

struct TekLog {
  std::map<std::uint16_t, spc::TrafficKey> teks;
  std::set<int> protocols;
  bool salt_flag = false, auth_flag = false;
  int stkms = 0;
};

// The library parser's view of the SDP fmtp.
ism::Fmtp FmtpOf(const channels::MediaStream& m) {
  std::vector<std::pair<std::string, std::string>> params(m.fmtp.begin(), m.fmtp.end());
  auto f = ism::ParseFmtp(params);
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().field + ": " + f.error().message);
  return f.ok() ? *f : ism::Fmtp{};
}

class IsmacrypRun : public ::testing::Test {
 protected:
  void SetUp() override {
    if (SampleMedia().empty() || !g_file_test(SampleMedia().c_str(), G_FILE_TEST_EXISTS)) {
      GTEST_SKIP() << "no sample media (scripts/make-sample-media.sh)";
    }
    ASSERT_TRUE(Source().ok);
    keys_path_ = dir_.File("keys.ini");
    std::string out, err;
    int status = RunToCompletion({HeadendPath(), "--write-key-file", keys_path_}, &out, &err);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
    auto table = spc::LoadKeyFile(keys_path_);
    ASSERT_TRUE(table.ok());
    table_ = *table;
  }

  std::vector<std::string> Args(std::vector<std::string> extra) {
    std::vector<std::string> args{"--key-file",   keys_path_,
                                  "--key-port",   std::to_string(key_.port()),
                                  "--video-port", std::to_string(video_.port()),
                                  "--audio-port", std::to_string(audio_.port()),
                                  "--sdp-out",    dir_.File("service.sdp")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void TakeStkm(const Bytes& bytes, TekLog* log) {
    auto opened =
        spc::OpenStkm(bytes, kBaseCid, [&](const std::string& cid) -> const spc::LongTermKey* {
          auto it = table_.find(cid);
          return it == table_.end() ? nullptr : &it->second;
        });
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    log->protocols.insert(opened->stkm.traffic_protection_protocol);
    log->salt_flag |= opened->stkm.master_salt_flag;
    log->auth_flag |= opened->stkm.traffic_authentication_flag;
    log->teks[opened->current.id] = opened->current;
    if (opened->next) log->teks[opened->next->id] = *opened->next;
    ++log->stkms;
  }

  // Starts the head-end, waits for `ready`, loads the SDP.
  channels::SessionDescription Start(HeadendProcess* headend, std::vector<std::string> extra) {
    std::string error;
    EXPECT_TRUE(headend->Start(Args(std::move(extra)), &error)) << error;
    auto ready = headend->WaitForLine("ready ", 30s);
    EXPECT_TRUE(ready.has_value()) << "no ready line";
    auto sd = channels::LoadSessionDescription(dir_.File("service.sdp"));
    EXPECT_TRUE(sd.ok()) << (sd.ok() ? "" : sd.error().message);
    return sd.ok() ? *sd : channels::SessionDescription{};
  }

  // Decrypts every AU with the TEK its key indicator names and checks it against the source.
  // Returns the number of AUs that failed.
  int CheckAus(int stream, const std::vector<ReceivedAu>& aus, const TekLog& log,
               const ism::Fmtp& f) {
    int failures = 0;
    ism::CtrCipher cipher;
    for (std::size_t i = 0; i < aus.size(); ++i) {
      const ReceivedAu& au = aus[i];
      Bytes clear = au.wire;
      if (au.encrypted) {
        if (!au.key_indicator || !log.teks.count(static_cast<std::uint16_t>(*au.key_indicator))) {
          ADD_FAILURE() << "AU " << i << ": key indicator names no TEK from the key stream";
          ++failures;
          continue;
        }
        const auto& tek = log.teks.at(static_cast<std::uint16_t>(*au.key_indicator));
        EXPECT_TRUE(cipher.Apply(tek.key, f.salt, au.bso, clear));
      }
      if (stream == kAudio) {
        if (!Source().aac_frames.count(Key(clear))) {
          ADD_FAILURE() << "audio AU " << i << " (" << clear.size() << " bytes, "
                        << (au.encrypted ? "encrypted" : "clear")
                        << ") is not an AAC frame of the source";
          ++failures;
        } else if (au.encrypted && Source().aac_frames.count(Key(au.wire))) {
          ADD_FAILURE() << "audio AU " << i << " flagged encrypted but sent clear";
          ++failures;
        }
      } else {
        auto c = CheckAnnexB(clear, Source());
        if (!c.valid) {
          ADD_FAILURE() << "video AU " << i << ": " << c.problem;
          ++failures;
        } else if (c.idr != au.rap || (c.idr && !(c.sps && c.pps))) {
          ADD_FAILURE() << "video AU " << i << ": IDR " << c.idr << " RAP flag " << au.rap
                        << " SPS " << c.sps << " PPS " << c.pps;
          ++failures;
        } else if (au.encrypted && CheckAnnexB(au.wire, Source()).valid) {
          ADD_FAILURE() << "video AU " << i << " flagged encrypted but sent clear";
          ++failures;
        }
      }
    }
    return failures;
  }

  TempDir dir_;
  std::string keys_path_;
  spc::KeyTable table_;
  UdpReceiver key_, video_, audio_;
};

// The key indicators of consecutive AUs stay or move to the next TEK ID; BSOs run on without gaps.
void CheckKeySequenceAndBso(const char* name, const std::vector<ReceivedAu>& aus,
                            std::set<std::uint16_t>* ids) {
  for (std::size_t i = 0; i < aus.size(); ++i) {
    ASSERT_TRUE(aus[i].key_indicator.has_value()) << name << " AU " << i;
    const auto ki = static_cast<std::uint16_t>(*aus[i].key_indicator);
    ids->insert(ki);
    if (i == 0) continue;
    const auto prev = static_cast<std::uint16_t>(*aus[i - 1].key_indicator);
    EXPECT_TRUE(ki == prev || ki == headend::NextTekId(prev))
        << name << " AU " << i << ": key indicator " << prev << " -> " << ki;
    EXPECT_EQ(aus[i].bso, aus[i - 1].bso + aus[i - 1].wire.size()) << name << " AU " << i;
  }
}

// Default options, TEK every second, TEK IDs wrapping: the SDP describes enc-mpeg4-generic as
// documented, STKMs are ISMACryp STKMs, and every AU of both streams decrypts under the TEK its key
// indicator names to AAC frames / Annex B AUs of the source.
TEST_F(IsmacrypRun, TeksFollowKeyIndicatorsAndAusDecryptToTheSource) {
  HeadendProcess headend;
  auto sd = Start(&headend, {"--protection", "ismacryp", "--tek-period", "1", "--stkm-interval",
                             "100", "--first-tek-id", "65534"});
  ASSERT_EQ(sd.key_streams.size(), 1u);
  ASSERT_EQ(sd.media.size(), 2u);
  const auto& v = sd.media[kVideo];
  const auto& a = sd.media[kAudio];
  for (const auto* m : {&v, &a}) {
    EXPECT_EQ(m->protocol, "RTP/AVP");
    EXPECT_EQ(m->encoding_name, "enc-mpeg4-generic");
    EXPECT_EQ(m->key_stream_id, sd.key_streams[0].id);
    EXPECT_EQ(m->mki_length, 0);
    EXPECT_EQ(m->fmtp.at("ISMACrypCryptoSuite"), "AES_CTR_128");
    EXPECT_EQ(m->fmtp.at("ISMACrypIVLength"), "4");
    EXPECT_EQ(m->fmtp.at("ISMACrypDeltaIVLength"), "0");
    EXPECT_EQ(m->fmtp.at("ISMACrypKeyIndicatorLength"), "2");
    EXPECT_EQ(m->fmtp.at("ISMACrypKeyIndicatorPerAU"), "0");
    EXPECT_EQ(m->fmtp.at("ISMACrypSelectiveEncryption"), "0");
    EXPECT_FALSE(m->fmtp.count("ISMACrypSalt"));
  }
  EXPECT_EQ(v.payload_type, 96);
  EXPECT_EQ(v.clock_rate, 90000);
  EXPECT_EQ(v.fmtp.at("mode"), "avc-video");
  EXPECT_EQ(v.fmtp.at("streamType"), "4");
  EXPECT_EQ(v.fmtp.at("sizeLength"), "16");
  EXPECT_EQ(v.fmtp.at("randomAccessIndication"), "1");
  EXPECT_EQ(v.fmtp.at("profile-level-id").size(), 6u);
  // sprop-parameter-sets: an SPS and a PPS of the source.
  int sps = 0, pps = 0;
  for (const auto& b64 : [&] {
         std::vector<std::string> parts;
         std::stringstream ss(v.fmtp.at("sprop-parameter-sets"));
         for (std::string p; std::getline(ss, p, ',');) parts.push_back(p);
         return parts;
       }()) {
    gsize len = 0;
    guchar* nal = g_base64_decode(b64.c_str(), &len);
    ASSERT_GT(len, 0u);
    EXPECT_TRUE(Source().h264_nals.count(std::string(nal, nal + len)));
    sps += (nal[0] & 0x1f) == 7;
    pps += (nal[0] & 0x1f) == 8;
    g_free(nal);
  }
  EXPECT_EQ(sps, 1);
  EXPECT_EQ(pps, 1);
  EXPECT_EQ(a.payload_type, 97);
  EXPECT_EQ(a.clock_rate, 48000);
  EXPECT_EQ(a.channels, 2);
  EXPECT_EQ(a.fmtp.at("mode"), "AAC-hbr");
  EXPECT_EQ(a.fmtp.at("streamType"), "5");
  EXPECT_EQ(a.fmtp.at("sizeLength"), "13");
  EXPECT_EQ(a.fmtp.at("indexLength"), "3");
  EXPECT_EQ(a.fmtp.at("indexDeltaLength"), "3");
  EXPECT_TRUE(a.fmtp.count("profile-level-id"));
  IsmaReceiver rx[2] = {IsmaReceiver(FmtpOf(v)), IsmaReceiver(FmtpOf(a))};
  EXPECT_EQ(rx[kAudio].fmtp().config, Source().aac_config);

  TekLog log;
  std::vector<RtpPacket> packets[2];
  std::set<std::uint16_t> kis[2];
  // Received first, checked afterwards: the STKM naming a TEK may be read after the media using it.
  const bool done =
      ReceiveUntil({&key_, &video_, &audio_}, Clock::now() + 30s, [&](const Datagram& d) {
        if (d.source == 0) {
          TakeStkm(d.bytes, &log);
          return false;
        }
        auto p = ParseRtp(d.source - 1, d.bytes);
        EXPECT_TRUE(p.has_value());
        if (!p) return false;
        // Key indicator of the packet's first AU header (IV 4 bytes, then 2 bytes).
        if (p->payload.size() >= 8) kis[p->stream].insert(Be16(&p->payload[6]));
        packets[p->stream].push_back(std::move(*p));
        // TEK 3 in use: every AU under TEK 2 (an IDR may span many packets) is complete.
        return kis[kVideo].count(3) && kis[kAudio].count(3) && packets[kVideo].size() > 100;
      });
  EXPECT_TRUE(done) << "video TEKs " << kis[kVideo].size() << ", audio TEKs " << kis[kAudio].size();
  EXPECT_EQ(headend.Stop(), 0);

  EXPECT_EQ(log.protocols, std::set<int>{2});
  EXPECT_FALSE(log.salt_flag) << "ISMACryp STKMs carry no master salt";
  EXPECT_FALSE(log.auth_flag);
  EXPECT_FALSE(log.teks.count(0));
  for (int s : {kVideo, kAudio}) {
    const char* name = s == kVideo ? "video" : "audio";
    std::vector<ReceivedAu> aus;
    std::vector<std::string> problems;
    for (std::size_t i = 0; i < packets[s].size(); ++i) {
      const RtpPacket& p = packets[s][i];
      EXPECT_EQ(p.pt, s == kVideo ? 96 : 97);
      EXPECT_EQ(p.ssrc, packets[s][0].ssrc);
      if (i > 0) {
        EXPECT_EQ(p.seq, static_cast<std::uint16_t>(packets[s][i - 1].seq + 1)) << name;
        EXPECT_GE(static_cast<std::int32_t>(p.ts - packets[s][i - 1].ts), 0) << name;
      }
      EXPECT_LE(p.datagram_size, 1400u);
      rx[s].Take(p, &aus, &problems);
    }
    EXPECT_TRUE(problems.empty()) << name << ": " << problems.front();
    ASSERT_GT(aus.size(), 50u) << name;
    std::set<std::uint16_t> ids;
    CheckKeySequenceAndBso(name, aus, &ids);
    EXPECT_TRUE(ids.count(65534) || ids.count(65535)) << name;
    EXPECT_TRUE(ids.count(1) && ids.count(2)) << name << ": TEK IDs wrap 65535 -> 1";
    EXPECT_EQ(CheckAus(s, aus, log, rx[s].fmtp()), 0) << name;
    for (const auto& au : aus) EXPECT_TRUE(au.encrypted);
  }
  // The TEK lines: each change moves to the ID announced before.
  std::vector<int> tek_ids;
  for (const auto& line : headend.Lines()) {
    int id = 0, next = 0;
    if (std::sscanf(line.c_str(), "tek id=%d next=%d", &id, &next) == 2) tek_ids.push_back(id);
  }
  ASSERT_GE(tek_ids.size(), 3u);
  EXPECT_EQ(tek_ids[0], 65534);
  EXPECT_EQ(tek_ids[1], 65535);
  EXPECT_EQ(tek_ids[2], 1);
}

// Selective encryption with a 25 % clear share, up to 4 AUs per packet, key indicator in every AU
// header, 8-byte IV, 2-byte delta IV, 4-byte key indicator. (A large MTU, loopback allows it, so
// that P frames are aggregated too.)
TEST_F(IsmacrypRun, SelectiveEncryptionAggregationAndFieldLengths) {
  HeadendProcess headend;
  auto sd = Start(&headend, {"--protection",
                             "ismacryp",
                             "--tek-period",
                             "1",
                             "--isma-selective-encryption",
                             "1",
                             "--isma-clear-share",
                             "25",
                             "--isma-aus-per-packet",
                             "4",
                             "--isma-key-indicator-per-au",
                             "1",
                             "--isma-iv-length",
                             "8",
                             "--isma-delta-iv-length",
                             "2",
                             "--isma-key-indicator-length",
                             "4",
                             "--mtu",
                             "9000"});
  ASSERT_EQ(sd.media.size(), 2u);
  for (const auto& m : sd.media) {
    EXPECT_EQ(m.fmtp.at("ISMACrypIVLength"), "8");
    EXPECT_EQ(m.fmtp.at("ISMACrypDeltaIVLength"), "2");
    EXPECT_EQ(m.fmtp.at("ISMACrypKeyIndicatorLength"), "4");
    EXPECT_EQ(m.fmtp.at("ISMACrypKeyIndicatorPerAU"), "1");
    EXPECT_EQ(m.fmtp.at("ISMACrypSelectiveEncryption"), "1");
  }
  // Several frames per packet need their own timestamps.
  EXPECT_EQ(sd.media[kVideo].fmtp.at("CTSDeltaLength"), "16");
  IsmaReceiver rx[2] = {IsmaReceiver(FmtpOf(sd.media[kVideo])),
                        IsmaReceiver(FmtpOf(sd.media[kAudio]))};
  TekLog log;
  std::vector<ReceivedAu> aus[2];
  std::vector<std::string> problems;
  std::set<std::uint64_t> kis;
  const bool done =
      ReceiveUntil({&key_, &video_, &audio_}, Clock::now() + 30s, [&](const Datagram& d) {
        if (d.source == 0) {
          TakeStkm(d.bytes, &log);
          return false;
        }
        auto p = ParseRtp(d.source - 1, d.bytes);
        if (!p) return false;
        rx[p->stream].Take(*p, &aus[p->stream], &problems);
        if (!aus[p->stream].empty() && aus[p->stream].back().key_indicator) {
          kis.insert(*aus[p->stream].back().key_indicator);
        }
        return aus[kAudio].size() >= 300 && aus[kVideo].size() >= 100 && kis.size() >= 3;
      });
  EXPECT_TRUE(done);
  EXPECT_EQ(headend.Stop(), 0);
  EXPECT_TRUE(problems.empty()) << problems.front();
  for (int s : {kVideo, kAudio}) {
    const char* name = s == kVideo ? "video" : "audio";
    std::set<std::uint16_t> ids;
    CheckKeySequenceAndBso(name, aus[s], &ids);
    EXPECT_GE(ids.size(), 2u) << name;
    EXPECT_EQ(CheckAus(s, aus[s], log, rx[s].fmtp()), 0) << name;
    const auto clear = std::count_if(aus[s].begin(), aus[s].end(),
                                     [](const ReceivedAu& au) { return !au.encrypted; });
    const double share = 100.0 * static_cast<double>(clear) / static_cast<double>(aus[s].size());
    EXPECT_NEAR(share, 25.0, 2.0) << name << ": " << clear << " of " << aus[s].size() << " clear";
    unsigned most = 0;
    for (const auto& au : aus[s]) most = std::max(most, au.packet_aus);
    EXPECT_LE(most, 4u) << name;
    if (s == kAudio) {
      EXPECT_EQ(most, 4u) << "audio AUs are aggregated";
    }
  }
  // Video frames of one packet keep their own timestamps (CTS deltas): 25 fps = 3600 ticks apart.
  for (std::size_t i = 1; i < aus[kVideo].size(); ++i) {
    EXPECT_EQ(aus[kVideo][i].ts - aus[kVideo][i - 1].ts, 3600u) << "video AU " << i;
  }
  unsigned video_most = 0;
  for (const auto& au : aus[kVideo]) video_most = std::max(video_most, au.packet_aus);
  EXPECT_GT(video_most, 1u) << "small P frames are aggregated";
}

// --mtu 200: no datagram is larger, large AUs go in several fragments, each with the IV of its
// first byte, and reassemble and decrypt to the source.
TEST_F(IsmacrypRun, FragmentsAtASmallMtuReassemble) {
  HeadendProcess headend;
  auto sd = Start(&headend, {"--protection", "ismacryp", "--mtu", "200", "--tek-period", "1"});
  ASSERT_EQ(sd.media.size(), 2u);
  IsmaReceiver rx[2] = {IsmaReceiver(FmtpOf(sd.media[kVideo])),
                        IsmaReceiver(FmtpOf(sd.media[kAudio]))};
  TekLog log;
  std::vector<ReceivedAu> aus[2];
  std::vector<std::string> problems;
  std::size_t largest = 0;
  unsigned most_fragments = 0;
  int idrs = 0;
  const bool done =
      ReceiveUntil({&key_, &video_, &audio_}, Clock::now() + 30s, [&](const Datagram& d) {
        if (d.source == 0) {
          TakeStkm(d.bytes, &log);
          return false;
        }
        largest = std::max(largest, d.bytes.size());
        auto p = ParseRtp(d.source - 1, d.bytes);
        if (!p) return false;
        const std::size_t before = aus[p->stream].size();
        rx[p->stream].Take(*p, &aus[p->stream], &problems);
        for (std::size_t i = before; i < aus[p->stream].size(); ++i) {
          most_fragments = std::max(most_fragments, aus[p->stream][i].fragments);
          idrs += aus[p->stream][i].rap && p->stream == kVideo;
        }
        return idrs >= 2 && aus[kVideo].size() >= 60 && aus[kAudio].size() >= 100;
      });
  EXPECT_TRUE(done);
  EXPECT_EQ(headend.Stop(), 0);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_LE(largest, 200u);
  EXPECT_GT(most_fragments, 5u) << "an IDR frame needs many 200-byte packets";
  for (int s : {kVideo, kAudio}) {
    std::set<std::uint16_t> ids;
    CheckKeySequenceAndBso(s == kVideo ? "video" : "audio", aus[s], &ids);
    EXPECT_EQ(CheckAus(s, aus[s], log, rx[s].fmtp()), 0);
  }
}

// --protection mixed: video SRTP with the TEKs of key stream 1 (protocol 1, salt), audio ISMACryp
// with those of key stream 2 (protocol 2, no salt); the two sets of TEK IDs never meet.
TEST_F(IsmacrypRun, MixedSrtpVideoAndIsmacrypAudio) {
  UdpReceiver isma_key;
  HeadendProcess headend;
  auto sd = Start(&headend, {"--protection", "mixed", "--tek-period", "1", "--initial-seq", "0",
                             "--isma-key-port", std::to_string(isma_key.port())});
  ASSERT_EQ(sd.key_streams.size(), 2u);
  EXPECT_EQ(sd.key_streams[0].port, key_.port());
  EXPECT_EQ(sd.key_streams[1].port, isma_key.port());
  ASSERT_EQ(sd.media.size(), 2u);
  EXPECT_EQ(sd.media[kVideo].protocol, "RTP/SAVP");
  EXPECT_EQ(sd.media[kVideo].encoding_name, "H264");
  EXPECT_EQ(sd.media[kVideo].mki_length, 2);
  EXPECT_EQ(sd.media[kVideo].key_stream_id, sd.key_streams[0].id);
  EXPECT_EQ(sd.media[kAudio].protocol, "RTP/AVP");
  EXPECT_EQ(sd.media[kAudio].encoding_name, "enc-mpeg4-generic");
  EXPECT_EQ(sd.media[kAudio].key_stream_id, sd.key_streams[1].id);
  EXPECT_NE(sd.key_streams[0].id, sd.key_streams[1].id);
  IsmaReceiver rx(FmtpOf(sd.media[kAudio]));

  TekLog srtp_log, isma_log;
  std::vector<Bytes> video_packets;
  std::vector<ReceivedAu> audio_aus;
  std::vector<std::string> problems;
  std::set<std::uint16_t> mkis;
  const bool done = ReceiveUntil({&key_, &isma_key, &video_, &audio_}, Clock::now() + 30s,
                                 [&](const Datagram& d) {
                                   if (d.source == 0) {
                                     TakeStkm(d.bytes, &srtp_log);
                                   } else if (d.source == 1) {
                                     TakeStkm(d.bytes, &isma_log);
                                   } else if (d.source == 2) {
                                     video_packets.push_back(d.bytes);
                                     if (d.bytes.size() > 24)
                                       mkis.insert(Be16(&d.bytes[d.bytes.size() - 12]));
                                   } else if (auto p = ParseRtp(kAudio, d.bytes)) {
                                     rx.Take(*p, &audio_aus, &problems);
                                   }
                                   return mkis.size() >= 3 && audio_aus.size() > 150;
                                 });
  EXPECT_TRUE(done);
  EXPECT_EQ(headend.Stop(), 0);
  EXPECT_EQ(srtp_log.protocols, std::set<int>{1});
  EXPECT_TRUE(srtp_log.salt_flag);
  EXPECT_EQ(isma_log.protocols, std::set<int>{2});
  EXPECT_FALSE(isma_log.salt_flag);
  for (const auto& [id, tek] : srtp_log.teks) {
    EXPECT_FALSE(isma_log.teks.count(id)) << "TEK ID " << id << " in both key streams";
  }
  // SRTP video: MKI names an SRTP TEK, the tag verifies and the payload decrypts to H.264 RTP.
  int srtp_ok = 0;
  for (const Bytes& p : video_packets) {
    const std::size_t auth_end = p.size() - 12;
    const std::uint16_t mki = Be16(&p[auth_end]);
    ASSERT_TRUE(srtp_log.teks.count(mki)) << "MKI " << mki;
    const auto keys =
        bcast::srtp::DeriveSessionKeys(srtp_log.teks[mki].key, srtp_log.teks[mki].salt);
    ASSERT_TRUE(bcast::srtp::SrtpAuthTagMatches(keys, std::span(p.data(), auth_end), 0,
                                                std::span(p.data() + auth_end + 2, 10)))
        << "seq " << Be16(&p[2]);
    Bytes payload(p.begin() + 12, p.begin() + static_cast<long>(auth_end));
    ASSERT_TRUE(bcast::srtp::AesCmTransform(
        keys.encryption_key, bcast::srtp::AesCmIv(keys.salt, Be32(&p[8]), Be16(&p[2])), payload));
    const int type = payload[0] & 0x1f;
    EXPECT_TRUE((payload[0] & 0x80) == 0 &&
                ((type >= 1 && type <= 23) || type == 24 || type == 28));
    ++srtp_ok;
  }
  EXPECT_GT(srtp_ok, 50);
  EXPECT_TRUE(problems.empty()) << problems.front();
  std::set<std::uint16_t> ids;
  for (const auto& au : audio_aus) ids.insert(static_cast<std::uint16_t>(*au.key_indicator));
  for (auto id : ids) EXPECT_TRUE(isma_log.teks.count(id)) << "key indicator " << id;
  EXPECT_EQ(CheckAus(kAudio, audio_aus, isma_log, rx.fmtp()), 0);
  bool second_stream_line = false;
  for (const auto& line : headend.Lines()) {
    second_stream_line |= line.find(" key-stream=2") != std::string::npos;
  }
  EXPECT_TRUE(second_stream_line);
}

// ---- tshark ----

// A classic pcap of IPv4/UDP datagrams (LINKTYPE_RAW) to 127.0.0.1:<port>.
void WritePcap(const std::string& path,
               const std::vector<std::pair<std::uint16_t, Bytes>>& dgrams) {
  std::ofstream f(path, std::ios::binary);
  auto put = [&f](std::uint64_t v, int bytes, bool big) {
    for (int i = 0; i < bytes; ++i) {
      const int shift = big ? 8 * (bytes - 1 - i) : 8 * i;
      f.put(static_cast<char>((v >> shift) & 0xff));
    }
  };
  put(0xa1b2c3d4, 4, false);
  put(2, 2, false);
  put(4, 2, false);
  put(0, 8, false);
  put(65535, 4, false);
  put(101, 4, false);
  std::uint32_t n = 0;
  for (const auto& [port, d] : dgrams) {
    const std::size_t udp_len = 8 + d.size(), ip_len = 20 + udp_len;
    put(++n, 4, false);
    put(0, 4, false);
    put(ip_len, 4, false);
    put(ip_len, 4, false);
    put(0x4500, 2, true);
    put(ip_len, 2, true);
    put(0, 4, true);
    put(0x4011, 2, true);
    put(0, 2, true);
    put(0x7f000001, 4, true);
    put(0x7f000001, 4, true);
    put(40000, 2, true);
    put(port, 2, true);
    put(udp_len, 2, true);
    put(0, 2, true);
    f.write(reinterpret_cast<const char*>(d.data()), static_cast<std::streamsize>(d.size()));
  }
}

std::string Hex(std::uint64_t v, int digits) {
  char b[24];
  std::snprintf(b, sizeof b, "%0*llx", digits, static_cast<unsigned long long>(v));
  return b;
}

// tshark's ISMACryp dissector, told the SDP's field lengths, reads the same IVs, key indicators
// and AU sizes from the head-end's packets as the library parser. (tshark's v1.1 display puts
// AU_is_encrypted in the byte's last bit and misreads delta IVs: only the first IV is compared.)
TEST_F(IsmacrypRun, TsharkReadsTheSameAuHeaders) {
  if (std::system("command -v tshark >/dev/null 2>&1") != 0) GTEST_SKIP() << "tshark not installed";
  HeadendProcess headend;
  auto sd = Start(&headend,
                  {"--protection", "ismacryp", "--tek-period", "1", "--isma-key-indicator-per-au",
                   "1", "--isma-aus-per-packet", "3", "--isma-selective-encryption", "1",
                   "--isma-clear-share", "10", "--mtu", "600"});
  ASSERT_EQ(sd.media.size(), 2u);
  std::vector<std::pair<std::uint16_t, Bytes>> dgrams[2];
  const bool done = ReceiveUntil({&video_, &audio_}, Clock::now() + 30s, [&](const Datagram& d) {
    const auto port = d.source == 0 ? video_.port() : audio_.port();
    if (dgrams[d.source].size() < 150) dgrams[d.source].emplace_back(port, d.bytes);
    return dgrams[0].size() >= 150 && dgrams[1].size() >= 150;
  });
  EXPECT_TRUE(done);
  EXPECT_EQ(headend.Stop(), 0);
  for (int s : {kVideo, kAudio}) {
    const auto& m = sd.media[s];
    const ism::Fmtp f = FmtpOf(m);
    const std::string pcap = dir_.File(std::string("s") + std::to_string(s) + ".pcap");
    const std::string out = dir_.File(std::string("t") + std::to_string(s) + ".txt");
    WritePcap(pcap, dgrams[s]);
    auto b = [](bool v) { return v ? std::string("TRUE") : std::string("FALSE"); };
    const std::string cmd =
        "tshark -n -r " + pcap + " -d udp.port==" + std::to_string(m.port) +
        ",rtp -d rtp.pt==" + std::to_string(m.payload_type) +
        ",ismacryp -o ismacryp.user_mode:TRUE" +
        " -o ismacryp.iv_length:" + std::to_string(f.iv_length) +
        " -o ismacryp.delta_iv_length:" + std::to_string(f.delta_iv_length) +
        " -o ismacryp.key_indicator_length:" + std::to_string(f.key_indicator_length) +
        " -o ismacryp.key_indicator_per_au_flag:" + b(f.key_indicator_per_au) +
        " -o ismacryp.selective_encryption:" + b(f.selective_encryption) +
        " -o ismacryp.au_size_length:" + std::to_string(f.size_length) +
        " -o ismacryp.au_index_length:" + std::to_string(f.index_length) +
        " -o ismacryp.au_index_delta_length:" + std::to_string(f.index_delta_length) +
        " -o ismacryp.cts_delta_length:" + std::to_string(f.cts_delta_length) +
        " -o ismacryp.dts_delta_length:" + std::to_string(f.dts_delta_length) +
        " -o ismacryp.random_access_indication:" + b(f.random_access_indication) +
        " -T fields -e rtp.seq -e ismacryp.iv -e ismacryp.key_indicator -e ismacryp.au.size > " +
        out + " 2>" + out + ".err";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(out);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    ASSERT_EQ(lines.size(), dgrams[s].size()) << cmd;
    int aggregated = 0, fragments = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const Bytes& d = dgrams[s][i].second;
      auto p = ParseRtp(s, d);
      ASSERT_TRUE(p.has_value());
      auto parsed = ism::ParsePayload(f, p->payload);
      ASSERT_TRUE(parsed.ok());
      std::string kis, sizes;
      for (const auto& h : parsed->headers) {
        if (h.has_key_indicator) {
          kis += (kis.empty() ? "" : ",") + Hex(*ism::KeyIndicatorValue(h.key_indicator),
                                                2 * static_cast<int>(f.key_indicator_length));
        }
        sizes += (sizes.empty() ? "" : ",") + std::to_string(h.size);
      }
      aggregated += parsed->headers.size() > 1;
      fragments += parsed->headers[0].size > p->payload.size() - parsed->data_offset;
      const std::string expected = std::to_string(p->seq) + "\t" +
                                   Hex(parsed->headers[0].iv, 2 * static_cast<int>(f.iv_length)) +
                                   "\t" + kis + "\t" + sizes;
      EXPECT_EQ(lines[i], expected) << (s == kVideo ? "video" : "audio") << " packet " << i;
    }
    // Audio frames are aggregated, IDR frames fragmented: both kinds of packet are compared.
    if (s == kAudio) {
      EXPECT_GT(aggregated, 0) << "packets with several AU headers are compared too";
    } else {
      EXPECT_GT(fragments, 0) << "fragments are compared too";
    }
  }
}

TEST(IsmacrypCli, RejectsBadOptions) {
  const std::vector<std::vector<std::string>> bad = {
      {"--clear", "--protection", "ismacryp"},
      {"--clear", "--protection", "aes"},
      {"--clear", "--isma-iv-length", "9"},
      {"--clear", "--isma-key-indicator-length", "1"},
      {"--clear", "--isma-clear-share", "10"},  // needs selective encryption
      {"--clear", "--isma-selective-encryption", "1", "--isma-clear-share", "101"},
      {"--clear", "--isma-aus-per-packet", "0"},
      {"--clear", "--mtu", "20"},
  };
  for (const auto& args : bad) {
    std::vector<std::string> argv{HeadendPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out, err;
    const int status = RunToCompletion(argv, &out, &err);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2) << args[1] << " " << args[2] << ": " << err;
    EXPECT_NE(err.find(args[args.size() - 2]), std::string::npos) << err;
  }
}

}  // namespace
