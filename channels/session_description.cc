// Session description parser and writer (shared/spec/sdp.md) on GStreamer's GstSDPMessage.
//
// GstSDPMessage's parser is lenient: it skips lines it does not understand and turns bad numbers
// into zero without saying so. So the text is first scanned line by line here (structure, m= lines,
// the line number of every attribute) and every value this module relies on is checked, and errors
// name the SDP line (`field`) and its 1-based line number (`offset`).
#include "channels/session_description.h"

#include <gst/sdp/sdp.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>

#include <glib.h>

namespace channels {
namespace {

constexpr std::string_view kStkmFormat = "vnd.oma.bcast.stkm";
constexpr LtkmStreamKind kLtkmKinds[] = {LtkmStreamKind::kRegistration, LtkmStreamKind::kBcro,
                                         LtkmStreamKind::kTrigger};

struct SdpMessageDeleter {
  void operator()(GstSDPMessage* msg) const { gst_sdp_message_free(msg); }
};
using SdpMessagePtr = std::unique_ptr<GstSDPMessage, SdpMessageDeleter>;

struct GFreeDeleter {
  void operator()(gchar* p) const { g_free(p); }
};
using GCharPtr = std::unique_ptr<gchar, GFreeDeleter>;

spc::ParseError Error(std::string message, std::string field, std::size_t line) {
  return spc::ParseError{std::move(message), std::move(field), line};
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

template <class T>
std::optional<T> ParseNumber(std::string_view s, int base = 10) {
  s = Trim(s);
  T value{};
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    auto pos = s.find(sep);
    out.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) break;
    s.remove_prefix(pos + 1);
  }
  return out;
}

// Where things are in the text: GstSDPMessage keeps no line numbers.
struct Block {
  std::size_t m_line = 0;   // line number of the m= line (0 for the session block)
  std::string_view m_text;  // the m= line's value
  std::map<std::string, std::size_t, std::less<>> attribute_lines;  // first line of each a=name
  std::size_t c_line = 0;
};

struct Layout {
  Block session;
  std::vector<Block> media;
  std::size_t AttrLine(int media_index, std::string_view name) const {
    const Block& b = media_index < 0 ? session : media[media_index];
    auto it = b.attribute_lines.find(name);
    return it == b.attribute_lines.end() ? b.m_line : it->second;
  }
};

spc::Result<Layout> ScanLines(std::string_view text) {
  Layout layout;
  Block* current = &layout.session;
  bool seen_version = false;
  std::size_t number = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') {
      return Error("not an SDP line of the form <letter>=<value>", "line", number);
    }
    std::string_view value = line.substr(2);
    if (!seen_version) {
      if (line != "v=0") return Error("an SDP description starts with v=0", "v=", number);
      seen_version = true;
      continue;
    }
    switch (line[0]) {
      case 'm':
        layout.media.push_back(Block{number, value, {}, 0});
        current = &layout.media.back();
        break;
      case 'c':
        current->c_line = number;
        break;
      case 'a': {
        auto name = value.substr(0, value.find(':'));
        if (name.empty()) return Error("attribute without a name", "a=", number);
        current->attribute_lines.try_emplace(std::string(name), number);
        break;
      }
      default:
        break;
    }
  }
  if (!seen_version) return Error("empty session description", "v=", 0);
  return layout;
}

std::optional<std::string_view> Attribute(const GstSDPMedia* media, const GstSDPMessage* msg,
                                          const char* name) {
  const gchar* v = media != nullptr ? gst_sdp_media_get_attribute_val(media, name)
                                    : gst_sdp_message_get_attribute_val(msg, name);
  if (v == nullptr) return std::nullopt;
  return std::string_view(v);
}

// a=<name>:<pt> <value> for the given payload type.
std::optional<std::string_view> PayloadAttribute(const GstSDPMedia* media, const char* name,
                                                 int pt) {
  for (guint i = 0;; ++i) {
    const gchar* v = gst_sdp_media_get_attribute_val_n(media, name, i);
    if (v == nullptr) return std::nullopt;
    std::string_view sv = Trim(v);
    auto space = sv.find_first_of(" \t");
    if (space == std::string_view::npos) continue;
    if (ParseNumber<int>(sv.substr(0, space)) == pt) return Trim(sv.substr(space + 1));
  }
}

struct Connection {
  std::string address;
  int ttl = 0;
};

