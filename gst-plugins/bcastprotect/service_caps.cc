#include "gst-plugins/bcastprotect/service_caps.h"

#include <gst/gst.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace bcast {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

struct CapsDeleter {
  void operator()(GstCaps* caps) const { gst_caps_unref(caps); }
};
struct CharDeleter {
  void operator()(gchar* s) const { g_free(s); }
};

// Caps fields that come from the m= line and a=rtpmap; fmtp parameters of these names are ignored
// so a stray fmtp cannot change the payload type, the clock or the SRTP parameters.
bool Reserved(const std::string& name) {
  return name == "media" || name == "payload" || name == "clock-rate" || name == "encoding-name" ||
         name == "encoding-params" || name.rfind("srtp-", 0) == 0 || name == "mki-length" ||
         name == "roc";
}

// GstStructure field names (gst_structure_validate_name is not public API).
bool ValidFieldName(const std::string& name) {
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) &&
        std::string_view("/-_.:+").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool AacMode(const channels::MediaStream& media) {
  auto mode = media.fmtp.find("mode");
  return mode != media.fmtp.end() && Lower(mode->second).rfind("aac", 0) == 0;
}

}  // namespace

spc::Result<SrtpAuthentication> ParseSrtpAuthentication(std::string_view value) {
  SrtpAuthentication out;
  std::string v = Lower(value);
  std::size_t pos = 0;
  while (pos <= v.size()) {
    std::size_t end = v.find_first_of(", ;", pos);
    if (end == std::string::npos) end = v.size();
    std::string token = v.substr(pos, end - pos);
    pos = end + 1;
    if (token.empty()) continue;
    if (token == "rccm1" || token == "1") {
      out.rcc_mode = 1;
    } else if (token == "rccm2" || token == "2") {
      out.rcc_mode = 2;
    } else if (token == "rccm3" || token == "3") {
      out.rcc_mode = 3;
    } else if (token == "none" || token == "0") {
      out.rcc_mode = 0;
    } else if (token == "hmac-sha1-80" || token == "hmac-sha1_80" || token == "80") {
      out.auth = "hmac-sha1-80";
    } else if (token == "hmac-sha1-32" || token == "hmac-sha1_32" || token == "32") {
      out.auth = "hmac-sha1-32";
    } else if (token == "null" || token == "no-auth") {
      out.auth = "null";
    } else {
      return spc::ParseError{"unknown SRTP authentication value '" + token + "'",
                             "a=SRTPAuthentication", 0};
    }
  }
  return out;
}

spc::Result<StreamPlan> PlanForMedia(const channels::MediaStream& media) {
  StreamPlan plan;
  if (media.srtp()) {
    plan.protection = Protection::kSrtp;
    plan.decryptor = "bcastsrtpdec";
  } else if (media.protocol != "RTP/AVP") {
    return spc::ParseError{"unsupported transport '" + media.protocol + "'", "m=", 0};
  }
  const std::string encoding = Upper(media.encoding_name);
  if (media.clock_rate <= 0) {
    return spc::ParseError{"no clock rate for payload " + std::to_string(media.payload_type),
                           "a=rtpmap", 0};
  }
  if (encoding == "H264") {
    plan.depayloader = "rtph264depay";
    plan.parser = "h264parse";
    plan.decoder = "avdec_h264";
    plan.video = true;
  } else if (encoding == "MPEG4-GENERIC") {
    if (!AacMode(media)) {
      return spc::ParseError{"MPEG4-GENERIC without an AAC mode is not supported", "a=fmtp", 0};
    }
    plan.depayloader = "rtpmp4gdepay";
    plan.parser = "aacparse";
    plan.decoder = "avdec_aac";
  } else if (encoding == "MP4A-LATM") {
    plan.depayloader = "rtpmp4adepay";
    plan.parser = "aacparse";
    plan.decoder = "avdec_aac";
  } else if (encoding == "ENC-MPEG4-GENERIC") {
    // ISMACryp on RTP/AVP: ismacrypdec depayloads and decrypts in one step (ismacryp.md).
    if (media.srtp()) {
      return spc::ParseError{"enc-mpeg4-generic over RTP/SAVP is not supported", "m=", 0};
    }
    plan.protection = Protection::kIsmacryp;
    plan.depayloader = "ismacrypdec";
    if (media.media == "video") {
      plan.parser = "h264parse";
      plan.decoder = "avdec_h264";
      plan.video = true;
    } else if (media.media == "audio" && AacMode(media)) {
      plan.parser = "aacparse";
      plan.decoder = "avdec_aac";
    } else {
      return spc::ParseError{"enc-mpeg4-generic: only H.264 video and AAC audio are supported",
                             "a=fmtp", 0};
    }
  } else {
    return spc::ParseError{"unsupported encoding '" + media.encoding_name + "'", "a=rtpmap", 0};
  }
  if (plan.protection == Protection::kIsmacryp && media.key_stream_id.empty()) {
    return spc::ParseError{"ISMACryp media without a key stream", "a=stkmstream", 0};
  }

  GstStructure* s = gst_structure_new_empty(
      plan.protection == Protection::kSrtp ? "application/x-srtp" : "application/x-rtp");
  std::unique_ptr<GstCaps, CapsDeleter> caps(gst_caps_new_full(s, nullptr));
  gst_structure_set(s, "media", G_TYPE_STRING, media.media.c_str(), "payload", G_TYPE_INT,
                    media.payload_type, "clock-rate", G_TYPE_INT, media.clock_rate, "encoding-name",
                    G_TYPE_STRING, encoding.c_str(), nullptr);
  if (media.channels > 0) {
    gst_structure_set(s, "encoding-params", G_TYPE_STRING, std::to_string(media.channels).c_str(),
                      nullptr);
  }
  // Depayloaders (and ismacrypdec) read fmtp parameters as lower-case string fields, as
  // gst_sdp_media_get_caps_from_media writes them.
  for (const auto& [name, value] : media.fmtp) {
    std::string key = Lower(name);
    if (Reserved(key) || !ValidFieldName(key)) continue;
    gst_structure_set(s, key.c_str(), G_TYPE_STRING, value.c_str(), nullptr);
  }
  if (plan.protection == Protection::kSrtp) {
    auto auth = ParseSrtpAuthentication(media.srtp_authentication);
    if (!auth) return auth.error();
    plan.rcc_mode = auth->rcc_mode;
    gst_structure_set(s, "srtp-auth", G_TYPE_STRING, auth->auth.c_str(), "mki-length", G_TYPE_INT,
                      media.mki_length, "srtp-rcc-mode", G_TYPE_INT, auth->rcc_mode, nullptr);
    // RFC 5159: without a=SRTPROCTxRate the ROC travels in every packet (R = 1); without an RCC
    // mode the rate means nothing and is left out.
    const int rate = media.roc_tx_rate > 0 ? media.roc_tx_rate : (auth->rcc_mode > 0 ? 1 : 0);
    if (rate > 0) gst_structure_set(s, "srtp-roc-tx-rate", G_TYPE_INT, rate, nullptr);
  }
  std::unique_ptr<gchar, CharDeleter> text(gst_caps_to_string(caps.get()));
  plan.caps = text.get();
  return plan;
}

}  // namespace bcast
