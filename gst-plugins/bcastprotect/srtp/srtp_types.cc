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

}  // namespace bcast::srtp
