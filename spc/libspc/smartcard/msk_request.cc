#include "spc/libspc/smartcard/msk_request.h"

#include <glib.h>

#include <cstdio>

#include "spc/libspc/hex.h"

namespace spc::smartcard {
namespace {

ParseError Err(std::string message, std::string field, std::size_t offset) {
  return ParseError{std::move(message), std::move(field), offset};
}

std::string XmlEscape(std::string_view in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// The five predefined entities only; false on any other '&' or a '<'.
bool XmlUnescape(std::string_view in, std::string* out, std::size_t* bad) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  out->clear();
  for (std::size_t i = 0; i < in.size();) {
    if (in[i] == '<') {
      *bad = i;
      return false;
    }
    if (in[i] != '&') {
      out->push_back(in[i++]);
      continue;
    }
    bool known = false;
    for (const auto& [name, c] : kEntities) {
      if (in.substr(i, name.size()) == name) {
        out->push_back(c);
        i += name.size();
        known = true;
        break;
      }
    }
    if (!known) {
      *bad = i;
      return false;
    }
  }
  return true;
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

std::string WriteRegisterRequest(const std::vector<std::string>& service_ids) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mbmsRegister>";
  for (const std::string& id : service_ids) out += "<serviceId>" + XmlEscape(id) + "</serviceId>";
  return out + "</mbmsRegister>\n";
}

Result<std::vector<std::string>> ParseRegisterRequest(std::string_view xml) {
  const std::size_t root = xml.find("<mbmsRegister>");
  if (root == std::string_view::npos) return Err("no mbmsRegister element", "mbmsRegister", 0);
  std::vector<std::string> ids;
  std::size_t p = root + 14;
  for (;;) {
    const std::size_t open = xml.find("<serviceId>", p);
    const std::size_t end = xml.find("</mbmsRegister>", p);
    if (open == std::string_view::npos || (end != std::string_view::npos && end < open)) break;
    const std::size_t s = open + 11;
    const std::size_t close = xml.find("</serviceId>", s);
    if (close == std::string_view::npos) return Err("serviceId not closed", "serviceId", s);
    std::string id;
    std::size_t bad = 0;
    if (!XmlUnescape(xml.substr(s, close - s), &id, &bad)) {
      return Err("serviceId holds markup or an unknown entity", "serviceId", s + bad);
    }
    if (id.empty()) return Err("empty serviceId", "serviceId", s);
    ids.push_back(std::move(id));
    p = close + 12;
  }
  if (xml.find("</mbmsRegister>", p) == std::string_view::npos) {
    return Err("mbmsRegister not closed", "mbmsRegister", p);
  }
  if (ids.empty()) return Err("no serviceId", "serviceId", root);
  return ids;
}

const char* RegistrationStatusName(RegistrationStatus status) {
  switch (status) {
    case RegistrationStatus::kOk:
      return "ok";
    case RegistrationStatus::kUnknown:
      return "unknown";
    case RegistrationStatus::kRefused:
      return "refused";
  }
  return "?";
}

std::string WriteRegisterResponse(const std::vector<RegistrationResult>& results) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mbmsRegisterResponse>";
  for (const RegistrationResult& r : results) {
    out += "<service id=\"" + XmlEscape(r.service_id) + "\" status=\"" +
           RegistrationStatusName(r.status) + "\"/>";
  }
  return out + "</mbmsRegisterResponse>\n";
}

Result<std::vector<RegistrationResult>> ParseRegisterResponse(std::string_view xml) {
  const std::size_t root = xml.find("<mbmsRegisterResponse>");
  if (root == std::string_view::npos) {
    return Err("no mbmsRegisterResponse element", "mbmsRegisterResponse", 0);
  }
  std::vector<RegistrationResult> out;
  std::size_t p = root + 22;
  // The value of attribute `name` inside the element [from, to).
  auto attribute = [&](std::size_t from, std::size_t to, std::string_view name,
                       std::string* value) -> Result<bool> {
    const std::string key = " " + std::string(name) + "=\"";
    const std::size_t a = xml.find(key, from);
    if (a == std::string_view::npos || a > to) {
      return Err("service without " + std::string(name), "service." + std::string(name), from);
    }
    const std::size_t v = a + key.size();
    const std::size_t q = xml.find('"', v);
    if (q == std::string_view::npos || q > to) {
      return Err("unterminated " + std::string(name), "service." + std::string(name), v);
    }
    std::size_t bad = 0;
    if (!XmlUnescape(xml.substr(v, q - v), value, &bad)) {
      return Err("markup or an unknown entity in " + std::string(name),
                 "service." + std::string(name), v + bad);
    }
    return true;
  };
  for (;;) {
    const std::size_t open = xml.find("<service ", p);
    const std::size_t end = xml.find("</mbmsRegisterResponse>", p);
    if (open == std::string_view::npos || (end != std::string_view::npos && end < open)) break;
    const std::size_t close = xml.find("/>", open);
    if (close == std::string_view::npos) return Err("service not closed", "service", open);
    RegistrationResult r;
    std::string status;
    if (auto a = attribute(open, close, "id", &r.service_id); !a) return a.error();
    if (r.service_id.empty()) return Err("empty service id", "service.id", open);
    if (auto a = attribute(open, close, "status", &status); !a) return a.error();
    if (status == "ok") {
      r.status = RegistrationStatus::kOk;
    } else if (status == "unknown") {
      r.status = RegistrationStatus::kUnknown;
    } else if (status == "refused") {
      r.status = RegistrationStatus::kRefused;
    } else {
      return Err("status \"" + status + "\" is not ok, unknown or refused", "service.status",
                 xml.find(" status=\"", open) + 9);
    }
    out.push_back(std::move(r));
    p = close + 2;
  }
  if (xml.find("</mbmsRegisterResponse>", p) == std::string_view::npos) {
    return Err("mbmsRegisterResponse not closed", "mbmsRegisterResponse", p);
  }
  return out;
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
