#include "spc/libspc/smartcard/msk_request.h"

#include <glib.h>

#include <cstdio>

#include "spc/libspc/hex.h"

namespace spc::smartcard {
namespace {

ParseError Err(std::string message, std::string field, std::size_t offset) {
  return ParseError{std::move(message), std::move(field), offset};
}

}  // namespace

std::string WriteMskRequest(const MskRequest& r) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mskRequest keyDomainId=\"" +
                    HexEncode(r.key_domain) + "\">";
  for (std::uint32_t id : r.msk_ids) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "<mskId>%08x</mskId>", id);
    out += buf;
  }
  return out + "</mskRequest>\n";
}

Result<MskRequest> ParseMskRequest(std::string_view xml) {
  MskRequest r;
  const std::size_t root = xml.find("<mskRequest");
  if (root == std::string_view::npos) return Err("no mskRequest element", "mskRequest", 0);
  const std::string_view attr = "keyDomainId=\"";
  const std::size_t a = xml.find(attr, root);
  const std::size_t root_end = xml.find('>', root);
  if (a == std::string_view::npos || root_end == std::string_view::npos || a > root_end) {
    return Err("mskRequest without keyDomainId", "keyDomainId", root);
  }
  const std::size_t v = a + attr.size();
  if (xml.size() < v + 7 || xml[v + 6] != '"' || !HexDecodeInto(xml.substr(v, 6), r.key_domain)) {
    return Err("keyDomainId is not 6 hex digits", "keyDomainId", v);
  }
  std::size_t p = root_end;
  for (;;) {
    const std::size_t open = xml.find("<mskId>", p);
    if (open == std::string_view::npos) break;
    const std::size_t s = open + 7;
    const std::size_t close = xml.find("</mskId>", s);
    std::array<std::uint8_t, 4> id{};
    if (close == std::string_view::npos || close - s != 8 || !HexDecodeInto(xml.substr(s, 8), id)) {
      return Err("mskId is not 8 hex digits", "mskId", s);
    }
    r.msk_ids.push_back(static_cast<std::uint32_t>(id[0]) << 24 |
                        static_cast<std::uint32_t>(id[1]) << 16 |
                        static_cast<std::uint32_t>(id[2]) << 8 | id[3]);
    p = close;
  }
  if (r.msk_ids.empty()) return Err("no mskId", "mskId", root_end);
  if (xml.find("</mskRequest>", p) == std::string_view::npos) {
    return Err("mskRequest not closed", "mskRequest", p);
  }
  return r;
}

std::vector<std::uint8_t> WriteMikeyBundle(const std::vector<std::vector<std::uint8_t>>& messages) {
  std::vector<std::uint8_t> out;
  for (const auto& m : messages) {
    out.push_back(static_cast<std::uint8_t>(m.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(m.size()));
    out.insert(out.end(), m.begin(), m.end());
  }
  return out;
}

Result<std::vector<std::vector<std::uint8_t>>> ParseMikeyBundle(std::span<const std::uint8_t> b) {
  std::vector<std::vector<std::uint8_t>> out;
  std::size_t p = 0;
  while (p < b.size()) {
    if (b.size() - p < 2) return Err("bundle ends inside a length", "bundle.length", p);
    const std::size_t len = static_cast<std::size_t>(b[p] << 8 | b[p + 1]);
    if (len == 0) return Err("empty message in the bundle", "bundle.length", p);
    if (b.size() - p - 2 < len)
      return Err("message length runs past the bundle", "bundle.length", p);
    out.emplace_back(b.begin() + p + 2, b.begin() + p + 2 + len);
    p += 2 + len;
  }
  if (out.empty()) return Err("empty bundle", "bundle", 0);
  return out;
}

std::string GbaNafDigestPassword(std::span<const std::uint8_t> ks_ext_naf) {
  gchar* s = g_base64_encode(ks_ext_naf.data(), ks_ext_naf.size());
  std::string out(s);
  g_free(s);
  return out;
}

}  // namespace spc::smartcard
