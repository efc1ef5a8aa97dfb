// Session description parser and writer (shared/spec/sdp.md), on the text itself.
//
// The text is scanned line by line once (structure, m= sections, the line number of every
// attribute) and every value this module relies on is checked: errors name the SDP line (`field`)
// and its 1-based line number (`offset`). No GStreamer here: spcd parses session descriptions too
// (AddBroadcastService, --service, SetChannelList) and would otherwise map libgstreamer and the
// libraries below it only for this.
#include "channels/session_description.h"

#include <gio/gio.h>

#include <algorithm>
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

struct Attribute {
  std::string_view name;
  std::string_view value;  // after the first ':', "" for a property attribute ("a=recvonly")
  std::size_t line = 0;
};

// The session part or one m= section of the text, with the line of everything in it.
struct Block {
  std::size_t m_line = 0;             // line number of the m= line (0 for the session block)
  std::string_view m_text;            // the m= line's value
  std::vector<Attribute> attributes;  // in text order
  std::string_view c_text;            // the first c= line's value
  std::size_t c_line = 0;             // 0: no c= line in this block

  // The value of the first a=<name>, if any.
  std::optional<std::string_view> Find(std::string_view name) const {
    for (const Attribute& a : attributes) {
      if (a.name == name) return a.value;
    }
    return std::nullopt;
  }
  std::size_t Line(std::string_view name) const {
    for (const Attribute& a : attributes) {
      if (a.name == name) return a.line;
    }
    return m_line;
  }
};

struct Layout {
  std::optional<std::string_view> session_name;  // the first s= line's value
  Block session;
  std::vector<Block> media;
  std::size_t AttrLine(int media_index, std::string_view name) const {
    return (media_index < 0 ? session : media[media_index]).Line(name);
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
    // RFC 4566 lines end with CRLF or LF: a CR or NUL inside one is not text of the line.
    if (value.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
      return Error("control character inside an SDP line", "line", number);
    }
    if (!seen_version) {
      if (line != "v=0") return Error("an SDP description starts with v=0", "v=", number);
      seen_version = true;
      continue;
    }
    switch (line[0]) {
      case 'm':
        layout.media.push_back(Block{number, value, {}, {}, 0});
        current = &layout.media.back();
        break;
      case 's':
        if (current == &layout.session && !layout.session_name) layout.session_name = value;
        break;
      case 'c':
        if (current->c_line == 0) {
          current->c_text = value;
          current->c_line = number;
        }
        break;
      case 'a': {
        const auto colon = value.find(':');
        auto name = value.substr(0, colon);
        if (name.empty()) return Error("attribute without a name", "a=", number);
        current->attributes.push_back(Attribute{
            name, colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1),
            number});
        break;
      }
      default:
        break;
    }
  }
  if (!seen_version) return Error("empty session description", "v=", 0);
  return layout;
}

// a=<name>:<pt> <value> for the given payload type (the first such line).
std::optional<std::string_view> PayloadAttribute(const Block& media, std::string_view name,
                                                 int pt) {
  for (const Attribute& a : media.attributes) {
    if (a.name != name) continue;
    std::string_view sv = Trim(a.value);
    auto space = sv.find_first_of(" \t");
    if (space == std::string_view::npos) continue;
    if (ParseNumber<int>(sv.substr(0, space)) == pt) return Trim(sv.substr(space + 1));
  }
  return std::nullopt;
}

bool IsMulticast(const std::string& address) {
  g_autoptr(GInetAddress) a = g_inet_address_new_from_string(address.c_str());
  return a != nullptr && g_inet_address_get_is_multicast(a);
}

struct Connection {
  std::string address;
  int ttl = 0;
};

