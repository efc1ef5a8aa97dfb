// How one media line of a session description (channels::MediaStream) becomes GStreamer: the caps
// of the UDP payload, the decryptor, depayloader, parser and decoder. Shared by bcastsrc and (when
// it switches) bcast-player, so the SDP → caps mapping lives in one place. No GStreamer elements
// are made here: the result names factories.
#pragma once

#include <string>
#include <string_view>

#include "channels/session_description.h"
#include "spc/libspc/result.h"

namespace bcast {

// a=SRTPAuthentication, read as bcastsrtpdec's caps fields.
struct SrtpAuthentication {
  std::string auth = "hmac-sha1-80";  // srtp-auth: hmac-sha1-80 | hmac-sha1-32 | null
  int rcc_mode = 0;                   // srtp-rcc-mode: 0 none, 1..3 RCCm1..RCCm3 (RFC 4771)
};

// Accepts the RFC 4771 mode names (RCCm1..3, "none"), the tag names (HMAC-SHA1-80/32, null),
// combinations such as "RCCm2,HMAC-SHA1-32" and bare numbers 0..3 for the mode; case-insensitive.
spc::Result<SrtpAuthentication> ParseSrtpAuthentication(std::string_view value);

enum class Protection { kClear, kSrtp, kIsmacryp };

struct StreamPlan {
  std::string caps;  // caps string of the UDP payload (application/x-srtp or application/x-rtp)
  Protection protection = Protection::kClear;
  std::string decryptor;    // "bcastsrtpdec" before the depayloader, or "" (ISMACryp, clear)
  std::string depayloader;  // "rtph264depay", "rtpmp4gdepay", "rtpmp4adepay" or "ismacrypdec"
  std::string parser;       // "h264parse" / "aacparse"
  std::string decoder;      // "avdec_h264" / "avdec_aac" (for players that decode themselves)
  bool video = false;
  int rcc_mode = 0;  // RFC 4771 mode of an SRTP stream (0: the ROC is not carried)
  bool protected_stream() const { return protection != Protection::kClear; }
};

// Errors name the SDP line or attribute in `field` (e.g. "a=rtpmap", "a=SRTPAuthentication", "m=").
spc::Result<StreamPlan> PlanForMedia(const channels::MediaStream& media);

}  // namespace bcast
