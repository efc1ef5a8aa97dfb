// Internal to libspc_ltkm: what the two RI-signed layouts (drr.cc, bcro.cc) share, the
// signature_length/signature tail that ends each message and the failures their processing returns.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/libspc/ltkm/ltkm_error.h"
#include "spc/libspc/result.h"
#include "spc/libspc/wire.h"

namespace spc::ltkm_signed {

// signature_length (2 bytes), signature, and nothing after it; `wrong` says which fields can
// have caused trailing bytes ("a length field", "a count or length field").
inline bool ReadSignature(wire::Reader& r, std::vector<std::uint8_t>& signature,
                          const char* wrong) {
  std::size_t length = 0;
  if (!r.Number("signature_length", 2, length)) return false;
  if (!r.Take("signature", length, signature)) return false;
  if (r.left() != 0) {
    return r.Fail("signature: " + std::to_string(r.left()) +
                      " unexpected bytes after the signature (offset " + std::to_string(r.pos()) +
                      "): " + wrong + " is wrong",
                  "signature", r.pos());
  }
  return true;
}

inline LtkmFailure Fail(LtkmError code, std::string message) {
  return LtkmFailure{code, std::move(message), {}};
}

inline LtkmFailure Malformed(const ParseError& e) {
  return LtkmFailure{
      LtkmError::kMalformed,
      e.message + " (field " + e.field + ", offset " + std::to_string(e.offset) + ")", e};
}

// The RI's RSA-PSS signature over every byte of `message` before signature_length (the parser
// guarantees the signature is the message's tail).
inline std::optional<LtkmFailure> VerifySignature(EVP_PKEY* ri_key,
                                                  std::span<const std::uint8_t> message,
                                                  const std::vector<std::uint8_t>& signature) {
  const std::size_t signed_length = message.size() - 2 - signature.size();
  if (auto ok = RsaPssVerify(ri_key, message.first(signed_length), signature); !ok) {
    return Fail(LtkmError::kBadSignature, "signature: " + ok.error().message);
  }
  return std::nullopt;
}

}  // namespace spc::ltkm_signed