std::optional<Connection> ConnectionOf(const GstSDPMedia* media, const GstSDPMessage* msg) {
  const GstSDPConnection* conn = nullptr;
  if (gst_sdp_media_connections_len(media) > 0) {
    conn = gst_sdp_media_get_connection(media, 0);
  } else {
    conn = gst_sdp_message_get_connection(msg);
  }
  if (conn == nullptr || conn->address == nullptr || conn->address[0] == '\0') return std::nullopt;
  // RFC 4566 defines network type IN with address types IP4 and IP6 only.
  if (g_strcmp0(conn->nettype, "IN") != 0 ||
      (g_strcmp0(conn->addrtype, "IP4") != 0 && g_strcmp0(conn->addrtype, "IP6") != 0)) {
    return std::nullopt;
  }
  Connection c;
  std::string_view addr = conn->address;
  // GstSDP splits "addr/ttl" itself; be safe against a parser that leaves it in.
  addr = addr.substr(0, addr.find('/'));
  // GstSDP keeps the rest of a c= line with spaces in it as the address: only an IPv4/IPv6
  // address or a host name is one.
  if (addr.empty() || addr.find_first_not_of("0123456789abcdefABCDEFghijklmnopqrstuvwxyz"
                                             "GHIJKLMNOPQRSTUVWXYZ.:-") != std::string_view::npos) {
    return std::nullopt;
  }
  c.address = std::string(addr);
  // The TTL means something (and is written back) only for a multicast address.
  const bool multicast =
      gst_sdp_address_is_multicast(conn->nettype, conn->addrtype, c.address.c_str()) != FALSE;
  if (multicast && conn->ttl > 255) return std::nullopt;  // "/-4" comes back as a huge TTL
  c.ttl = multicast ? static_cast<int>(conn->ttl) : 0;
  return c;
}

// The m= line as written: "<media> <port>[/<count>] <proto> <fmt> ...".
struct MLine {
  std::string media;
  std::uint16_t port = 0;
  std::string proto;
  std::vector<std::string> formats;
};

spc::Result<MLine> ParseMLine(std::string_view value, std::size_t line) {
  std::vector<std::string_view> tokens;
  for (auto t : Split(Trim(value), ' ')) {
    if (!t.empty()) tokens.push_back(t);
  }
  if (tokens.size() < 4) {
    return Error("m= needs <media> <port> <proto> <format>", "m=", line);
  }
  MLine m;
  m.media = std::string(tokens[0]);
  auto port = ParseNumber<unsigned>(tokens[1].substr(0, tokens[1].find('/')));
  if (!port || *port == 0 || *port > 65535) {
    return Error("bad port '" + std::string(tokens[1]) + "'", "m=", line);
  }
  m.port = static_cast<std::uint16_t>(*port);
  m.proto = std::string(tokens[2]);
  for (std::size_t i = 3; i < tokens.size(); ++i) m.formats.emplace_back(tokens[i]);
  return m;
}

std::map<std::string, std::string> ParseFmtp(std::string_view params) {
  std::map<std::string, std::string> out;
  for (auto p : Split(params, ';')) {
    p = Trim(p);
    if (p.empty()) continue;
    auto eq = p.find('=');
    if (eq == std::string_view::npos) {
      out[std::string(p)] = "";
    } else {
      // A value without a name ("=x") names no parameter: dropped, as the writer could not
      // write it back.
      const auto name = Trim(p.substr(0, eq));
      if (name.empty()) continue;
      out[std::string(name)] = std::string(Trim(p.substr(eq + 1)));
    }
  }
  return out;
}

spc::Result<KeyStream> ParseKeyStream(const GstSDPMedia* media, const GstSDPMessage* msg,
                                      const MLine& m, const Layout& layout, int index) {
  const std::size_t mline = layout.media[index].m_line;
  if (m.proto != "UDP") {
    return Error("key stream transport must be UDP, not " + m.proto, "m=", mline);
  }
  KeyStream ks;
  ks.port = m.port;
  auto conn = ConnectionOf(media, msg);
  if (!conn) return Error("no valid c= address for the key stream", "c=", mline);
  ks.address = conn->address;
  ks.ttl = conn->ttl;
  auto id = Attribute(media, nullptr, "stkmstream");
  if (!id || Trim(*id).empty()) {
    return Error("key stream without a=stkmstream id", "a=stkmstream", mline);
  }
  ks.id = std::string(Trim(*id));
  auto base = Attribute(media, nullptr, "bcast-basecid");
  if (!base) base = Attribute(nullptr, msg, "bcast-basecid");
  if (!base || Trim(*base).empty()) {
    return Error("key stream without a=bcast-basecid", "a=bcast-basecid", mline);
  }
  ks.base_cid = std::string(Trim(*base));
  auto domain = Attribute(media, nullptr, "bcast-keydomain");
  bool at_session = false;
  if (!domain) {
    domain = Attribute(nullptr, msg, "bcast-keydomain");
    at_session = true;
  }
  std::size_t domain_line = layout.AttrLine(at_session ? -1 : index, "bcast-keydomain");
  if (!domain) return Error("key stream without a=bcast-keydomain", "a=bcast-keydomain", mline);
  std::string_view hex = Trim(*domain);
  if (hex.starts_with("0x") || hex.starts_with("0X")) hex.remove_prefix(2);
  auto value = hex.size() <= 6 ? ParseNumber<std::uint32_t>(hex, 16) : std::nullopt;
  if (!value) {
    return Error("a=bcast-keydomain is not a 24-bit hex number: '" + std::string(*domain) + "'",
                 "a=bcast-keydomain", domain_line);
  }
  ks.key_domain_id = *value;
  return ks;
}

