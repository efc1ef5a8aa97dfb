// Command line of bcast-headend. The option names are used by the player's end-to-end tests and the
// demo scripts: keep them.
#pragma once

#include <cstdint>
#include <string>

#include "samples/headend/ltkm_carousel.h"
#include "samples/headend/rights_issuer.h"
#include "samples/headend/smartcard_options.h"
#include "samples/headend/stkm_endpoint.h"

namespace headend {

enum class SrtpAuth { kHmacSha1_80, kHmacSha1_32, kNull };
enum class RccMode { kNone = 0, kRccm1 = 1, kRccm2 = 2, kRccm3 = 3 };
// How one media stream is protected (ignored with --clear).
enum class Protection { kSrtp, kIsmacryp };

// ISMACryp (enc-mpeg4-generic) choices, the same for every ISMACryp stream of the service; they go
// into the SDP fmtp as ISMACryp* parameters (shared/spec/ismacryp.md).
struct IsmacrypOptions {
  unsigned iv_length = 4;             // --isma-iv-length, bytes 0..8
  unsigned delta_iv_length = 0;       // --isma-delta-iv-length, bytes 0..8
  unsigned key_indicator_length = 2;  // --isma-key-indicator-length: 0 or 2..8 (TEK IDs are 16 bit)
  bool key_indicator_per_au = false;  // --isma-key-indicator-per-au
  bool selective_encryption = false;  // --isma-selective-encryption
  unsigned clear_share_percent = 0;   // --isma-clear-share: share of AUs sent clear (needs SE)
  unsigned aus_per_packet = 1;        // --isma-aus-per-packet
};

struct Options {
  // Content and keys.
  std::string media;  // --media, default: the sample made by scripts/make-sample-media.sh
  std::string key_file;
  std::string base_cid = "urn:openbcast:svc:sample:";
  std::uint32_t cid_extension = 0x2a;
  std::uint32_t key_domain_id = 0x0a0b0c;  // only for --write-key-file
  std::string write_key_file;
  unsigned tek_period_s = 10;
  std::uint16_t first_tek_id = 1;
  unsigned stkm_interval_ms = 500;
  // STKM fields a terminal enforces (stkm.md): --protection-after-reception 0..3 and
  // --parental-rating AGE (access criteria descriptor 0x01; 0: no descriptor).
  unsigned protection_after_reception = 0;
  unsigned parental_rating = 0;

  // Protection. --protection srtp|ismacryp|mixed sets both; mixed = video SRTP, audio ISMACryp.
  bool clear = false;
  Protection video_protection = Protection::kSrtp;
  Protection audio_protection = Protection::kSrtp;
  IsmacrypOptions isma;
  unsigned mtu = 1400;  // --mtu: largest RTP packet (header + payload) before SRTP's MKI and tag

  // SRTP.
  SrtpAuth auth = SrtpAuth::kHmacSha1_80;
  RccMode rcc_mode = RccMode::kNone;
  unsigned roc_tx_rate = 1;
  int initial_seq = -1;  // -1: random below 2^15
  std::uint32_t initial_roc = 0;

  // Network and session.
  std::string dest = "127.0.0.1";
  int ttl = 1;
  std::uint16_t key_port = 5000;
  std::uint16_t video_port = 5002;
  std::uint16_t audio_port = 5004;
  // Second key stream, only with --protection mixed: the ISMACryp TEKs (the first carries SRTP's).
  std::uint16_t isma_key_port = 5006;
  std::string sdp_out;
  std::string session_name = "openbcast sample service";
  unsigned duration_s = 0;  // 0: forever

  // Fault injection (0: off).
  unsigned corrupt_stkm_every = 0;
  unsigned inject_random_key_datagrams = 0;
  unsigned foreign_stkm_every = 0;
  unsigned break_srtp_tag_every = 0;
  unsigned replay_srtp_every = 0;
  // --bad-stkm-mac: every STKM (the genuine ones too) goes out with a MAC that does not verify, so
  // no terminal can obtain a TEK: a service whose keys are corrupt.
  bool bad_stkm_mac = false;

  // Broadcast key delivery for broadcast-only terminals (ltkm_carousel.h).
  LtkmOptions ltkm;
  // The ROAP Rights Issuer for terminals with an interaction channel (rights_issuer.h).
  RoapRiOptions roap;
  // The Smartcard Profile (smartcard_options.h): BSF, BSM, MIKEY key stream.
  SmartcardOptions smartcard;
  // The STKM fetch endpoint and the key stream control (stkm_endpoint.h).
  StkmEndpointOptions stkm;
};

// Parses argv. On error returns false with a message (already including the program name).
// `exit_now` is set for --help.
bool ParseOptions(int argc, char** argv, Options* options, std::string* error);

const char* ToString(SrtpAuth auth);
const char* ToString(RccMode mode);
const char* ToString(Protection protection);
// --protection mixed: SRTP and ISMACryp streams in one service, one key stream per protocol.
inline bool Mixed(const Options& o) { return !o.clear && o.video_protection != o.audio_protection; }

}  // namespace headend
