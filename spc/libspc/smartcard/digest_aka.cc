#include "spc/libspc/smartcard/digest_aka.h"

#include <glib.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "spc/libspc/hex.h"

namespace spc::smartcard {
namespace {

ParseError Err(std::string message, std::string field, std::size_t offset) {
  return ParseError{std::move(message), std::move(field), offset};
}

std::string Md5Hex(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 16> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_md5(), nullptr) != 1 ||
      len != md.size()) {
    std::fprintf(stderr, "openbcast: OpenSSL MD5 unavailable\n");
    std::abort();
  }
  return HexEncode(md);
}

std::string Md5Hex(std::string_view s) {
  return Md5Hex(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  bool first = true;
  for (auto p : parts) {
    if (!first) out.push_back(':');
    out.append(p);
    first = false;
  }
  return out;
}

// Text between <tag> and </tag>, tolerating a namespace prefix on the tag.
bool Element(std::string_view xml, std::string_view tag, std::string& out) {
  for (std::size_t p = xml.find('<'); p != std::string_view::npos; p = xml.find('<', p + 1)) {
    std::size_t end = xml.find('>', p);
    if (end == std::string_view::npos) return false;
    std::string_view name = xml.substr(p + 1, end - p - 1);
    if (const auto colon = name.find(':'); colon != std::string_view::npos) {
      name = name.substr(colon + 1);
    }
    if (name == tag) {
      std::size_t close = xml.find("</", end);
      if (close == std::string_view::npos) return false;
      out.assign(xml.substr(end + 1, close - end - 1));
      return true;
    }
  }
  return false;
}

}  // namespace

std::string AkaNonce(std::span<const std::uint8_t, 16> rand, std::span<const std::uint8_t, 16> autn,
                     std::span<const std::uint8_t> server_data) {
  std::vector<std::uint8_t> raw(rand.begin(), rand.end());
  raw.insert(raw.end(), autn.begin(), autn.end());
  raw.insert(raw.end(), server_data.begin(), server_data.end());
  gchar* b64 = g_base64_encode(raw.data(), raw.size());
  std::string s(b64);
  g_free(b64);
  return s;
}

Result<AkaNonceParts> ParseAkaNonce(std::string_view nonce) {
  for (std::size_t i = 0; i < nonce.size(); ++i) {
    const char c = nonce[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') {
      return Err("nonce is not base64", "nonce", i);
    }
  }
  if (nonce.size() % 4 != 0)
    return Err("nonce length is not a multiple of 4", "nonce", nonce.size());
  std::string copy(nonce);
  gsize len = 0;
  guchar* raw = g_base64_decode(copy.c_str(), &len);
  AkaNonceParts parts;
  const bool ok = len >= 32;
  if (ok) {
    std::copy_n(raw, 16, parts.rand.begin());
    std::copy_n(raw + 16, 16, parts.autn.begin());
  }
  g_free(raw);
  if (!ok) return Err("nonce shorter than RAND ‖ AUTN", "nonce", nonce.size());
  return parts;
}

Result<std::map<std::string, std::string>> ParseDigestParams(std::string_view v) {
  std::size_t p = 0;
  while (p < v.size() && v[p] == ' ') ++p;
  if (v.size() - p < 6 || g_ascii_strncasecmp(v.data() + p, "Digest", 6) != 0 ||
      (v.size() - p > 6 && v[p + 6] != ' ')) {
    return Err("authentication scheme is not Digest", "scheme", p);
  }
  p += 6;
  std::map<std::string, std::string> out;
  while (p < v.size()) {
    while (p < v.size() && (v[p] == ' ' || v[p] == ',' || v[p] == '\t')) ++p;
    if (p >= v.size()) break;
    const std::size_t key_at = p;
    while (p < v.size() && v[p] != '=' && v[p] != ',' && v[p] != ' ') ++p;
    if (p == key_at || p >= v.size() || v[p] != '=') {
      return Err("parameter without '='", "auth-param", key_at);
    }
    std::string key(v.substr(key_at, p - key_at));
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ++p;
    std::string value;
    if (p < v.size() && v[p] == '"') {
      const std::size_t open = p++;
      bool closed = false;
      while (p < v.size()) {
        if (v[p] == '\\' && p + 1 < v.size()) {
          value.push_back(v[p + 1]);
          p += 2;
        } else if (v[p] == '"') {
          closed = true;
          ++p;
          break;
        } else {
          value.push_back(v[p++]);
        }
      }
      if (!closed) return Err("unterminated quoted value", key, open);
    } else {
      const std::size_t start = p;
      while (p < v.size() && v[p] != ',' && v[p] != ' ') ++p;
      value.assign(v.substr(start, p - start));
    }
    out[key] = std::move(value);
  }
  return out;
}

std::string DigestResponse(std::string_view username, std::span<const std::uint8_t> password,
                           std::string_view realm, std::string_view method, std::string_view uri,
                           std::string_view nonce, std::string_view nc, std::string_view cnonce,
                           std::string_view qop, std::string_view entity_body) {
  std::vector<std::uint8_t> a1;
  const std::string prefix = Join({username, realm}) + ":";
  a1.assign(prefix.begin(), prefix.end());
  a1.insert(a1.end(), password.begin(), password.end());
  const std::string ha1 = Md5Hex(a1);
  std::fill(a1.begin(), a1.end(), 0);
  const std::string ha2 = qop == "auth-int" ? Md5Hex(Join({method, uri, Md5Hex(entity_body)}))
                                            : Md5Hex(Join({method, uri}));
  if (qop.empty()) return Md5Hex(Join({ha1, nonce, ha2}));
  return Md5Hex(Join({ha1, nonce, nc, cnonce, qop, ha2}));
}

std::string FormatDigestHeader(const std::map<std::string, std::string>& params) {
  std::string out = "Digest ";
  bool first = true;
  for (const auto& [k, v] : params) {
    if (!first) out += ", ";
    first = false;
    out += k + "=";
    // RFC 2617 leaves nc, qop and algorithm unquoted; a value that is not a token is quoted
    // anyway so that the header parses back to the same parameters.
    const bool token = !v.empty() && v.find_first_of(" ,\"\\\t") == std::string::npos;
    if ((k == "nc" || k == "qop" || k == "algorithm") && token) {
      out += v;
    } else {
      out += '"';
      for (char c : v) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    }
  }
  return out;
}

std::string WriteBootstrappingInfo(const BootstrappingInfo& info) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<BootstrappingInfo xmlns=\"uri:3gpp-gba\">\n  <btid>" +
         info.btid + "</btid>\n  <lifetime>" + info.lifetime +
         "</lifetime>\n</BootstrappingInfo>\n";
}

Result<BootstrappingInfo> ParseBootstrappingInfo(std::string_view xml) {
  BootstrappingInfo info;
  if (xml.find("BootstrappingInfo") == std::string_view::npos) {
    return Err("no BootstrappingInfo element", "BootstrappingInfo", 0);
  }
  if (!Element(xml, "btid", info.btid) || info.btid.empty()) {
    return Err("no btid element", "btid", 0);
  }
  if (info.btid.find('@') == std::string::npos) {
    return Err("B-TID is not base64(RAND)@BSF name", "btid", xml.find(info.btid));
  }
  if (!Element(xml, "lifetime", info.lifetime) || info.lifetime.empty()) {
    return Err("no lifetime element", "lifetime", 0);
  }
  return info;
}

}  // namespace spc::smartcard
