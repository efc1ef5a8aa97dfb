// The one reader and the one writer of the STKM layout of shared/spec/stkm.md.
//
// The MAC is always the last 12 bytes, so every other field must end before it: the parser reads
// the fields against `size - 12` and reports the first field that does not fit there. That names
// the field a truncation cut into (shifted by the MAC length) and catches a descriptor loop that
// runs into the MAC, which a plain read to the end of the message would take for MAC bytes.
#include "spc/libspc/stkm.h"

#include <algorithm>
#include <string>

#include "spc/libspc/crypto.h"
#include "spc/libspc/wire.h"

namespace spc {
namespace {

using wire::PutBytes;
using wire::PutUint;
using wire::Reader;

constexpr std::uint8_t kProtocolVersion = 1;
constexpr std::uint8_t kLastDefinedProtocol =
    static_cast<std::uint8_t>(TrafficProtectionProtocol::kIsmacryp);

// What a field that runs into the MAC is told; see the top of this file.
constexpr char kRunsIntoMac[] =
    " before the 12-byte MAC (message truncated, or its flags and lengths do not add up)";

bool ParseFields(Reader& r, Stkm& s) {
  std::uint8_t b0 = 0;
  if (!r.Number("protocol_version", 1, b0)) return false;
  s.protocol_version = b0 >> 4;
  s.protection_after_reception = (b0 >> 2) & 0x03;
  s.access_criteria_flag = (b0 & 0x02) != 0;
  s.master_salt_flag = (b0 & 0x01) != 0;
  if (s.protocol_version != kProtocolVersion) {
    return r.Fail("protocol_version: unsupported version " + std::to_string(s.protocol_version) +
                      " (this terminal reads version 1)",
                  "protocol_version", 0);
  }

  std::uint8_t b1 = 0;
  if (!r.Number("traffic_protection_protocol", 1, b1)) return false;
  s.traffic_protection_protocol = b1 >> 5;
  s.traffic_authentication_flag = (b1 & 0x10) != 0;
  s.next_traffic_key_flag = (b1 & 0x08) != 0;
  s.timestamp_flag = (b1 & 0x04) != 0;
  s.programme_flag = (b1 & 0x02) != 0;
  s.service_flag = (b1 & 0x01) != 0;
  if (s.traffic_protection_protocol > kLastDefinedProtocol) {
    return r.Fail("traffic_protection_protocol: reserved value " +
                      std::to_string(s.traffic_protection_protocol) +
                      " (0 IPsec, 1 SRTP, 2 ISMACryp)",
                  "traffic_protection_protocol", 1);
  }
  if (s.programme_flag && s.service_flag) {
    return r.Fail(
        "service_flag: both programme_flag and service_flag are set (exactly one must be)",
        "service_flag", 1);
  }
  if (!s.programme_flag && !s.service_flag) {
    return r.Fail(
        "service_flag: neither programme_flag nor service_flag is set (exactly one must be)",
        "service_flag", 1);
  }

  if (!r.Number("key_domain_id", 3, s.key_domain_id)) return false;
  if (s.service_flag && !r.Number("service_CID_extension", 4, s.service_CID_extension)) {
    return false;
  }
  if (s.programme_flag && !r.Number("programme_CID_extension", 4, s.programme_CID_extension)) {
    return false;
  }
  if (!r.Number("traffic_key_id", 2, s.traffic_key_id)) return false;
  if (!r.Number("traffic_key_lifetime", 2, s.traffic_key_lifetime)) return false;
  if (s.timestamp_flag && !r.Number("timestamp", 5, s.timestamp)) return false;
  if (s.master_salt_flag && !r.Bytes("master_salt", s.master_salt)) return false;
  if (!r.Bytes("encrypted_traffic_key_material", s.encrypted_traffic_key_material)) return false;
  if (s.next_traffic_key_flag) {
    if (!r.Number("next_traffic_key_id", 2, s.next_traffic_key_id)) return false;
    if (!r.Bytes("next_encrypted_traffic_key_material", s.next_encrypted_traffic_key_material)) {
      return false;
    }
    if (s.master_salt_flag && !r.Bytes("next_master_salt", s.next_master_salt)) return false;
  }
  if (s.access_criteria_flag) {
    std::size_t count = 0;
    if (!r.Number("number_of_access_criteria_descriptors", 1, count)) return false;
    s.access_criteria.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      r.context = "access_criteria_descriptor " + std::to_string(i + 1) + " of " +
                  std::to_string(count) + " ";
      AccessCriteriaDescriptor d;
      std::size_t length = 0;
      if (!r.Number("access_criteria_descriptor.tag", 1, d.tag)) return false;
      if (!r.Number("access_criteria_descriptor.length", 1, length)) return false;
      d.data.resize(length);
      if (!r.Bytes("access_criteria_descriptor.data", d.data)) return false;
      s.access_criteria.push_back(std::move(d));
    }
    r.context.clear();
  }
  if (r.pos() != r.end()) {
    std::size_t extra = r.end() - r.pos();
    return r.Fail("MAC: " + std::to_string(extra) +
                      " unexpected bytes after the last field (offset " + std::to_string(r.pos()) +
                      ") before the 12-byte MAC: the flags and lengths do not add up to the "
                      "message length",
                  "MAC", r.pos());
  }
  return true;
}

bool Representable(const Stkm& s) {
  if (s.protocol_version > 0x0f || s.protection_after_reception > 0x03 ||
      s.traffic_protection_protocol > 0x07 || s.key_domain_id > 0xffffff ||
      s.timestamp > 0xffffffffffULL) {
    return false;
  }
  if (s.access_criteria_flag) {
    if (s.access_criteria.size() > 0xff) return false;
    for (const auto& d : s.access_criteria) {
      if (d.data.size() > 0xff) return false;
    }
  }
  return true;
}

}  // namespace

