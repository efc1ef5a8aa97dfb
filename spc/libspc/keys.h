// Long-term keys (SEK/SAK, PEK/PAK), traffic keys (TEK) and the STKM → TEK step shared by tekdec's
// key-file mode and spcd.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "spc/libspc/result.h"
#include "spc/libspc/stkm.h"

namespace spc {

using Key128 = std::array<std::uint8_t, 16>;
using MasterSalt = std::array<std::uint8_t, 14>;

// The long-term key pair that an STKM's TEK is encrypted (SEK/PEK) and authenticated (SAK/PAK)
// with.
struct LongTermKey {
  std::uint32_t key_domain_id = 0;
  bool programme = false;       // true: PEK/PAK, false: SEK/SAK
  Key128 encryption_key{};      // SEK or PEK
  Key128 authentication_key{};  // SAK or PAK
};

// A decrypted TEK with what the media decryptors need.
struct TrafficKey {
  std::uint16_t id = 0;  // traffic_key_id: SRTP MKI, ISMACryp key indicator
  Key128 key{};
  MasterSalt salt{};  // zero when the STKM has no master salt
};

// "<base CID><extension as 8 lowercase hex digits>" (stkm.md).
std::string ContentId(std::string_view base_cid, std::uint32_t cid_extension);

// The content ID of the rights an STKM needs: service or programme extension per its flags.
std::string StkmContentId(const Stkm& stkm, std::string_view base_cid);

// AES-128-ECB encryption of one TEK under a SEK/PEK (head-end side) and its inverse.
Key128 EncryptTrafficKey(std::span<const std::uint8_t, 16> sek,
                         std::span<const std::uint8_t, 16> tek);
Key128 DecryptTrafficKey(std::span<const std::uint8_t, 16> sek,
                         std::span<const std::uint8_t, 16> encrypted_tek);

// Result of the in-process STKM step: the TEK and, when announced, the next TEK.
struct StkmKeys {
  Stkm stkm;
  std::string content_id;
  TrafficKey current;
  std::optional<TrafficKey> next;
};

enum class StkmError { kMalformed, kNoRights, kBadMac };
struct StkmFailure {
  StkmError code = StkmError::kMalformed;
  std::string message;  // names the field / content ID
  ParseError parse;     // set for kMalformed
  std::string content_id;
};

// Parse, look the long-term key up, check the MAC (constant time) and only then decrypt.
// `lookup` maps a content ID to its long-term key (nullptr: no rights). The key_domain_id of the
// STKM must match the key's.
template <class Lookup>
Result<StkmKeys, StkmFailure> OpenStkm(std::span<const std::uint8_t> message,
                                       std::string_view base_cid, Lookup&& lookup);

// Non-template core used by OpenStkm.
Result<StkmKeys, StkmFailure> OpenStkmWithKey(std::span<const std::uint8_t> message,
                                              const Stkm& parsed, std::string content_id,
                                              const LongTermKey* key);

template <class Lookup>
Result<StkmKeys, StkmFailure> OpenStkm(std::span<const std::uint8_t> message,
                                       std::string_view base_cid, Lookup&& lookup) {
  auto parsed = ParseStkm(message);
  if (!parsed) {
    return StkmFailure{StkmError::kMalformed,
                       parsed.error().message + " (field " + parsed.error().field + ", offset " +
                           std::to_string(parsed.error().offset) + ")",
                       parsed.error(),
                       {}};
  }
  std::string cid = StkmContentId(*parsed, base_cid);
  const LongTermKey* key = lookup(cid);
  return OpenStkmWithKey(message, *parsed, std::move(cid), key);
}

}  // namespace spc
