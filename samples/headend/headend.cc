#include "samples/headend/headend.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <openssl/crypto.h>

#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <utility>

#include "spc/libspc/key_file.h"

namespace headend {
namespace {

// Stream key identifier in the SDP (a=stkmstream); one key stream per service.
constexpr const char* kKeyStreamId = "1";
constexpr int kVideoPayloadType = 96;
constexpr int kAudioPayloadType = 97;
// RTP payload MTU: leaves room for IP/UDP headers and the SRTP MKI, ROC and tag within 1500.
constexpr int kRtpMtu = 1400;
constexpr std::size_t kReplayDistance = 8;

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
}

Headend::~Headend() {
  for (guint id : sources_) g_source_remove(id);
  media_.reset();
  if (loop_ != nullptr) g_main_loop_unref(loop_);
  OPENSSL_cleanse(&service_key_, sizeof service_key_);
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
  key_address_.reset(g_inet_socket_address_new(addr.get(), options_.key_port));
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
  if (!options_.clear) {
    channels::KeyStream ks;
    ks.id = kKeyStreamId;
    ks.address = options_.dest;
    ks.ttl = ttl;
    ks.port = options_.key_port;
    ks.base_cid = options_.base_cid;
    ks.key_domain_id = service_key_.key_domain_id;
    sd.key_streams.push_back(ks);
  }
  for (const auto& s : streams_) {
    channels::MediaStream ms;
    ms.media = s.media;
    ms.address = options_.dest;
    ms.ttl = ttl;
    ms.port = s.port;
    ms.payload_type = s.payload_type;
    if (const GstCaps* caps = media_->caps(s.kind)) CapsToMedia(caps, &ms);
    if (options_.clear) {
      ms.protocol = "RTP/AVP";
    } else {
      ms.protocol = "RTP/SAVP";
      ms.key_stream_id = kKeyStreamId;
      ms.mki_length = 2;
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
  return sd;
}

bool Headend::WriteSdp(std::string* error) {
  if (options_.sdp_out.empty()) return true;
  const std::string text = channels::WriteSessionDescription(Describe());
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

bool Headend::Setup(std::string* error) {
  if (!options_.clear) {
    if (!LoadKeys(error)) return false;
    KeySchedule::Config config;
    config.service_key = service_key_;
    config.cid_extension = options_.cid_extension;
    config.first_tek_id = options_.first_tek_id;
    config.tek_period_s = options_.tek_period_s;
    config.traffic_authentication = options_.auth != SrtpAuth::kNull;
    schedule_ = std::make_unique<KeySchedule>(config);
    OPENSSL_cleanse(&config.service_key, sizeof config.service_key);
  }
  media_ = std::make_unique<MediaSource>([this](StreamKind kind, std::span<const std::uint8_t> rtp,
                                                GstClockTime t) { OnPacket(kind, rtp, t); },
                                         [this](const std::string& message) {
                                           // Called on the main loop (bus watch).
                                           std::fprintf(stderr, "bcast-headend: media error: %s\n",
                                                        message.c_str());
                                           Quit(1);
                                         });
  if (!media_->Open(options_.media, kVideoPayloadType, kAudioPayloadType, kRtpMtu, error)) {
    return false;
  }
  if (!OpenSocket(error)) return false;

  for (auto& s : streams_) {
    if (const GstCaps* caps = media_->caps(s.kind)) {
      gint clock = 0;
      if (gst_structure_get_int(gst_caps_get_structure(caps, 0), "clock-rate", &clock) &&
          clock > 0) {
        s.clock_rate = clock;
      }
    }
    s.ssrc = g_random_int();
    s.timestamp_base = g_random_int();
    s.seq = options_.initial_seq >= 0 ? static_cast<std::uint16_t>(options_.initial_seq)
                                      : static_cast<std::uint16_t>(g_random_int_range(0, 0x10000));
    s.roc = options_.initial_roc;
    if (!options_.clear) {
      s.sender = std::make_unique<bcast::srtp::SrtpSender>(
          ToSrtp(options_.auth), 2, ToSrtp(options_.rcc_mode),
          static_cast<std::uint16_t>(options_.roc_tx_rate));
      s.sender->SetRoc(s.ssrc, options_.initial_roc);
      const bool authenticated = options_.auth != SrtpAuth::kNull;
      for (const spc::TrafficKey* k : {&schedule_->current(), &schedule_->next()}) {
        if (!s.sender->AddKey(k->id, k->key, k->salt, authenticated)) {
          *error = "libsrtp refused TEK " + std::to_string(k->id);
          return false;
        }
      }
      s.tek_id = schedule_->current().id;
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

void Headend::SendKeyDatagram(std::span<const std::uint8_t> datagram) {
  GError* err = nullptr;
  if (g_socket_send_to(socket_.get(), key_address_.get(),
                       reinterpret_cast<const gchar*>(datagram.data()), datagram.size(), nullptr,
                       &err) < 0) {
    g_clear_error(&err);
  }
}

void Headend::SendStkm(bool tick) {
  const auto now = static_cast<std::uint64_t>(g_get_real_time() / G_USEC_PER_SEC);
  SendKeyDatagram(schedule_->MakeStkm(now));
  ++stkms_sent_;
  if (stkms_sent_ % 20 == 0) Event("stkm-sent n=" + std::to_string(stkms_sent_));
  if (!tick) return;
  ++stkm_ticks_;
  if (options_.corrupt_stkm_every != 0 && stkm_ticks_ % options_.corrupt_stkm_every == 0) {
    SendKeyDatagram(schedule_->MakeForgedStkm(now));
  }
  if (options_.foreign_stkm_every != 0 && stkm_ticks_ % options_.foreign_stkm_every == 0) {
    SendKeyDatagram(schedule_->MakeForeignStkm(now));
  }
  if (options_.inject_random_key_datagrams != 0 &&
      stkm_ticks_ % options_.inject_random_key_datagrams == 0) {
    std::vector<std::uint8_t> junk(static_cast<std::size_t>(g_random_int_range(1, 201)));
    for (auto& b : junk) b = static_cast<std::uint8_t>(g_random_int());
    SendKeyDatagram(junk);
  }
}

void Headend::AnnounceTek() {
  Event("tek id=" + std::to_string(schedule_->current().id) +
        " next=" + std::to_string(schedule_->next().id));
}

void Headend::RotateTek() {
  const std::uint16_t old_id = schedule_->current().id;
  schedule_->Rotate();
  const bool authenticated = options_.auth != SrtpAuth::kNull;
  for (auto& s : streams_) {
    std::lock_guard lock(s.mutex);
    const spc::TrafficKey& next = schedule_->next();
    if (!s.sender->AddKey(next.id, next.key, next.salt, authenticated)) {
      std::fprintf(stderr, "bcast-headend: libsrtp refused TEK %u\n", next.id);
      Quit(1);
      return;
    }
    s.tek_id = schedule_->current().id;
    s.sender->RemoveKey(old_id);
  }
  AnnounceTek();
  // The new next TEK goes out at once rather than up to one interval later.
  SendStkm(false);
}

gboolean Headend::OnStkmTimer(gpointer self) {
  static_cast<Headend*>(self)->SendStkm(true);
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
  if (schedule_) {
    AnnounceTek();
    SendStkm(false);
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
