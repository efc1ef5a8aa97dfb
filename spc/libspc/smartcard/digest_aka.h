// HTTP Digest AKA (RFC 3310, AKAv1-MD5) as GBA's Ub interface uses it (3GPP TS 33.220 / 24.109):
// the terminal (spcd) and the head-end's BSF share these helpers. The nonce carries
// base64(RAND ‖ AUTN ‖ server data); the digest password is RES (empty, with an "auts" parameter,
// on a synchronisation failure). The digest itself is RFC 2617's, on MD5 from OpenSSL.
//
// Flow: GET / with Authorization: Digest username="IMPI", realm, nonce="", uri="/", response=""
// → 401 WWW-Authenticate: Digest realm, nonce, algorithm=AKAv1-MD5, qop="auth-int" → the card's
// RES → GET / with the computed Authorization → 200 with <BootstrappingInfo> (B-TID, lifetime).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spc/libspc/result.h"

namespace spc::smartcard {

// base64(RAND ‖ AUTN ‖ server_data).
std::string AkaNonce(std::span<const std::uint8_t, 16> rand, std::span<const std::uint8_t, 16> autn,
                     std::span<const std::uint8_t> server_data = {});
struct AkaNonceParts {
  std::array<std::uint8_t, 16> rand{};
  std::array<std::uint8_t, 16> autn{};
};
Result<AkaNonceParts> ParseAkaNonce(std::string_view nonce);

// The parameters of a WWW-Authenticate or Authorization header value "Digest k=v, k="v", ...".
// Keys are lower-cased; quoted values unescaped. Refuses a scheme other than Digest, unbalanced
// quotes and empty keys, naming the byte offset.
Result<std::map<std::string, std::string>> ParseDigestParams(std::string_view header_value);

// RFC 2617 §3.2.2 request-digest (lower-case hex). qop "" (RFC 2069 form), "auth" or "auth-int"
// (`entity_body` hashed into HA2).
std::string DigestResponse(std::string_view username, std::span<const std::uint8_t> password,
                           std::string_view realm, std::string_view method, std::string_view uri,
                           std::string_view nonce, std::string_view nc, std::string_view cnonce,
                           std::string_view qop, std::string_view entity_body = {});

// "Digest k="v", ..." with the values quoted (except nc, qop and algorithm, per RFC 2617).
std::string FormatDigestHeader(const std::map<std::string, std::string>& params);

// TS 24.109 BootstrappingInfo (namespace uri:3gpp-gba).
struct BootstrappingInfo {
  std::string btid;
  std::string lifetime;  // xs:dateTime
};
std::string WriteBootstrappingInfo(const BootstrappingInfo& info);
Result<BootstrappingInfo> ParseBootstrappingInfo(std::string_view xml);

}  // namespace spc::smartcard
