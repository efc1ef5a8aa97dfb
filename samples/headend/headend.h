// The sample head-end: media from MediaSource, SRTP or ISMACryp with TEKs from KeySchedule, STKMs
// on the key stream(s), all sent over UDP from one GLib main loop (packets from the streaming
// threads).
#pragma once

#include <gio/gio.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "channels/session_description.h"
#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
#include "gst-plugins/bcastprotect/srtp/srtp_sender.h"
#include "samples/headend/key_schedule.h"
#include "samples/headend/ltkm_carousel.h"
#include "samples/headend/media_source.h"
#include "samples/headend/options.h"
#include "samples/headend/smartcard_service.h"
#include "samples/headend/stkm_endpoint.h"

namespace headend {

struct GObjectUnref {
  void operator()(gpointer p) const { g_object_unref(p); }
};

// A key stream: one TEK schedule and its STKMs. One per service, two with --protection mixed (SRTP
// TEKs in the first, ISMACryp TEKs in the second: an STKM names one traffic protection protocol).
struct KeyStreamOut {
  std::string id;  // a=stkmstream
  std::uint16_t port = 0;
  std::unique_ptr<KeySchedule> schedule;
  std::unique_ptr<GSocketAddress, GObjectUnref> address;
};

// One RTP stream on its way out: header rewriting, SRTP or ISMACryp, faults, socket.
struct OutStream {
  StreamKind kind = StreamKind::kVideo;
  std::string media;  // "video" / "audio"
  Protection protection = Protection::kSrtp;
  std::size_t key_stream = 0;  // index into the head-end's key streams
  std::uint16_t port = 0;
  int payload_type = 0;
  int clock_rate = 90000;
  std::unique_ptr<GSocketAddress, GObjectUnref> address;

  // ISMACryp: the payload shape (also the SDP fmtp) and the source format.
  bcast::ismacryp::Fmtp fmtp;
  std::string profile_level_id;  // RFC 3640 / RFC 6184 profile-level-id for the SDP
  unsigned nal_length_size = 4;  // H.264 AVC length prefix, from codec_data
  int channels = 0;              // AAC channels (rtpmap encoding parameter)

  std::mutex mutex;  // the packet path runs in a streaming thread, TEK changes in the main loop
  std::unique_ptr<bcast::srtp::SrtpSender> sender;        // SRTP only, null with --clear
  std::optional<bcast::ismacryp::Packetizer> packetizer;  // ISMACryp only
  spc::Key128 tek{};                                      // ISMACryp: the key of tek_id
  std::uint16_t tek_id = 0;                               // TEK the next packet is protected with
  std::uint64_t aus = 0;                                  // ISMACryp AUs packetized
  std::uint64_t clear_aus = 0;    // of which sent clear (selective encryption)
  std::uint64_t dropped_aus = 0;  // refused by the packetizer
  std::uint32_t ssrc = 0;
  std::uint16_t seq = 0;
  std::uint32_t roc = 0;  // of the next packet, for the log only: libsrtp keeps its own
  std::uint32_t timestamp_base = 0;
  std::uint64_t packets = 0;
  std::uint64_t send_errors = 0;
  std::deque<std::vector<std::uint8_t>> recent;  // last protected packets, for --replay-srtp-every
};

class Headend {
 public:
  explicit Headend(Options options);
  ~Headend();
  Headend(const Headend&) = delete;
  Headend& operator=(const Headend&) = delete;

  // Runs until --duration, a signal or a fatal error. Returns the process exit code.
  int Run();

 private:
  bool Setup(std::string* error);
  bool LoadKeys(std::string* error);
  bool OpenSocket(std::string* error);
  channels::SessionDescription Describe() const;
  bool WriteSdp(std::string* error);

  bool SetupIsmacryp(OutStream& s, std::string* error);
  void OnPacket(StreamKind kind, std::span<const std::uint8_t> rtp, GstClockTime media_time);
  void OnAccessUnit(StreamKind kind, const AccessUnitBuffer& au);
  void SendIsmacrypPayload(OutStream& s, const bcast::ismacryp::RtpPayload& payload);
  void Send(OutStream& stream, std::span<const std::uint8_t> packet);
  void SendKeyDatagram(const KeyStreamOut& ks, std::span<const std::uint8_t> datagram);
  void SendStkms(bool tick);
  void SendStkm(const KeyStreamOut& ks, bool tick);
  void RotateTek();
  void AnnounceTek(std::size_t key_stream);
  void Quit(int code);

  // Smartcard Profile (--profile smartcard), in headend_smartcard.cc.
  bool SetupSmartcard(std::string* error);
  bool SetupSmartcardSender(OutStream& s, std::string* error);
  void SendSmartcardKeyMessages(const KeyStreamOut& ks);
  void AnnounceSmartcardMtk();
  void UpdateSmartcardSenders(std::uint16_t remove_id);
  void RotateSmartcardMtk();
  void ChangeMsk(const char* why);
  void SendMtkFault(MtkFault fault);

  static gboolean OnStkmTimer(gpointer self);
  static gboolean OnTekTimer(gpointer self);
  static gboolean OnDurationTimer(gpointer self);
  static gboolean OnSignal(gpointer self);

  Options options_;
  spc::LongTermKey service_key_{};
  std::vector<KeyStreamOut> key_streams_;  // empty with --clear
  std::unique_ptr<MediaSource> media_;
  std::array<OutStream, kStreamCount> streams_;
  std::unique_ptr<GSocket, GObjectUnref> socket_;
  GMainLoop* loop_ = nullptr;
  std::vector<guint> sources_;
  int exit_code_ = 0;
  std::uint64_t stkm_ticks_ = 0;
  std::uint64_t stkms_sent_ = 0;
  unsigned loops_reported_ = 0;
  std::unique_ptr<LtkmCarousel> carousel_;       // --ri-key: broadcast key delivery
  std::unique_ptr<RightsIssuer> ri_;             // --pki-dir: ROAP Rights Issuer
  std::unique_ptr<SmartcardService> smartcard_;  // --profile smartcard: BSF, BSM, MIKEY keys
  std::unique_ptr<StkmEndpoint> stkm_endpoint_;  // --stkm-port / --key-stream-off / --control-stdin
};

// --write-key-file: a fresh random key file. Returns the exit code.
int WriteKeyFileAndExit(const Options& options);

}  // namespace headend
