// Long-term-key crypto of the DRM Profile (roap.md "Crypto", ltkm.md): AES key wrap, KDF2,
// RSA-KEM-KDF2-KW-AES128, RSA-PSS, X.509 chains and OCSP. Shared by the broadcast LTKM messages
// (device_registration_response, BCRO) and ROAP. Everything is OpenSSL 3 (EVP, X509_STORE, OCSP);
// nothing here implements a primitive.
//
// Error policy: input that comes from the network (wrapped keys, signatures, certificates, OCSP
// responses) gives a CryptoError with a code and a message; it never aborts and never returns
// unchecked key material. A broken OpenSSL installation (missing provider) aborts like crypto.h.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "spc/libspc/crypto.h"
#include "spc/libspc/result.h"

namespace spc {

// ---- RAII handles ------------------------------------------------------------------------------

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const;
};
struct X509Deleter {
  void operator()(X509* p) const;
};
struct X509StoreDeleter {
  void operator()(X509_STORE* p) const;
};
struct OcspResponseDeleter {
  void operator()(OCSP_RESPONSE* p) const;
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;
using OcspResponsePtr = std::unique_ptr<OCSP_RESPONSE, OcspResponseDeleter>;

// A new reference to the same object (X509_up_ref / EVP_PKEY_up_ref).
X509Ptr ShareCertificate(X509* cert);
EvpPkeyPtr ShareKey(EVP_PKEY* key);

// ---- Secret buffers ----------------------------------------------------------------------------

// Allocator that cleanses memory before giving it back, so decrypted key material held in a
// vector (of any length) is wiped when the vector dies or reallocates.
template <class T>
struct CleansingAllocator {
  using value_type = T;
  CleansingAllocator() = default;
  template <class U>
  CleansingAllocator(const CleansingAllocator<U>&) {}  // NOLINT: allocator rebind
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) {
    Cleanse(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const CleansingAllocator<U>&) const {
    return true;
  }
};
using SecretBytes = std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>>;

// ---- Errors ------------------------------------------------------------------------------------

enum class CryptoErrorCode {
  kBadInput,       // a length or format the operation cannot take (wrong KEK size, short C1 ‖ C2)
  kIntegrity,      // AES-UNWRAP integrity check failed (wrong key or tampered data)
  kBadSignature,   // RSA-PSS (or OCSP response) signature does not verify
  kBadKey,         // key or certificate cannot be loaded / has the wrong type for the operation
  kUntrusted,      // chain does not lead to a trust anchor
  kExpired,        // a certificate of the chain (or the OCSP response) is outside its validity
  kBadChain,       // chain broken otherwise (bad signature in the chain, not a CA, ...)
  kOcsp,           // OCSP response unusable (status not successful, no entry for the cert, ...)
  kNonceMismatch,  // OCSP nonce differs from the expected one
};

// Short stable name of a code ("integrity", "untrusted", ...), for logs and JSON.
std::string_view CryptoErrorName(CryptoErrorCode code);

struct CryptoError {
  CryptoErrorCode code = CryptoErrorCode::kBadInput;
  std::string message;  // includes OpenSSL's reason where there is one
};

template <class T>
using CryptoResult = Result<T, CryptoError>;
// For operations with no value: ok() or an error.
using CryptoStatus = Result<std::monostate, CryptoError>;

// ---- Hashes, key wrap, KDF ---------------------------------------------------------------------

Sha1Digest Sha1(std::span<const std::uint8_t> data);

// RFC 3394 AES key wrap with the default IV A6A6A6A6A6A6A6A6 (EVP "AES-128-WRAP" etc.: the KEK
// length, 16/24/32 bytes, picks AES-128/192/256). `key_data` is a multiple of 8 bytes, at least
// 16; the result is 8 bytes longer. kBadInput on wrong sizes.
CryptoResult<std::vector<std::uint8_t>> AesWrap(std::span<const std::uint8_t> kek,
                                                std::span<const std::uint8_t> key_data);
// Inverse of AesWrap. kIntegrity when the integrity check fails (wrong KEK or tampered input):
// nothing of the unwrapped data is returned then.
CryptoResult<SecretBytes> AesUnwrap(std::span<const std::uint8_t> kek,
                                    std::span<const std::uint8_t> wrapped);

// KDF2 with SHA-1 (ISO 18033-2 / ANSI X9.63: SHA1(Z ‖ counter32 ‖ other_info), counter from 1) =
// OpenSSL EVP_KDF "X963KDF".
SecretBytes Kdf2Sha1(std::span<const std::uint8_t> z, std::size_t length,
                     std::span<const std::uint8_t> other_info = {});

// ---- RSA ---------------------------------------------------------------------------------------

// RSA modulus length in bytes (the length of C1 and of a signature); 0 for a non-RSA key.
std::size_t RsaModulusBytes(const EVP_PKEY* key);

// RSA-KEM-KDF2-KW-AES128 to `public_key` (roap.md): Z random with Z < n, C1 = Z^e mod n (raw
// RSA), KEK = KDF2-SHA1(Z, 16), C2 = AES-WRAP(KEK, key_data). Returns C1 ‖ C2.
CryptoResult<std::vector<std::uint8_t>> RsaKemEncrypt(EVP_PKEY* public_key,
                                                      std::span<const std::uint8_t> key_data);
// Inverse with the private key. C1 is the first modulus-length bytes, C2 the rest. kIntegrity
// when C2 does not unwrap (wrong key, tampered C1 or C2); kBadInput on wrong lengths.
CryptoResult<SecretBytes> RsaKemDecrypt(EVP_PKEY* private_key, std::span<const std::uint8_t> c1_c2);

// RSASSA-PSS with SHA-1, MGF1-SHA1, 20-byte salt over `data` (the function hashes).
CryptoResult<std::vector<std::uint8_t>> RsaPssSign(EVP_PKEY* private_key,
                                                   std::span<const std::uint8_t> data);
// kBadSignature when it does not verify, kBadKey when the key is not RSA.
CryptoStatus RsaPssVerify(EVP_PKEY* public_key, std::span<const std::uint8_t> data,
                          std::span<const std::uint8_t> signature);

// ---- Keys and certificates ---------------------------------------------------------------------

// PEM (detected by "-----BEGIN") or DER. Private keys: PKCS#8 or traditional RSA, unencrypted.
CryptoResult<X509Ptr> LoadCertificate(std::span<const std::uint8_t> pem_or_der);
// Exactly one DER certificate, nothing after it (wire formats).
CryptoResult<X509Ptr> LoadCertificateDer(std::span<const std::uint8_t> der);
// Every certificate of a PEM bundle, in file order (a DER input gives one).
CryptoResult<std::vector<X509Ptr>> LoadCertificates(std::span<const std::uint8_t> pem_or_der);
CryptoResult<EvpPkeyPtr> LoadPrivateKey(std::span<const std::uint8_t> pem_or_der);
// SubjectPublicKeyInfo (PEM "PUBLIC KEY" or DER).
CryptoResult<EvpPkeyPtr> LoadPublicKey(std::span<const std::uint8_t> pem_or_der);
// File variants; kBadInput names the file when it cannot be read.
CryptoResult<X509Ptr> LoadCertificateFile(const std::string& path);
CryptoResult<std::vector<X509Ptr>> LoadCertificatesFile(const std::string& path);
CryptoResult<EvpPkeyPtr> LoadPrivateKeyFile(const std::string& path);

std::vector<std::uint8_t> CertificateDer(X509* cert);
std::string CertificatePem(X509* cert);
// The certificate's public key (a new reference).
EvpPkeyPtr CertificatePublicKey(X509* cert);
// SHA-1 of the DER SubjectPublicKeyInfo: device ID, RI ID, ROAP keyIdentifier.
Sha1Digest SpkiSha1(X509* cert);
Sha1Digest SpkiSha1(EVP_PKEY* key);  // public part of a public or private key
// True when `private_key` is the key of `cert`.
bool KeyMatchesCertificate(X509* cert, EVP_PKEY* private_key);
// Subject as a one-line string (for messages).
std::string CertificateSubject(X509* cert);

// A store holding `anchors` as trust anchors (roots). The certificates are shared, not copied.
X509StorePtr MakeTrustStore(std::span<const X509Ptr> anchors);

// Verifies `chain` (leaf first; the rest untrusted intermediates, a trailing root allowed) up to a
// trust anchor of `anchors` at time `now`. Codes: kUntrusted (no path to an anchor), kExpired
// (a certificate not valid at `now`), kBadChain (anything else), kBadInput (empty chain).
CryptoStatus VerifyChain(std::span<const X509Ptr> chain, X509_STORE* anchors, std::time_t now);

// ---- OCSP --------------------------------------------------------------------------------------

enum class OcspCertStatus { kGood = 0, kRevoked = 1, kUnknown = 2 };
std::string_view OcspCertStatusName(OcspCertStatus status);

// What a checked OCSP response says about one certificate.
struct OcspResult {
  OcspCertStatus status = OcspCertStatus::kUnknown;
  std::time_t produced_at = 0;
  std::time_t this_update = 0;
  std::optional<std::time_t> next_update;
  std::optional<std::time_t> revocation_time;      // kRevoked
  std::optional<std::vector<std::uint8_t>> nonce;  // the nonce extension's value, if any
  Sha1Digest responder_id{};                       // SpkiSha1 of the signer certificate
};

// DER OCSPResponse.
CryptoResult<OcspResponsePtr> ParseOcspResponse(std::span<const std::uint8_t> der);
std::vector<std::uint8_t> OcspResponseDer(OCSP_RESPONSE* response);

struct OcspCheckOptions {
  // Nonce the response must carry (ROAP: the registrationRequest nonce). nullopt: a nonce, if
  // present, is reported but not compared.
  std::optional<std::vector<std::uint8_t>> expected_nonce;
  // Allowed clock difference for thisUpdate/nextUpdate, seconds.
  std::time_t max_skew = 300;
};

// Checks `response` for `cert` (issued by `issuer`) at time `now`: responseStatus successful,
// signature of the basic response, signer chain to `anchors` at `now` (the signer is taken from
// the response's certs or `extra_certs`), signer authorised (the issuer itself, or a certificate
// issued by it with the OCSPSigning EKU), a SingleResponse for the cert's CertID (SHA-1),
// thisUpdate/nextUpdate around `now`, nonce. A revoked or unknown cert is NOT an error: it is the
// `status` of the result. Codes: kOcsp, kBadSignature, kUntrusted/kExpired/kBadChain (signer),
// kNonceMismatch.
CryptoResult<OcspResult> CheckOcspResponse(OCSP_RESPONSE* response, X509* cert, X509* issuer,
                                           X509_STORE* anchors,
                                           std::span<const X509Ptr> extra_certs, std::time_t now,
                                           const OcspCheckOptions& options = {});

// Responder side (head-end, tests): a successful basic OCSP response for `cert` (CertID with
// SHA-1), signed by `responder_key` (sha256WithRSAEncryption) with `responder_cert` included;
// producedAt is the current time. `nonce` empty: no nonce extension.
struct OcspResponseSpec {
  OcspCertStatus status = OcspCertStatus::kGood;
  std::time_t this_update = 0;
  std::optional<std::time_t> next_update;
  std::time_t revocation_time = 0;  // kRevoked
  std::vector<std::uint8_t> nonce;
};
CryptoResult<std::vector<std::uint8_t>> MakeOcspResponse(X509* cert, X509* issuer,
                                                         X509* responder_cert,
                                                         EVP_PKEY* responder_key,
                                                         const OcspResponseSpec& spec);

}  // namespace spc
