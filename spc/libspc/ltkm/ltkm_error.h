// Why a broadcast LTKM message (device_registration_response, BCRO) was not accepted. Every
// failure names its reason; a failed message changes nothing on the terminal.
#pragma once

#include <string>
#include <string_view>

#include "spc/libspc/result.h"

namespace spc {

enum class LtkmError {
  kMalformed,          // the parser rejected it: `parse` names field and offset
  kOtherDevice,        // addressed to another device_id
  kOtherGroup,         // BCRO for a broadcast group the device is not in
  kUnknownGeneration,  // BCRO for a group key generation the device does not have
  kUnknownRi,          // BCRO of an RI the device has no registration with
  kBadSignature,       // RSA-PSS signature by the RI does not verify
  kBrokenChain,        // RI certificate chain missing, undecodable, untrusted, expired, or ri_id
                       // is not the leaf's key hash
  kUnwrapFailed,       // RSA-KEM / AES-UNWRAP integrity failure (wrong key or tampered)
  kDeviceRevoked,      // a verified response with status 1 (device revoked)
  kUnknownDevice,      // a verified response with status 2 (unknown device)
  kExpired,            // registration whose not_after has passed
};

// Stable names: "malformed", "other-device", "other-group", "unknown-generation", "unknown-ri",
// "bad-signature", "broken-chain", "unwrap-failed", "device-revoked", "unknown-device",
// "expired".
std::string_view LtkmErrorName(LtkmError code);

struct LtkmFailure {
  LtkmError code = LtkmError::kMalformed;
  std::string message;
  ParseError parse;  // set for kMalformed
};

}  // namespace spc
