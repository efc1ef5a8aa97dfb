#include "gst-plugins/bcastprotect/srtp/srtp_types.h"

namespace bcast::srtp {

TagField TagFieldFor(SrtpAuth auth, bool authenticated_tek, RccMode rcc, std::uint16_t roc_tx_rate,
                     std::uint16_t seq) {
  const std::size_t tag = authenticated_tek ? TagLength(auth) : 0;
  if (tag == 0) return {};
  if (rcc == RccMode::kNone) return {tag, false, tag};
  const bool roc_packet = roc_tx_rate != 0 && seq % roc_tx_rate == 0;
  if (roc_packet) {
    if (rcc == RccMode::kRccm3) return {kRocLength, true, 0};
    const std::size_t mac = tag > kRocLength ? tag - kRocLength : 0;
    return {kRocLength + mac, true, mac};
  }
  if (rcc == RccMode::kRccm2) return {tag, false, tag};
  return {};  // RCCm1 / RCCm3: packets without ROC carry no tag
}

std::optional<SrtpAuth> ParseSrtpAuth(std::string_view name) {
  if (name == "hmac-sha1-80") return SrtpAuth::kHmacSha1_80;
  if (name == "hmac-sha1-32") return SrtpAuth::kHmacSha1_32;
  if (name == "null") return SrtpAuth::kNull;
  return std::nullopt;
}

std::string_view SrtpAuthName(SrtpAuth auth) {
  switch (auth) {
    case SrtpAuth::kHmacSha1_80:
      return "hmac-sha1-80";
    case SrtpAuth::kHmacSha1_32:
      return "hmac-sha1-32";
    case SrtpAuth::kNull:
      return "null";
  }
  return "null";
}

std::optional<RtpHeaderInfo> ParseRtpHeader(std::span<const std::uint8_t> p) {
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

std::uint64_t EstimatePacketIndex(std::uint64_t highest_index, std::uint16_t seq) {
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
