// ROAP messages (roap.md "Wire details"): one struct, one writer and one parser per message.
//
// Writers emit compact canonical XML (see xml.h): root roap:-prefixed with xmlns:roap, unprefixed
// children in the order of roap.md, keyIdentifier with xsi:type/algorithm/<hash>, base64 without
// line breaks, times YYYY-MM-DDThh:mm:ssZ, the signature as the literal last child
// <signature>BASE64</signature>. Signed messages are written once with an empty signature, signed
// over the exact bytes (signature.h) and the signature inserted into those bytes; nothing is
// re-serialised after signing.
//
// Parsers are namespace-aware and strict about order; unknown <extensions> content is skipped.
// They keep the exact received bytes that signatures and MACs cover (`unsigned_bytes`, the
// protected RO's `ro_bytes` and `signed_info_bytes`), located in the original buffer and checked
// against the parsed tree. A response with a non-Success status parses to its status only; the
// session helpers turn it into StatusNotSuccess(<status>).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spc/libspc/crypto.h"
#include "spc/libspc/roap/types.h"

namespace spc::roap {

struct DeviceHello {
  std::optional<std::string> trigger_nonce;
  std::string version{kRoapVersion};
  KeyId device_id{};
  std::vector<std::string> supported_algorithms;
  bool certificate_caching = false;  // extensions/extension xsi:type="roap:CertificateCaching"
  bool operator==(const DeviceHello&) const = default;
};

struct RiHello {
  Status status = Status::kSuccess;
  std::string session_id;
  std::string selected_version{kRoapVersion};
  KeyId ri_id{};
  Bytes ri_nonce;
  std::vector<std::string> selected_algorithms;
  std::optional<std::string> server_info;
  std::vector<KeyId> trusted_authorities;
  bool certificate_caching = false;
  bool operator==(const RiHello&) const = default;
};

struct RegistrationRequest {
  std::string session_id;
  std::optional<std::string> trigger_nonce;
  Bytes nonce;  // 32 random bytes
  std::int64_t time = 0;
  std::vector<Bytes> certificate_chain;  // DER, leaf first
  std::vector<KeyId> trusted_authorities;
  std::optional<std::string> server_info;  // echoed from riHello
  Bytes signature;
  // Parser only: the message with <signature>…</signature> cut out (what the signature covers,
  // after deviceHello ‖ riHello).
  std::string unsigned_bytes;
  bool operator==(const RegistrationRequest&) const = default;
};

struct RegistrationResponse {
  Status status = Status::kSuccess;
  std::string session_id;
  std::string ri_url;
  std::vector<Bytes> certificate_chain;  // DER, leaf first
  std::vector<Bytes> ocsp_responses;     // DER OCSPResponse
  Bytes signature;
  std::string unsigned_bytes;  // parser only
  bool operator==(const RegistrationResponse&) const = default;
};

struct RoRequest {
  std::optional<std::string> trigger_nonce;
  KeyId device_id{};
  std::optional<std::string> domain_id;
  KeyId ri_id{};
  Bytes nonce;
  std::int64_t time = 0;
  // roInfo: roID* then [project] contentID* (an LTKM is asked for by the content ID of the
  // service/programme when the RO ID is not known, e.g. after "no rights for <content ID>").
  std::vector<std::string> ro_ids;
  std::vector<std::string> content_ids;
  std::vector<Bytes> certificate_chain;
  Bytes signature;
  std::string unsigned_bytes;  // parser only
  bool operator==(const RoRequest&) const = default;
};

// The rights of one RO: one asset (one LTKM) with its permissions.
//
// How the BCAST LTKM fields travel in the ODRL rights [project]:
// - content ID: o-ex:asset/o-ex:context/o-dd:uid (the service's base CID + CID extension);
// - key domain: o-ex:asset/o-ex:context/obc:keyDomain (6 lowercase hex digits, namespace
//   urn:openbcast:drm-1.0), after o-dd:uid; an OMA DRM v2 agent skips it as an unknown context
//   element. Absent → no key domain (the key store then accepts the STKM's);
// - play: o-ex:permission/o-dd:play; record: o-ex:permission/obc:record (ODRL has no record
//   verb); each with o-ex:constraint/o-dd:datetime/o-dd:start and o-dd:end = validity;
// - SEK ‖ SAK: the asset's xenc:CipherValue = AES-WRAP(K_REK, SEK ‖ SAK), 40 bytes.
struct RoRights {
  std::string content_id;
  std::optional<std::uint32_t> key_domain_id;  // 24 bits
  bool play = true;
  bool record = false;
  std::optional<std::int64_t> not_before;
  std::optional<std::int64_t> not_after;
  bool operator==(const RoRights&) const = default;
};

// <roap:ro> content.
struct RightsObject {
  std::string id;  // RO ID, also the ds:Reference URI "#id"
  bool stateful = false;
  std::string version{kRoapVersion};
  KeyId ri_id{};
  RoRights rights;
  Bytes wrapped_key;  // xenc:CipherValue of the asset: AES-WRAP(K_REK, SEK ‖ SAK)
  std::int64_t timestamp = 0;
  KeyId device_id{};  // encKey ds:KeyInfo/roap:X509SPKIHash/hash
  Bytes enc_key;      // encKey CipherValue: C1 ‖ C2
  bool operator==(const RightsObject&) const = default;
};

struct ProtectedRo {
  RightsObject ro;                // parsed from ro_bytes (what is MACed is what is used)
  std::string ro_bytes;           // exact <roap:ro …>…</roap:ro>
  std::string signed_info_bytes;  // exact <ds:SignedInfo …>…</ds:SignedInfo>
  std::string reference_uri;      // "#RO-ID"
  Bytes digest_value;             // from signed_info_bytes
  Bytes signature_value;          // ds:SignatureValue (HMAC-SHA1)
  std::string bytes;              // exact <roap:protectedRO>…</roap:protectedRO>
  bool operator==(const ProtectedRo&) const = default;
};

struct RoResponse {
  Status status = Status::kSuccess;
  KeyId device_id{};
  KeyId ri_id{};
  std::optional<Bytes> nonce;  // 2-pass only
  // Writer: the exact <roap:protectedRO> bytes (BuildProtectedRo). Parser: fills both.
  std::vector<std::string> protected_ro_bytes;
  std::vector<ProtectedRo> protected_ros;  // parser only
  std::vector<Bytes> certificate_chain;
  std::vector<Bytes> ocsp_responses;
  Bytes signature;
  std::string unsigned_bytes;  // parser only
};

struct RoapTrigger {
  enum class Kind { kRegistrationRequest, kRoAcquisition };
  Kind kind = Kind::kRoAcquisition;
  std::optional<std::string> id;
  KeyId ri_id{};
  std::optional<std::string> ri_alias;
  std::optional<std::string> nonce;  // becomes the next request's triggerNonce
  std::string roap_url;
  std::vector<std::string> ro_ids;       // roAcquisition
  std::vector<std::string> content_ids;  // roAcquisition
  bool operator==(const RoapTrigger&) const = default;
};

// Writers. Signed messages take `signature` as it is (empty → <signature></signature>, the form
// that is signed).
std::string WriteDeviceHello(const DeviceHello& m);
std::string WriteRiHello(const RiHello& m);
std::string WriteRegistrationRequest(const RegistrationRequest& m);
std::string WriteRegistrationResponse(const RegistrationResponse& m);
std::string WriteRoRequest(const RoRequest& m);
std::string WriteRoResponse(const RoResponse& m);
std::string WriteRoapTrigger(const RoapTrigger& m);
// The <roap:ro> element alone, canonical (hashed by the protected RO).
std::string WriteRightsObject(const RightsObject& ro);

RoapResult<DeviceHello> ParseDeviceHello(std::string_view bytes);
RoapResult<RiHello> ParseRiHello(std::string_view bytes);
RoapResult<RegistrationRequest> ParseRegistrationRequest(std::string_view bytes);
RoapResult<RegistrationResponse> ParseRegistrationResponse(std::string_view bytes);
RoapResult<RoRequest> ParseRoRequest(std::string_view bytes);
RoapResult<RoResponse> ParseRoResponse(std::string_view bytes);
RoapResult<RoapTrigger> ParseRoapTrigger(std::string_view bytes);
RoapResult<RightsObject> ParseRightsObject(std::string_view ro_bytes);
RoapResult<ProtectedRo> ParseProtectedRo(std::string_view protected_ro_bytes);

// The root element's local name ("roRequest", …) of a PDU, for dispatching on the RI side; no
// validation beyond that.
RoapResult<std::string> PduType(std::string_view bytes);

// ---- Signature placement (roap.md "What each signature covers") ----

// `message` with its <signature>…</signature> element cut out. roResponse: the first one after the
// last </roap:protectedRO>; others: the first one. In both cases it must be the last child, i.e.
// followed only by the root end tag (and trailing whitespace). nullopt when not found.
std::optional<std::string> CutSignature(std::string_view message, bool ro_response);
// Puts base64(signature) into the empty <signature></signature> of `unsigned_message` (the writer's
// output with an empty signature). Empty string when there is no empty signature element.
std::string InsertSignature(std::string_view unsigned_message, std::span<const std::uint8_t> sig);

}  // namespace spc::roap
