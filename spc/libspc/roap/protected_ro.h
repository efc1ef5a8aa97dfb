// The protected RO (roap.md): built by the RI for one device, opened by the device.
//
// Build: K_MAC and K_REK random; encKey = RSA-KEM-KDF2-KW-AES128 of K_MAC ‖ K_REK to the device
// (C1 ‖ C2); the asset's CipherValue = AES-WRAP(K_REK, SEK ‖ SAK) (40 bytes); the <roap:ro> is
// written once, canonical; DigestValue = SHA-1 of those exact bytes; SignatureValue =
// HMAC-SHA1(K_MAC, the exact <ds:SignedInfo> bytes).
//
// Open: device ID, then digest over the exact received <roap:ro> bytes, then RSA-KEM decrypt with
// the device key, then the HMAC over the exact received SignedInfo bytes (constant time), and only
// then unwrap SEK ‖ SAK. Nothing is unwrapped from an RO whose MAC fails.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "spc/libspc/crypto.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/roap/messages.h"
#include "spc/libspc/roap/types.h"

namespace spc::roap {

// What the key store keeps of an LTKM delivered by ROAP (ltkm.md "What the key store keeps").
struct LtkmEntry {
  std::string content_id;
  std::optional<std::uint32_t> key_domain_id;
  SecureKey<16> encryption_key;      // SEK or PEK
  SecureKey<16> authentication_key;  // SAK or PAK
  bool play = false;
  bool record = false;
  std::optional<std::int64_t> not_before;
  std::optional<std::int64_t> not_after;
  std::string ro_id;
  KeyId ri_id{};
  std::int64_t timestamp = 0;  // RO timeStamp
};

// The long-term key for the STKM path (keys.h). The RO does not say service or programme; the
// caller knows it from the content ID it asked for.
LongTermKey ToLongTermKey(const LtkmEntry& entry, bool programme = false);

// One grant of the RI: the RO to build for one content ID.
struct RoGrant {
  std::string ro_id;
  RoRights rights;
  SecureKey<16> encryption_key;      // SEK/PEK
  SecureKey<16> authentication_key;  // SAK/PAK
};

// The exact <roap:protectedRO>…</roap:protectedRO> bytes, for embedding in an roResponse (the
// <roap:protectedRO> element relies on the roResponse's xmlns:roap; the <roap:ro> inside declares
// its own). `device_public_key` is the device certificate's key; the RO's device ID is its SPKI
// SHA-1.
RoapResult<std::string> BuildProtectedRo(const RoGrant& grant, const KeyId& ri_id,
                                         std::int64_t timestamp, EVP_PKEY* device_public_key);

// Checks and opens one parsed protected RO for this device (`device_key` private, `device_id` =
// SPKI SHA-1 of its certificate) from `ri_id`. Errors: RoForAnotherDevice, WrongRiId,
// BadRoDigest, KeyUnwrapFailed (RSA-KEM or AES-WRAP integrity), BadRoMac.
RoapResult<LtkmEntry> OpenProtectedRo(const ProtectedRo& pro, EVP_PKEY* device_key,
                                      const KeyId& device_id, const KeyId& ri_id);

}  // namespace spc::roap