spc::Result<MediaStream> ParseMedia(const GstSDPMedia* media, const GstSDPMessage* msg,
                                    const MLine& m, const Layout& layout, int index) {
  const std::size_t mline = layout.media[index].m_line;
  MediaStream ms;
  ms.media = m.media;
  ms.port = m.port;
  ms.protocol = m.proto;
  if (ms.protocol != "RTP/AVP" && ms.protocol != "RTP/SAVP") {
    return Error("unsupported transport " + ms.protocol + " (RTP/AVP or RTP/SAVP)", "m=", mline);
  }
  auto pt = ParseNumber<int>(m.formats.front());
  if (!pt || *pt < 0 || *pt > 127) {
    return Error("bad RTP payload type '" + m.formats.front() + "'", "m=", mline);
  }
  ms.payload_type = *pt;
  auto conn = ConnectionOf(media, msg);
  if (!conn) return Error("no valid c= address for the " + ms.media + " stream", "c=", mline);
  ms.address = conn->address;
  ms.ttl = conn->ttl;

  if (auto rtpmap = PayloadAttribute(media, "rtpmap", ms.payload_type)) {
    std::size_t line = layout.AttrLine(index, "rtpmap");
    auto parts = Split(*rtpmap, '/');
    if (parts.size() < 2 || parts.size() > 3 || Trim(parts[0]).empty()) {
      return Error("a=rtpmap is not <encoding>/<clock rate>[/<channels>]", "a=rtpmap", line);
    }
    ms.encoding_name = std::string(Trim(parts[0]));
    auto clock = ParseNumber<int>(parts[1]);
    if (!clock || *clock <= 0) return Error("bad clock rate in a=rtpmap", "a=rtpmap", line);
    ms.clock_rate = *clock;
    if (parts.size() == 3) {
      auto ch = ParseNumber<int>(parts[2]);
      if (!ch || *ch <= 0) return Error("bad channel count in a=rtpmap", "a=rtpmap", line);
      ms.channels = *ch;
    }
  } else if (ms.payload_type >= 96) {
    return Error("dynamic payload type " + std::to_string(ms.payload_type) + " without a=rtpmap",
                 "a=rtpmap", mline);
  }
  if (auto fmtp = PayloadAttribute(media, "fmtp", ms.payload_type)) ms.fmtp = ParseFmtp(*fmtp);

  auto id = Attribute(media, nullptr, "stkmstream");
  if (!id) id = Attribute(nullptr, msg, "stkmstream");
  if (id) ms.key_stream_id = std::string(Trim(*id));

  if (auto mki = Attribute(media, nullptr, "bcast-mki-length")) {
    auto v = ParseNumber<int>(*mki);
    if (!v || *v < 0 || *v > 128) {
      return Error("bad a=bcast-mki-length '" + std::string(*mki) + "'", "a=bcast-mki-length",
                   layout.AttrLine(index, "bcast-mki-length"));
    }
    ms.mki_length = *v;
  }
  if (auto auth = Attribute(media, nullptr, "SRTPAuthentication")) {
    ms.srtp_authentication = std::string(Trim(*auth));
    if (ms.srtp_authentication.empty()) {
      return Error("empty a=SRTPAuthentication", "a=SRTPAuthentication",
                   layout.AttrLine(index, "SRTPAuthentication"));
    }
  }
  if (auto rate = Attribute(media, nullptr, "SRTPROCTxRate")) {
    auto v = ParseNumber<int>(*rate);
    if (!v || *v <= 0 || *v > 65535) {
      return Error("bad a=SRTPROCTxRate '" + std::string(*rate) + "'", "a=SRTPROCTxRate",
                   layout.AttrLine(index, "SRTPROCTxRate"));
    }
    ms.roc_tx_rate = *v;
  }
  const bool protected_stream =
      ms.srtp() || ms.encoding_name.starts_with("enc-") || ms.encoding_name.starts_with("ENC-");
  if (protected_stream && ms.key_stream_id.empty()) {
    return Error("protected " + ms.media + " stream without a=stkmstream", "a=stkmstream", mline);
  }
  return ms;
}

