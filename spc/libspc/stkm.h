// Short Term Key Message (DRM Profile): the one parser and the one writer of the layout in
// shared/spec/stkm.md. The layout is a [project] definition; it lives only here and in stkm.cc.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "spc/libspc/result.h"

namespace spc {

enum class TrafficProtectionProtocol : std::uint8_t { kIpsec = 0, kSrtp = 1, kIsmacryp = 2 };

// access_criteria_descriptor() tags.
inline constexpr std::uint8_t kAccessCriteriaParentalRating = 0x01;
inline constexpr std::uint8_t kAccessCriteriaCopyControl = 0x02;
inline constexpr std::uint8_t kAccessCriteriaBlackout = 0x03;

struct AccessCriteriaDescriptor {
  std::uint8_t tag = 0;
  std::vector<std::uint8_t> data;
  bool operator==(const AccessCriteriaDescriptor&) const = default;
};

// Field names follow stkm.md. The *_flag members are the wire flags; the writer emits the optional
// fields exactly when their flag says so, the parser fills them exactly then (else they stay zero).
struct Stkm {
  std::uint8_t protocol_version = 1;            // 4 bits
  std::uint8_t protection_after_reception = 0;  // 2 bits
  bool access_criteria_flag = false;
  bool master_salt_flag = false;
  std::uint8_t traffic_protection_protocol = 1;  // 3 bits, TrafficProtectionProtocol
  bool traffic_authentication_flag = true;
  bool next_traffic_key_flag = false;
  bool timestamp_flag = false;
  bool programme_flag = false;
  bool service_flag = true;
  std::uint32_t key_domain_id = 0;  // 24 bits
  std::uint32_t service_CID_extension = 0;
  std::uint32_t programme_CID_extension = 0;
  std::uint16_t traffic_key_id = 0;
  std::uint16_t traffic_key_lifetime = 0;
  std::uint64_t timestamp = 0;  // 40 bits
  std::array<std::uint8_t, 14> master_salt{};
  std::array<std::uint8_t, 16> encrypted_traffic_key_material{};
  std::uint16_t next_traffic_key_id = 0;
  std::array<std::uint8_t, 16> next_encrypted_traffic_key_material{};
  std::array<std::uint8_t, 14> next_master_salt{};
  std::vector<AccessCriteriaDescriptor> access_criteria;  // number_of_access_criteria_descriptors
  std::array<std::uint8_t, 12> MAC{};

  bool operator==(const Stkm&) const = default;
};

inline constexpr std::size_t kStkmMacLength = 12;

// Parses one STKM. Checks the structure only (version, flags, lengths, descriptor loop); the MAC is
// checked by VerifyStkmMac with the SAK/PAK. Errors name the field and its byte offset.
Result<Stkm> ParseStkm(std::span<const std::uint8_t> message);

// Serialises `stkm` and appends HMAC-SHA1-96 keyed with `authentication_key` (SAK or PAK) over
// every preceding byte. stkm.MAC is ignored. The flags are written as given (so tests can make
// malformed messages); a value the layout cannot hold (a field wider than its bits, more than 255
// descriptors or descriptor data) gives an empty vector.
std::vector<std::uint8_t> WriteStkm(const Stkm& stkm,
                                    std::span<const std::uint8_t, 16> authentication_key);

// Constant-time check of the last 12 bytes of `message` against HMAC-SHA1-96 of the rest.
bool VerifyStkmMac(std::span<const std::uint8_t> message,
                   std::span<const std::uint8_t, 16> authentication_key);

}  // namespace spc
