// MIKEY key derivation (RFC 3830 §4.1.2–4.1.4, PRF-HMAC-SHA-256 of RFC 6043 §6.1) and the AES-CM
// encryption of the KEMAC payload (RFC 3830 §4.2.3), on OpenSSL EVP.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace spc::smartcard {

// PRF function codes of the MIKEY common header.
inline constexpr std::uint8_t kMikeyPrfHmacSha1 = 0;    // MIKEY-1
inline constexpr std::uint8_t kMikeyPrfHmacSha256 = 1;  // RFC 6043

// Label constants of RFC 3830 §4.1.4 for the keys that protect the message itself.
inline constexpr std::uint32_t kMikeyLabelEncryption = 0x150533E1;
inline constexpr std::uint32_t kMikeyLabelAuthentication = 0x2D22AC75;
inline constexpr std::uint32_t kMikeyLabelSalt = 0x29B88916;

// PRF(inkey, label) truncated to out_len bytes. `prf` is one of the codes above; any other value
// is a programming error (parsers refuse it first) and aborts.
std::vector<std::uint8_t> MikeyPrf(std::uint8_t prf, std::span<const std::uint8_t> inkey,
                                   std::span<const std::uint8_t> label, std::size_t out_len);

// Keys protecting one MIKEY message, from its envelope key (MUK or MSK), CSB-ID and RAND with
// label = constant ‖ 0xFF ‖ CSB-ID ‖ RAND.
struct MikeyMessageKeys {
  std::array<std::uint8_t, 16> encryption{};
  std::array<std::uint8_t, 14> salt{};
  std::array<std::uint8_t, 20> authentication{};
  ~MikeyMessageKeys();
};
MikeyMessageKeys MikeyDeriveMessageKeys(std::uint8_t prf,
                                        std::span<const std::uint8_t> envelope_key,
                                        std::uint32_t csb_id, std::span<const std::uint8_t> rand);

// AES-CM-128 (counter mode) with IV = (salt XOR (0x0000 ‖ CSB-ID ‖ T)) ‖ 0x0000, T the 4-byte
// COUNTER right-aligned in 8 bytes. Encryption and decryption are the same operation.
std::vector<std::uint8_t> MikeyAesCm(std::span<const std::uint8_t, 16> key,
                                     std::span<const std::uint8_t, 14> salt, std::uint32_t csb_id,
                                     std::uint64_t timestamp, std::span<const std::uint8_t> data);

}  // namespace spc::smartcard
