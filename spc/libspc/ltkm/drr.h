// device_registration_response() of the broadcast channel (ltkm.md): the one parser and the one
// writer of its [project] layout (here and in drr.cc only), the terminal's verification (pure: no
// store) and the head-end's signed writer.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <span>
#include <vector>

#include "spc/libspc/crypto.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/libspc/ltkm/ltkm_error.h"
#include "spc/libspc/result.h"

namespace spc {

inline constexpr std::uint8_t kDrrVersion = 1;

enum class DrrStatus : std::uint8_t { kSuccess = 0, kDeviceRevoked = 1, kUnknownDevice = 2 };

struct DrrGroup {
  std::uint32_t group_id = 0;
  std::uint16_t key_generation = 0;
  std::array<std::uint8_t, 24> wrapped_group_key{};  // AES-WRAP(K_DEV, K_GROUP)
  bool operator==(const DrrGroup&) const = default;
};

// Field names follow ltkm.md. Counts and lengths (number_of_certificates, certificate_length, ...)
// are the sizes of the vectors.
struct DeviceRegistrationResponse {
  std::uint8_t drr_version = kDrrVersion;
  std::uint8_t status = 0;  // DrrStatus
  Sha1Digest device_id{};
  Sha1Digest ri_id{};
  std::uint64_t timestamp = 0;                                // 40 bits, seconds since 1970 UTC
  std::uint64_t not_after = 0;                                // 40 bits
  std::vector<std::vector<std::uint8_t>> certificates;        // DER, RI chain leaf first
  std::vector<std::uint8_t> encrypted_registration_material;  // C1 ‖ AES-WRAP(KEK, K_MAC ‖ K_DEV)
  std::vector<DrrGroup> groups;
  std::vector<std::uint8_t> signature;

  bool operator==(const DeviceRegistrationResponse&) const = default;
};

// Structure only (version, status value, counts, lengths, nothing after the signature). Errors
// name the ltkm.md field and its byte offset.
Result<DeviceRegistrationResponse> ParseDrr(std::span<const std::uint8_t> message);

// Every field as given, `signature` included. Empty when a value does not fit its field (more than
// 255 certificates or groups, a length over 65535, a 40-bit time over 2^40-1).
std::vector<std::uint8_t> SerializeDrr(const DeviceRegistrationResponse& drr);
// The bytes the signature covers: SerializeDrr without signature_length and signature.
std::vector<std::uint8_t> DrrSignedBytes(const DeviceRegistrationResponse& drr);

// A broadcast group key of the registration.
struct GroupKey {
  std::uint32_t group_id = 0;
  std::uint16_t key_generation = 0;
  SecureKey<16> key;
};

// What a verified response gives the terminal (and what the head-end registers): kept per RI.
struct RegistrationMaterial {
  Sha1Digest ri_id{};
  Sha1Digest device_id{};
  std::uint64_t timestamp = 0;
  std::uint64_t not_after = 0;
  SecureKey<16> k_mac;
  SecureKey<16> k_dev;
  std::vector<GroupKey> groups;
  std::vector<std::vector<std::uint8_t>> ri_certificates;  // DER, leaf first

  // The group key for (group_id, key_generation), nullptr when the device does not hold it.
  const GroupKey* FindGroup(std::uint32_t group_id, std::uint16_t key_generation) const;
};

// The terminal's processing of one response (ltkm.md), in this order: addressed to this device
// (SHA-1 of the device key's SubjectPublicKeyInfo equals device_id, else kOtherDevice); the RI
// chain to `trust_anchors` at `now` and ri_id = SHA-1 of the leaf's key (kBrokenChain); the
// RSA-PSS signature over every byte before signature_length (kBadSignature); status
// (kDeviceRevoked / kUnknownDevice, verified); not_after > now (kExpired); RSA-KEM decryption of
// K_MAC ‖ K_DEV and AES-UNWRAP of every group key (kUnwrapFailed). `parsed` is
// ParseDrr(message). Nothing is returned unless every check holds. Replacement by timestamp
// (re-keying) is the caller's: it compares RegistrationMaterial::timestamp with what it holds.
Result<RegistrationMaterial, LtkmFailure> VerifyDrr(std::span<const std::uint8_t> message,
                                                    const DeviceRegistrationResponse& parsed,
                                                    X509_STORE* trust_anchors,
                                                    EVP_PKEY* device_private_key, std::time_t now);
// ParseDrr then VerifyDrr.
Result<RegistrationMaterial, LtkmFailure> VerifyDrr(std::span<const std::uint8_t> message,
                                                    X509_STORE* trust_anchors,
                                                    EVP_PKEY* device_private_key, std::time_t now);

// Head-end: a signed response for the device with `device_public_key` carrying `material`'s
// timestamp, not_after, K_MAC, K_DEV and groups (RSA-KEM to the device, group keys wrapped with
// K_DEV) and its ri_certificates (leaf first: the certificate of `ri_key`). device_id and ri_id
// are computed from the keys (material.device_id / ri_id are ignored). With a status other than
// kSuccess no material and no groups are sent.
CryptoResult<std::vector<std::uint8_t>> WriteDrr(const RegistrationMaterial& material,
                                                 DrrStatus status, EVP_PKEY* device_public_key,
                                                 EVP_PKEY* ri_key);
// Signs `drr` as given (tests: well-signed messages with odd contents) and serialises it.
CryptoResult<std::vector<std::uint8_t>> SignDrr(DeviceRegistrationResponse drr, EVP_PKEY* ri_key);

}  // namespace spc
