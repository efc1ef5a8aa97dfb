// Vocabulary shared by the SRTP receiver (bcastsrtpdec) and sender (bcast-headend): protection
// suites, RFC 4771 ROC-carrying modes and RTP header access. No GStreamer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace bcast::srtp {

inline constexpr std::size_t kMasterKeyLength = 16;
inline constexpr std::size_t kMasterSaltLength = 14;
inline constexpr std::size_t kAuthKeyLength = 20;  // HMAC-SHA1 session authentication key
inline constexpr std::size_t kRocLength = 4;
// MKI: the 16-bit TEK ID big-endian in 1..4 bytes (DRM Profile), or 6 bytes MSK ID (4) ‖ MTK ID
// (2) (Smartcard Profile).
inline constexpr std::size_t kMaxMkiLength = 6;
// The key a packet names: its MKI read as a big-endian integer (TEK ID, or MSK ID ‖ MTK ID).
using KeyId = std::uint64_t;
inline constexpr std::size_t kMaxTagLength = 10;

// AES_CM_128 with HMAC-SHA1 tags of 80 or 32 bits, or no authentication (srtp.md suites).
enum class SrtpAuth : std::uint8_t { kHmacSha1_80, kHmacSha1_32, kNull };

// RFC 4771 integrity transform carrying the ROC. The mode is only applied with an authenticated
// suite: for a TEK without authentication (or SrtpAuth::kNull) the packets carry no tag field.
//  kRccm1: SEQ % R == 0 → tag field ROC ‖ MAC truncated to (tag − 4); other packets: no tag.
//  kRccm2: SEQ % R == 0 → as kRccm1; other packets: the full RFC 3711 tag.
//  kRccm3: SEQ % R == 0 → tag field = ROC only; other packets: no tag (no integrity at all).
enum class RccMode : std::uint8_t { kNone = 0, kRccm1 = 1, kRccm2 = 2, kRccm3 = 3 };

constexpr std::size_t TagLength(SrtpAuth auth) {
  return auth == SrtpAuth::kHmacSha1_80 ? 10 : auth == SrtpAuth::kHmacSha1_32 ? 4 : 0;
}

// Length of the field after the MKI for a packet with sequence number `seq`, and whether it
// starts with the ROC (RFC 4771 rules above; RFC 3711 when rcc is kNone).
struct TagField {
  std::size_t length = 0;      // bytes after the MKI
  bool carries_roc = false;    // first 4 bytes are the sender's ROC
  std::size_t mac_length = 0;  // bytes of (possibly truncated) HMAC-SHA1 after the ROC, or the tag
};
TagField TagFieldFor(SrtpAuth auth, bool authenticated_tek, RccMode rcc, std::uint16_t roc_tx_rate,
                     std::uint16_t seq);

// Caps strings: "hmac-sha1-80", "hmac-sha1-32", "null".
std::optional<SrtpAuth> ParseSrtpAuth(std::string_view name);
std::string_view SrtpAuthName(SrtpAuth auth);

// The fixed RTP header fields SRTP needs (and ismacrypdec, which reads its packets with this
// parser too). `header_length` includes CSRCs and the extension.
struct RtpHeaderInfo {
  std::uint16_t seq = 0;
  std::uint32_t ssrc = 0;
  std::size_t header_length = 0;
  std::uint32_t timestamp = 0;
  bool marker = false;
  bool padding = false;  // the P bit; the count is the packet's last byte, once it is clear
  unsigned csrc_count = 0;
};
// nullopt when the packet is shorter than its header claims or the version is not 2. Inline (as
// EstimatePacketIndex): both run once per packet inside the receiver's hot path.
inline std::optional<RtpHeaderInfo> ParseRtpHeader(std::span<const std::uint8_t> p) {
  if (p.size() < 12 || (p[0] >> 6) != 2) return std::nullopt;
  std::size_t len = 12 + 4 * static_cast<std::size_t>(p[0] & 0x0f);
  if (p[0] & 0x10) {
    if (p.size() < len + 4) return std::nullopt;
    len += 4 + 4 * ((static_cast<std::size_t>(p[len + 2]) << 8) | p[len + 3]);
  }
  if (p.size() < len) return std::nullopt;
  RtpHeaderInfo info;
  info.seq = static_cast<std::uint16_t>((p[2] << 8) | p[3]);
  info.ssrc = (static_cast<std::uint32_t>(p[8]) << 24) | (static_cast<std::uint32_t>(p[9]) << 16) |
              (static_cast<std::uint32_t>(p[10]) << 8) | p[11];
  info.header_length = len;
  info.timestamp = (static_cast<std::uint32_t>(p[4]) << 24) |
                   (static_cast<std::uint32_t>(p[5]) << 16) |
                   (static_cast<std::uint32_t>(p[6]) << 8) | p[7];
  info.marker = (p[1] & 0x80) != 0;
  info.padding = (p[0] & 0x20) != 0;
  info.csrc_count = p[0] & 0x0f;
  return info;
}

// RFC 3711 Appendix A: the packet index of `seq` given the highest index received so far
// (never a negative ROC: with ROC 0 the guess stays in ROC 0, as libsrtp does).
inline std::uint64_t EstimatePacketIndex(std::uint64_t highest_index, std::uint16_t seq) {
  const std::uint64_t roc = highest_index >> 16;
  const std::uint32_t s_l = highest_index & 0xffff;
  std::uint64_t v = roc;
  if (s_l < 0x8000) {
    if (seq > s_l && seq - s_l > 0x8000 && roc > 0) v = roc - 1;
  } else if (s_l - 0x8000 > seq) {
    v = roc + 1;
  }
  return ((v << 16) | seq) & 0xffffffffffffULL;
}

}  // namespace bcast::srtp
