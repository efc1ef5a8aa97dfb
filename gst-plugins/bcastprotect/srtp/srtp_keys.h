// RFC 3711 key derivation (key derivation rate 0), AES-CM keystream and the HMAC-SHA1
// authentication tag, on OpenSSL 3 EVP. Used by the receiver to check RFC 4771 ROC-carrying tags
// and by the head-end to write them. Never logs key bytes.
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "gst-plugins/bcastprotect/srtp/srtp_types.h"

namespace bcast::srtp {

// The session keys of one SRTP master key (RTP direction), derived with key_derivation_rate 0.
struct SrtpSessionKeys {
  std::array<std::uint8_t, 16> encryption_key{};        // label 0x00
  std::array<std::uint8_t, kAuthKeyLength> auth_key{};  // label 0x01
  std::array<std::uint8_t, kMasterSaltLength> salt{};   // label 0x02
  ~SrtpSessionKeys();                                   // cleanses
  SrtpSessionKeys() = default;
  SrtpSessionKeys(const SrtpSessionKeys&) = default;
  SrtpSessionKeys& operator=(const SrtpSessionKeys&) = default;
};

// RFC 3711 §4.3.1/§4.3.3 labels (SRTP and SRTCP).
enum class KdfLabel : std::uint8_t {
  kRtpEncryption = 0x00,
  kRtpAuthentication = 0x01,
  kRtpSalt = 0x02,
  kRtcpEncryption = 0x03,
  kRtcpAuthentication = 0x04,
  kRtcpSalt = 0x05,
};

// PRF output of `length` bytes for `label` (r = 0, so key_id = label ‖ 0^48).
std::vector<std::uint8_t> DeriveKeyMaterial(
    std::span<const std::uint8_t, kMasterKeyLength> master_key,
    std::span<const std::uint8_t, kMasterSaltLength> master_salt, KdfLabel label,
    std::size_t length);

SrtpSessionKeys DeriveSessionKeys(std::span<const std::uint8_t, kMasterKeyLength> master_key,
                                  std::span<const std::uint8_t, kMasterSaltLength> master_salt);

// AES-128-CTR and HMAC, fetched once per process (a fetch walks OpenSSL's provider store: about
// 10 000 instructions each time). Null when the provider lacks them.
EVP_CIPHER* Aes128Ctr();
EVP_MAC* Hmac();

// RFC 3711 §4.1.1 IV: (k_s · 2^16) XOR (SSRC · 2^64) XOR (i · 2^16).
std::array<std::uint8_t, 16> AesCmIv(std::span<const std::uint8_t, kMasterSaltLength> session_salt,
                                     std::uint32_t ssrc, std::uint64_t index);

// XORs the AES-CM keystream starting at `iv` into `data` (encrypts and decrypts). False when
// OpenSSL fails.
bool AesCmTransform(std::span<const std::uint8_t, 16> key, const std::array<std::uint8_t, 16>& iv,
                    std::span<std::uint8_t> data);

// Full 20-byte HMAC-SHA1(auth_key, authenticated_portion ‖ ROC) (RFC 3711 §4.2, RFC 4771 §3.1).
// Callers truncate: 10 bytes (_80), 4 (_32), tag − 4 after a carried ROC (RCCm1/2).
std::array<std::uint8_t, 20> SrtpAuthTag(const SrtpSessionKeys& keys,
                                         std::span<const std::uint8_t> authenticated_portion,
                                         std::uint32_t roc);

// Constant-time check of `tag` (any length ≤ 20) against the leading bytes of SrtpAuthTag.
bool SrtpAuthTagMatches(const SrtpSessionKeys& keys,
                        std::span<const std::uint8_t> authenticated_portion, std::uint32_t roc,
                        std::span<const std::uint8_t> tag);

}  // namespace bcast::srtp
