// Session description of a protected service (shared/spec/sdp.md): SDP with the BCAST attributes.
// One parser and one writer, on the text (no GStreamer: spcd uses them too).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "spc/libspc/result.h"

namespace channels {

// The m=application line carrying STKMs (`vnd.oma.bcast.stkm`).
struct KeyStream {
  std::string id;       // a=stkmstream
  std::string address;  // c= (unicast or multicast, without /ttl)
  std::uint16_t port = 0;
  std::string base_cid;             // a=bcast-basecid
  std::uint32_t key_domain_id = 0;  // a=bcast-keydomain (hex)
  int ttl = 0;                      // c= TTL of an IPv4 multicast address, 0 when absent
  bool operator==(const KeyStream&) const = default;
};

// Broadcast-only terminals (sdp.md): the streams carrying device_registration_response() messages,
// BCROs and ROAP triggers, each an m=application UDP line with its own format.
enum class LtkmStreamKind { kRegistration, kBcro, kTrigger };

// The format names: "vnd.oma.bcast.registration", "vnd.oma.bcast.bcro", "vnd.oma.drm.roap-trigger".
std::string_view LtkmStreamFormat(LtkmStreamKind kind);
// UDP port registered for OMA BCAST long-term key messages (IANA "omabcastltkm"): the default of
// the BCRO stream.
inline constexpr std::uint16_t kDefaultBcroPort = 4359;

struct LtkmStream {
  LtkmStreamKind kind = LtkmStreamKind::kBcro;
  std::string address;  // c= (unicast or multicast, without /ttl)
  std::uint16_t port = 0;
  int ttl = 0;  // c= TTL of an IPv4 multicast address, 0 when absent
  bool operator==(const LtkmStream&) const = default;
};

// One media m= line.
struct MediaStream {
  std::string media;  // "video" / "audio"
  std::string address;
  std::uint16_t port = 0;
  std::string protocol;  // "RTP/SAVP" (SRTP) or "RTP/AVP" (clear or ISMACryp)
  int payload_type = 0;
  std::string encoding_name;  // from a=rtpmap, e.g. "H264", "MPEG4-GENERIC", "enc-mpeg4-generic"
  int clock_rate = 0;
  int channels = 0;                         // audio channels from a=rtpmap, 0 when absent
  std::map<std::string, std::string> fmtp;  // a=fmtp parameters (name → value), as written
  std::string key_stream_id;                // a=stkmstream ("" for a clear stream)
  int mki_length = 0;                       // a=bcast-mki-length
  std::string srtp_authentication;          // a=SRTPAuthentication value ("" when absent)
  int roc_tx_rate = 0;                      // a=SRTPROCTxRate, 0 when absent
  int ttl = 0;                              // c= TTL of an IPv4 multicast address, 0 when absent
  bool srtp() const { return protocol == "RTP/SAVP"; }
  bool operator==(const MediaStream&) const = default;
};

struct SessionDescription {
  std::string session_name;   // s=
  std::string bcast_version;  // a=bcastversion
  std::string roap_url;       // a=bcast-roap-url
  std::string stkm_url;       // a=bcast-stkm-url
  // Smartcard Profile (smartcard.md): a=bcast-profile:smartcard ("" = DRM Profile), the BSF
  // (a=bcast-bsf-url) and the BSM's base URL for MSK requests (a=bcast-bsm-url).
  std::string profile;
  std::string bsf_url;
  std::string bsm_url;
  bool smartcard() const { return profile == "smartcard"; }
  std::vector<KeyStream> key_streams;
  std::vector<MediaStream> media;
  std::vector<LtkmStream> ltkm_streams;  // registration, BCRO and trigger streams, in SDP order
  bool operator==(const SessionDescription&) const = default;

  // The key stream with this a=stkmstream id, nullptr when there is none.
  const KeyStream* FindKeyStream(std::string_view id) const;
};

// Errors name the SDP line/attribute as `field`; offset is the 1-based line number where known.
spc::Result<SessionDescription> ParseSessionDescription(std::string_view text);
spc::Result<SessionDescription> LoadSessionDescription(const std::string& path);
std::string WriteSessionDescription(const SessionDescription& sd);

}  // namespace channels