Result<Stkm> ParseStkm(std::span<const std::uint8_t> message) {
  if (message.size() < kStkmMacLength) {
    return ParseError{"MAC: message of " + std::to_string(message.size()) +
                          " bytes is shorter than its 12-byte MAC",
                      "MAC", 0};
  }
  Stkm s;
  Reader r(message, message.size() - kStkmMacLength, kRunsIntoMac);
  if (!ParseFields(r, s)) return r.error();
  std::copy_n(message.end() - static_cast<std::ptrdiff_t>(kStkmMacLength), kStkmMacLength,
              s.MAC.begin());
  return s;
}

std::vector<std::uint8_t> WriteStkm(const Stkm& s,
                                    std::span<const std::uint8_t, 16> authentication_key) {
  if (!Representable(s)) return {};
  std::vector<std::uint8_t> out;
  out.reserve(128);
  out.push_back(static_cast<std::uint8_t>(
      (s.protocol_version << 4) | (s.protection_after_reception << 2) |
      (s.access_criteria_flag ? 0x02 : 0) | (s.master_salt_flag ? 0x01 : 0)));
  out.push_back(static_cast<std::uint8_t>(
      (s.traffic_protection_protocol << 5) | (s.traffic_authentication_flag ? 0x10 : 0) |
      (s.next_traffic_key_flag ? 0x08 : 0) | (s.timestamp_flag ? 0x04 : 0) |
      (s.programme_flag ? 0x02 : 0) | (s.service_flag ? 0x01 : 0)));
  PutUint(out, s.key_domain_id, 3);
  if (s.service_flag) PutUint(out, s.service_CID_extension, 4);
  if (s.programme_flag) PutUint(out, s.programme_CID_extension, 4);
  PutUint(out, s.traffic_key_id, 2);
  PutUint(out, s.traffic_key_lifetime, 2);
  if (s.timestamp_flag) PutUint(out, s.timestamp, 5);
  if (s.master_salt_flag) PutBytes(out, s.master_salt);
  PutBytes(out, s.encrypted_traffic_key_material);
  if (s.next_traffic_key_flag) {
    PutUint(out, s.next_traffic_key_id, 2);
    PutBytes(out, s.next_encrypted_traffic_key_material);
    if (s.master_salt_flag) PutBytes(out, s.next_master_salt);
  }
  if (s.access_criteria_flag) {
    out.push_back(static_cast<std::uint8_t>(s.access_criteria.size()));
    for (const auto& d : s.access_criteria) {
      out.push_back(d.tag);
      out.push_back(static_cast<std::uint8_t>(d.data.size()));
      out.insert(out.end(), d.data.begin(), d.data.end());
    }
  }
  Sha1Digest mac = HmacSha1(authentication_key, out);
  out.insert(out.end(), mac.begin(), mac.begin() + kStkmMacLength);
  return out;
}

bool VerifyStkmMac(std::span<const std::uint8_t> message,
                   std::span<const std::uint8_t, 16> authentication_key) {
  if (message.size() < kStkmMacLength) return false;
  std::size_t body = message.size() - kStkmMacLength;
  Sha1Digest mac = HmacSha1(authentication_key, message.first(body));
  return ConstantTimeEqual(std::span<const std::uint8_t>(mac).first(kStkmMacLength),
                           message.subspan(body));
}

}  // namespace spc
