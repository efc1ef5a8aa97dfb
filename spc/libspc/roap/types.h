// ROAP (OMA DRM v2.0 Rights Object Acquisition Protocol) wire layer: status values, named errors,
// identifiers, base64 and time as roap.md fixes them. No I/O anywhere in spc/libspc/roap.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spc/libspc/result.h"

namespace spc::roap {

inline constexpr std::string_view kRoapNamespace = "urn:oma:bac:dldrm:roap-1.0";
inline constexpr std::string_view kRoapVersion = "1.0";
inline constexpr std::string_view kPduMediaType = "application/vnd.oma.drm.roap-pdu+xml";
inline constexpr std::string_view kTriggerMediaType = "application/vnd.oma.drm.roap-trigger+xml";

// Algorithm URIs announced in deviceHello/riHello and used in the protected RO.
inline constexpr std::string_view kAlgSha1 = "http://www.w3.org/2000/09/xmldsig#sha1";
inline constexpr std::string_view kAlgHmacSha1 = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
inline constexpr std::string_view kAlgRsaPss =
    "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-1#rsa-pss-default";
inline constexpr std::string_view kAlgRsaKem =
    "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-1#rsaes-kem-kdf2-kw-aes128";
inline constexpr std::string_view kAlgKwAes128 = "http://www.w3.org/2001/04/xmlenc#kw-aes128";
inline constexpr std::string_view kAlgExcC14n = "http://www.w3.org/2001/10/xml-exc-c14n#";

// Largest PDU or trigger the parsers look at (an roResponse with a few dozen ROs and a chain).
inline constexpr std::size_t kMaxMessageSize = 1 << 20;

enum class Status {
  kSuccess,
  kUnknownError,
  kAbort,
  kNotSupported,
  kAccessDenied,
  kNotFound,
  kMalformedRequest,
  kUnknownRequest,
  kUnknownCriticalExtension,
  kUnsupportedVersion,
  kUnsupportedAlgorithm,
  kNoCertificateChain,
  kInvalidCertificateChain,
  kTrustedRootCertificateNotPresent,
  kSignatureError,
  kDeviceTimeError,
  kNotRegistered,
  kInvalidDCFHash,
  kInvalidDomain,
  kDomainFull,
};
inline constexpr int kStatusCount = 20;

// The wire name ("Success", "AccessDenied", ...).
std::string_view StatusName(Status status);
std::optional<Status> StatusFromName(std::string_view name);

// Every way a ROAP exchange can fail. Names (ErrorName) are what users and logs see.
enum class ErrorCode {
  kMalformed,             // Malformed(field): XML, structure, encoding, missing/extra element
  kStatusNotSuccess,      // StatusNotSuccess(<status>): the peer answered a non-Success status
  kBadSignature,          // RSA-PSS signature does not verify over the exact signed bytes
  kWrongNonce,            // response nonce differs from the request's
  kWrongSessionId,        // sessionId differs from riHello's
  kWrongDeviceId,         // roResponse/roRequest for a device other than the expected one
  kWrongRiId,             // riID differs (riHello vs certificate, roResponse vs request)
  kUntrustedCertificate,  // chain does not lead to the trust anchor
  kExpiredCertificate,    // a certificate of the chain is outside its validity
  kRevokedCertificate,    // OCSP says revoked
  kOcspMissing,           // first registration without an OCSP response
  kOcspNonceMismatch,     // OCSP nonce is not the registrationRequest nonce
  kOcspInvalid,           // OCSP response unparsable, unsigned by a trusted responder, stale
  kRoForAnotherDevice,    // encKey addressed to another device ID
  kBadRoDigest,           // DigestValue is not SHA-1 of the exact <roap:ro> bytes
  kBadRoMac,              // HMAC-SHA1(K_MAC, SignedInfo) differs
  kKeyUnwrapFailed,       // RSA-KEM or AES-WRAP integrity check failed
  kUnknownRi,             // RO or request from an RI with no context
  kNotRegistered,         // RI side: roRequest from a device that is not registered
  kDeviceTimeError,       // RI side: request time too far from the RI's clock
  kBadState,              // call out of order (e.g. response before request)
  kUnsupported,           // version/algorithm not offered
};

struct Error {
  ErrorCode code = ErrorCode::kMalformed;
  Status status = Status::kSuccess;  // for kStatusNotSuccess
  std::string field;                 // XML element/attribute name for kMalformed, else context
  std::size_t offset = 0;            // byte offset in the message where known, else 0
  std::string message;               // human-readable detail (never key bytes)
};

// "Malformed(riNonce)", "StatusNotSuccess(AccessDenied)", "BadSignature", ...
std::string ErrorName(const Error& error);
std::string_view ErrorCodeName(ErrorCode code);

template <class T>
using RoapResult = spc::Result<T, Error>;

Error MakeError(ErrorCode code, std::string message, std::string field = {},
                std::size_t offset = 0);
Error Malformed(std::string field, std::size_t offset, std::string message);
Error StatusError(Status status);

// keyIdentifier of type roap:X509SPKIHash: SHA-1 of a SubjectPublicKeyInfo (device ID, RI ID,
// trusted authority).
using KeyId = std::array<std::uint8_t, 20>;
using Bytes = std::vector<std::uint8_t>;

// Base64 without line breaks (EVP_EncodeBlock). Decode accepts XML whitespace between groups
// (other agents may fold lines) and rejects anything else that is not canonical base64.
std::string Base64Encode(std::span<const std::uint8_t> data);
std::optional<Bytes> Base64Decode(std::string_view text);

// Seconds since 1970 UTC <-> "YYYY-MM-DDThh:mm:ssZ" (the only form written or accepted).
std::string FormatTime(std::int64_t seconds);
std::optional<std::int64_t> ParseTime(std::string_view text);

}  // namespace spc::roap
