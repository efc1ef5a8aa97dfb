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

// 2-byte big-endian length ‖ message, repeated.
std::vector<std::uint8_t> WriteMikeyBundle(const std::vector<std::vector<std::uint8_t>>& messages);
Result<std::vector<std::vector<std::uint8_t>>> ParseMikeyBundle(
    std::span<const std::uint8_t> bytes);

// The HTTP Digest password of GBA-authenticated requests to a NAF: base64(Ks_ext_NAF).
std::string GbaNafDigestPassword(std::span<const std::uint8_t> ks_ext_naf);

}  // namespace spc::smartcard
