// Builders shared by the STKM tests: an STKM for any flag combination, filled with distinct
// non-zero values in exactly the fields its flags make present.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

namespace spc::test {

// Optional-field flags as bits of a combination number.
enum StkmFlagBit : unsigned {
  kAccessCriteria = 1u << 0,
  kMasterSalt = 1u << 1,
  kNextTrafficKey = 1u << 2,
  kTimestamp = 1u << 3,
  kTrafficAuthentication = 1u << 4,
  kProgramme = 1u << 5,  // else service
  kAllFlagBits = 1u << 6,
};

inline Stkm MakeStkm(unsigned flags, std::uint8_t seed = 1) {
  Stkm s;
  s.protocol_version = 1;
  s.protection_after_reception = static_cast<std::uint8_t>(seed % 4);
  s.traffic_protection_protocol = static_cast<std::uint8_t>(seed % 3);
  s.access_criteria_flag = (flags & kAccessCriteria) != 0;
  s.master_salt_flag = (flags & kMasterSalt) != 0;
  s.next_traffic_key_flag = (flags & kNextTrafficKey) != 0;
  s.timestamp_flag = (flags & kTimestamp) != 0;
  s.traffic_authentication_flag = (flags & kTrafficAuthentication) != 0;
  s.programme_flag = (flags & kProgramme) != 0;
  s.service_flag = !s.programme_flag;
  s.key_domain_id = 0x0a0b0c;
  if (s.service_flag) s.service_CID_extension = 0x2a000000u + seed;
  if (s.programme_flag) s.programme_CID_extension = 0x8000002bu + seed;
  s.traffic_key_id = static_cast<std::uint16_t>(0x1200 + seed);
  s.traffic_key_lifetime = 30;
  if (s.timestamp_flag) s.timestamp = 0xff00000000ULL + 1700000000ULL + seed;
  for (std::size_t i = 0; i < 16; ++i) {
    s.encrypted_traffic_key_material[i] = static_cast<std::uint8_t>(0x10 + i + seed);
  }
  if (s.master_salt_flag) {
    for (std::size_t i = 0; i < 14; ++i) s.master_salt[i] = static_cast<std::uint8_t>(0x80 + i);
  }
  if (s.next_traffic_key_flag) {
    s.next_traffic_key_id = static_cast<std::uint16_t>(s.traffic_key_id + 1);
    for (std::size_t i = 0; i < 16; ++i) {
      s.next_encrypted_traffic_key_material[i] = static_cast<std::uint8_t>(0xa0 + i);
    }
    if (s.master_salt_flag) {
      for (std::size_t i = 0; i < 14; ++i) {
        s.next_master_salt[i] = static_cast<std::uint8_t>(0xc0 + i);
      }
    }
  }
  if (s.access_criteria_flag) {
    s.access_criteria.push_back({kAccessCriteriaParentalRating, {16}});
    s.access_criteria.push_back({kAccessCriteriaCopyControl, {}});
    s.access_criteria.push_back(
        {kAccessCriteriaBlackout, {'F', 'R', static_cast<std::uint8_t>(seed)}});
  }
  return s;
}

inline constexpr Key128 kSak = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
inline constexpr Key128 kSek = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

// One field of the layout as stkm.md lists it: name, byte offset, byte length. Written from the
// table independently of stkm.cc so the tests check the parser against the note, not itself.
struct LayoutField {
  std::string name;
  std::size_t offset;
  std::size_t length;
};

inline std::vector<LayoutField> StkmLayout(const Stkm& s) {
  std::vector<LayoutField> f;
  std::size_t at = 0;
  auto add = [&](std::string name, std::size_t length) {
    f.push_back({std::move(name), at, length});
    at += length;
  };
  add("protocol_version", 1);             // with protection_after_reception and two flags
  add("traffic_protection_protocol", 1);  // with the five flags
  add("key_domain_id", 3);
  if (s.service_flag) add("service_CID_extension", 4);
  if (s.programme_flag) add("programme_CID_extension", 4);
  add("traffic_key_id", 2);
  add("traffic_key_lifetime", 2);
  if (s.timestamp_flag) add("timestamp", 5);
  if (s.master_salt_flag) add("master_salt", 14);
  add("encrypted_traffic_key_material", 16);
  if (s.next_traffic_key_flag) {
    add("next_traffic_key_id", 2);
    add("next_encrypted_traffic_key_material", 16);
    if (s.master_salt_flag) add("next_master_salt", 14);
  }
  if (s.access_criteria_flag) {
    add("number_of_access_criteria_descriptors", 1);
    for (const auto& d : s.access_criteria) {
      add("access_criteria_descriptor.tag", 1);
      add("access_criteria_descriptor.length", 1);
      add("access_criteria_descriptor.data", d.data.size());
    }
  }
  add("MAC", 12);
  return f;
}

}  // namespace spc::test
