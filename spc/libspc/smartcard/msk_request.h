// [project] The terminal's MSK request to the BSM (the NAF of MBMS, 3GPP TS 33.246 §6.3.2) over
// HTTP, and the BSM's answer, so that spcd's smartcard backend and the head-end agree:
//
//   POST /bcast/msk-request   Content-Type: application/vnd.openbcast.msk-request+xml
//   Authorization: Digest username=B-TID, password = base64(Ks_ext_NAF) (TS 33.222 GBA digest)
//   <mskRequest keyDomainId="00f110"><mskId>00010001</mskId>...</mskRequest>
//   → 200  Content-Type: application/vnd.openbcast.mikey-bundle
//          MIKEY MSK messages under the MUK (Ks_int_NAF), each as 2-byte length ‖ message
//   → 404 when the BSM holds none of the MSKs for this subscriber.
//
// spcd hands each message to the card (Usim::MskUpdate) and retries the STKM that got 6A 88.
//
// Before its first MSK request for a service, the terminal registers to that MBMS user service
// (TS 33.246 §6.3.2.1), with the same GBA digest; the service ID is the service's base CID
// (SDP a=bcast-basecid):
//
//   POST /bcast/register   Content-Type: application/vnd.openbcast.mbms-register+xml
//   <mbmsRegister><serviceId>urn:openbcast:svc:sample:</serviceId>...</mbmsRegister>
//   → 200  Content-Type: application/vnd.openbcast.mbms-register-response+xml
//          <mbmsRegisterResponse><service id="..." status="ok|unknown|refused"/>...
//          </mbmsRegisterResponse>, one service element per requested ID.
//
// The BSM refuses (403) MSK requests of a B-TID that registered no service of the key domain.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spc/libspc/result.h"
#include "spc/libspc/smartcard/mikey.h"

namespace spc::smartcard {

inline constexpr char kMskRequestPath[] = "/bcast/msk-request";
inline constexpr char kMskRequestContentType[] = "application/vnd.openbcast.msk-request+xml";
inline constexpr char kMikeyBundleContentType[] = "application/vnd.openbcast.mikey-bundle";

struct MskRequest {
  KeyDomainId key_domain{};
  std::vector<std::uint32_t> msk_ids;
};
std::string WriteMskRequest(const MskRequest& request);
Result<MskRequest> ParseMskRequest(std::string_view xml);

inline constexpr char kRegisterPath[] = "/bcast/register";
inline constexpr char kRegisterContentType[] = "application/vnd.openbcast.mbms-register+xml";
inline constexpr char kRegisterResponseContentType[] =
    "application/vnd.openbcast.mbms-register-response+xml";

// Service IDs are XML-escaped on writing and unescaped on parsing; they are never empty.
std::string WriteRegisterRequest(const std::vector<std::string>& service_ids);
Result<std::vector<std::string>> ParseRegisterRequest(std::string_view xml);

enum class RegistrationStatus { kOk, kUnknown, kRefused };
const char* RegistrationStatusName(RegistrationStatus status);
struct RegistrationResult {
  std::string service_id;
  RegistrationStatus status = RegistrationStatus::kOk;
  bool operator==(const RegistrationResult&) const = default;
};
std::string WriteRegisterResponse(const std::vector<RegistrationResult>& results);
Result<std::vector<RegistrationResult>> ParseRegisterResponse(std::string_view xml);

// 2-byte big-endian length ‖ message, repeated.
std::vector<std::uint8_t> WriteMikeyBundle(const std::vector<std::vector<std::uint8_t>>& messages);
Result<std::vector<std::vector<std::uint8_t>>> ParseMikeyBundle(
    std::span<const std::uint8_t> bytes);

// The HTTP Digest password of GBA-authenticated requests to a NAF: base64(Ks_ext_NAF).
std::string GbaNafDigestPassword(std::span<const std::uint8_t> ks_ext_naf);

}  // namespace spc::smartcard
