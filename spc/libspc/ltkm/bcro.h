// bcro(): the Broadcast Rights Object of ltkm.md — the one parser and the one writer of its
// [project] layout (here and in bcro.cc only), the terminal's opening step (pure: no store) and
// the head-end's signed writer.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/crypto.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/ltkm/drr.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/libspc/ltkm/ltkm_error.h"
#include "spc/libspc/result.h"

namespace spc {

inline constexpr std::uint8_t kBcroVersion = 1;

enum class BcroAddressMode : std::uint8_t { kDevice = 0, kGroup = 1 };

inline constexpr std::uint8_t kPermissionPlay = 0x01;
inline constexpr std::uint8_t kPermissionRecord = 0x02;

// Field names follow ltkm.md. device_id is on the wire for address_mode 0 only, group_id and
// key_generation for address_mode 1 only (the others stay zero when parsed).
struct Bcro {
  std::uint8_t bcro_version = kBcroVersion;
  std::uint8_t address_mode = 0;  // BcroAddressMode
  Sha1Digest ri_id{};
  std::string ro_id;            // ro_id_length bytes
  std::uint64_t timestamp = 0;  // 40 bits
  Sha1Digest device_id{};
  std::uint32_t group_id = 0;
  std::uint16_t key_generation = 0;
  std::uint32_t key_domain_id = 0;  // 24 bits
  std::string content_id;           // content_id_length bytes
  std::uint8_t permissions = 0;     // bit 0 play, bit 1 record; reserved bits kept as read
  std::uint64_t not_before = 0;     // 40 bits
  std::uint64_t not_after = 0;      // 40 bits
  std::array<std::uint8_t, 40> wrapped_key_material{};  // AES-WRAP(K_DEV or K_GROUP, SEK ‖ SAK)
  std::vector<std::uint8_t> signature;

  bool operator==(const Bcro&) const = default;
};

// Structure only (version, address_mode, lengths, nothing after the signature). Errors name the
// ltkm.md field and its byte offset.
Result<Bcro> ParseBcro(std::span<const std::uint8_t> message);

// Every field as given, `signature` included; an address_mode other than 0/1 writes neither
// address (tests). Empty when a value does not fit its field.
std::vector<std::uint8_t> SerializeBcro(const Bcro& bcro);
// The bytes the signature covers: SerializeBcro without signature_length and signature.
std::vector<std::uint8_t> BcroSignedBytes(const Bcro& bcro);

// One long-term key the terminal installs (ltkm.md "What the key store keeps").
struct LtkmEntry {
  std::string content_id;
  std::uint32_t key_domain_id = 0;
  // SEK/PEK and SAK/PAK. The BCRO layout does not say service or programme: `programme` is left
  // false and the store/caller decides from the content ID.
  LongTermKey key;
  std::uint8_t permissions = 0;
  std::uint64_t not_before = 0;
  std::uint64_t not_after = 0;
  std::string ro_id;
  Sha1Digest ri_id{};
  std::uint64_t timestamp = 0;

  ~LtkmEntry() {
    Cleanse(key.encryption_key);
    Cleanse(key.authentication_key);
  }
  LtkmEntry() = default;
  LtkmEntry(const LtkmEntry&) = default;
  LtkmEntry& operator=(const LtkmEntry&) = default;
  LtkmEntry(LtkmEntry&&) = default;
  LtkmEntry& operator=(LtkmEntry&&) = default;
};

// The terminal's processing (ltkm.md), in this order: `registration` exists and is the BCRO's RI
// (else kUnknownRi; pass nullptr when the terminal has no registration with bcro.ri_id); address:
// device_id equals `device_id` (kOtherDevice) or the group is one of the registration's
// (kOtherGroup) with that key_generation (kUnknownGeneration); RSA-PSS signature by the RI
// certificate's key (registration->ri_certificates[0]) over every byte before signature_length
// (kBadSignature); AES-UNWRAP with K_DEV or K_GROUP (kUnwrapFailed). `parsed` is
// ParseBcro(message). Validity dates and "same ro_id only if newer" are the store's.
Result<LtkmEntry, LtkmFailure> OpenBcro(std::span<const std::uint8_t> message, const Bcro& parsed,
                                        const RegistrationMaterial* registration,
                                        const Sha1Digest& device_id);
// ParseBcro then OpenBcro.
Result<LtkmEntry, LtkmFailure> OpenBcro(std::span<const std::uint8_t> message,
                                        const RegistrationMaterial* registration,
                                        const Sha1Digest& device_id);

// Head-end: wraps `key`'s SEK ‖ SAK with `wrapping_key` (the device's K_DEV for address_mode 0,
// the group's K_GROUP for 1) into bcro.wrapped_key_material, sets bcro.ri_id to the key hash of
// `ri_key`, signs with `ri_key` and serialises.
CryptoResult<std::vector<std::uint8_t>> WriteBcro(Bcro bcro, const LongTermKey& key,
                                                  std::span<const std::uint8_t, 16> wrapping_key,
                                                  EVP_PKEY* ri_key);
// Signs `bcro` as given (tests) and serialises it.
CryptoResult<std::vector<std::uint8_t>> SignBcro(Bcro bcro, EVP_PKEY* ri_key);

}  // namespace spc