spc::Result<LtkmStream> ParseLtkmStream(const GstSDPMedia* media, const GstSDPMessage* msg,
                                        const MLine& m, LtkmStreamKind kind, std::size_t mline) {
  const std::string format(LtkmStreamFormat(kind));
  if (m.proto != "UDP") {
    return Error(format + " stream transport must be UDP, not " + m.proto, "m=", mline);
  }
  LtkmStream ls;
  ls.kind = kind;
  ls.port = m.port;
  auto conn = ConnectionOf(media, msg);
  if (!conn) return Error("no valid c= address for the " + format + " stream", "c=", mline);
  ls.address = conn->address;
  ls.ttl = conn->ttl;
  return ls;
}

}  // namespace

std::string_view LtkmStreamFormat(LtkmStreamKind kind) {
  switch (kind) {
    case LtkmStreamKind::kRegistration:
      return "vnd.oma.bcast.registration";
    case LtkmStreamKind::kBcro:
      return "vnd.oma.bcast.bcro";
    case LtkmStreamKind::kTrigger:
      return "vnd.oma.drm.roap-trigger";
  }
  return "";
}

const KeyStream* SessionDescription::FindKeyStream(std::string_view id) const {
  for (const auto& ks : key_streams) {
    if (ks.id == id) return &ks;
  }
  return nullptr;
}

spc::Result<SessionDescription> ParseSessionDescription(std::string_view text) {
  auto layout = ScanLines(text);
  if (!layout) return layout.error();

  GstSDPMessage* raw = nullptr;
  if (gst_sdp_message_new(&raw) != GST_SDP_OK) return Error("out of memory", "sdp", 0);
  SdpMessagePtr msg(raw);
  if (gst_sdp_message_parse_buffer(reinterpret_cast<const guint8*>(text.data()),
                                   static_cast<guint>(text.size()), msg.get()) != GST_SDP_OK) {
    return Error("GstSDPMessage could not parse the description", "sdp", 1);
  }
  if (gst_sdp_message_medias_len(msg.get()) != layout->media.size()) {
    return Error("m= lines do not match what GstSDPMessage parsed",
                 "m=", layout->media.empty() ? 0 : layout->media.back().m_line);
  }

  SessionDescription sd;
  if (const gchar* s = gst_sdp_message_get_session_name(msg.get())) sd.session_name = s;
  if (auto v = Attribute(nullptr, msg.get(), "bcastversion")) {
    sd.bcast_version = std::string(Trim(*v));
    auto parts = Split(sd.bcast_version, '.');
    if (parts.size() != 2 || !ParseNumber<int>(parts[0]) || !ParseNumber<int>(parts[1])) {
      return Error("a=bcastversion is not <major>.<minor>", "a=bcastversion",
                   layout->AttrLine(-1, "bcastversion"));
    }
  }
  if (auto v = Attribute(nullptr, msg.get(), "bcast-roap-url")) sd.roap_url = std::string(Trim(*v));
  if (auto v = Attribute(nullptr, msg.get(), "bcast-stkm-url")) sd.stkm_url = std::string(Trim(*v));
  if (auto v = Attribute(nullptr, msg.get(), "bcast-profile")) sd.profile = std::string(Trim(*v));
  if (auto v = Attribute(nullptr, msg.get(), "bcast-bsf-url")) sd.bsf_url = std::string(Trim(*v));
  if (auto v = Attribute(nullptr, msg.get(), "bcast-bsm-url")) sd.bsm_url = std::string(Trim(*v));

  std::vector<int> media_index;  // the m= line of each sd.media entry
  for (guint i = 0; i < gst_sdp_message_medias_len(msg.get()); ++i) {
    const GstSDPMedia* media = gst_sdp_message_get_media(msg.get(), i);
    const int index = static_cast<int>(i);
    auto m = ParseMLine(layout->media[i].m_text, layout->media[i].m_line);
    if (!m) return m.error();
    if (m->media == "application") {
      // Registration, BCRO and trigger streams (broadcast-only terminals).
      bool ltkm = false;
      for (LtkmStreamKind kind : kLtkmKinds) {
        if (std::find(m->formats.begin(), m->formats.end(), LtkmStreamFormat(kind)) ==
            m->formats.end()) {
          continue;
        }
        auto ls = ParseLtkmStream(media, msg.get(), *m, kind, layout->media[i].m_line);
        if (!ls) return ls.error();
        sd.ltkm_streams.push_back(std::move(ls.value()));
        ltkm = true;
        break;
      }
      if (ltkm) continue;
      // Other application lines are not this terminal's.
      if (std::find(m->formats.begin(), m->formats.end(), kStkmFormat) == m->formats.end())
        continue;
      auto ks = ParseKeyStream(media, msg.get(), *m, *layout, index);
      if (!ks) return ks.error();
      if (sd.FindKeyStream(ks->id) != nullptr) {
        return Error("two key streams with a=stkmstream:" + ks->id, "a=stkmstream",
                     layout->AttrLine(index, "stkmstream"));
      }
      sd.key_streams.push_back(std::move(ks.value()));
    } else if (m->media == "video" || m->media == "audio") {
      auto ms = ParseMedia(media, msg.get(), *m, *layout, index);
      if (!ms) return ms.error();
      sd.media.push_back(std::move(ms.value()));
      media_index.push_back(index);
    }
  }
  // Checked after the loop: a key stream may be described after the media that use it.
  // (Indexed by what the loop kept: an m= line such as "videoaudio" is neither.)
  for (std::size_t mi = 0; mi < sd.media.size(); ++mi) {
    const MediaStream& ms = sd.media[mi];
    const int i = media_index[mi];
    // Without a key stream here the STKMs can only come over the interaction channel.
    if (!ms.key_stream_id.empty() && sd.FindKeyStream(ms.key_stream_id) == nullptr &&
        sd.stkm_url.empty()) {
      return Error("a=stkmstream:" + ms.key_stream_id + " names no key stream", "a=stkmstream",
                   layout->AttrLine(i, "stkmstream"));
    }
  }
  return sd;
}

