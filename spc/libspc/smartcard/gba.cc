#include "spc/libspc/smartcard/gba.h"

#include <glib.h>

#include <algorithm>

#include "spc/libspc/crypto.h"

namespace spc::smartcard {
namespace {

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

GbaKey GbaKdf(std::span<const std::uint8_t> key, std::uint8_t fc,
              std::span<const std::span<const std::uint8_t>> params) {
  std::vector<std::uint8_t> s;
  s.push_back(fc);
  for (auto p : params) {
    s.insert(s.end(), p.begin(), p.end());
    s.push_back(static_cast<std::uint8_t>(p.size() >> 8));
    s.push_back(static_cast<std::uint8_t>(p.size()));
  }
  std::vector<std::uint8_t> mac = Hmac("SHA256", key, s);
  GbaKey out{};
  std::copy(mac.begin(), mac.end(), out.begin());
  Cleanse(mac);
  return out;
}

std::vector<std::uint8_t> GbaNafId(std::string_view naf_fqdn,
                                   std::span<const std::uint8_t, 5> ua_protocol) {
  std::vector<std::uint8_t> id(naf_fqdn.begin(), naf_fqdn.end());
  id.insert(id.end(), ua_protocol.begin(), ua_protocol.end());
  return id;
}

GbaKey GbaKs(std::span<const std::uint8_t, 16> ck, std::span<const std::uint8_t, 16> ik) {
  GbaKey ks{};
  std::copy(ck.begin(), ck.end(), ks.begin());
  std::copy(ik.begin(), ik.end(), ks.begin() + 16);
  return ks;
}

GbaKey GbaNafKey(std::span<const std::uint8_t, 32> ks, GbaNafKeyKind kind,
                 std::span<const std::uint8_t, 16> rand, std::string_view impi,
                 std::span<const std::uint8_t> naf_id) {
  const std::string_view label = kind == GbaNafKeyKind::kExt ? "gba-me" : "gba-u";
  const std::span<const std::uint8_t> params[] = {Bytes(label), rand, Bytes(impi), naf_id};
  return GbaKdf(ks, kGbaFcNafKey, params);
}

std::string GbaBtid(std::span<const std::uint8_t, 16> rand, std::string_view bsf_server_name) {
  gchar* b64 = g_base64_encode(rand.data(), rand.size());
  std::string btid = std::string(b64) + "@" + std::string(bsf_server_name);
  g_free(b64);
  return btid;
}

}  // namespace spc::smartcard
