// How bcast-player turns one media line of a session description into GStreamer: the caps that
// bcastsrtpdec (or the depayloader, for a clear stream) receives and the element chain after it.
#pragma once

#include <gst/gst.h>

#include <string>

#include "channels/session_description.h"
#include "spc/libspc/result.h"

namespace player {

// a=SRTPAuthentication, read as bcastsrtpdec's caps fields.
struct SrtpAuthentication {
  std::string auth = "hmac-sha1-80";  // srtp-auth: hmac-sha1-80 | hmac-sha1-32 | null
  int rcc_mode = 0;                   // srtp-rcc-mode: 0 none, 1..3 RCCm1..RCCm3 (RFC 4771)
};

// Accepts the RFC 4771 mode names (RCCm1..3, "none"), the tag names (HMAC-SHA1-80/32, null),
// combinations such as "RCCm2,HMAC-SHA1-32" and bare numbers 0..3 for the mode; case-insensitive.
spc::Result<SrtpAuthentication> ParseSrtpAuthentication(std::string_view value);

struct MediaChain {
  std::string caps;         // caps string of the UDP payload
  std::string depayloader;  // e.g. "rtph264depay"
  std::string parser;       // e.g. "h264parse"
  std::string decoder;      // e.g. "avdec_h264"
  bool video = false;
  bool srtp = false;  // bcastsrtpdec goes before the depayloader
  int rcc_mode = 0;   // RFC 4771 mode of an SRTP stream (0: the ROC is not carried)
};

// Errors name the SDP attribute in `field` (e.g. "a=rtpmap", "a=SRTPAuthentication").
spc::Result<MediaChain> ChainForMedia(const channels::MediaStream& media);

}  // namespace player