spc::Result<SessionDescription> LoadSessionDescription(const std::string& path) {
  gchar* contents = nullptr;
  gsize length = 0;
  GError* error = nullptr;
  if (!g_file_get_contents(path.c_str(), &contents, &length, &error)) {
    std::string message = error != nullptr ? error->message : "cannot read";
    g_clear_error(&error);
    return Error(message, "file " + path, 0);
  }
  GCharPtr owned(contents);
  return ParseSessionDescription(std::string_view(contents, length));
}

namespace {

const char* AddressType(const std::string& address) {
  return address.find(':') != std::string::npos ? "IP6" : "IP4";
}

void AddConnection(GstSDPMedia* media, const std::string& address, int ttl) {
  const bool ip4_multicast = address.find(':') == std::string::npos &&
                             std::atoi(address.c_str()) >= 224 && std::atoi(address.c_str()) <= 239;
  // An IPv4 multicast c= line needs a TTL (RFC 4566 §5.7).
  guint t = ttl > 0 ? static_cast<guint>(ttl) : (ip4_multicast ? 1u : 0u);
  gst_sdp_media_add_connection(media, "IN", AddressType(address), address.c_str(), t, 0);
}

std::string Hex24(std::uint32_t v) {
  char buf[16];
  g_snprintf(buf, sizeof buf, "%06x", v & 0xffffffu);
  return buf;
}

}  // namespace

