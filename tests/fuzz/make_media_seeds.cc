// Writes the seed corpora of fuzz_sdp, fuzz_ismacryp and fuzz_srtp with the project's own writers:
// session descriptions from WriteSessionDescription, ISMACryp payloads from the head-end's
// Packetizer (each behind its FormatFmtp line), SRTP packets from the head-end's SrtpSender.
// Usage: make_media_seeds OUTDIR  (creates OUTDIR/sdp, OUTDIR/ismacryp, OUTDIR/srtp)
#include <glib.h>
#include <glib/gstdio.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "channels/session_description.h"
#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
#include "gst-plugins/bcastprotect/srtp/srtp_sender.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

bool Write(const std::string& path, const void* data, std::size_t size) {
  g_autoptr(GError) error = nullptr;
  if (!g_file_set_contents(path.c_str(), static_cast<const char*>(data), static_cast<gssize>(size),
                           &error)) {
    std::fprintf(stderr, "make_media_seeds: %s\n", error->message);
    return false;
  }
  return true;
}

// ---- SDP ----

channels::MediaStream Media(const std::string& kind, std::uint16_t port, bool srtp,
                            const std::string& key_stream) {
  channels::MediaStream m;
  m.media = kind;
  m.address = "127.0.0.1";
  m.port = port;
  m.key_stream_id = key_stream;
  if (srtp) {
    m.protocol = "RTP/SAVP";
    m.payload_type = kind == "video" ? 96 : 97;
    m.encoding_name = kind == "video" ? "H264" : "MPEG4-GENERIC";
    m.clock_rate = kind == "video" ? 90000 : 48000;
    m.mki_length = 2;
    m.srtp_authentication = "hmac-sha1-80";
    if (kind == "video") m.fmtp = {{"packetization-mode", "1"}, {"profile-level-id", "42c01e"}};
  } else {
    m.protocol = "RTP/AVP";
    m.payload_type = kind == "video" ? 98 : 99;
    m.encoding_name = "enc-mpeg4-generic";
    m.clock_rate = kind == "video" ? 90000 : 48000;
    if (kind == "audio") m.channels = 2;
    m.fmtp = {{"mode", kind == "video" ? "avc-video" : "AAC-hbr"},
              {"sizeLength", "13"},
              {"ISMACrypCryptoSuite", "AES_CTR_128"},
              {"ISMACrypKeyIndicatorLength", "2"}};
  }
  return m;
}

bool WriteSdpSeeds(const std::string& dir) {
  std::vector<std::pair<std::string, channels::SessionDescription>> seeds;
  channels::KeyStream ks{"1", "127.0.0.1", 5000, "urn:openbcast:service:", 0x0a0b0c, 0};

  channels::SessionDescription srtp;
  srtp.session_name = "SRTP service";
  srtp.bcast_version = "1.0";
  srtp.roap_url = "http://127.0.0.1:8080/roap";
  srtp.key_streams = {ks};
  srtp.media = {Media("video", 5002, true, "1"), Media("audio", 5004, true, "1")};
  srtp.media[1].roc_tx_rate = 16;
  srtp.media[1].srtp_authentication = "RCCm2";
  seeds.emplace_back("srtp.sdp", srtp);

  channels::SessionDescription isma = srtp;
  isma.session_name = "ISMACryp service";
  isma.media = {Media("video", 5002, false, "1"), Media("audio", 5004, false, "1")};
  seeds.emplace_back("ismacryp.sdp", isma);

  channels::SessionDescription mixed = srtp;
  mixed.session_name = "mixed";
  channels::KeyStream ks2 = ks;
  ks2.id = "2";
  ks2.port = 5010;
  mixed.key_streams.push_back(ks2);
  mixed.media = {Media("video", 5002, true, "1"), Media("audio", 5004, false, "2")};
  seeds.emplace_back("mixed.sdp", mixed);

  channels::SessionDescription multicast = srtp;
  multicast.session_name = "multicast";
  multicast.key_streams[0].address = "239.1.2.3";
  multicast.key_streams[0].ttl = 4;
  for (auto& m : multicast.media) {
    m.address = "239.1.2.3";
    m.ttl = 4;
  }
  seeds.emplace_back("multicast.sdp", multicast);

  channels::SessionDescription bcast_only = srtp;
  bcast_only.session_name = "broadcast-only";
  bcast_only.ltkm_streams = {
      {channels::LtkmStreamKind::kRegistration, "127.0.0.1", 4358, 0},
      {channels::LtkmStreamKind::kBcro, "127.0.0.1", channels::kDefaultBcroPort, 0},
      {channels::LtkmStreamKind::kTrigger, "127.0.0.1", 4360, 0}};
  seeds.emplace_back("broadcast-only.sdp", bcast_only);

  channels::SessionDescription fetch;
  fetch.session_name = "STKM fetch";
  fetch.bcast_version = "1.0";
  fetch.stkm_url = "http://127.0.0.1:8080/stkm";
  fetch.media = {Media("video", 5002, true, "7")};
  seeds.emplace_back("stkm-fetch.sdp", fetch);

  channels::SessionDescription clear;
  clear.session_name = "clear";
  clear.media = {Media("video", 5002, false, "")};
  clear.media[0].encoding_name = "H264";
  clear.media[0].fmtp.clear();
  seeds.emplace_back("clear.sdp", clear);

  for (const auto& [name, sd] : seeds) {
    const std::string text = channels::WriteSessionDescription(sd);
    auto back = channels::ParseSessionDescription(text);
    if (!back) {
      std::fprintf(stderr, "make_media_seeds: %s does not parse: %s (%s, line %zu)\n", name.c_str(),
                   back.error().message.c_str(), back.error().field.c_str(), back.error().offset);
      return false;
    }
    if (!Write(dir + "/" + name, text.data(), text.size())) return false;
  }
  return true;
}

