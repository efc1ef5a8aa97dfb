#include "samples/headend/headend.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <utility>

#include "spc/libspc/key_file.h"

namespace headend {
namespace {

constexpr int kVideoPayloadType = 96;
constexpr int kAudioPayloadType = 97;
constexpr std::size_t kRtpHeaderSize = 12;
constexpr std::size_t kReplayDistance = 8;

namespace ism = bcast::ismacryp;

void Event(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

bcast::srtp::SrtpAuth ToSrtp(SrtpAuth a) {
  switch (a) {
    case SrtpAuth::kHmacSha1_80:
      return bcast::srtp::SrtpAuth::kHmacSha1_80;
    case SrtpAuth::kHmacSha1_32:
      return bcast::srtp::SrtpAuth::kHmacSha1_32;
    case SrtpAuth::kNull:
      return bcast::srtp::SrtpAuth::kNull;
  }
  return bcast::srtp::SrtpAuth::kHmacSha1_80;
}

bcast::srtp::RccMode ToSrtp(RccMode m) { return static_cast<bcast::srtp::RccMode>(m); }

void PutBe16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void PutBe32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

std::string Hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::vector<std::uint8_t> BufferBytes(const GstStructure* s, const char* field) {
  const GValue* v = gst_structure_get_value(s, field);
  if (v == nullptr || !GST_VALUE_HOLDS_BUFFER(v)) return {};
  GstBuffer* buffer = gst_value_get_buffer(v);
  std::vector<std::uint8_t> out(gst_buffer_get_size(buffer));
  gst_buffer_extract(buffer, 0, out.data(), out.size());
  return out;
}

// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15) of the caps' codec_data: NAL length size,
// profile-level-id (RFC 6184: profile_idc, constraint flags, level_idc as hex) and the parameter
// sets as sprop-parameter-sets (base64, comma separated).
bool ParseAvcC(std::span<const std::uint8_t> c, unsigned* nal_length_size,
               std::string* profile_level_id, std::string* sprop) {
  if (c.size() < 7 || c[0] != 1) return false;
  *nal_length_size = (c[4] & 3u) + 1;
  *profile_level_id = Hex(c.subspan(1, 3));
  sprop->clear();
  std::size_t pos = 5;
  for (int list = 0; list < 2; ++list) {
    if (pos >= c.size()) return false;
    const unsigned count = list == 0 ? (c[pos] & 0x1fu) : c[pos];
    ++pos;
    for (unsigned i = 0; i < count; ++i) {
      if (pos + 2 > c.size()) return false;
      const std::size_t len = (std::size_t{c[pos]} << 8) | c[pos + 1];
      pos += 2;
      if (len == 0 || pos + len > c.size()) return false;
      gchar* b64 = g_base64_encode(c.data() + pos, len);
      if (!sprop->empty()) *sprop += ',';
      *sprop += b64;
      g_free(b64);
      pos += len;
    }
  }
  return !sprop->empty();
}

// ISMA E&A carries H.264 access units as Annex B: each NAL unit's length prefix becomes the 4-byte
// start code. False when the lengths do not add up to the AU.
bool AvcToAnnexB(std::span<const std::uint8_t> au, unsigned length_size,
                 std::vector<std::uint8_t>* out) {
  out->clear();
  out->reserve(au.size() + 16);
  std::size_t pos = 0;
  while (pos < au.size()) {
    if (pos + length_size > au.size()) return false;
    std::size_t len = 0;
    for (unsigned i = 0; i < length_size; ++i) len = (len << 8) | au[pos + i];
    pos += length_size;
    if (len == 0 || len > au.size() - pos) return false;
    static constexpr std::uint8_t kStartCode[] = {0, 0, 0, 1};
    out->insert(out->end(), std::begin(kStartCode), std::end(kStartCode));
    out->insert(out->end(), au.begin() + static_cast<std::ptrdiff_t>(pos),
                au.begin() + static_cast<std::ptrdiff_t>(pos + len));
    pos += len;
  }
  return !out->empty();
}

// RFC 3640 profile-level-id of an AAC stream: the MPEG-4 audioProfileLevelIndication of the AAC
// Profile at the level aacparse reports (0x28..0x2b for levels 1, 2, 4, 5), else 0xfe ("no audio
// profile specified").
std::string AacProfileLevelId(const GstStructure* s) {
  const gchar* level = gst_structure_get_string(s, "level");
  const std::string l = level != nullptr ? level : "";
  if (l == "1") return "40";
  if (l == "2") return "41";
  if (l == "4") return "42";
  if (l == "5") return "43";
  return "254";
}

// The payloader caps as SDP: rtpmap fields, and every other parameter as an fmtp parameter (what
// gst_sdp_media_set_media_from_caps does, minus the a-/x- and RTP-session fields).
void CapsToMedia(const GstCaps* caps, channels::MediaStream* ms) {
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  if (const gchar* enc = gst_structure_get_string(s, "encoding-name")) ms->encoding_name = enc;
  gint clock = 0;
  if (gst_structure_get_int(s, "clock-rate", &clock)) ms->clock_rate = clock;
  if (const gchar* params = gst_structure_get_string(s, "encoding-params")) {
    ms->channels = std::atoi(params);
  }
  for (guint i = 0; i < static_cast<guint>(gst_structure_n_fields(s)); ++i) {
    std::string name = gst_structure_nth_field_name(s, i);
    if (name == "media" || name == "payload" || name == "clock-rate" || name == "encoding-name" ||
        name == "encoding-params" || name == "ssrc" || name == "timestamp-offset" ||
        name == "seqnum-offset" || name.starts_with("a-") || name.starts_with("x-")) {
      continue;
    }
    const GValue* v = gst_structure_get_value(s, name.c_str());
    if (G_VALUE_HOLDS_STRING(v)) {
      ms->fmtp[name] = g_value_get_string(v);
    } else {
      gchar* text = gst_value_serialize(v);
      if (text != nullptr) ms->fmtp[name] = text;
      g_free(text);
    }
  }
}

}  // namespace

Headend::Headend(Options options) : options_(std::move(options)) {
  streams_[0].kind = StreamKind::kVideo;
  streams_[0].media = "video";
  streams_[0].port = options_.video_port;
  streams_[0].payload_type = kVideoPayloadType;
  streams_[1].kind = StreamKind::kAudio;
  streams_[1].media = "audio";
  streams_[1].port = options_.audio_port;
  streams_[1].payload_type = kAudioPayloadType;
  streams_[0].protection = options_.video_protection;
  streams_[1].protection = options_.audio_protection;
  // With mixed protection the ISMACryp TEKs have their own key stream (the second).
  for (auto& s : streams_) {
    s.key_stream = Mixed(options_) && s.protection == Protection::kIsmacryp ? 1 : 0;
  }
}

Headend::~Headend() {
  for (guint id : sources_) g_source_remove(id);
  media_.reset();
  if (loop_ != nullptr) g_main_loop_unref(loop_);
  OPENSSL_cleanse(&service_key_, sizeof service_key_);
  for (auto& s : streams_) OPENSSL_cleanse(s.tek.data(), s.tek.size());
}

bool Headend::LoadKeys(std::string* error) {
  auto table = spc::LoadKeyFile(options_.key_file);
  if (!table) {
    *error = "key file " + options_.key_file + ": " + table.error().message;
    return false;
  }
  const std::string cid = spc::ContentId(options_.base_cid, options_.cid_extension);
  auto it = table->find(cid);
  if (it == table->end()) {
    *error = "key file " + options_.key_file + " has no keys for " + cid;
    return false;
  }
  if (it->second.programme) {
    *error = "key file " + options_.key_file + ": " + cid +
             " holds a PEK/PAK, the head-end needs a SEK/SAK";
    return false;
  }
  service_key_ = it->second;
  for (auto& [name, key] : *table) OPENSSL_cleanse(&key, sizeof key);
  return true;
}

bool Headend::OpenSocket(std::string* error) {
  std::unique_ptr<GInetAddress, GObjectUnref> addr(
      g_inet_address_new_from_string(options_.dest.c_str()));
  if (!addr) {
    *error = "--dest " + options_.dest + " is not an IP address";
    return false;
  }
  GError* err = nullptr;
  GSocket* socket = g_socket_new(g_inet_address_get_family(addr.get()), G_SOCKET_TYPE_DATAGRAM,
                                 G_SOCKET_PROTOCOL_UDP, &err);
  if (socket == nullptr) {
    *error = std::string("cannot open a UDP socket: ") + err->message;
    g_clear_error(&err);
    return false;
  }
  socket_.reset(socket);
  if (g_inet_address_get_is_multicast(addr.get())) {
    g_socket_set_multicast_ttl(socket, static_cast<guint>(options_.ttl));
    // Player and head-end on one machine is the normal test setup.
    g_socket_set_multicast_loopback(socket, TRUE);
  }
  for (auto& ks : key_streams_) {
    ks.address.reset(g_inet_socket_address_new(addr.get(), ks.port));
  }
  for (auto& s : streams_) s.address.reset(g_inet_socket_address_new(addr.get(), s.port));
  return true;
}

channels::SessionDescription Headend::Describe() const {
  channels::SessionDescription sd;
  sd.session_name = options_.session_name;
  sd.bcast_version = "1.0";
  const bool multicast = [&] {
    std::unique_ptr<GInetAddress, GObjectUnref> a(
        g_inet_address_new_from_string(options_.dest.c_str()));
    return a && g_inet_address_get_is_multicast(a.get()) &&
           g_inet_address_get_family(a.get()) == G_SOCKET_FAMILY_IPV4;
  }();
  const int ttl = multicast ? std::max(options_.ttl, 1) : 0;
  for (const KeyStreamOut& k : key_streams_) {
    channels::KeyStream ks;
    ks.id = k.id;
    ks.address = options_.dest;
    ks.ttl = ttl;
    ks.port = k.port;
    ks.base_cid = options_.base_cid;
    ks.key_domain_id = smartcard_ ? options_.key_domain_id : service_key_.key_domain_id;
    sd.key_streams.push_back(ks);
  }
  for (const auto& s : streams_) {
    channels::MediaStream ms;
    ms.media = s.media;
    ms.address = options_.dest;
    ms.ttl = ttl;
    ms.port = s.port;
    ms.payload_type = s.payload_type;
    if (options_.clear) {
      if (const GstCaps* caps = media_->caps(s.kind)) CapsToMedia(caps, &ms);
      ms.protocol = "RTP/AVP";
    } else if (s.protection == Protection::kIsmacryp) {
      ms.protocol = "RTP/AVP";
      ms.encoding_name = "enc-mpeg4-generic";
      ms.clock_rate = s.clock_rate;
      ms.channels = s.channels;
      ms.key_stream_id = key_streams_[s.key_stream].id;
      // The library's fmtp writer, taken apart into the name → value map the SDP writer wants.
      const std::string fmtp = ism::FormatFmtp(s.fmtp);
      gchar** params = g_strsplit(fmtp.c_str(), ";", -1);
      for (gchar** p = params; *p != nullptr; ++p) {
        std::string param = g_strstrip(*p);
        const auto eq = param.find('=');
        if (eq == std::string::npos) continue;
        ms.fmtp[param.substr(0, eq)] = param.substr(eq + 1);
      }
      g_strfreev(params);
      ms.fmtp["profile-level-id"] = s.profile_level_id;
    } else {
      if (const GstCaps* caps = media_->caps(s.kind)) CapsToMedia(caps, &ms);
      ms.protocol = "RTP/SAVP";
      ms.key_stream_id = key_streams_[s.key_stream].id;
      ms.mki_length = smartcard_ ? 6 : 2;  // smartcard: MSK ID ‖ MTK ID
      // The tag length is not in the STKM (only whether there is one), so it is always named here;
      // the RFC 4771 mode comes first when there is one.
      ms.srtp_authentication = ToString(options_.auth);
      if (options_.rcc_mode != RccMode::kNone) {
        ms.srtp_authentication =
            std::string(ToString(options_.rcc_mode)) + "," + ToString(options_.auth);
        ms.roc_tx_rate = static_cast<int>(options_.roc_tx_rate);
      }
    }
    sd.media.push_back(std::move(ms));
  }
  if (carousel_) carousel_->Describe(&sd, ttl);
  if (stkm_endpoint_) sd.stkm_url = stkm_endpoint_->url();
  if (ri_) {
    sd.roap_url = ri_->url();
    if (options_.roap.trigger_port != 0) {
      channels::LtkmStream ts;
      ts.kind = channels::LtkmStreamKind::kTrigger;
      ts.address = options_.dest;
      ts.port = options_.roap.trigger_port;
      ts.ttl = ttl;
      sd.ltkm_streams.push_back(ts);
    }
  }
  return sd;
}

bool Headend::WriteSdp(std::string* error) {
  if (options_.sdp_out.empty()) return true;
  std::string text = channels::WriteSessionDescription(Describe());
  if (smartcard_) text = smartcard_->AddSdpAttributes(text);
  GError* err = nullptr;
  // g_file_set_contents renames a temporary file into place: a reader never sees half an SDP.
  if (!g_file_set_contents(options_.sdp_out.c_str(), text.data(), static_cast<gssize>(text.size()),
                           &err)) {
    *error = std::string("cannot write the SDP: ") + err->message;
    g_clear_error(&err);
    return false;
  }
  return true;
}

bool Headend::SetupIsmacryp(OutStream& s, std::string* error) {
  const GstCaps* caps = media_->caps(s.kind);
  if (caps == nullptr) {
    *error = "no caps for the " + s.media + " stream";
    return false;
  }
  const GstStructure* st = gst_caps_get_structure(caps, 0);
  const std::vector<std::uint8_t> codec_data = BufferBytes(st, "codec_data");
  ism::Fmtp& f = s.fmtp;
  f.iv_length = options_.isma.iv_length;
  f.delta_iv_length = options_.isma.delta_iv_length;
  f.key_indicator_length = options_.isma.key_indicator_length;
  f.key_indicator_per_au = options_.isma.key_indicator_per_au;
  f.selective_encryption = options_.isma.selective_encryption;
  f.salt = {};  // k_s = 0 in BCAST (3GPP TS 26.234 R.1)
  if (s.kind == StreamKind::kVideo) {
    // mode=avc-video tells the decryptor (and tshark) that the AUs are H.264 Annex B; the RAP flag
    // marks IDRs. Several frames in one packet need their own timestamps: CTS deltas.
    f.mode = "avc-video";
    f.stream_type = 4;
    f.size_length = 16;
    f.random_access_indication = true;
    if (options_.isma.aus_per_packet > 1) f.cts_delta_length = 16;
    if (!ParseAvcC(codec_data, &s.nal_length_size, &s.profile_level_id, &f.sprop_parameter_sets)) {
      *error = "H.264 caps without a usable codec_data (avcC)";
      return false;
    }
    s.clock_rate = 90000;
  } else {
    f.mode = "AAC-hbr";
    f.stream_type = 5;
    f.size_length = 13;
    f.index_length = 3;
    f.index_delta_length = 3;
    f.config = codec_data;
    if (f.config.empty()) {
      *error = "AAC caps without codec_data (AudioSpecificConfig)";
      return false;
    }
    gint rate = 0, channels = 0;
    if (!gst_structure_get_int(st, "rate", &rate) || rate <= 0) {
      *error = "AAC caps without a sample rate";
      return false;
    }
    gst_structure_get_int(st, "channels", &channels);
    s.clock_rate = rate;
    s.channels = channels;
    s.profile_level_id = AacProfileLevelId(st);
  }
  ism::PacketizerOptions po;
  po.max_payload_size = options_.mtu - kRtpHeaderSize;
  po.max_aus_per_packet = options_.isma.aus_per_packet;
  auto packetizer = ism::Packetizer::Create(f, po);
  if (!packetizer) {
    *error = "ISMACryp " + s.media + ": " + packetizer.error().message + " (" +
             packetizer.error().field + ")";
    return false;
  }
  s.packetizer.emplace(std::move(packetizer).value());
  const spc::TrafficKey& tek = key_streams_[s.key_stream].schedule->current();
  s.tek = tek.key;
  s.tek_id = tek.id;
  return true;
}

bool Headend::Setup(std::string* error) {
  if (options_.smartcard.enabled && !SetupSmartcard(error)) return false;
  if (!options_.clear && !smartcard_) {
    if (!LoadKeys(error)) return false;
    // One key stream per traffic protection protocol in use: an STKM names exactly one.
    const bool mixed = Mixed(options_);
    auto add_key_stream = [&](Protection protection, std::uint16_t port, std::uint16_t first_id) {
      KeySchedule::Config config;
      config.service_key = service_key_;
      config.cid_extension = options_.cid_extension;
      config.first_tek_id = first_id;
      config.tek_period_s = options_.tek_period_s;
      config.id_stride = mixed ? 2 : 1;
      config.protection_after_reception =
          static_cast<std::uint8_t>(options_.protection_after_reception);
      config.parental_rating = static_cast<std::uint8_t>(options_.parental_rating);
      config.bad_mac = options_.bad_stkm_mac;
      if (protection == Protection::kSrtp) {
        config.protocol = spc::TrafficProtectionProtocol::kSrtp;
        config.traffic_authentication = options_.auth != SrtpAuth::kNull;
      } else {
        config.protocol = spc::TrafficProtectionProtocol::kIsmacryp;
        config.traffic_authentication = false;  // ISMACryp has no integrity protection
      }
      KeyStreamOut ks;
      ks.id = std::to_string(key_streams_.size() + 1);
      ks.port = port;
      ks.schedule = std::make_unique<KeySchedule>(config);
      OPENSSL_cleanse(&config.service_key, sizeof config.service_key);
      key_streams_.push_back(std::move(ks));
    };
    if (mixed) {
      // SRTP on the IDs of the first TEK's parity, ISMACryp on the others.
      const std::uint16_t first = options_.first_tek_id;
      add_key_stream(Protection::kSrtp, options_.key_port, first);
      add_key_stream(Protection::kIsmacryp, options_.isma_key_port,
                     first == 0xffff ? 2 : static_cast<std::uint16_t>(first + 1));
    } else {
      add_key_stream(options_.video_protection, options_.key_port, options_.first_tek_id);
    }
  }
  if (options_.ltkm.enabled()) {
    carousel_ = LtkmCarousel::Create(
        options_.ltkm, options_.dest, service_key_, options_.base_cid, options_.cid_extension,
        [this](const spc::LongTermKey& key, std::uint32_t extension) {
          // SEK change: the BCROs went out sek-lead seconds ago; the STKMs switch now.
          service_key_ = key;
          for (auto& ks : key_streams_) ks.schedule->SetServiceKey(key, extension);
          SendStkms(false);
        },
        error);
    if (!carousel_) return false;
  }
  if (options_.roap.enabled()) {
    ri_ = RightsIssuer::Create(options_.roap, error);
    if (!ri_) return false;
    ri_->SetRights(spc::ContentId(options_.base_cid, options_.cid_extension), service_key_);
    ri_->SetTriggerDestination(options_.dest, options_.roap.trigger_port);
    if (carousel_) {
      // A SEK change reaches the terminals with an interaction channel as an roAcquisition
      // trigger while the BCROs announce it on broadcast, both sek-lead seconds ahead.
      carousel_->on_sek_announce = [this](const spc::LongTermKey& key, std::uint32_t extension) {
        const std::string cid = spc::ContentId(options_.base_cid, extension);
        ri_->SetRights(cid, key);
        ri_->SendAcquisitionTrigger({cid});
      };
    }
    Event("roap ready url=" + ri_->url() + " ri-id=" + ri_->ri_id_hex());
  }
  if (options_.stkm.wanted()) {
    // The STKMs of the key streams as they go out now, for the fetch endpoint (stkm_endpoint.h).
    stkm_endpoint_ = StkmEndpoint::Create(
        options_.stkm, options_.base_cid,
        [this](std::uint64_t now, bool forged) {
          std::vector<std::vector<std::uint8_t>> out;
          for (const KeyStreamOut& ks : key_streams_) {
            out.push_back(forged ? ks.schedule->MakeForgedStkm(now) : ks.schedule->MakeStkm(now));
          }
          return out;
        },
        error);
    if (!stkm_endpoint_) return false;
    if (!stkm_endpoint_->url().empty()) Event("stkm-endpoint ready url=" + stkm_endpoint_->url());
  }
  media_ = std::make_unique<MediaSource>([this](StreamKind kind, std::span<const std::uint8_t> rtp,
                                                GstClockTime t) { OnPacket(kind, rtp, t); },
                                         [this](const std::string& message) {
                                           // Called on the main loop (bus watch).
                                           std::fprintf(stderr, "bcast-headend: media error: %s\n",
                                                        message.c_str());
                                           Quit(1);
                                         });
  for (auto& s : streams_) {
    if (!options_.clear && s.protection == Protection::kIsmacryp) {
      media_->SetAccessUnitOutput(
          s.kind, [this](StreamKind kind, const AccessUnitBuffer& au) { OnAccessUnit(kind, au); });
    }
  }
  if (!media_->Open(options_.media, kVideoPayloadType, kAudioPayloadType,
                    static_cast<int>(options_.mtu), error)) {
    return false;
  }
  if (!OpenSocket(error)) return false;

  for (auto& s : streams_) {
    s.ssrc = g_random_int();
    s.timestamp_base = g_random_int();
    // Random below 2^15 (libSRTP's advice): without RFC 4771 a terminal knows no ROC and assumes
    // 0, so a first wrap right after the start would lock out every terminal that tunes in later.
    s.seq = options_.initial_seq >= 0 ? static_cast<std::uint16_t>(options_.initial_seq)
                                      : static_cast<std::uint16_t>(g_random_int_range(0, 0x8000));
    s.roc = options_.initial_roc;
    if (!options_.clear && s.protection == Protection::kIsmacryp) {
      if (!SetupIsmacryp(s, error)) return false;
      continue;
    }
    if (const GstCaps* caps = media_->caps(s.kind)) {
      gint clock = 0;
      if (gst_structure_get_int(gst_caps_get_structure(caps, 0), "clock-rate", &clock) &&
          clock > 0) {
        s.clock_rate = clock;
      }
    }
    if (smartcard_) {
      if (!SetupSmartcardSender(s, error)) return false;
    } else if (!options_.clear) {
      const KeySchedule& schedule = *key_streams_[s.key_stream].schedule;
      s.sender = std::make_unique<bcast::srtp::SrtpSender>(
          ToSrtp(options_.auth), 2, ToSrtp(options_.rcc_mode),
          static_cast<std::uint16_t>(options_.roc_tx_rate));
      s.sender->SetRoc(s.ssrc, options_.initial_roc);
      const bool authenticated = options_.auth != SrtpAuth::kNull;
      for (const spc::TrafficKey* k : {&schedule.current(), &schedule.next()}) {
        if (!s.sender->AddKey(k->id, k->key, k->salt, authenticated)) {
          *error = "libsrtp refused TEK " + std::to_string(k->id);
          return false;
        }
      }
      s.tek_id = schedule.current().id;
    }
  }
  return WriteSdp(error);
}

void Headend::Send(OutStream& stream, std::span<const std::uint8_t> packet) {
  GError* err = nullptr;
  if (g_socket_send_to(socket_.get(), stream.address.get(),
                       reinterpret_cast<const gchar*>(packet.data()), packet.size(), nullptr,
                       &err) < 0) {
    // UDP to a port nobody listens on (yet) may bounce; a broadcast does not care.
    ++stream.send_errors;
    g_clear_error(&err);
  }
}

void Headend::OnPacket(StreamKind kind, std::span<const std::uint8_t> rtp,
                       GstClockTime media_time) {
  if (rtp.size() < 12) return;
  OutStream& s = streams_[static_cast<int>(kind)];
  std::vector<std::uint8_t> packet;
  packet.reserve(rtp.size() + bcast::srtp::SrtpSender::kMaxOverhead);
  packet.assign(rtp.begin(), rtp.end());

  std::lock_guard lock(s.mutex);
  PutBe16(&packet[2], s.seq);
  PutBe32(&packet[4],
          s.timestamp_base + static_cast<std::uint32_t>(gst_util_uint64_scale(
                                 media_time, static_cast<guint64>(s.clock_rate), GST_SECOND)));
  PutBe32(&packet[8], s.ssrc);
  ++s.packets;
  if (s.seq == 0xffff) ++s.roc;
  ++s.seq;

  if (s.sender) {
    if (!s.sender->Protect(packet, s.tek_id)) {
      std::fprintf(stderr, "bcast-headend: SRTP protect failed (%s, TEK %u)\n", s.media.c_str(),
                   s.tek_id);
      return;
    }
    if (options_.break_srtp_tag_every != 0 && s.packets % options_.break_srtp_tag_every == 0) {
      std::vector<std::uint8_t> broken = packet;
      broken.back() ^= 0x01;
      Send(s, broken);
    }
  }
  Send(s, packet);
  if (s.sender && options_.replay_srtp_every != 0) {
    s.recent.push_back(packet);
    // The ring holds this packet and the kReplayDistance before it.
    if (s.recent.size() > kReplayDistance + 1) s.recent.pop_front();
    if (s.packets % options_.replay_srtp_every == 0 && s.recent.size() == kReplayDistance + 1) {
      Send(s, s.recent.front());
    }
  }
}

void Headend::OnAccessUnit(StreamKind kind, const AccessUnitBuffer& au) {
  OutStream& s = streams_[static_cast<int>(kind)];
  std::vector<std::uint8_t> annex_b;
  std::span<const std::uint8_t> data = au.data;
  if (kind == StreamKind::kVideo) {
    if (!AvcToAnnexB(au.data, s.nal_length_size, &annex_b)) {
      std::lock_guard lock(s.mutex);
      if (s.dropped_aus++ == 0) {
        std::fprintf(stderr, "bcast-headend: H.264 AU with bad NAL lengths dropped\n");
      }
      return;
    }
    data = annex_b;
  }
  std::lock_guard lock(s.mutex);
  if (!s.packetizer) return;
  const std::uint64_t n = s.aus++;
  // Selective encryption: AU n goes clear when it takes the clear count to floor((n+1)·p/100), so
  // any run of AUs holds the configured share, evenly spread.
  const std::uint64_t p =
      options_.isma.selective_encryption ? options_.isma.clear_share_percent : 0;
  const bool clear = (n + 1) * p / 100 > n * p / 100;
  ism::AccessUnit a;
  a.data = data;
  a.rtp_timestamp =
      s.timestamp_base + static_cast<std::uint32_t>(gst_util_uint64_scale(
                             au.media_time, static_cast<guint64>(s.clock_rate), GST_SECOND));
  a.rap = au.key_frame;
  a.key_indicator = s.tek_id;
  a.tek = s.tek;
  a.encrypt = !clear;
  auto payloads = s.packetizer->Push(a);
  OPENSSL_cleanse(a.tek.data(), a.tek.size());
  if (!payloads) {
    ++s.dropped_aus;
    const auto& e = payloads.error();
    if (e.field == "IV") {
      // The byte stream offset outgrew ISMACrypIVLength: wrapping would reuse key stream.
      std::fprintf(stderr, "bcast-headend: %s: %s; stopping\n", s.media.c_str(), e.message.c_str());
      s.packetizer.reset();
      g_idle_add(
          +[](gpointer self) -> gboolean {
            static_cast<Headend*>(self)->Quit(1);
            return G_SOURCE_REMOVE;
          },
          this);
    } else if (s.dropped_aus == 1 || s.dropped_aus % 100 == 0) {
      std::fprintf(stderr, "bcast-headend: %s AU dropped (%" PRIu64 " so far): %s (%s)\n",
                   s.media.c_str(), s.dropped_aus, e.message.c_str(), e.field.c_str());
    }
    return;
  }
  if (clear) ++s.clear_aus;
  for (const ism::RtpPayload& payload : *payloads) SendIsmacrypPayload(s, payload);
}

void Headend::SendIsmacrypPayload(OutStream& s, const ism::RtpPayload& payload) {
  std::vector<std::uint8_t> packet(kRtpHeaderSize);
  packet[0] = 0x80;  // RTP version 2
  packet[1] = static_cast<std::uint8_t>((payload.marker ? 0x80 : 0) | s.payload_type);
  PutBe16(&packet[2], s.seq);
  PutBe32(&packet[4], payload.rtp_timestamp);
  PutBe32(&packet[8], s.ssrc);
  packet.insert(packet.end(), payload.bytes.begin(), payload.bytes.end());
  ++s.packets;
  if (s.seq == 0xffff) ++s.roc;
  ++s.seq;
  Send(s, packet);
}

void Headend::SendKeyDatagram(const KeyStreamOut& ks, std::span<const std::uint8_t> datagram) {
  if (stkm_endpoint_ && !stkm_endpoint_->key_stream_on()) return;  // --key-stream-off / control
  GError* err = nullptr;
  if (g_socket_send_to(socket_.get(), ks.address.get(),
                       reinterpret_cast<const gchar*>(datagram.data()), datagram.size(), nullptr,
                       &err) < 0) {
    g_clear_error(&err);
  }
}

void Headend::SendStkms(bool tick) {
  if (tick) ++stkm_ticks_;
  for (const KeyStreamOut& ks : key_streams_) SendStkm(ks, tick);
}

void Headend::SendStkm(const KeyStreamOut& ks, bool tick) {
  const auto now = static_cast<std::uint64_t>(g_get_real_time() / G_USEC_PER_SEC);
  if (smartcard_) {
    SendSmartcardKeyMessages(ks);
  } else {
    SendKeyDatagram(ks, ks.schedule->MakeStkm(now));
  }
  // Counted on the first key stream only, so the event rate does not depend on the mode.
  if (&ks == &key_streams_.front() && ++stkms_sent_ % 20 == 0) {
    Event("stkm-sent n=" + std::to_string(stkms_sent_));
  }
  if (!tick || smartcard_) return;  // the STKM faults need a KeySchedule
  if (options_.corrupt_stkm_every != 0 && stkm_ticks_ % options_.corrupt_stkm_every == 0) {
    SendKeyDatagram(ks, ks.schedule->MakeForgedStkm(now));
  }
  if (options_.foreign_stkm_every != 0 && stkm_ticks_ % options_.foreign_stkm_every == 0) {
    SendKeyDatagram(ks, ks.schedule->MakeForeignStkm(now));
  }
  if (options_.inject_random_key_datagrams != 0 &&
      stkm_ticks_ % options_.inject_random_key_datagrams == 0) {
    std::vector<std::uint8_t> junk(static_cast<std::size_t>(g_random_int_range(1, 201)));
    for (auto& b : junk) b = static_cast<std::uint8_t>(g_random_int());
    SendKeyDatagram(ks, junk);
  }
}

void Headend::AnnounceTek(std::size_t key_stream) {
  if (smartcard_) {
    AnnounceSmartcardMtk();
    return;
  }
  const KeySchedule& schedule = *key_streams_[key_stream].schedule;
  std::string line = "tek id=" + std::to_string(schedule.current().id) +
                     " next=" + std::to_string(schedule.next().id);
  if (key_stream > 0) line += " key-stream=" + key_streams_[key_stream].id;
  Event(line);
}

void Headend::RotateTek() {
  if (smartcard_) {
    RotateSmartcardMtk();
    return;
  }
  const bool authenticated = options_.auth != SrtpAuth::kNull;
  for (std::size_t k = 0; k < key_streams_.size(); ++k) {
    KeySchedule& schedule = *key_streams_[k].schedule;
    const std::uint16_t old_id = schedule.current().id;
    schedule.Rotate();
    for (auto& s : streams_) {
      if (s.key_stream != k) continue;
      std::lock_guard lock(s.mutex);
      const spc::TrafficKey& next = schedule.next();
      s.tek_id = schedule.current().id;
      if (s.protection == Protection::kIsmacryp) {
        s.tek = schedule.current().key;
        continue;
      }
      if (!s.sender->AddKey(next.id, next.key, next.salt, authenticated)) {
        std::fprintf(stderr, "bcast-headend: libsrtp refused TEK %u\n", next.id);
        Quit(1);
        return;
      }
      s.sender->RemoveKey(old_id);
    }
    AnnounceTek(k);
    // The new next TEK goes out at once rather than up to one interval later.
    SendStkm(key_streams_[k], false);
  }
}

gboolean Headend::OnStkmTimer(gpointer self) {
  static_cast<Headend*>(self)->SendStkms(true);
  auto* h = static_cast<Headend*>(self);
  const unsigned loops = h->media_->loops();
  if (loops != h->loops_reported_) {
    h->loops_reported_ = loops;
    Event("loop n=" + std::to_string(loops));
  }
  return G_SOURCE_CONTINUE;
}

gboolean Headend::OnTekTimer(gpointer self) {
  static_cast<Headend*>(self)->RotateTek();
  return G_SOURCE_CONTINUE;
}

gboolean Headend::OnDurationTimer(gpointer self) {
  static_cast<Headend*>(self)->Quit(0);
  return G_SOURCE_CONTINUE;  // removed with the others in Run()
}

gboolean Headend::OnSignal(gpointer self) {
  static_cast<Headend*>(self)->Quit(0);
  return G_SOURCE_CONTINUE;
}

void Headend::Quit(int code) {
  if (code != 0 && exit_code_ == 0) exit_code_ = code;
  if (loop_ != nullptr) g_main_loop_quit(loop_);
}

int Headend::Run() {
  std::string error;
  if (!Setup(&error)) {
    std::fprintf(stderr, "bcast-headend: %s\n", error.c_str());
    return 1;
  }
  loop_ = g_main_loop_new(nullptr, FALSE);
  sources_.push_back(g_unix_signal_add(SIGINT, &Headend::OnSignal, this));
  sources_.push_back(g_unix_signal_add(SIGTERM, &Headend::OnSignal, this));
  if (options_.duration_s > 0) {
    sources_.push_back(g_timeout_add_seconds(options_.duration_s, &Headend::OnDurationTimer, this));
  }
  if (!key_streams_.empty()) {
    for (std::size_t k = 0; k < key_streams_.size(); ++k) AnnounceTek(k);
    SendStkms(false);
    sources_.push_back(g_timeout_add(options_.stkm_interval_ms, &Headend::OnStkmTimer, this));
    sources_.push_back(g_timeout_add(options_.tek_period_s * 1000, &Headend::OnTekTimer, this));
  } else {
    sources_.push_back(g_timeout_add(
        options_.stkm_interval_ms,
        +[](gpointer self) -> gboolean {
          auto* h = static_cast<Headend*>(self);
          const unsigned loops = h->media_->loops();
          if (loops != h->loops_reported_) {
            h->loops_reported_ = loops;
            Event("loop n=" + std::to_string(loops));
          }
          return G_SOURCE_CONTINUE;
        },
        this));
  }
  if (carousel_ && !carousel_->Start(&error)) {
    std::fprintf(stderr, "bcast-headend: %s\n", error.c_str());
    return 1;
  }
  if (!media_->Play(&error)) {
    std::fprintf(stderr, "bcast-headend: %s\n", error.c_str());
    return 1;
  }
  Event("ready sdp=" + options_.sdp_out);
  g_main_loop_run(loop_);
  media_->Stop();
  for (guint id : sources_) g_source_remove(id);
  sources_.clear();
  for (const auto& s : streams_) {
    std::fprintf(stderr, "bcast-headend: %s: %" PRIu64 " packets sent, last seq %u roc %u\n",
                 s.media.c_str(), s.packets, static_cast<unsigned>(s.seq - 1), s.roc);
    if (s.packetizer || s.aus > 0) {
      std::fprintf(stderr,
                   "bcast-headend: %s: ISMACryp %" PRIu64 " AUs, %" PRIu64 " clear, %" PRIu64
                   " dropped\n",
                   s.media.c_str(), s.aus, s.clear_aus, s.dropped_aus);
    }
  }
  Event("stopped");
  return exit_code_;
}

int WriteKeyFileAndExit(const Options& options) {
  const std::string cid = spc::ContentId(options.base_cid, options.cid_extension);
  std::string text = MakeRandomKeyFile(cid, options.key_domain_id);
  GError* err = nullptr;
  // Owner-only: the file holds a SEK and a SAK.
  const gboolean ok = g_file_set_contents_full(options.write_key_file.c_str(), text.data(),
                                               static_cast<gssize>(text.size()),
                                               G_FILE_SET_CONTENTS_CONSISTENT, 0600, &err);
  OPENSSL_cleanse(text.data(), text.size());
  if (!ok) {
    std::fprintf(stderr, "bcast-headend: cannot write %s: %s\n", options.write_key_file.c_str(),
                 err->message);
    g_clear_error(&err);
    return 1;
  }
  Event("key-file path=" + options.write_key_file + " cid=" + cid);
  return 0;
}

}  // namespace headend