std::string WriteSessionDescription(const SessionDescription& sd) {
  GstSDPMessage* raw = nullptr;
  gst_sdp_message_new(&raw);
  SdpMessagePtr msg(raw);
  std::string origin_addr = "127.0.0.1";
  if (!sd.key_streams.empty()) {
    origin_addr = sd.key_streams.front().address;
  } else if (!sd.media.empty()) {
    origin_addr = sd.media.front().address;
  }
  gst_sdp_message_set_version(msg.get(), "0");
  gst_sdp_message_set_origin(msg.get(), "-", "1", "1", "IN", AddressType(origin_addr),
                             origin_addr.c_str());
  gst_sdp_message_set_session_name(msg.get(),
                                   sd.session_name.empty() ? "-" : sd.session_name.c_str());
  gst_sdp_message_add_time(msg.get(), "0", "0", nullptr);
  if (!sd.bcast_version.empty()) {
    gst_sdp_message_add_attribute(msg.get(), "bcastversion", sd.bcast_version.c_str());
  }
  if (!sd.roap_url.empty()) {
    gst_sdp_message_add_attribute(msg.get(), "bcast-roap-url", sd.roap_url.c_str());
  }
  if (!sd.stkm_url.empty()) {
    gst_sdp_message_add_attribute(msg.get(), "bcast-stkm-url", sd.stkm_url.c_str());
  }
  for (const auto& [name, value] :
       {std::pair{"bcast-profile", &sd.profile}, std::pair{"bcast-bsf-url", &sd.bsf_url},
        std::pair{"bcast-bsm-url", &sd.bsm_url}}) {
    if (!value->empty()) gst_sdp_message_add_attribute(msg.get(), name, value->c_str());
  }

  for (const KeyStream& ks : sd.key_streams) {
    GstSDPMedia* media = nullptr;
    gst_sdp_media_new(&media);
    gst_sdp_media_set_media(media, "application");
    gst_sdp_media_set_port_info(media, ks.port, 1);
    gst_sdp_media_set_proto(media, "UDP");
    gst_sdp_media_add_format(media, std::string(kStkmFormat).c_str());
    AddConnection(media, ks.address, ks.ttl);
    gst_sdp_media_add_attribute(media, "stkmstream", ks.id.c_str());
    gst_sdp_media_add_attribute(media, "bcast-basecid", ks.base_cid.c_str());
    gst_sdp_media_add_attribute(media, "bcast-keydomain", Hex24(ks.key_domain_id).c_str());
    gst_sdp_message_add_media(msg.get(), media);  // copies
    gst_sdp_media_free(media);
  }
  for (const LtkmStream& ls : sd.ltkm_streams) {
    GstSDPMedia* media = nullptr;
    gst_sdp_media_new(&media);
    gst_sdp_media_set_media(media, "application");
    gst_sdp_media_set_port_info(media, ls.port, 1);
    gst_sdp_media_set_proto(media, "UDP");
    gst_sdp_media_add_format(media, std::string(LtkmStreamFormat(ls.kind)).c_str());
    AddConnection(media, ls.address, ls.ttl);
    gst_sdp_message_add_media(msg.get(), media);
    gst_sdp_media_free(media);
  }
  for (const MediaStream& ms : sd.media) {
    GstSDPMedia* media = nullptr;
    gst_sdp_media_new(&media);
    gst_sdp_media_set_media(media, ms.media.c_str());
    gst_sdp_media_set_port_info(media, ms.port, 1);
    gst_sdp_media_set_proto(media, ms.protocol.c_str());
    const std::string pt = std::to_string(ms.payload_type);
    gst_sdp_media_add_format(media, pt.c_str());
    AddConnection(media, ms.address, ms.ttl);
    if (!ms.encoding_name.empty()) {
      std::string rtpmap = pt + " " + ms.encoding_name + "/" + std::to_string(ms.clock_rate);
      if (ms.channels > 0) rtpmap += "/" + std::to_string(ms.channels);
      gst_sdp_media_add_attribute(media, "rtpmap", rtpmap.c_str());
    }
    if (!ms.fmtp.empty()) {
      std::string fmtp = pt + " ";
      bool first = true;
      for (const auto& [name, value] : ms.fmtp) {
        if (!first) fmtp += ";";
        first = false;
        fmtp += value.empty() ? name : name + "=" + value;
      }
      gst_sdp_media_add_attribute(media, "fmtp", fmtp.c_str());
    }
    if (!ms.key_stream_id.empty()) {
      gst_sdp_media_add_attribute(media, "stkmstream", ms.key_stream_id.c_str());
    }
    if (ms.mki_length > 0) {
      gst_sdp_media_add_attribute(media, "bcast-mki-length", std::to_string(ms.mki_length).c_str());
    }
    if (!ms.srtp_authentication.empty()) {
      gst_sdp_media_add_attribute(media, "SRTPAuthentication", ms.srtp_authentication.c_str());
    }
    if (ms.roc_tx_rate > 0) {
      gst_sdp_media_add_attribute(media, "SRTPROCTxRate", std::to_string(ms.roc_tx_rate).c_str());
    }
    gst_sdp_message_add_media(msg.get(), media);
    gst_sdp_media_free(media);
  }
  GCharPtr text(gst_sdp_message_as_text(msg.get()));
  return text ? std::string(text.get()) : std::string();
}

}  // namespace channels
