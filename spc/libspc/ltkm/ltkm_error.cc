#include "spc/libspc/ltkm/ltkm_error.h"

namespace spc {

std::string_view LtkmErrorName(LtkmError code) {
  switch (code) {
    case LtkmError::kMalformed:
      return "malformed";
    case LtkmError::kOtherDevice:
      return "other-device";
    case LtkmError::kOtherGroup:
      return "other-group";
    case LtkmError::kUnknownGeneration:
      return "unknown-generation";
    case LtkmError::kUnknownRi:
      return "unknown-ri";
    case LtkmError::kBadSignature:
      return "bad-signature";
    case LtkmError::kBrokenChain:
      return "broken-chain";
    case LtkmError::kUnwrapFailed:
      return "unwrap-failed";
    case LtkmError::kDeviceRevoked:
      return "device-revoked";
    case LtkmError::kUnknownDevice:
      return "unknown-device";
    case LtkmError::kExpired:
      return "expired";
  }
  return "unknown";
}

}  // namespace spc