// ---- ISMACryp ----

bool WriteIsmacrypSeeds(const std::string& dir) {
  namespace ism = bcast::ismacryp;
  struct Config {
    const char* name;
    ism::Fmtp fmtp;
    unsigned aus_per_packet;
    std::size_t mtu;
  };
  std::vector<Config> configs;
  {
    ism::Fmtp f;  // BCAST AAC: TEK ID in a 2-byte key indicator
    f.mode = "AAC-hbr";
    f.stream_type = 5;
    f.size_length = 13;
    f.index_length = 3;
    f.index_delta_length = 3;
    f.key_indicator_length = 2;
    f.constant_duration = 1024;
    configs.push_back({"aac", f, 1, 1400});
    f.cts_delta_length = 6;
    configs.push_back({"aac-aggregated", f, 4, 1400});
  }
  {
    ism::Fmtp f;  // H.264 with selective encryption, per-AU key indicators, RAP and DTS
    f.mode = "avc-video";
    f.stream_type = 4;
    f.size_length = 16;
    f.index_length = 2;
    f.index_delta_length = 2;
    f.key_indicator_length = 2;
    f.key_indicator_per_au = true;
    f.selective_encryption = true;
    f.delta_iv_length = 1;
    f.cts_delta_length = 8;
    f.dts_delta_length = 8;
    f.random_access_indication = true;
    f.stream_state_indication = 2;
    f.auxiliary_data_size_length = 4;
    f.iv_length = 8;
    configs.push_back({"avc", f, 3, 1400});
    configs.push_back({"avc-fragments", f, 1, 120});
  }
  {
    ism::Fmtp f;  // no AU-header section at all: one AU, the whole payload
    f.mode = "generic";
    f.iv_length = 0;
    configs.push_back({"no-headers", f, 1, 1400});
  }
  for (const auto& c : configs) {
    ism::PacketizerOptions options;
    options.max_payload_size = c.mtu;
    options.max_aus_per_packet = c.aus_per_packet;
    auto packetizer = ism::Packetizer::Create(c.fmtp, options);
    if (!packetizer) {
      std::fprintf(stderr, "make_media_seeds: %s: %s\n", c.name,
                   packetizer.error().message.c_str());
      return false;
    }
    const std::string fmtp_line = ism::FormatFmtp(c.fmtp) + "\n";
    std::vector<ism::RtpPayload> payloads;
    for (unsigned n = 0; n < 6; ++n) {
      Bytes au(40 + 70 * n, static_cast<std::uint8_t>(n));
      ism::AccessUnit a;
      a.data = au;
      a.rtp_timestamp = 1024 * n;
      a.rap = n == 0;
      a.key_indicator = c.fmtp.key_indicator_length ? 0x0102 + n / 3 : 0;
      a.tek.fill(static_cast<std::uint8_t>(0x40 + n / 3));
      a.encrypt = !c.fmtp.selective_encryption || n % 2 == 0;
      auto out = packetizer->Push(a);
      if (!out) {
        std::fprintf(stderr, "make_media_seeds: %s: %s\n", c.name, out.error().message.c_str());
        return false;
      }
      payloads.insert(payloads.end(), out->begin(), out->end());
    }
    for (auto& p : packetizer->Flush()) payloads.push_back(std::move(p));
    for (std::size_t i = 0; i < payloads.size() && i < 4; ++i) {
      std::string seed = fmtp_line;
      seed.append(payloads[i].bytes.begin(), payloads[i].bytes.end());
      if (!Write(dir + "/" + c.name + "-" + std::to_string(i) + ".bin", seed.data(), seed.size())) {
        return false;
      }
    }
  }
  return true;
}

