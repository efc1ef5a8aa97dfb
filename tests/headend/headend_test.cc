// bcast-headend as a real process on loopback: its key stream and SRTP media are received on UDP
// sockets and checked with libspc (STKM parse, MAC, TEK decryption) and the OpenSSL SRTP primitives
// of the SRTP core (an independent path from the head-end's libsrtp2 protect).
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "channels/session_description.h"
#include "gst-plugins/bcastprotect/srtp/srtp_keys.h"
#include "samples/headend/key_schedule.h"
#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"
#include "tests/headend/headend_process.h"

namespace {

using namespace headend_test;
using namespace std::chrono_literals;

constexpr const char* kBaseCid = "urn:openbcast:svc:sample:";

std::uint16_t Be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t Be32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}

struct Keys {
  spc::KeyTable table;
  std::string path;
};

Keys MakeKeyFile(const TempDir& dir) {
  Keys k;
  k.path = dir.File("keys.ini");
  std::string out, err;
  int status = RunToCompletion({HeadendPath(), "--write-key-file", k.path}, &out, &err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
  auto table = spc::LoadKeyFile(k.path);
  EXPECT_TRUE(table.ok()) << (table.ok() ? "" : table.error().message);
  if (table.ok()) k.table = *table;
  return k;
}

// The RTP header length (fixed part, CSRCs, extension).
std::size_t RtpHeaderLength(const std::vector<std::uint8_t>& p) {
  std::size_t len = 12 + 4 * (p[0] & 0x0f);
  if ((p[0] & 0x10) != 0 && p.size() >= len + 4) len += 4 + 4 * Be16(&p[len + 2]);
  return len;
}

// Follows one SSRC's sequence numbers (RFC 3711 index: ROC · 2^16 + SEQ) from a known start ROC.
struct IndexTracker {
  std::optional<std::uint16_t> last_seq;
  std::uint32_t roc = 0;
  bool wrapped = false;
  bool gap = false;  // a sequence number that was not last + 1 (outside replays)
  std::uint32_t Update(std::uint16_t seq) {
    if (last_seq) {
      if (seq<*last_seq&& * last_seq - seq> 0x8000) {
        ++roc;
        wrapped = true;
      }
      if (static_cast<std::uint16_t>(*last_seq + 1) != seq) gap = true;
    }
    last_seq = seq;
    return roc;
  }
};

struct TekInfo {
  spc::TrafficKey key;
  bool authenticated = true;
};

// Checks one SRTP packet with MKI (2 bytes) and a 10-byte tag field against the TEK it names.
// rcc_rate > 0: RFC 4771 RCCm2, packets with SEQ mod R = 0 carry ROC ‖ 6-byte MAC.
enum class SrtpVerdict { kOk, kUnknownMki, kBadTag, kBadRoc, kShort };
struct SrtpCheck {
  SrtpVerdict verdict = SrtpVerdict::kShort;
  std::uint16_t mki = 0;
  std::vector<std::uint8_t> payload;  // decrypted, when kOk
};

SrtpCheck CheckSrtp(const std::vector<std::uint8_t>& p,
                    const std::map<std::uint16_t, TekInfo>& teks, std::uint32_t roc,
                    unsigned rcc_rate) {
  SrtpCheck c;
  const std::size_t tag = 10, mki = 2;
  if (p.size() < 12) return c;
  const std::size_t hdr = RtpHeaderLength(p);
  if (p.size() < hdr + mki + tag) return c;
  const std::size_t auth_end = p.size() - mki - tag;
  c.mki = Be16(&p[auth_end]);
  auto it = teks.find(c.mki);
  if (it == teks.end()) {
    c.verdict = SrtpVerdict::kUnknownMki;
    return c;
  }
  const std::uint16_t seq = Be16(&p[2]);
  const std::uint32_t ssrc = Be32(&p[8]);
  auto keys = bcast::srtp::DeriveSessionKeys(it->second.key.key, it->second.key.salt);
  std::span<const std::uint8_t> portion(p.data(), auth_end);
  std::span<const std::uint8_t> field(p.data() + auth_end + mki, tag);
  if (rcc_rate > 0 && seq % rcc_rate == 0) {
    if (Be32(field.data()) != roc) {
      c.verdict = SrtpVerdict::kBadRoc;
      return c;
    }
    field = field.subspan(4);
  }
  if (!bcast::srtp::SrtpAuthTagMatches(keys, portion, roc, field)) {
    c.verdict = SrtpVerdict::kBadTag;
    return c;
  }
  c.payload.assign(p.begin() + static_cast<long>(hdr), p.begin() + static_cast<long>(auth_end));
  const std::uint64_t index = (static_cast<std::uint64_t>(roc) << 16) | seq;
  EXPECT_TRUE(bcast::srtp::AesCmTransform(keys.encryption_key,
                                          bcast::srtp::AesCmIv(keys.salt, ssrc, index), c.payload));
  c.verdict = SrtpVerdict::kOk;
  return c;
}

// An H.264 RTP payload (RFC 6184) starts with a NAL unit header: F bit clear, and the types the
// payloader emits (single NAL 1..23, STAP-A 24, FU-A 28).
bool LooksLikeH264Payload(const std::vector<std::uint8_t>& payload) {
  if (payload.empty() || (payload[0] & 0x80) != 0) return false;
  const int type = payload[0] & 0x1f;
  return (type >= 1 && type <= 23) || type == 24 || type == 28;
}

// RFC 3640 AAC-hbr: AU-headers-length (16 bits) = 16 bits per AU header, at least one.
bool LooksLikeAacHbrPayload(const std::vector<std::uint8_t>& payload) {
  if (payload.size() < 4) return false;
  const std::uint16_t bits = Be16(payload.data());
  return bits >= 16 && bits % 16 == 0;
}

struct StkmLog {
  std::map<std::uint16_t, TekInfo> teks;     // every TEK learned so far, by ID
  std::vector<std::uint16_t> current_order;  // traffic_key_id of each STKM in arrival order
  std::set<std::uint16_t> announced_as_next;
  int stkms = 0;
};

class HeadendRun : public ::testing::Test {
 protected:
  void SetUp() override {
    if (SampleMedia().empty() || !g_file_test(SampleMedia().c_str(), G_FILE_TEST_EXISTS)) {
      GTEST_SKIP() << "no sample media (scripts/make-sample-media.sh)";
    }
  }
  std::vector<std::string> PortArgs() {
    return {"--key-port",   std::to_string(key_.port()),
            "--video-port", std::to_string(video_.port()),
            "--audio-port", std::to_string(audio_.port())};
  }

  // Parses and opens one STKM with the key file, checking the head-end's fixed choices.
  void TakeStkm(const std::vector<std::uint8_t>& bytes, const spc::KeyTable& table, StkmLog* log,
                unsigned period_s) {
    auto opened =
        spc::OpenStkm(bytes, kBaseCid, [&](const std::string& cid) -> const spc::LongTermKey* {
          auto it = table.find(cid);
          return it == table.end() ? nullptr : &it->second;
        });
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    const spc::Stkm& s = opened->stkm;
    EXPECT_TRUE(s.service_flag);
    EXPECT_EQ(s.service_CID_extension, 0x2au);
    EXPECT_TRUE(s.timestamp_flag);
    EXPECT_TRUE(s.master_salt_flag);
    EXPECT_TRUE(s.next_traffic_key_flag);
    EXPECT_EQ(s.traffic_protection_protocol, 1);
    EXPECT_EQ(s.traffic_key_lifetime, 2 * period_s + 5);
    const auto now = static_cast<std::uint64_t>(g_get_real_time() / G_USEC_PER_SEC);
    EXPECT_LE(s.timestamp, now + 1);
    EXPECT_GE(s.timestamp + 60, now);
    ASSERT_TRUE(opened->next.has_value());
    EXPECT_EQ(opened->next->id, headend::NextTekId(opened->current.id));
    for (const spc::TrafficKey* k : {&opened->current, &*opened->next}) {
      auto [it, inserted] =
          log->teks.try_emplace(k->id, TekInfo{*k, s.traffic_authentication_flag});
      if (!inserted) {
        // A TEK ID always names the same key and salt, as current and as next.
        EXPECT_EQ(it->second.key.key, k->key) << "TEK " << k->id << " changed";
        EXPECT_EQ(it->second.key.salt, k->salt) << "salt of TEK " << k->id << " changed";
      }
    }
    if (log->current_order.empty() || log->current_order.back() != s.traffic_key_id) {
      // A TEK comes into use only after STKMs announced it as the next one.
      if (!log->current_order.empty()) {
        EXPECT_TRUE(log->announced_as_next.count(s.traffic_key_id))
            << "TEK " << s.traffic_key_id << " used before it was announced";
      }
      log->current_order.push_back(s.traffic_key_id);
    }
    log->announced_as_next.insert(opened->next->id);
    ++log->stkms;
  }

  UdpReceiver key_, video_, audio_;
  TempDir dir_;
};

// --tek-period 1, first TEK 65534 (IDs wrap to 1, never 0), sequence numbers starting at 65500 and
// ROC 3: every SRTP packet names a TEK from the key stream in its MKI, its tag verifies with the
// ROC the wrap implies, and its payload decrypts to H.264 / AAC RTP payloads.
TEST_F(HeadendRun, TekRotationMkiAndSequenceWrap) {
  Keys keys = MakeKeyFile(dir_);
  ASSERT_EQ(keys.table.size(), 1u);
  const std::string sdp = dir_.File("service.sdp");
  std::vector<std::string> args{"--key-file",      keys.path, "--tek-period",   "1",
                                "--stkm-interval", "100",     "--first-tek-id", "65534",
                                "--initial-seq",   "65500",   "--initial-roc",  "3",
                                "--sdp-out",       sdp};
  auto ports = PortArgs();
  args.insert(args.end(), ports.begin(), ports.end());
  HeadendProcess headend;
  std::string error;
  ASSERT_TRUE(headend.Start(args, &error)) << error;
  auto ready = headend.WaitForLine("ready ", 30s);
  ASSERT_TRUE(ready.has_value()) << "no ready line";
  EXPECT_EQ(*ready, "ready sdp=" + sdp);

  auto sd = channels::LoadSessionDescription(sdp);
  ASSERT_TRUE(sd.ok()) << sd.error().message;
  ASSERT_EQ(sd->key_streams.size(), 1u);
  EXPECT_EQ(sd->key_streams[0].port, key_.port());
  EXPECT_EQ(sd->key_streams[0].base_cid, kBaseCid);
  EXPECT_EQ(sd->key_streams[0].key_domain_id, keys.table.begin()->second.key_domain_id);
  ASSERT_EQ(sd->media.size(), 2u);
  for (const auto& m : sd->media) {
    EXPECT_TRUE(m.srtp());
    EXPECT_EQ(m.mki_length, 2);
    EXPECT_EQ(m.key_stream_id, sd->key_streams[0].id);
    EXPECT_EQ(m.srtp_authentication, "hmac-sha1-80");
  }
  EXPECT_EQ(sd->media[0].encoding_name, "H264");
  EXPECT_EQ(sd->media[0].port, video_.port());
  EXPECT_TRUE(sd->media[0].fmtp.count("sprop-parameter-sets"));
  EXPECT_EQ(sd->media[1].encoding_name, "MPEG4-GENERIC");
  EXPECT_EQ(sd->media[1].fmtp.at("mode"), "AAC-hbr");
  EXPECT_EQ(sd->media[1].port, audio_.port());

  StkmLog log;
  IndexTracker index[2];
  for (auto& t : index) t.roc = 3;
  std::map<int, int> ok_packets, bad_packets;
  std::set<std::uint16_t> mkis_seen;
  std::uint32_t ssrc[2] = {0, 0};
  bool bad_payload = false;
  const bool done =
      ReceiveUntil({&key_, &video_, &audio_}, Clock::now() + 30s, [&](const Datagram& d) {
        if (d.source == 0) {
          TakeStkm(d.bytes, keys.table, &log, 1);
        } else {
          const int s = d.source - 1;
          if (d.bytes.size() < 12) return false;
          if (ssrc[s] == 0) ssrc[s] = Be32(&d.bytes[8]);
          EXPECT_EQ(Be32(&d.bytes[8]), ssrc[s]);
          const std::uint32_t roc = index[s].Update(Be16(&d.bytes[2]));
          auto check = CheckSrtp(d.bytes, log.teks, roc, 0);
          if (check.verdict == SrtpVerdict::kOk) {
            ++ok_packets[s];
            mkis_seen.insert(check.mki);
            bad_payload |= s == 0 ? !LooksLikeH264Payload(check.payload)
                                  : !LooksLikeAacHbrPayload(check.payload);
          } else {
            ++bad_packets[s];
            ADD_FAILURE() << (s == 0 ? "video" : "audio") << " packet seq " << Be16(&d.bytes[2])
                          << " MKI " << check.mki << " verdict " << static_cast<int>(check.verdict);
          }
        }
        // Done after TEKs 65534, 65535, 1, 2 were each used for media and named current by an
        // STKM, and both streams wrapped. Media under TEK 2 (learned as the next TEK) may arrive
        // before the STKM that names it current: the sockets are read in no fixed order.
        return mkis_seen.count(2) && log.current_order.size() >= 4 && index[0].wrapped &&
               index[1].wrapped && ok_packets[1] > 50;
      });
  EXPECT_TRUE(done) << "TEKs used: " << mkis_seen.size()
                    << ", named current: " << log.current_order.size() << ", video wrapped "
                    << index[0].wrapped << ", audio wrapped " << index[1].wrapped;
  EXPECT_EQ(mkis_seen, (std::set<std::uint16_t>{65534, 65535, 1, 2}));
  EXPECT_FALSE(log.teks.count(0)) << "TEK ID 0 used";
  EXPECT_EQ(bad_packets[0] + bad_packets[1], 0);
  EXPECT_FALSE(bad_payload) << "decrypted payload is not H.264 / AAC-hbr";
  EXPECT_FALSE(index[0].gap || index[1].gap) << "sequence numbers not consecutive";
  EXPECT_EQ(index[0].roc, 4u);
  EXPECT_GE(log.current_order.size(), 4u);

  EXPECT_EQ(headend.Stop(), 0);
  // The stdout events: a TEK line per change, each announcing the following ID.
  std::vector<std::pair<int, int>> tek_lines;
  for (const auto& line : headend.Lines()) {
    int id = 0, next = 0;
    if (std::sscanf(line.c_str(), "tek id=%d next=%d", &id, &next) == 2)
      tek_lines.emplace_back(id, next);
  }
  ASSERT_GE(tek_lines.size(), 4u);
  EXPECT_EQ(tek_lines[0], std::make_pair(65534, 65535));
  for (std::size_t i = 0; i < tek_lines.size(); ++i) {
    EXPECT_EQ(tek_lines[i].second,
              headend::NextTekId(static_cast<std::uint16_t>(tek_lines[i].first)));
    if (i > 0) {
      EXPECT_EQ(tek_lines[i].first, tek_lines[i - 1].second);
    }
  }
  EXPECT_EQ(headend.Lines().back(), "stopped");
}

// RFC 4771 RCCm2 with R = 4: packets with SEQ mod 4 = 0 carry the sender's ROC (starting at 7, then
// 8 after the wrap) and a 6-byte MAC; the others the full 10-byte tag.
TEST_F(HeadendRun, RocCarryingRccm2) {
  Keys keys = MakeKeyFile(dir_);
  const std::string sdp = dir_.File("rcc.sdp");
  std::vector<std::string> args{"--key-file",    keys.path, "--rcc-mode",    "rccm2",
                                "--roc-tx-rate", "4",       "--initial-roc", "7",
                                "--initial-seq", "65520",   "--sdp-out",     sdp};
  auto ports = PortArgs();
  args.insert(args.end(), ports.begin(), ports.end());
  HeadendProcess headend;
  std::string error;
  ASSERT_TRUE(headend.Start(args, &error)) << error;
  ASSERT_TRUE(headend.WaitForLine("ready ", 30s).has_value());
  auto sd = channels::LoadSessionDescription(sdp);
  ASSERT_TRUE(sd.ok()) << sd.error().message;
  for (const auto& m : sd->media) {
    EXPECT_EQ(m.srtp_authentication, "RCCm2,hmac-sha1-80");
    EXPECT_EQ(m.roc_tx_rate, 4);
  }
  StkmLog log;
  IndexTracker index[2];
  for (auto& t : index) t.roc = 7;
  int roc_packets = 0, plain_packets = 0, failures = 0;
  const bool done =
      ReceiveUntil({&key_, &video_, &audio_}, Clock::now() + 20s, [&](const Datagram& d) {
        if (d.source == 0) {
          TakeStkm(d.bytes, keys.table, &log, 10);
          return false;
        }
        const int s = d.source - 1;
        const std::uint16_t seq = Be16(&d.bytes[2]);
        const std::uint32_t roc = index[s].Update(seq);
        auto check = CheckSrtp(d.bytes, log.teks, roc, 4);
        if (check.verdict != SrtpVerdict::kOk) {
          ++failures;
          ADD_FAILURE() << "seq " << seq << " verdict " << static_cast<int>(check.verdict);
        } else if (seq % 4 == 0) {
          ++roc_packets;
        } else {
          ++plain_packets;
        }
        return index[0].wrapped && index[1].wrapped && roc_packets > 40;
      });
  EXPECT_TRUE(done);
  EXPECT_EQ(failures, 0);
  EXPECT_GT(plain_packets, roc_packets);
  EXPECT_EQ(index[0].roc, 8u);
  EXPECT_EQ(headend.Stop(), 0);
}

// --clear: RTP/AVP, no key stream; with a 2 s clip the media loops and sequence numbers and RTP
// timestamps run on across the loop.
TEST_F(HeadendRun, ClearStreamLoopsContinuously) {
  const std::string clip = dir_.File("clip.mp4");
  const char* script = std::getenv("MAKE_SAMPLE_MEDIA");
  ASSERT_NE(script, nullptr);
  std::string out, err;
  int status = RunToCompletion(
      {"/bin/sh", "-c", std::string(script) + " --duration=2 --output=" + clip}, &out, &err);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
  // Re-running is a no-op on an existing file.
  status = RunToCompletion(
      {"/bin/sh", "-c", std::string(script) + " --duration=2 --output=" + clip}, &out, &err);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
  EXPECT_NE(out.find("present"), std::string::npos) << out;

  const std::string sdp = dir_.File("clear.sdp");
  std::vector<std::string> args{"--clear", "--media",   clip, "--initial-seq",
                                "100",     "--sdp-out", sdp};
  auto ports = PortArgs();
  args.insert(args.end(), ports.begin(), ports.end());
  HeadendProcess headend;
  std::string error;
  ASSERT_TRUE(headend.Start(args, &error)) << error;
  ASSERT_TRUE(headend.WaitForLine("ready ", 30s).has_value());
  auto sd = channels::LoadSessionDescription(sdp);
  ASSERT_TRUE(sd.ok()) << sd.error().message;
  EXPECT_TRUE(sd->key_streams.empty());
  ASSERT_EQ(sd->media.size(), 2u);
  for (const auto& m : sd->media) {
    EXPECT_EQ(m.protocol, "RTP/AVP");
    EXPECT_TRUE(m.key_stream_id.empty());
    EXPECT_EQ(m.mki_length, 0);
  }
  IndexTracker index[2];
  std::optional<std::uint32_t> last_ts[2];
  std::uint32_t first_ts[2] = {0, 0};
  bool backwards = false, bad_payload = false;
  int key_datagrams = 0;
  std::uint64_t span_ts[2] = {0, 0};
  const bool done =
      ReceiveUntil({&key_, &video_, &audio_}, Clock::now() + 30s, [&](const Datagram& d) {
        if (d.source == 0) {
          ++key_datagrams;
          return false;
        }
        const int s = d.source - 1;
        index[s].Update(Be16(&d.bytes[2]));
        const std::uint32_t ts = Be32(&d.bytes[4]);
        if (!last_ts[s]) first_ts[s] = ts;
        if (last_ts[s] && static_cast<std::int32_t>(ts - *last_ts[s]) < 0) backwards = true;
        last_ts[s] = ts;
        span_ts[s] = static_cast<std::uint32_t>(ts - first_ts[s]);
        std::vector<std::uint8_t> payload(
            d.bytes.begin() + static_cast<long>(RtpHeaderLength(d.bytes)), d.bytes.end());
        bad_payload |= s == 0 ? !LooksLikeH264Payload(payload) : !LooksLikeAacHbrPayload(payload);
        // Well into the second loop on both streams (the clip is 2 s).
        return span_ts[0] > 3u * 90000 && span_ts[1] > 3u * 48000;
      });
  EXPECT_TRUE(done);
  EXPECT_TRUE(headend.WaitForLine("loop n=1", 5s).has_value());
  EXPECT_FALSE(backwards) << "RTP timestamp went backwards";
  EXPECT_FALSE(index[0].gap || index[1].gap) << "sequence numbers not consecutive across the loop";
  EXPECT_FALSE(bad_payload);
  EXPECT_EQ(key_datagrams, 0);
  EXPECT_EQ(headend.Stop(), 0);
}

// The fault options add forged, foreign and random datagrams to the key stream and broken and
// replayed packets to the media, while every genuine STKM and packet still arrives intact.
TEST_F(HeadendRun, FaultInjection) {
  Keys keys = MakeKeyFile(dir_);
  std::vector<std::string> args{"--key-file",
                                keys.path,
                                "--stkm-interval",
                                "50",
                                "--corrupt-stkm-every",
                                "2",
                                "--foreign-stkm-every",
                                "3",
                                "--inject-random-key-datagrams",
                                "4",
                                "--break-srtp-tag-every",
                                "7",
                                "--replay-srtp-every",
                                "10"};
  auto ports = PortArgs();
  args.insert(args.end(), ports.begin(), ports.end());
  HeadendProcess headend;
  std::string error;
  ASSERT_TRUE(headend.Start(args, &error)) << error;
  ASSERT_TRUE(headend.WaitForLine("ready ", 30s).has_value());

  std::map<spc::StkmError, int> failures;
  int genuine = 0;
  StkmLog log;
  std::set<std::vector<std::uint8_t>> seen_packets;
  int replays = 0, bad_tags = 0, good = 0;
  std::map<std::uint16_t, int> good_per_seq;
  IndexTracker index[2];
  std::optional<std::uint16_t> first_seq;
  auto lookup = [&](const std::string& cid) -> const spc::LongTermKey* {
    auto it = keys.table.find(cid);
    return it == keys.table.end() ? nullptr : &it->second;
  };
  const bool done = ReceiveUntil({&key_, &video_}, Clock::now() + 20s, [&](const Datagram& d) {
    if (d.source == 0) {
      auto opened = spc::OpenStkm(d.bytes, kBaseCid, lookup);
      if (opened.ok()) {
        ++genuine;
        TakeStkm(d.bytes, keys.table, &log, 10);
      } else {
        ++failures[opened.error().code];
      }
      return false;
    }
    if (!seen_packets.insert(d.bytes).second) {
      ++replays;
      return false;
    }
    const std::uint16_t seq = Be16(&d.bytes[2]);
    if (!first_seq) first_seq = seq;
    // A replayed or broken copy repeats a sequence number: only track the index of new ones.
    std::uint32_t roc = index[0].roc;
    if (!index[0].last_seq || seq != *index[0].last_seq) roc = index[0].Update(seq);
    auto check = CheckSrtp(d.bytes, log.teks, roc, 0);
    if (check.verdict == SrtpVerdict::kOk) {
      ++good;
      ++good_per_seq[seq];
    } else if (check.verdict == SrtpVerdict::kBadTag) {
      ++bad_tags;
    }
    return failures[spc::StkmError::kBadMac] >= 3 && failures[spc::StkmError::kNoRights] >= 2 &&
           failures[spc::StkmError::kMalformed] + failures[spc::StkmError::kNoRights] +
                   failures[spc::StkmError::kBadMac] >=
               6 &&
           replays >= 3 && bad_tags >= 3 && good > 100;
  });
  EXPECT_TRUE(done) << "bad MAC " << failures[spc::StkmError::kBadMac] << ", no rights "
                    << failures[spc::StkmError::kNoRights] << ", malformed "
                    << failures[spc::StkmError::kMalformed] << ", replays " << replays
                    << ", bad tags " << bad_tags << ", good " << good;
  EXPECT_GT(genuine, 10);
  for (const auto& [seq, n] : good_per_seq) EXPECT_EQ(n, 1) << "seq " << seq;
  EXPECT_FALSE(index[0].gap) << "a genuine packet is missing";
  // Without --initial-seq the start is random below 2^15, so a terminal that tunes in during the
  // first 32768 packets never meets a wrap it cannot see (no RFC 4771 here: it assumes ROC 0).
  ASSERT_TRUE(first_seq.has_value());
  EXPECT_LT(*first_seq, 0x8000);
  EXPECT_EQ(headend.Stop(), 0);
}

TEST(HeadendCli, WriteKeyFileIsPrivateAndLoads) {
  TempDir dir;
  const std::string path = dir.File("k.ini");
  std::string out, err;
  int status = RunToCompletion({HeadendPath(), "--write-key-file", path, "--base-cid",
                                "urn:x:", "--cid-extension", "0x10", "--key-domain", "0x123456"},
                               &out, &err);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
  EXPECT_NE(out.find("cid=urn:x:00000010"), std::string::npos) << out;
  GStatBuf st;
  ASSERT_EQ(g_stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto table = spc::LoadKeyFile(path);
  ASSERT_TRUE(table.ok()) << table.error().message;
  ASSERT_EQ(table->count("urn:x:00000010"), 1u);
  EXPECT_EQ(table->at("urn:x:00000010").key_domain_id, 0x123456u);
  // Two runs never give the same keys.
  const std::string path2 = dir.File("k2.ini");
  RunToCompletion(
      {HeadendPath(), "--write-key-file", path2, "--base-cid", "urn:x:", "--cid-extension", "0x10"},
      &out, &err);
  auto table2 = spc::LoadKeyFile(path2);
  ASSERT_TRUE(table2.ok());
  EXPECT_NE(table2->at("urn:x:00000010").encryption_key,
            table->at("urn:x:00000010").encryption_key);
}

TEST(HeadendCli, RejectsBadOptionsAndMissingKeys) {
  std::string out, err;
  int status = RunToCompletion({HeadendPath(), "--clear", "--auth", "md5"}, &out, &err);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(err.find("--auth"), std::string::npos) << err;

  status = RunToCompletion({HeadendPath(), "--tek-period", "1"}, &out, &err);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(err.find("--key-file"), std::string::npos) << err;

  TempDir dir;
  const std::string path = dir.File("other.ini");
  RunToCompletion({HeadendPath(), "--write-key-file", path, "--cid-extension", "7"}, &out, &err);
  status = RunToCompletion({HeadendPath(), "--key-file", path}, &out, &err);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(err.find("urn:openbcast:svc:sample:0000002a"), std::string::npos) << err;
  EXPECT_EQ(out.find("ready"), std::string::npos);
}

}  // namespace
