#include "samples/headend/options.h"

#include <glib.h>

#include <cstdlib>
#include <memory>
#include <optional>

#ifndef OPENBCAST_SAMPLE_MEDIA
#define OPENBCAST_SAMPLE_MEDIA "samples/media/sample.mp4"
#endif

namespace headend {
namespace {

struct GFree {
  void operator()(gchar* p) const { g_free(p); }
};
using GCharPtr = std::unique_ptr<gchar, GFree>;
struct OptionContextFree {
  void operator()(GOptionContext* c) const { g_option_context_free(c); }
};

// Accepts decimal and 0x-prefixed hex; the whole string must be a number within [min, max].
std::optional<std::uint64_t> ParseUnsigned(const char* text, std::uint64_t min, std::uint64_t max) {
  if (text == nullptr || *text == '\0' || *text == '-') return std::nullopt;
  guint64 value = 0;
  GError* err = nullptr;
  const bool hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const bool ok =
      g_ascii_string_to_unsigned(hex ? text + 2 : text, hex ? 16 : 10, min, max, &value, &err);
  g_clear_error(&err);
  if (!ok) return std::nullopt;
  return value;
}

constexpr const char* kDescription =
    "Events on stdout (one per line, flushed):\n"
    "  tek id=<n> next=<n>     the TEK with ID n is now used for the media; next is announced\n"
    "  tek id=<n> next=<n> key-stream=2   the same for the ISMACryp TEKs of --protection mixed\n"
    "  ready sdp=<path>        sending has started (path empty without --sdp-out)\n"
    "  roap ready url=<RI URL> ri-id=<hex>   the ROAP Rights Issuer listens (--pki-dir)\n"
    "  roap registered device=<hex>          a 4-pass registration succeeded\n"
    "  roap ro-sent device=<hex> cids=<a,b> [trigger-nonce=<n>]   an roResponse with ROs\n"
    "  roap refused <message>                a request answered with a non-Success status\n"
    "  roap trigger id=<id> cids=<a,b> nonce=<n> [file=<path>]    a SEK change's trigger\n"
    "  stkm-sent n=<count>     every 20 STKMs\n"
    "  loop n=<count>          the media file started over\n"
    "  stopped                 clean exit\n"
    "\n"
    "TEKs: a random TEK and master salt every --tek-period seconds, announced one period ahead as\n"
    "the next TEK of every STKM; TEK IDs count up from --first-tek-id and wrap from 65535 to 1.\n"
    "STKMs: service key (SEK/SAK) of group <base-cid><extension as 8 hex digits> in --key-file,\n"
    "timestamp and master salt present, lifetime 2 x period + 5 s, one STKM per datagram.\n"
    "SRTP: MKI = TEK ID (2 bytes), master key = TEK, master salt from the STKM. With an RFC 4771\n"
    "mode every packet with SEQ mod R = 0 carries the ROC (R = --roc-tx-rate, default 1: every\n"
    "packet, so a terminal joining at any packet learns the ROC at once and RCCm1 never leaves a\n"
    "packet without integrity tag).\n"
    "ISMACryp (--protection ismacryp, or the audio of mixed): RTP enc-mpeg4-generic, H.264 as "
    "ISMA\n"
    "E&A Annex B access units (mode=avc-video, streamType=4, sizeLength=16, RAP flag; parameter\n"
    "sets in-band and in sprop-parameter-sets), AAC raw frames (mode=AAC-hbr, streamType=5,\n"
    "sizeLength=13, indexLength=3, indexDeltaLength=3). AES-128-CTR under the current TEK at each\n"
    "AU's byte stream offset, salt 0; key indicator = TEK ID. STKMs say "
    "traffic_protection_protocol\n"
    "2, no master salt, no traffic authentication. --isma-* options shape the AU headers, larger "
    "AUs\n"
    "than --mtu allows are fragmented. With mixed, the ISMACryp TEKs come in a second key stream\n"
    "(--isma-key-port) and the two schedules use odd and even TEK IDs so they never share an ID.\n"
    "\n"
    "Fault injection (every Nth, counted per stream; 0 = off). Except for --inject, the genuine\n"
    "traffic is still sent, so a correct terminal plays as if nothing happened:\n"
    "  --corrupt-stkm-every N          after every Nth STKM also send a forged copy: random TEKs\n"
    "                                  under the genuine TEK IDs, MAC that does not verify\n"
    "  --inject-random-key-datagrams N every Nth STKM interval also send 1..200 random bytes on\n"
    "                                  the key stream\n"
    "  --foreign-stkm-every N          every Nth interval also send an STKM for CID extension + "
    "1,\n"
    "                                  keyed with random keys (a terminal has no rights for it)\n"
    "  --break-srtp-tag-every N        before every Nth SRTP packet send a copy with a bit of its\n"
    "                                  last byte flipped (the auth tag; the payload with --auth "
    "null)\n"
    "  --replay-srtp-every N           after every Nth SRTP packet resend the packet sent 8\n"
    "                                  packets earlier (exact copy: a replay)\n";

}  // namespace

const char* ToString(SrtpAuth auth) {
  switch (auth) {
    case SrtpAuth::kHmacSha1_80:
      return "hmac-sha1-80";
    case SrtpAuth::kHmacSha1_32:
      return "hmac-sha1-32";
    case SrtpAuth::kNull:
      return "null";
  }
  return "?";
}

const char* ToString(Protection protection) {
  return protection == Protection::kSrtp ? "srtp" : "ismacryp";
}

const char* ToString(RccMode mode) {
  switch (mode) {
    case RccMode::kNone:
      return "none";
    case RccMode::kRccm1:
      return "RCCm1";
    case RccMode::kRccm2:
      return "RCCm2";
    case RccMode::kRccm3:
      return "RCCm3";
  }
  return "?";
}

bool ParseOptions(int argc, char** argv, Options* o, std::string* error) {
  gchar *media = nullptr, *key_file = nullptr, *base_cid = nullptr, *cid_ext = nullptr,
        *key_domain = nullptr, *write_key_file = nullptr, *auth = nullptr, *rcc = nullptr,
        *dest = nullptr, *sdp_out = nullptr, *session_name = nullptr, *first_tek = nullptr,
        *initial_seq = nullptr, *initial_roc = nullptr, *protection = nullptr;
  gint tek_period = static_cast<gint>(o->tek_period_s),
       stkm_interval = static_cast<gint>(o->stkm_interval_ms), roc_rate = -1, ttl = o->ttl,
       key_port = o->key_port, video_port = o->video_port, audio_port = o->audio_port, duration = 0,
       corrupt = 0, inject = 0, foreign = 0, brk = 0, replay = 0, isma_key_port = o->isma_key_port,
       mtu = static_cast<gint>(o->mtu), iv_length = static_cast<gint>(o->isma.iv_length),
       delta_iv_length = static_cast<gint>(o->isma.delta_iv_length),
       ki_length = static_cast<gint>(o->isma.key_indicator_length), ki_per_au = 0, selective = 0,
       clear_share = -1, aus_per_packet = static_cast<gint>(o->isma.aus_per_packet), par = 0,
       parental = 0;
  gboolean clear = FALSE, bad_mac = FALSE;
  GOptionEntry entries[] = {
      {"media", 0, 0, G_OPTION_ARG_FILENAME, &media, "MP4 with H.264 + AAC (default: sample)",
       "FILE"},
      {"key-file", 0, 0, G_OPTION_ARG_FILENAME, &key_file, "long-term keys (stkm.md key file)",
       "FILE"},
      {"base-cid", 0, 0, G_OPTION_ARG_STRING, &base_cid,
       "base content ID (urn:openbcast:svc:sample:)", "CID"},
      {"cid-extension", 0, 0, G_OPTION_ARG_STRING, &cid_ext, "service CID extension (0x2a)", "N"},
      {"key-domain", 0, 0, G_OPTION_ARG_STRING, &key_domain,
       "key domain ID for --write-key-file and of --profile smartcard (0x0a0b0c)", "HEX"},
      {"write-key-file", 0, 0, G_OPTION_ARG_FILENAME, &write_key_file,
       "write a fresh random SEK/SAK for <base-cid><extension> to FILE and exit", "FILE"},
      {"tek-period", 0, 0, G_OPTION_ARG_INT, &tek_period, "seconds per TEK (10)", "S"},
      {"first-tek-id", 0, 0, G_OPTION_ARG_STRING, &first_tek, "ID of the first TEK, 1..65535 (1)",
       "N"},
      {"stkm-interval", 0, 0, G_OPTION_ARG_INT, &stkm_interval, "ms between STKMs (500)", "MS"},
      {"clear", 0, 0, G_OPTION_ARG_NONE, &clear, "no encryption: RTP/AVP, no key stream", nullptr},
      {"protection", 0, 0, G_OPTION_ARG_STRING, &protection,
       "srtp | ismacryp | mixed (video SRTP, audio ISMACryp) (srtp)", "P"},
      {"mtu", 0, 0, G_OPTION_ARG_INT, &mtu,
       "largest RTP packet in bytes, header included, before SRTP's MKI/tag (1400)", "BYTES"},
      {"isma-iv-length", 0, 0, G_OPTION_ARG_INT, &iv_length, "ISMACrypIVLength, bytes 0..8 (4)",
       "N"},
      {"isma-delta-iv-length", 0, 0, G_OPTION_ARG_INT, &delta_iv_length,
       "ISMACrypDeltaIVLength, bytes 0..8 (0)", "N"},
      {"isma-key-indicator-length", 0, 0, G_OPTION_ARG_INT, &ki_length,
       "ISMACrypKeyIndicatorLength, bytes: 0 or 2..8 (2)", "N"},
      {"isma-key-indicator-per-au", 0, 0, G_OPTION_ARG_INT, &ki_per_au,
       "ISMACrypKeyIndicatorPerAU 0|1 (0)", "0|1"},
      {"isma-selective-encryption", 0, 0, G_OPTION_ARG_INT, &selective,
       "ISMACrypSelectiveEncryption 0|1 (0)", "0|1"},
      {"isma-clear-share", 0, 0, G_OPTION_ARG_INT, &clear_share,
       "with selective encryption: percent of AUs sent clear (0)", "PERCENT"},
      {"isma-aus-per-packet", 0, 0, G_OPTION_ARG_INT, &aus_per_packet,
       "most AUs aggregated in one RTP packet (1)", "N"},
      {"isma-key-port", 0, 0, G_OPTION_ARG_INT, &isma_key_port,
       "with --protection mixed: UDP port of the ISMACryp key stream (5006)", "PORT"},
      {"auth", 0, 0, G_OPTION_ARG_STRING, &auth, "hmac-sha1-80 | hmac-sha1-32 | null", "AUTH"},
      {"rcc-mode", 0, 0, G_OPTION_ARG_STRING, &rcc,
       "RFC 4771 ROC carrying: none | rccm1 | rccm2 | rccm3", "MODE"},
      {"roc-tx-rate", 0, 0, G_OPTION_ARG_INT, &roc_rate, "ROC in packets with SEQ mod R = 0 (1)",
       "R"},
      {"initial-seq", 0, 0, G_OPTION_ARG_STRING, &initial_seq,
       "first RTP sequence number (random below 32768)", "N"},
      {"initial-roc", 0, 0, G_OPTION_ARG_STRING, &initial_roc, "initial SRTP roll-over counter (0)",
       "N"},
      {"dest", 0, 0, G_OPTION_ARG_STRING, &dest,
       "destination address (127.0.0.1), may be multicast", "ADDR"},
      {"ttl", 0, 0, G_OPTION_ARG_INT, &ttl, "multicast TTL (1)", "N"},
      {"key-port", 0, 0, G_OPTION_ARG_INT, &key_port, "key stream UDP port (5000)", "PORT"},
      {"video-port", 0, 0, G_OPTION_ARG_INT, &video_port, "video RTP port (5002)", "PORT"},
      {"audio-port", 0, 0, G_OPTION_ARG_INT, &audio_port, "audio RTP port (5004)", "PORT"},
      {"sdp-out", 0, 0, G_OPTION_ARG_FILENAME, &sdp_out, "write the session description here",
       "FILE"},
      {"session-name", 0, 0, G_OPTION_ARG_STRING, &session_name, "SDP s= line", "NAME"},
      {"duration", 0, 0, G_OPTION_ARG_INT, &duration, "stop after S seconds (0: run forever)", "S"},
      {"corrupt-stkm-every", 0, 0, G_OPTION_ARG_INT, &corrupt, "fault: forged STKM", "N"},
      {"inject-random-key-datagrams", 0, 0, G_OPTION_ARG_INT, &inject,
       "fault: random key datagrams", "N"},
      {"foreign-stkm-every", 0, 0, G_OPTION_ARG_INT, &foreign, "fault: STKM for another content ID",
       "N"},
      {"break-srtp-tag-every", 0, 0, G_OPTION_ARG_INT, &brk, "fault: SRTP copy with broken tag",
       "N"},
      {"replay-srtp-every", 0, 0, G_OPTION_ARG_INT, &replay, "fault: replayed SRTP packet", "N"},
      {"bad-stkm-mac", 0, 0, G_OPTION_ARG_NONE, &bad_mac,
       "fault: every STKM with a MAC that does not verify (no TEK for anyone)", nullptr},
      {"protection-after-reception", 0, 0, G_OPTION_ARG_INT, &par,
       "STKM protection_after_reception 0..3 (0; 3: no recording)", "N"},
      {"parental-rating", 0, 0, G_OPTION_ARG_INT, &parental,
       "STKM access criteria: parental rating, minimum age 1..255 (0: none)", "AGE"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr},
  };
  std::unique_ptr<GOptionContext, OptionContextFree> context(
      g_option_context_new("- OMA BCAST sample head-end: SRTP service with STKM key stream"));
  g_option_context_add_main_entries(context.get(), entries, nullptr);
  g_option_context_add_group(context.get(), MakeLtkmOptionGroup(&o->ltkm));
  g_option_context_add_group(context.get(), MakeRoapOptionGroup(&o->roap));
  g_option_context_add_group(context.get(), MakeSmartcardOptionGroup(&o->smartcard));
  g_option_context_add_group(context.get(), MakeStkmEndpointOptionGroup(&o->stkm));
  g_option_context_set_description(context.get(), kDescription);
  GError* err = nullptr;
  const bool parsed = g_option_context_parse(context.get(), &argc, &argv, &err);
  GCharPtr owned[] = {GCharPtr(media),       GCharPtr(key_file),     GCharPtr(base_cid),
                      GCharPtr(cid_ext),     GCharPtr(key_domain),   GCharPtr(write_key_file),
                      GCharPtr(auth),        GCharPtr(rcc),          GCharPtr(dest),
                      GCharPtr(sdp_out),     GCharPtr(session_name), GCharPtr(first_tek),
                      GCharPtr(initial_seq), GCharPtr(initial_roc),  GCharPtr(protection)};
  if (!parsed) {
    *error = err->message;
    g_clear_error(&err);
    return false;
  }
  if (argc > 1) {
    *error = std::string("unexpected argument ") + argv[1];
    return false;
  }
  auto fail = [&](const std::string& message) {
    *error = message;
    return false;
  };

  o->media = media != nullptr ? media : OPENBCAST_SAMPLE_MEDIA;
  if (key_file != nullptr) o->key_file = key_file;
  if (base_cid != nullptr) o->base_cid = base_cid;
  if (cid_ext != nullptr) {
    auto v = ParseUnsigned(cid_ext, 0, 0xffffffffu);
    if (!v) return fail("--cid-extension: not a 32-bit number: " + std::string(cid_ext));
    o->cid_extension = static_cast<std::uint32_t>(*v);
  }
  if (key_domain != nullptr) {
    auto v = ParseUnsigned(key_domain, 0, 0xffffff);
    if (!v) return fail("--key-domain: not a 24-bit number: " + std::string(key_domain));
    o->key_domain_id = static_cast<std::uint32_t>(*v);
  }
  if (write_key_file != nullptr) o->write_key_file = write_key_file;
  if (tek_period < 1 || tek_period > 30000) return fail("--tek-period: 1..30000 seconds");
  o->tek_period_s = static_cast<unsigned>(tek_period);
  if (first_tek != nullptr) {
    auto v = ParseUnsigned(first_tek, 1, 0xffff);
    if (!v) return fail("--first-tek-id: 1..65535");
    o->first_tek_id = static_cast<std::uint16_t>(*v);
  }
  if (stkm_interval < 10 || stkm_interval > 600000) return fail("--stkm-interval: 10..600000 ms");
  o->stkm_interval_ms = static_cast<unsigned>(stkm_interval);
  o->clear = clear;
  if (auth != nullptr) {
    std::string a = auth;
    if (a == "hmac-sha1-80") {
      o->auth = SrtpAuth::kHmacSha1_80;
    } else if (a == "hmac-sha1-32") {
      o->auth = SrtpAuth::kHmacSha1_32;
    } else if (a == "null") {
      o->auth = SrtpAuth::kNull;
    } else {
      return fail("--auth: hmac-sha1-80, hmac-sha1-32 or null, not " + a);
    }
  }
  if (rcc != nullptr) {
    GCharPtr lower(g_ascii_strdown(rcc, -1));
    std::string r = lower.get();
    if (r == "none") {
      o->rcc_mode = RccMode::kNone;
    } else if (r == "rccm1") {
      o->rcc_mode = RccMode::kRccm1;
    } else if (r == "rccm2") {
      o->rcc_mode = RccMode::kRccm2;
    } else if (r == "rccm3") {
      o->rcc_mode = RccMode::kRccm3;
    } else {
      return fail("--rcc-mode: none, rccm1, rccm2 or rccm3, not " + std::string(rcc));
    }
  }
  if (roc_rate != -1) {
    if (roc_rate < 1 || roc_rate > 65535) return fail("--roc-tx-rate: 1..65535");
    o->roc_tx_rate = static_cast<unsigned>(roc_rate);
  }
  if (initial_seq != nullptr) {
    auto v = ParseUnsigned(initial_seq, 0, 0xffff);
    if (!v) return fail("--initial-seq: 0..65535");
    o->initial_seq = static_cast<int>(*v);
  }
  if (initial_roc != nullptr) {
    auto v = ParseUnsigned(initial_roc, 0, 0xffffffffu);
    if (!v) return fail("--initial-roc: 32-bit number");
    o->initial_roc = static_cast<std::uint32_t>(*v);
  }
  if (dest != nullptr) o->dest = dest;
  if (ttl < 0 || ttl > 255) return fail("--ttl: 0..255");
  o->ttl = ttl;
  for (auto [name, value, out] :
       {std::tuple{"--key-port", key_port, &o->key_port},
        std::tuple{"--video-port", video_port, &o->video_port},
        std::tuple{"--audio-port", audio_port, &o->audio_port},
        std::tuple{"--isma-key-port", isma_key_port, &o->isma_key_port}}) {
    if (value < 1 || value > 65535) return fail(std::string(name) + ": 1..65535");
    *out = static_cast<std::uint16_t>(value);
  }
  if (sdp_out != nullptr) o->sdp_out = sdp_out;
  if (session_name != nullptr) o->session_name = session_name;
  if (duration < 0) return fail("--duration: seconds >= 0");
  o->duration_s = static_cast<unsigned>(duration);
  for (auto [name, value, out] :
       {std::tuple{"--corrupt-stkm-every", corrupt, &o->corrupt_stkm_every},
        std::tuple{"--inject-random-key-datagrams", inject, &o->inject_random_key_datagrams},
        std::tuple{"--foreign-stkm-every", foreign, &o->foreign_stkm_every},
        std::tuple{"--break-srtp-tag-every", brk, &o->break_srtp_tag_every},
        std::tuple{"--replay-srtp-every", replay, &o->replay_srtp_every}}) {
    if (value < 0) return fail(std::string(name) + ": N >= 0");
    *out = static_cast<unsigned>(value);
  }
  o->bad_stkm_mac = bad_mac;
  if (par < 0 || par > 3) return fail("--protection-after-reception: 0..3");
  o->protection_after_reception = static_cast<unsigned>(par);
  if (parental < 0 || parental > 255) return fail("--parental-rating: 0..255");
  o->parental_rating = static_cast<unsigned>(parental);
  if (protection != nullptr) {
    const std::string p = protection;
    if (o->clear) return fail("--clear sends no protection: leave out --protection");
    if (p == "srtp") {
      o->video_protection = o->audio_protection = Protection::kSrtp;
    } else if (p == "ismacryp") {
      o->video_protection = o->audio_protection = Protection::kIsmacryp;
    } else if (p == "mixed") {
      o->video_protection = Protection::kSrtp;
      o->audio_protection = Protection::kIsmacryp;
    } else {
      return fail("--protection: srtp, ismacryp or mixed, not " + p);
    }
  }
  // 12 bytes of RTP header plus room for at least a few bytes of AU after the AU headers.
  if (mtu < 64 || mtu > 65000) return fail("--mtu: 64..65000 bytes");
  o->mtu = static_cast<unsigned>(mtu);
  if (iv_length < 0 || iv_length > 8) return fail("--isma-iv-length: 0..8 bytes");
  if (delta_iv_length < 0 || delta_iv_length > 8) return fail("--isma-delta-iv-length: 0..8 bytes");
  // The key indicator is the 16-bit TEK ID: one byte cannot carry it.
  if (ki_length != 0 && (ki_length < 2 || ki_length > 8)) {
    return fail("--isma-key-indicator-length: 0 or 2..8 bytes (TEK IDs are 16 bits)");
  }
  if (ki_per_au < 0 || ki_per_au > 1) return fail("--isma-key-indicator-per-au: 0 or 1");
  if (selective < 0 || selective > 1) return fail("--isma-selective-encryption: 0 or 1");
  if (aus_per_packet < 1 || aus_per_packet > 64) return fail("--isma-aus-per-packet: 1..64");
  o->isma.iv_length = static_cast<unsigned>(iv_length);
  o->isma.delta_iv_length = static_cast<unsigned>(delta_iv_length);
  o->isma.key_indicator_length = static_cast<unsigned>(ki_length);
  o->isma.key_indicator_per_au = ki_per_au == 1;
  o->isma.selective_encryption = selective == 1;
  o->isma.aus_per_packet = static_cast<unsigned>(aus_per_packet);
  if (clear_share != -1) {
    if (clear_share < 0 || clear_share > 100) return fail("--isma-clear-share: 0..100 percent");
    if (clear_share > 0 && !o->isma.selective_encryption) {
      return fail("--isma-clear-share needs --isma-selective-encryption 1");
    }
    o->isma.clear_share_percent = static_cast<unsigned>(clear_share);
  }
  if (Mixed(*o) && (o->isma_key_port == o->key_port)) {
    return fail("--isma-key-port must differ from --key-port");
  }
  // One SEK schedule for both carriers: with --pki-dir the carousel (whose --sek-period changes
  // the SEK) runs with the test PKI's RI key unless --ri-key names another.
  if (o->roap.enabled() && o->ltkm.ri_key_file.empty() && o->ltkm.ri_cert_file.empty()) {
    o->ltkm.ri_key_file = o->roap.pki_dir + "/ri.key";
    o->ltkm.ri_cert_file = o->roap.pki_dir + "/ri.pem";
  }
  if (o->roap.enabled() && o->clear) return fail("the ROAP Rights Issuer needs keys: not --clear");
  if (!CheckLtkmOptions(o->ltkm, error)) return false;
  if (!CheckStkmEndpointOptions(o->stkm, error)) return false;
  if (o->ltkm.enabled() && o->clear)
    return fail("the broadcast LTKM carousel needs keys: not --clear");
  if (o->smartcard.enabled) {
    // The long-term keys are on the card and in the BSM: no key file, and MKIs are SRTP's.
    if (o->clear || Mixed(*o) || o->video_protection != Protection::kSrtp) {
      return fail(
          "--profile smartcard protects with SRTP: not --clear, not --protection " +
          std::string(ToString(o->video_protection == Protection::kSrtp ? o->audio_protection
                                                                        : o->video_protection)));
    }
    if (o->ltkm.enabled() || o->roap.enabled()) {
      return fail("--profile smartcard has its own key delivery (BSF/BSM): no --ri-key/--pki-dir");
    }
    if (o->stkm.enabled()) {
      return fail(
          "--profile smartcard sends MIKEY MTK messages: no STKM fetch endpoint (--stkm-port)");
    }
    if (o->smartcard.subscribers.empty() && o->smartcard.subscribers_file.empty()) {
      return fail("--profile smartcard needs --subscriber IMPI:K:OPc or --subscribers FILE");
    }
    return true;
  }
  if (!o->clear && o->key_file.empty() && o->write_key_file.empty()) {
    return fail("--key-file is needed (or --clear, or --write-key-file to make one)");
  }
  return true;
}

}  // namespace headend