// ---- SRTP ----
// Records as fuzz_srtp reads them: [op][length: 2 bytes][bytes]. The keys match fuzz_srtp's.

std::array<std::uint8_t, bcast::srtp::kMasterKeyLength> KeyOf(std::uint16_t id) {
  std::array<std::uint8_t, bcast::srtp::kMasterKeyLength> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(id * 31 + i);
  return k;
}
std::array<std::uint8_t, bcast::srtp::kMasterSaltLength> SaltOf(std::uint16_t id) {
  std::array<std::uint8_t, bcast::srtp::kMasterSaltLength> s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(id * 7 + 3 * i);
  return s;
}

Bytes Rtp(std::uint16_t seq, std::uint32_t ssrc, std::size_t payload, bool csrc_and_extension) {
  Bytes p = {0x80,
             96,
             static_cast<std::uint8_t>(seq >> 8),
             static_cast<std::uint8_t>(seq),
             0,
             0,
             static_cast<std::uint8_t>(seq),
             0,
             static_cast<std::uint8_t>(ssrc >> 24),
             static_cast<std::uint8_t>(ssrc >> 16),
             static_cast<std::uint8_t>(ssrc >> 8),
             static_cast<std::uint8_t>(ssrc)};
  if (csrc_and_extension) {
    p[0] = 0x91;  // X, one CSRC
    const Bytes extra = {0, 0, 0, 1, 0xbe, 0xde, 0, 1, 1, 2, 3, 4};
    p.insert(p.end(), extra.begin(), extra.end());
  }
  for (std::size_t i = 0; i < payload; ++i) p.push_back(static_cast<std::uint8_t>(i * 13 + seq));
  return p;
}

void Record(Bytes& out, std::uint8_t op, const Bytes& bytes) {
  out.push_back(op);
  out.push_back(static_cast<std::uint8_t>(bytes.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

bool WriteSrtpSeeds(const std::string& dir) {
  namespace srtp = bcast::srtp;
  int n = 0;
  for (std::uint8_t auth = 0; auth < 3; ++auth) {
    for (std::uint8_t mki : {0, 2, 4}) {
      for (std::uint8_t rcc = 0; rcc < 4; ++rcc) {
        if (rcc != 0 && (auth == 2 || mki == 4)) continue;
        const std::uint8_t config = static_cast<std::uint8_t>(auth | (mki << 2) | (rcc << 5));
        const std::uint8_t rate = rcc ? 4 : 1;
        Bytes seed = {config, rate};
        // Raw datagrams from the head-end's sender (the receiver's view of the network), around a
        // sequence number wrap and across a TEK change...
        srtp::SrtpSender sender(static_cast<srtp::SrtpAuth>(auth), mki,
                                static_cast<srtp::RccMode>(rcc), rate);
        for (std::uint16_t id = 1; id < 3; ++id) {
          const auto k = KeyOf(id);
          const auto s = SaltOf(id);
          sender.AddKey(id, k, s, id != 2);
        }
        for (std::uint16_t i = 0; i < 6; ++i) {
          Bytes p = Rtp(static_cast<std::uint16_t>(0xfffd + i), 0x11223344, 20 + i, i == 2);
          if (!sender.Protect(p, (i < 3 || mki == 0) ? 1 : 2)) {
            std::fprintf(stderr, "make_media_seeds: SrtpSender refused a packet\n");
            return false;
          }
          Record(seed, 0, p);
        }
        // ...then clear packets the target protects itself, one damaged, then a replay.
        for (std::uint16_t i = 0; i < 4; ++i) {
          Record(seed, i == 3 ? 0xe5 : (i % 2 ? 0x01 : 0x05),
                 Rtp(static_cast<std::uint16_t>(100 + i), 0x55667788, 32, false));
        }
        Record(seed, 0x05, Rtp(101, 0x55667788, 32, false));
        Record(seed, 2, {1});
        Record(seed, 0x05, Rtp(104, 0x55667788, 32, false));
        Record(seed, 3, {1});
        Record(seed, 0x05, Rtp(105, 0x55667788, 32, false));
        if (!Write(dir + "/config-" + std::to_string(n++) + ".bin", seed.data(), seed.size())) {
          return false;
        }
      }
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_media_seeds OUTDIR\n");
    return 64;
  }
  const std::string out = argv[1];
  for (const char* sub : {"/sdp", "/ismacryp", "/srtp"}) {
    g_mkdir_with_parents((out + sub).c_str(), 0755);
  }
  if (!WriteSdpSeeds(out + "/sdp") || !WriteIsmacrypSeeds(out + "/ismacryp") ||
      !WriteSrtpSeeds(out + "/srtp")) {
    return 1;
  }
  return 0;
}
