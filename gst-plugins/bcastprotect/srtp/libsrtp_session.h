// One libsrtp2 session for one SSRC and one master key (internal to the SRTP core). libsrtp keeps
// its own packet index per session; the receiver and sender keep the authoritative index across
// key changes, so before each packet this class makes libsrtp use exactly that index
// (srtp_set_stream_roc, or a fresh session when libsrtp's own estimate would differ).
#pragma once

#include <srtp2/srtp.h>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "gst-plugins/bcastprotect/srtp/srtp_types.h"

namespace bcast::srtp {

void EnsureLibsrtpInitialised();

class LibsrtpSession {
 public:
  // `auth` kNull gives an AES-CM-only session (RFC 4771 packets whose MAC the caller checks,
  // packets without tag). `mki` empty: packets carry no MKI.
  LibsrtpSession(bool sender, SrtpAuth auth, std::span<const std::uint8_t, kMasterKeyLength> key,
                 std::span<const std::uint8_t, kMasterSaltLength> salt, std::uint32_t ssrc,
                 std::span<const std::uint8_t> mki, std::size_t window);
  ~LibsrtpSession();
  LibsrtpSession(const LibsrtpSession&) = delete;
  LibsrtpSession& operator=(const LibsrtpSession&) = delete;

  bool ok() const { return session_ != nullptr; }

  // Makes the next srtp_protect/srtp_unprotect of this SSRC use packet index `index`.
  bool PrepareIndex(std::uint64_t index);
  // After libsrtp accepted the packet with `index`.
  void Accepted(std::uint64_t index);

  srtp_err_status_t Unprotect(std::uint8_t* packet, int* length);
  // `length` in: RTP length; out: SRTP length. The buffer must have room for MKI and tag.
  srtp_err_status_t Protect(std::uint8_t* packet, int* length);

 private:
  bool Create();
  void Destroy();

  bool sender_;
  SrtpAuth auth_;
  std::array<std::uint8_t, kMasterKeyLength + kMasterSaltLength> key_salt_{};
  std::uint32_t ssrc_;
  std::vector<std::uint8_t> mki_;
  std::size_t window_;
  srtp_t session_ = nullptr;
  std::uint64_t lib_index_ = 0;  // libsrtp's replay-database index (highest accepted)
};

// libsrtp2's own estimate for `seq` from its highest index (rdbx): ROC 0 while the index is at
// most 2^15, else RFC 3711 Appendix A.
std::uint64_t LibsrtpEstimate(std::uint64_t lib_index, std::uint16_t seq);

}  // namespace bcast::srtp
