// GBA key derivation (3GPP TS 33.220): the KDF of Annex B (HMAC-SHA-256 over FC ‖ P0 ‖ L0 ‖ ...),
// Ks_NAF / Ks_ext_NAF / Ks_int_NAF, NAF_Id and B-TID. Shared by the card (GBA_U: Ks_int_NAF = MUK
// stays inside) and the head-end's BSF/BSM.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spc::smartcard {

using GbaKey = std::array<std::uint8_t, 32>;

// TS 33.220 Annex B.2: derived key = HMAC-SHA-256(key, FC ‖ P0 ‖ L0 ‖ P1 ‖ L1 ...), Li the
// 2-byte big-endian length of Pi.
GbaKey GbaKdf(std::span<const std::uint8_t> key, std::uint8_t fc,
              std::span<const std::span<const std::uint8_t>> params);

// FC of the NAF-specific key derivation (Annex B.3).
inline constexpr std::uint8_t kGbaFcNafKey = 0x01;

// Ua security protocol identifier of TS 33.220 Annex H for MBMS (TS 33.246).
inline constexpr std::array<std::uint8_t, 5> kUaProtocolMbms = {0x01, 0x00, 0x00, 0x00, 0x02};

// NAF_Id = FQDN of the NAF ‖ Ua security protocol identifier.
std::vector<std::uint8_t> GbaNafId(std::string_view naf_fqdn,
                                   std::span<const std::uint8_t, 5> ua_protocol = kUaProtocolMbms);

// Ks = CK ‖ IK.
GbaKey GbaKs(std::span<const std::uint8_t, 16> ck, std::span<const std::uint8_t, 16> ik);

// Which of the NAF keys: Ks_NAF (GBA_ME) and Ks_ext_NAF (GBA_U) use "gba-me", Ks_int_NAF "gba-u".
enum class GbaNafKeyKind { kExt, kInt };

// Ks_(ext/int)_NAF = KDF(Ks, "gba-me"/"gba-u", RAND, IMPI, NAF_Id).
GbaKey GbaNafKey(std::span<const std::uint8_t, 32> ks, GbaNafKeyKind kind,
                 std::span<const std::uint8_t, 16> rand, std::string_view impi,
                 std::span<const std::uint8_t> naf_id);

// B-TID = base64(RAND) "@" BSF server name (TS 33.220 §4.5.2).
std::string GbaBtid(std::span<const std::uint8_t, 16> rand, std::string_view bsf_server_name);

}  // namespace spc::smartcard