// c=IN IP4 <address>[/<ttl>[/<count>]] or c=IN IP6 <address>[/<count>] of the m= section, else
// of the session.
std::optional<Connection> ConnectionOf(const Block& media, const Layout& layout) {
  const Block& b = media.c_line != 0 ? media : layout.session;
  if (b.c_line == 0) return std::nullopt;
  std::vector<std::string_view> tokens;
  for (auto t : Split(Trim(b.c_text), ' ')) {
    if (!t.empty()) tokens.push_back(t);
  }
  // RFC 4566 defines network type IN with address types IP4 and IP6 only.
  if (tokens.size() != 3 || tokens[0] != "IN" || (tokens[1] != "IP4" && tokens[1] != "IP6")) {
    return std::nullopt;
  }
  const bool ip4 = tokens[1] == "IP4";
  auto parts = Split(tokens[2], '/');
  if (parts.size() > (ip4 ? 3u : 2u)) return std::nullopt;
  std::string_view addr = parts[0];
  // An IPv4/IPv6 address or a host name.
  if (addr.empty() || addr.find_first_not_of("0123456789abcdefABCDEFghijklmnopqrstuvwxyz"
                                             "GHIJKLMNOPQRSTUVWXYZ.:-") != std::string_view::npos) {
    return std::nullopt;
  }
  Connection c;
  c.address = std::string(addr);
  // The TTL means something (and is written back) only for an IPv4 multicast address.
  if (ip4 && addr.find(':') == std::string_view::npos && parts.size() >= 2 &&
      IsMulticast(c.address)) {
    auto ttl = ParseNumber<unsigned>(parts[1]);
    if (!ttl || *ttl > 255) return std::nullopt;
    c.ttl = static_cast<int>(*ttl);
  }
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

spc::Result<KeyStream> ParseKeyStream(const Block& media, const MLine& m, const Layout& layout,
                                      int index) {
  const std::size_t mline = layout.media[index].m_line;
  if (m.proto != "UDP") {
    return Error("key stream transport must be UDP, not " + m.proto, "m=", mline);
  }
  KeyStream ks;
  ks.port = m.port;
  auto conn = ConnectionOf(media, layout);
  if (!conn) return Error("no valid c= address for the key stream", "c=", mline);
  ks.address = conn->address;
  ks.ttl = conn->ttl;
  auto id = media.Find("stkmstream");
  if (!id || Trim(*id).empty()) {
    return Error("key stream without a=stkmstream id", "a=stkmstream", mline);
  }
  ks.id = std::string(Trim(*id));
  auto base = media.Find("bcast-basecid");
  if (!base) base = layout.session.Find("bcast-basecid");
  if (!base || Trim(*base).empty()) {
    return Error("key stream without a=bcast-basecid", "a=bcast-basecid", mline);
  }
  ks.base_cid = std::string(Trim(*base));
  auto domain = media.Find("bcast-keydomain");
  bool at_session = false;
  if (!domain) {
    domain = layout.session.Find("bcast-keydomain");
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

spc::Result<MediaStream> ParseMedia(const Block& media, const MLine& m, const Layout& layout,
                                    int index) {
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
  auto conn = ConnectionOf(media, layout);
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

  auto id = media.Find("stkmstream");
  if (!id) id = layout.session.Find("stkmstream");
  if (id) ms.key_stream_id = std::string(Trim(*id));

  if (auto mki = media.Find("bcast-mki-length")) {
    auto v = ParseNumber<int>(*mki);
    if (!v || *v < 0 || *v > 128) {
      return Error("bad a=bcast-mki-length '" + std::string(*mki) + "'", "a=bcast-mki-length",
                   layout.AttrLine(index, "bcast-mki-length"));
    }
    ms.mki_length = *v;
  }
  if (auto auth = media.Find("SRTPAuthentication")) {
    ms.srtp_authentication = std::string(Trim(*auth));
    if (ms.srtp_authentication.empty()) {
      return Error("empty a=SRTPAuthentication", "a=SRTPAuthentication",
                   layout.AttrLine(index, "SRTPAuthentication"));
    }
  }
  if (auto rate = media.Find("SRTPROCTxRate")) {
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

spc::Result<LtkmStream> ParseLtkmStream(const Block& media, const Layout& layout, const MLine& m,
                                        LtkmStreamKind kind, std::size_t mline) {
  const std::string format(LtkmStreamFormat(kind));
  if (m.proto != "UDP") {
    return Error(format + " stream transport must be UDP, not " + m.proto, "m=", mline);
  }
  LtkmStream ls;
  ls.kind = kind;
  ls.port = m.port;
  auto conn = ConnectionOf(media, layout);
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
  const Block& session = layout->session;

  SessionDescription sd;
  if (layout->session_name) sd.session_name = std::string(*layout->session_name);
  if (auto v = session.Find("bcastversion")) {
    sd.bcast_version = std::string(Trim(*v));
    auto parts = Split(sd.bcast_version, '.');
    if (parts.size() != 2 || !ParseNumber<int>(parts[0]) || !ParseNumber<int>(parts[1])) {
      return Error("a=bcastversion is not <major>.<minor>", "a=bcastversion",
                   layout->AttrLine(-1, "bcastversion"));
    }
  }
  if (auto v = session.Find("bcast-roap-url")) sd.roap_url = std::string(Trim(*v));
  if (auto v = session.Find("bcast-stkm-url")) sd.stkm_url = std::string(Trim(*v));
  if (auto v = session.Find("bcast-profile")) sd.profile = std::string(Trim(*v));
  if (auto v = session.Find("bcast-bsf-url")) sd.bsf_url = std::string(Trim(*v));
  if (auto v = session.Find("bcast-bsm-url")) sd.bsm_url = std::string(Trim(*v));

  std::vector<int> media_index;  // the m= line of each sd.media entry
  for (std::size_t i = 0; i < layout->media.size(); ++i) {
    const Block& media = layout->media[i];
    const int index = static_cast<int>(i);
    auto m = ParseMLine(media.m_text, media.m_line);
    if (!m) return m.error();
    if (m->media == "application") {
      // Registration, BCRO and trigger streams (broadcast-only terminals).
      bool ltkm = false;
      for (LtkmStreamKind kind : kLtkmKinds) {
        if (std::find(m->formats.begin(), m->formats.end(), LtkmStreamFormat(kind)) ==
            m->formats.end()) {
          continue;
        }
        auto ls = ParseLtkmStream(media, *layout, *m, kind, media.m_line);
        if (!ls) return ls.error();
        sd.ltkm_streams.push_back(std::move(ls.value()));
        ltkm = true;
        break;
      }
      if (ltkm) continue;
      // Other application lines are not this terminal's.
      if (std::find(m->formats.begin(), m->formats.end(), kStkmFormat) == m->formats.end())
        continue;
      auto ks = ParseKeyStream(media, *m, *layout, index);
      if (!ks) return ks.error();
      if (sd.FindKeyStream(ks->id) != nullptr) {
        return Error("two key streams with a=stkmstream:" + ks->id, "a=stkmstream",
                     layout->AttrLine(index, "stkmstream"));
      }
      sd.key_streams.push_back(std::move(ks.value()));
    } else if (m->media == "video" || m->media == "audio") {
      auto ms = ParseMedia(media, *m, *layout, index);
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

// The lines of the text, each ended by CRLF (RFC 4566 §5).
class SdpText {
 public:
  void Line(char type, std::string_view value) {
    text_ += type;
    text_ += '=';
    text_ += value;
    text_ += "\r\n";
  }
  void Attribute(std::string_view name, std::string_view value) {
    std::string a(name);
    if (!value.empty()) a += ":" + std::string(value);
    Line('a', a);
  }
  void Connection(const std::string& address, int ttl) {
    std::string c = std::string("IN ") + AddressType(address) + " " + address;
    // An IPv4 multicast c= line needs a TTL (RFC 4566 §5.7): 1 where none is given.
    if (AddressType(address) == std::string_view("IP4") && IsMulticast(address)) {
      c += "/" + std::to_string(ttl > 0 ? ttl : 1);
    }
    Line('c', c);
  }
  void Media(std::string_view media, std::uint16_t port, std::string_view proto,
             std::string_view format) {
    Line('m', std::string(media) + " " + std::to_string(port) + " " + std::string(proto) + " " +
                  std::string(format));
  }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

std::string Hex24(std::uint32_t v) {
  char buf[16];
  g_snprintf(buf, sizeof buf, "%06x", v & 0xffffffu);
  return buf;
}

}  // namespace

std::string WriteSessionDescription(const SessionDescription& sd) {
  SdpText out;
  std::string origin_addr = "127.0.0.1";
  if (!sd.key_streams.empty()) {
    origin_addr = sd.key_streams.front().address;
  } else if (!sd.media.empty()) {
    origin_addr = sd.media.front().address;
  }
  out.Line('v', "0");
  out.Line('o', std::string("- 1 1 IN ") + AddressType(origin_addr) + " " + origin_addr);
  out.Line('s', sd.session_name.empty() ? "-" : sd.session_name);
  out.Line('t', "0 0");
  for (const auto& [name, value] :
       {std::pair{"bcastversion", &sd.bcast_version}, std::pair{"bcast-roap-url", &sd.roap_url},
        std::pair{"bcast-stkm-url", &sd.stkm_url}, std::pair{"bcast-profile", &sd.profile},
        std::pair{"bcast-bsf-url", &sd.bsf_url}, std::pair{"bcast-bsm-url", &sd.bsm_url}}) {
    if (!value->empty()) out.Attribute(name, *value);
  }

  for (const KeyStream& ks : sd.key_streams) {
    out.Media("application", ks.port, "UDP", kStkmFormat);
    out.Connection(ks.address, ks.ttl);
    out.Attribute("stkmstream", ks.id);
    out.Attribute("bcast-basecid", ks.base_cid);
    out.Attribute("bcast-keydomain", Hex24(ks.key_domain_id));
  }
  for (const LtkmStream& ls : sd.ltkm_streams) {
    out.Media("application", ls.port, "UDP", LtkmStreamFormat(ls.kind));
    out.Connection(ls.address, ls.ttl);
  }
  for (const MediaStream& ms : sd.media) {
    const std::string pt = std::to_string(ms.payload_type);
    out.Media(ms.media, ms.port, ms.protocol, pt);
    out.Connection(ms.address, ms.ttl);
    if (!ms.encoding_name.empty()) {
      std::string rtpmap = pt + " " + ms.encoding_name + "/" + std::to_string(ms.clock_rate);
      if (ms.channels > 0) rtpmap += "/" + std::to_string(ms.channels);
      out.Attribute("rtpmap", rtpmap);
    }
    if (!ms.fmtp.empty()) {
      std::string fmtp = pt + " ";
      bool first = true;
      for (const auto& [name, value] : ms.fmtp) {
        if (!first) fmtp += ";";
        first = false;
        fmtp += value.empty() ? name : name + "=" + value;
      }
      out.Attribute("fmtp", fmtp);
    }
    if (!ms.key_stream_id.empty()) out.Attribute("stkmstream", ms.key_stream_id);
    if (ms.mki_length > 0) out.Attribute("bcast-mki-length", std::to_string(ms.mki_length));
    if (!ms.srtp_authentication.empty()) {
      out.Attribute("SRTPAuthentication", ms.srtp_authentication);
    }
    if (ms.roc_tx_rate > 0) out.Attribute("SRTPROCTxRate", std::to_string(ms.roc_tx_rate));
  }
  return out.Take();
}

}  // namespace channels
