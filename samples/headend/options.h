// Command line of bcast-headend. The option names are used by the player's end-to-end tests and the
// demo scripts: keep them.
#pragma once

#include <cstdint>
#include <string>

namespace headend {

enum class SrtpAuth { kHmacSha1_80, kHmacSha1_32, kNull };
enum class RccMode { kNone = 0, kRccm1 = 1, kRccm2 = 2, kRccm3 = 3 };

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

  // SRTP.
  bool clear = false;
  SrtpAuth auth = SrtpAuth::kHmacSha1_80;
  RccMode rcc_mode = RccMode::kNone;
  unsigned roc_tx_rate = 1;
  int initial_seq = -1;  // -1: random (RFC 3550)
  std::uint32_t initial_roc = 0;

  // Network and session.
  std::string dest = "127.0.0.1";
  int ttl = 1;
  std::uint16_t key_port = 5000;
  std::uint16_t video_port = 5002;
  std::uint16_t audio_port = 5004;
  std::string sdp_out;
  std::string session_name = "openbcast sample service";
  unsigned duration_s = 0;  // 0: forever

  // Fault injection (0: off).
  unsigned corrupt_stkm_every = 0;
  unsigned inject_random_key_datagrams = 0;
  unsigned foreign_stkm_every = 0;
  unsigned break_srtp_tag_every = 0;
  unsigned replay_srtp_every = 0;
};

// Parses argv. On error returns false with a message (already including the program name).
// `exit_now` is set for --help.
bool ParseOptions(int argc, char** argv, Options* options, std::string* error);

const char* ToString(SrtpAuth auth);
const char* ToString(RccMode mode);

}  // namespace headend
