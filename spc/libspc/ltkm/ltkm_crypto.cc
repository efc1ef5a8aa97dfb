#include "spc/libspc/ltkm/ltkm_crypto.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ocsp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <glib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace spc {

void EvpPkeyDeleter::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
void X509Deleter::operator()(X509* p) const { X509_free(p); }
void X509StoreDeleter::operator()(X509_STORE* p) const { X509_STORE_free(p); }
void OcspResponseDeleter::operator()(OCSP_RESPONSE* p) const { OCSP_RESPONSE_free(p); }

namespace {

struct CipherDeleter {
  void operator()(EVP_CIPHER* p) const { EVP_CIPHER_free(p); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct KdfDeleter {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct X509StackDeleter {
  // The stack only borrows its certificates.
  void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }
};
struct BasicRespDeleter {
  void operator()(OCSP_BASICRESP* p) const { OCSP_BASICRESP_free(p); }
};
struct CertIdDeleter {
  void operator()(OCSP_CERTID* p) const { OCSP_CERTID_free(p); }
};
struct Asn1TimeDeleter {
  void operator()(ASN1_TIME* p) const { ASN1_TIME_free(p); }
};
struct OpenSslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};

using CipherPtr = std::unique_ptr<EVP_CIPHER, CipherDeleter>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;
using KdfPtr = std::unique_ptr<EVP_KDF, KdfDeleter>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;
using BasicRespPtr = std::unique_ptr<OCSP_BASICRESP, BasicRespDeleter>;
using CertIdPtr = std::unique_ptr<OCSP_CERTID, CertIdDeleter>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, Asn1TimeDeleter>;

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "openbcast: OpenSSL failure in %s\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

// The OpenSSL reason of the last error, and the queue cleared so that it does not leak into an
// unrelated later report.
std::string OpenSslReason() {
  unsigned long code = ERR_peek_last_error();
  std::string reason;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    reason = buf;
  }
  ERR_clear_error();
  return reason;
}

CryptoError Error(CryptoErrorCode code, std::string message, bool with_openssl_reason = false) {
  if (with_openssl_reason) {
    std::string reason = OpenSslReason();
    if (!reason.empty()) message += " (" + reason + ")";
  } else {
    ERR_clear_error();
  }
  return CryptoError{code, std::move(message)};
}

EVP_CIPHER* WrapCipher(std::size_t kek_size) {
  static const CipherPtr aes128(EVP_CIPHER_fetch(nullptr, "AES-128-WRAP", nullptr));
  static const CipherPtr aes192(EVP_CIPHER_fetch(nullptr, "AES-192-WRAP", nullptr));
  static const CipherPtr aes256(EVP_CIPHER_fetch(nullptr, "AES-256-WRAP", nullptr));
  const CipherPtr* c = kek_size == 16 ? &aes128 : kek_size == 24 ? &aes192 : &aes256;
  if (!*c) Fatal("EVP_CIPHER_fetch(AES-WRAP)");
  return c->get();
}

// One RFC 3394 operation. False on an integrity failure of an unwrap.
bool WrapOp(bool encrypt, std::span<const std::uint8_t> kek, std::span<const std::uint8_t> in,
            std::uint8_t* out, std::size_t& out_len) {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) Fatal("EVP_CIPHER_CTX_new");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  // A NULL IV selects RFC 3394's default A6A6A6A6A6A6A6A6.
  if (EVP_CipherInit_ex2(ctx.get(), WrapCipher(kek.size()), kek.data(), nullptr, encrypt ? 1 : 0,
                         nullptr) != 1) {
    Fatal("EVP_CipherInit_ex2(AES-WRAP)");
  }
  int len = 0;
  if (EVP_CipherUpdate(ctx.get(), out, &len, in.data(), static_cast<int>(in.size())) != 1 ||
      len <= 0) {
    if (encrypt) Fatal("EVP_CipherUpdate(AES-WRAP)");
    ERR_clear_error();
    return false;
  }
  int final_len = 0;
  if (EVP_CipherFinal_ex(ctx.get(), out + len, &final_len) != 1) {
    if (encrypt) Fatal("EVP_CipherFinal_ex(AES-WRAP)");
    ERR_clear_error();
    return false;
  }
  out_len = static_cast<std::size_t>(len + final_len);
  return true;
}

bool ValidKek(std::size_t n) { return n == 16 || n == 24 || n == 32; }

bool LooksPem(std::span<const std::uint8_t> data) {
  static constexpr std::string_view kBegin = "-----BEGIN";
  std::string_view s(reinterpret_cast<const char*>(data.data()), data.size());
  return s.find(kBegin) != std::string_view::npos;
}

BioPtr MemBio(std::span<const std::uint8_t> data) {
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) Fatal("BIO_new_mem_buf");
  return bio;
}

CryptoResult<std::vector<std::uint8_t>> ReadFile(const std::string& path) {
  g_autoptr(GError) error = nullptr;
  gchar* data = nullptr;
  gsize length = 0;
  if (!g_file_get_contents(path.c_str(), &data, &length, &error)) {
    return CryptoError{CryptoErrorCode::kBadInput, error->message};
  }
  std::vector<std::uint8_t> bytes(reinterpret_cast<std::uint8_t*>(data),
                                  reinterpret_cast<std::uint8_t*>(data) + length);
  OPENSSL_cleanse(data, length);  // may be a private key
  g_free(data);
  return bytes;
}

template <class T>
CryptoResult<T> WithPath(CryptoResult<T> r, const std::string& path) {
  if (r) return r;
  return CryptoError{r.error().code, path + ": " + r.error().message};
}

bool IsRsa(const EVP_PKEY* key) {
  return key != nullptr && (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS"));
}

std::time_t Asn1ToTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return timegm(&tm);
}

std::vector<std::uint8_t> SpkiDer(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) Fatal("i2d_X509_PUBKEY");
  std::unique_ptr<unsigned char, OpenSslFree> owner(der);
  return std::vector<std::uint8_t>(der, der + len);
}

// Configures PSS with SHA-1 / MGF1-SHA1 / 20-byte salt on a DigestSign/Verify context.
bool SetPss(EVP_PKEY_CTX* pctx) {
  return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 20) > 0 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA1", nullptr) > 0;
}

}  // namespace

X509Ptr ShareCertificate(X509* cert) {
  if (cert == nullptr) return nullptr;
  X509_up_ref(cert);
  return X509Ptr(cert);
}

EvpPkeyPtr ShareKey(EVP_PKEY* key) {
  if (key == nullptr) return nullptr;
  EVP_PKEY_up_ref(key);
  return EvpPkeyPtr(key);
}

std::string_view CryptoErrorName(CryptoErrorCode code) {
  switch (code) {
    case CryptoErrorCode::kBadInput:
      return "bad-input";
    case CryptoErrorCode::kIntegrity:
      return "integrity";
    case CryptoErrorCode::kBadSignature:
      return "bad-signature";
    case CryptoErrorCode::kBadKey:
      return "bad-key";
    case CryptoErrorCode::kUntrusted:
      return "untrusted";
    case CryptoErrorCode::kExpired:
      return "expired";
    case CryptoErrorCode::kBadChain:
      return "bad-chain";
    case CryptoErrorCode::kOcsp:
      return "ocsp";
    case CryptoErrorCode::kNonceMismatch:
      return "nonce-mismatch";
  }
  return "unknown";
}

Sha1Digest Sha1(std::span<const std::uint8_t> data) {
  static const std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> md(
      EVP_MD_fetch(nullptr, "SHA1", nullptr), &EVP_MD_free);
  if (!md) Fatal("EVP_MD_fetch(SHA1)");
  Sha1Digest out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md.get(), nullptr) != 1 ||
      len != out.size()) {
    Fatal("EVP_Digest(SHA1)");
  }
  return out;
}

CryptoResult<std::vector<std::uint8_t>> AesWrap(std::span<const std::uint8_t> kek,
                                                std::span<const std::uint8_t> key_data) {
  if (!ValidKek(kek.size())) {
    return Error(CryptoErrorCode::kBadInput,
                 "AES-WRAP: KEK of " + std::to_string(kek.size()) + " bytes (16, 24 or 32)");
  }
  if (key_data.size() < 16 || key_data.size() % 8 != 0) {
    return Error(CryptoErrorCode::kBadInput, "AES-WRAP: key data of " +
                                                 std::to_string(key_data.size()) +
                                                 " bytes (a multiple of 8, at least 16)");
  }
  std::vector<std::uint8_t> out(key_data.size() + 8 + 16);
  std::size_t len = 0;
  WrapOp(true, kek, key_data, out.data(), len);
  if (len != key_data.size() + 8) Fatal("AES-WRAP output length");
  out.resize(len);
  return out;
}

CryptoResult<SecretBytes> AesUnwrap(std::span<const std::uint8_t> kek,
                                    std::span<const std::uint8_t> wrapped) {
  if (!ValidKek(kek.size())) {
    return Error(CryptoErrorCode::kBadInput,
                 "AES-UNWRAP: KEK of " + std::to_string(kek.size()) + " bytes (16, 24 or 32)");
  }
  if (wrapped.size() < 24 || wrapped.size() % 8 != 0) {
    return Error(CryptoErrorCode::kBadInput, "AES-UNWRAP: wrapped data of " +
                                                 std::to_string(wrapped.size()) +
                                                 " bytes (a multiple of 8, at least 24)");
  }
  SecretBytes out(wrapped.size() + 16);
  std::size_t len = 0;
  if (!WrapOp(false, kek, wrapped, out.data(), len) || len != wrapped.size() - 8) {
    return Error(CryptoErrorCode::kIntegrity,
                 "AES-UNWRAP: integrity check failed (wrong key or tampered data)");
  }
  out.resize(len);
  return out;
}

SecretBytes Kdf2Sha1(std::span<const std::uint8_t> z, std::size_t length,
                     std::span<const std::uint8_t> other_info) {
  static const KdfPtr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_X963KDF, nullptr));
  if (!kdf) Fatal("EVP_KDF_fetch(X963KDF)");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) Fatal("EVP_KDF_CTX_new");
  char digest[] = "SHA1";
  OSSL_PARAM params[4];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  const_cast<std::uint8_t*>(z.data()), z.size());
  if (!other_info.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, const_cast<std::uint8_t*>(other_info.data()), other_info.size());
  }
  params[n] = OSSL_PARAM_construct_end();
  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) Fatal("EVP_KDF_derive");
  return out;
}

std::size_t RsaModulusBytes(const EVP_PKEY* key) {
  if (!IsRsa(key)) return 0;
  return static_cast<std::size_t>(EVP_PKEY_get_size(key));
}

CryptoResult<std::vector<std::uint8_t>> RsaKemEncrypt(EVP_PKEY* public_key,
                                                      std::span<const std::uint8_t> key_data) {
  if (!IsRsa(public_key)) return Error(CryptoErrorCode::kBadKey, "RSA-KEM: not an RSA key");
  const std::size_t k = RsaModulusBytes(public_key);
  const int bits = EVP_PKEY_get_bits(public_key);
  if (k == 0 || bits <= 8) return Error(CryptoErrorCode::kBadKey, "RSA-KEM: no modulus");

  // Z has bits-1 significant bits, so Z < 2^(bits-1) <= n: every Z is a valid RSA input. For the
  // usual moduli (a multiple of 8 bits) this is "the top bit clear" of roap.md.
  SecretBytes z(k);
  RandomBytes(z);
  const std::size_t excess = 8 * k - static_cast<std::size_t>(bits) + 1;  // 1..8
  z[0] &= static_cast<std::uint8_t>(0xff >> excess);

  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, public_key, nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_NO_PADDING) <= 0) {
    return Error(CryptoErrorCode::kBadKey, "RSA-KEM: raw RSA not available for this key", true);
  }
  std::vector<std::uint8_t> out(k);
  std::size_t c1_len = out.size();
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &c1_len, z.data(), z.size()) != 1 || c1_len != k) {
    return Error(CryptoErrorCode::kBadKey, "RSA-KEM: RSA encryption failed", true);
  }
  SecretBytes kek = Kdf2Sha1(z, 16);
  auto c2 = AesWrap(kek, key_data);
  if (!c2) return c2.error();
  out.insert(out.end(), c2->begin(), c2->end());
  return out;
}

CryptoResult<SecretBytes> RsaKemDecrypt(EVP_PKEY* private_key,
                                        std::span<const std::uint8_t> c1_c2) {
  if (!IsRsa(private_key)) return Error(CryptoErrorCode::kBadKey, "RSA-KEM: not an RSA key");
  const std::size_t k = RsaModulusBytes(private_key);
  if (c1_c2.size() < k + 24 || (c1_c2.size() - k) % 8 != 0) {
    return Error(CryptoErrorCode::kBadInput, "RSA-KEM: " + std::to_string(c1_c2.size()) +
                                                 " bytes cannot be C1 (" + std::to_string(k) +
                                                 " bytes) followed by an AES-WRAP output");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, private_key, nullptr));
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_NO_PADDING) <= 0) {
    return Error(CryptoErrorCode::kBadKey, "RSA-KEM: raw RSA not available (no private key?)",
                 true);
  }
  SecretBytes z(k);
  std::size_t z_len = z.size();
  if (EVP_PKEY_decrypt(ctx.get(), z.data(), &z_len, c1_c2.data(), k) != 1 || z_len != k) {
    // C1 >= n: not something the sender could have made.
    return Error(CryptoErrorCode::kIntegrity, "RSA-KEM: C1 is not a valid RSA ciphertext", true);
  }
  SecretBytes kek = Kdf2Sha1(z, 16);
  auto key_data = AesUnwrap(kek, c1_c2.subspan(k));
  if (!key_data) {
    return Error(CryptoErrorCode::kIntegrity,
                 "RSA-KEM: C2 does not unwrap (not for this key, or C1/C2 tampered)");
  }
  return std::move(key_data).value();
}

CryptoResult<std::vector<std::uint8_t>> RsaPssSign(EVP_PKEY* private_key,
                                                   std::span<const std::uint8_t> data) {
  if (!IsRsa(private_key)) return Error(CryptoErrorCode::kBadKey, "RSA-PSS: not an RSA key");
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md) Fatal("EVP_MD_CTX_new");
  EVP_PKEY_CTX* pctx = nullptr;  // owned by md
  if (EVP_DigestSignInit_ex(md.get(), &pctx, "SHA1", nullptr, nullptr, private_key, nullptr) != 1 ||
      !SetPss(pctx)) {
    return Error(CryptoErrorCode::kBadKey, "RSA-PSS: cannot sign with this key", true);
  }
  std::size_t len = 0;
  if (EVP_DigestSign(md.get(), nullptr, &len, data.data(), data.size()) != 1) {
    return Error(CryptoErrorCode::kBadKey, "RSA-PSS: signing failed", true);
  }
  std::vector<std::uint8_t> sig(len);
  if (EVP_DigestSign(md.get(), sig.data(), &len, data.data(), data.size()) != 1) {
    return Error(CryptoErrorCode::kBadKey, "RSA-PSS: signing failed", true);
  }
  sig.resize(len);
  return sig;
}

CryptoStatus RsaPssVerify(EVP_PKEY* public_key, std::span<const std::uint8_t> data,
                          std::span<const std::uint8_t> signature) {
  if (!IsRsa(public_key)) return Error(CryptoErrorCode::kBadKey, "RSA-PSS: not an RSA key");
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md) Fatal("EVP_MD_CTX_new");
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit_ex(md.get(), &pctx, "SHA1", nullptr, nullptr, public_key, nullptr) !=
          1 ||
      !SetPss(pctx)) {
    return Error(CryptoErrorCode::kBadKey, "RSA-PSS: cannot verify with this key", true);
  }
  if (EVP_DigestVerify(md.get(), signature.data(), signature.size(), data.data(), data.size()) !=
      1) {
    return Error(CryptoErrorCode::kBadSignature, "RSA-PSS signature does not verify");
  }
  ERR_clear_error();
  return std::monostate{};
}

CryptoResult<std::vector<X509Ptr>> LoadCertificates(std::span<const std::uint8_t> pem_or_der) {
  std::vector<X509Ptr> certs;
  if (LooksPem(pem_or_der)) {
    BioPtr bio = MemBio(pem_or_der);
    while (true) {
      X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (!cert) break;
      certs.push_back(std::move(cert));
    }
    unsigned long err = ERR_peek_last_error();
    // The loop ends on "no start line" at the end of the data; anything else is a broken PEM.
    if (certs.empty() || (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE)) {
      return Error(CryptoErrorCode::kBadInput, "not a PEM certificate", true);
    }
    ERR_clear_error();
    return certs;
  }
  auto cert = LoadCertificateDer(pem_or_der);
  if (!cert) return cert.error();
  certs.push_back(std::move(cert).value());
  return certs;
}

CryptoResult<X509Ptr> LoadCertificateDer(std::span<const std::uint8_t> der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size()) {
    return Error(CryptoErrorCode::kBadInput, "not a DER certificate", true);
  }
  return cert;
}

CryptoResult<X509Ptr> LoadCertificate(std::span<const std::uint8_t> pem_or_der) {
  auto certs = LoadCertificates(pem_or_der);
  if (!certs) return certs.error();
  return std::move(certs->front());
}

CryptoResult<EvpPkeyPtr> LoadPrivateKey(std::span<const std::uint8_t> pem_or_der) {
  EvpPkeyPtr key;
  if (LooksPem(pem_or_der)) {
    BioPtr bio = MemBio(pem_or_der);
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  } else {
    const unsigned char* p = pem_or_der.data();
    key.reset(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(pem_or_der.size())));
  }
  if (!key) return Error(CryptoErrorCode::kBadKey, "not an unencrypted private key", true);
  ERR_clear_error();
  return key;
}

CryptoResult<EvpPkeyPtr> LoadPublicKey(std::span<const std::uint8_t> pem_or_der) {
  EvpPkeyPtr key;
  if (LooksPem(pem_or_der)) {
    BioPtr bio = MemBio(pem_or_der);
    key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  } else {
    const unsigned char* p = pem_or_der.data();
    key.reset(d2i_PUBKEY(nullptr, &p, static_cast<long>(pem_or_der.size())));
  }
  if (!key) return Error(CryptoErrorCode::kBadKey, "not a SubjectPublicKeyInfo", true);
  ERR_clear_error();
  return key;
}

CryptoResult<X509Ptr> LoadCertificateFile(const std::string& path) {
  auto bytes = ReadFile(path);
  if (!bytes) return bytes.error();
  return WithPath(LoadCertificate(*bytes), path);
}

CryptoResult<std::vector<X509Ptr>> LoadCertificatesFile(const std::string& path) {
  auto bytes = ReadFile(path);
  if (!bytes) return bytes.error();
  return WithPath(LoadCertificates(*bytes), path);
}

CryptoResult<EvpPkeyPtr> LoadPrivateKeyFile(const std::string& path) {
  auto bytes = ReadFile(path);
  if (!bytes) return bytes.error();
  auto key = WithPath(LoadPrivateKey(*bytes), path);
  Cleanse(*bytes);
  return key;
}

std::vector<std::uint8_t> CertificateDer(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) Fatal("i2d_X509");
  std::unique_ptr<unsigned char, OpenSslFree> owner(der);
  return std::vector<std::uint8_t>(der, der + len);
}

std::string CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) Fatal("PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

EvpPkeyPtr CertificatePublicKey(X509* cert) { return EvpPkeyPtr(X509_get_pubkey(cert)); }

Sha1Digest SpkiSha1(X509* cert) { return Sha1(SpkiDer(cert)); }

Sha1Digest SpkiSha1(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  if (len <= 0) Fatal("i2d_PUBKEY");
  std::unique_ptr<unsigned char, OpenSslFree> owner(der);
  return Sha1(std::span<const std::uint8_t>(der, static_cast<std::size_t>(len)));
}

bool KeyMatchesCertificate(X509* cert, EVP_PKEY* private_key) {
  bool ok = X509_check_private_key(cert, private_key) == 1;
  ERR_clear_error();
  return ok;
}

std::string CertificateSubject(X509* cert) {
  char buf[512];
  if (X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

X509StorePtr MakeTrustStore(std::span<const X509Ptr> anchors) {
  X509StorePtr store(X509_STORE_new());
  if (!store) Fatal("X509_STORE_new");
  for (const auto& a : anchors) {
    if (X509_STORE_add_cert(store.get(), a.get()) != 1) {
      // Only a duplicate can fail here; it adds nothing new.
      ERR_clear_error();
    }
  }
  return store;
}

CryptoStatus VerifyChain(std::span<const X509Ptr> chain, X509_STORE* anchors, std::time_t now) {
  if (chain.empty()) return Error(CryptoErrorCode::kBadInput, "empty certificate chain");
  X509StackPtr untrusted(sk_X509_new_null());
  if (!untrusted) Fatal("sk_X509_new_null");
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (sk_X509_push(untrusted.get(), chain[i].get()) <= 0) Fatal("sk_X509_push");
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx) Fatal("X509_STORE_CTX_new");
  if (X509_STORE_CTX_init(ctx.get(), anchors, chain[0].get(), untrusted.get()) != 1) {
    Fatal("X509_STORE_CTX_init");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, now);
  if (X509_verify_cert(ctx.get()) == 1) {
    ERR_clear_error();
    return std::monostate{};
  }
  int err = X509_STORE_CTX_get_error(ctx.get());
  int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  X509* bad = X509_STORE_CTX_get_current_cert(ctx.get());
  std::string what = std::string(X509_verify_cert_error_string(err)) + " at depth " +
                     std::to_string(depth) +
                     (bad != nullptr ? " (" + CertificateSubject(bad) + ")" : std::string());
  CryptoErrorCode code = CryptoErrorCode::kBadChain;
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      code = CryptoErrorCode::kExpired;
      break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_CERT_UNTRUSTED:
      code = CryptoErrorCode::kUntrusted;
      break;
    default:
      break;
  }
  return Error(code, "certificate chain: " + what);
}

std::string_view OcspCertStatusName(OcspCertStatus status) {
  switch (status) {
    case OcspCertStatus::kGood:
      return "good";
    case OcspCertStatus::kRevoked:
      return "revoked";
    case OcspCertStatus::kUnknown:
      return "unknown";
  }
  return "unknown";
}

CryptoResult<OcspResponsePtr> ParseOcspResponse(std::span<const std::uint8_t> der) {
  const unsigned char* p = der.data();
  OcspResponsePtr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  if (!resp || p != der.data() + der.size()) {
    return Error(CryptoErrorCode::kOcsp, "not a DER OCSPResponse", true);
  }
  return resp;
}

std::vector<std::uint8_t> OcspResponseDer(OCSP_RESPONSE* response) {
  unsigned char* der = nullptr;
  int len = i2d_OCSP_RESPONSE(response, &der);
  if (len <= 0) Fatal("i2d_OCSP_RESPONSE");
  std::unique_ptr<unsigned char, OpenSslFree> owner(der);
  return std::vector<std::uint8_t>(der, der + len);
}

CryptoResult<OcspResult> CheckOcspResponse(OCSP_RESPONSE* response, X509* cert, X509* issuer,
                                           X509_STORE* anchors,
                                           std::span<const X509Ptr> extra_certs, std::time_t now,
                                           const OcspCheckOptions& options) {
  int rs = OCSP_response_status(response);
  if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return Error(CryptoErrorCode::kOcsp, std::string("OCSP responseStatus ") +
                                             OCSP_response_status_str(rs) + " (" +
                                             std::to_string(rs) + ")");
  }
  BasicRespPtr bs(OCSP_response_get1_basic(response));
  if (!bs) return Error(CryptoErrorCode::kOcsp, "OCSP response is not a basic response", true);

  X509StackPtr extra(sk_X509_new_null());
  if (!extra) Fatal("sk_X509_new_null");
  for (const auto& c : extra_certs) {
    if (sk_X509_push(extra.get(), c.get()) <= 0) Fatal("sk_X509_push");
  }
  X509* signer = nullptr;
  if (OCSP_resp_get0_signer(bs.get(), &signer, extra.get()) != 1 || signer == nullptr) {
    return Error(CryptoErrorCode::kOcsp, "OCSP response: signer certificate not found");
  }
  // Signature only: the signer's chain is checked below at `now`, which OCSP_basic_verify cannot
  // do (it verifies at the current time).
  if (OCSP_basic_verify(bs.get(), extra.get(), anchors, OCSP_NOVERIFY) != 1) {
    return Error(CryptoErrorCode::kBadSignature, "OCSP response signature does not verify", true);
  }
  std::vector<X509Ptr> signer_chain;
  signer_chain.push_back(ShareCertificate(signer));
  const STACK_OF(X509)* included = OCSP_resp_get0_certs(bs.get());
  for (int i = 0; i < sk_X509_num(included); ++i) {
    signer_chain.push_back(ShareCertificate(sk_X509_value(included, i)));
  }
  for (const auto& c : extra_certs) signer_chain.push_back(ShareCertificate(c.get()));
  if (auto chain_ok = VerifyChain(signer_chain, anchors, now); !chain_ok) {
    return CryptoError{chain_ok.error().code, "OCSP signer: " + chain_ok.error().message};
  }
  bool authorised = X509_cmp(signer, issuer) == 0;
  if (!authorised && X509_check_issued(issuer, signer) == X509_V_OK) {
    authorised = (X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) != 0 &&
                 (X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN) != 0;
  }
  ERR_clear_error();
  if (!authorised) {
    return Error(CryptoErrorCode::kOcsp,
                 "OCSP signer " + CertificateSubject(signer) +
                     " is neither the issuer nor an OCSPSigning delegate of the issuer");
  }

  CertIdPtr id(OCSP_cert_to_id(EVP_sha1(), cert, issuer));
  if (!id) Fatal("OCSP_cert_to_id");
  int status = 0;
  int reason = 0;
  ASN1_GENERALIZEDTIME* revtime = nullptr;
  ASN1_GENERALIZEDTIME* thisupd = nullptr;
  ASN1_GENERALIZEDTIME* nextupd = nullptr;
  if (OCSP_resp_find_status(bs.get(), id.get(), &status, &reason, &revtime, &thisupd, &nextupd) !=
      1) {
    return Error(CryptoErrorCode::kOcsp,
                 "OCSP response has no status for " + CertificateSubject(cert));
  }
  OcspResult result;
  result.status = status == V_OCSP_CERTSTATUS_GOOD      ? OcspCertStatus::kGood
                  : status == V_OCSP_CERTSTATUS_REVOKED ? OcspCertStatus::kRevoked
                                                        : OcspCertStatus::kUnknown;
  result.produced_at = Asn1ToTime(OCSP_resp_get0_produced_at(bs.get()));
  result.this_update = Asn1ToTime(thisupd);
  if (nextupd != nullptr) result.next_update = Asn1ToTime(nextupd);
  if (revtime != nullptr) result.revocation_time = Asn1ToTime(revtime);
  result.responder_id = SpkiSha1(signer);
  if (result.this_update > now + options.max_skew) {
    return Error(CryptoErrorCode::kExpired, "OCSP response thisUpdate is in the future");
  }
  if (result.next_update && *result.next_update < now - options.max_skew) {
    return Error(CryptoErrorCode::kExpired, "OCSP response is stale (nextUpdate has passed)");
  }

  int idx = OCSP_BASICRESP_get_ext_by_NID(bs.get(), NID_id_pkix_OCSP_Nonce, -1);
  if (idx >= 0) {
    X509_EXTENSION* ext = OCSP_BASICRESP_get_ext(bs.get(), idx);
    const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
    const unsigned char* raw = ASN1_STRING_get0_data(value);
    const long raw_len = ASN1_STRING_length(value);
    // RFC 6960: the extension value is an OCTET STRING holding the nonce; OpenSSL writes it that
    // way. A responder that puts the bare nonce there is read as is.
    const unsigned char* p = raw;
    std::unique_ptr<ASN1_OCTET_STRING, decltype(&ASN1_OCTET_STRING_free)> inner(
        d2i_ASN1_OCTET_STRING(nullptr, &p, raw_len), &ASN1_OCTET_STRING_free);
    if (inner && p == raw + raw_len) {
      const unsigned char* d = ASN1_STRING_get0_data(inner.get());
      result.nonce.emplace(d, d + ASN1_STRING_length(inner.get()));
    } else {
      result.nonce.emplace(raw, raw + raw_len);
    }
    ERR_clear_error();
  }
  if (options.expected_nonce) {
    if (!result.nonce) {
      return Error(CryptoErrorCode::kNonceMismatch, "OCSP response carries no nonce");
    }
    if (!ConstantTimeEqual(*result.nonce, *options.expected_nonce)) {
      return Error(CryptoErrorCode::kNonceMismatch,
                   "OCSP response nonce differs from the request nonce");
    }
  }
  return result;
}

CryptoResult<std::vector<std::uint8_t>> MakeOcspResponse(X509* cert, X509* issuer,
                                                         X509* responder_cert,
                                                         EVP_PKEY* responder_key,
                                                         const OcspResponseSpec& spec) {
  BasicRespPtr bs(OCSP_BASICRESP_new());
  if (!bs) Fatal("OCSP_BASICRESP_new");
  CertIdPtr id(OCSP_cert_to_id(EVP_sha1(), cert, issuer));
  if (!id) return Error(CryptoErrorCode::kBadInput, "OCSP: cannot make the CertID", true);
  Asn1TimePtr thisupd(ASN1_GENERALIZEDTIME_set(nullptr, spec.this_update));
  Asn1TimePtr nextupd(spec.next_update ? ASN1_GENERALIZEDTIME_set(nullptr, *spec.next_update)
                                       : nullptr);
  Asn1TimePtr revtime(spec.status == OcspCertStatus::kRevoked
                          ? ASN1_GENERALIZEDTIME_set(nullptr, spec.revocation_time)
                          : nullptr);
  int status = spec.status == OcspCertStatus::kGood      ? V_OCSP_CERTSTATUS_GOOD
               : spec.status == OcspCertStatus::kRevoked ? V_OCSP_CERTSTATUS_REVOKED
                                                         : V_OCSP_CERTSTATUS_UNKNOWN;
  int reason = spec.status == OcspCertStatus::kRevoked ? OCSP_REVOKED_STATUS_UNSPECIFIED
                                                       : OCSP_REVOKED_STATUS_NOSTATUS;
  if (!thisupd || OCSP_basic_add1_status(bs.get(), id.get(), status, reason, revtime.get(),
                                         thisupd.get(), nextupd.get()) == nullptr) {
    return Error(CryptoErrorCode::kBadInput, "OCSP: cannot add the SingleResponse", true);
  }
  if (!spec.nonce.empty()) {
    std::vector<std::uint8_t> nonce = spec.nonce;
    if (OCSP_basic_add1_nonce(bs.get(), nonce.data(), static_cast<int>(nonce.size())) != 1) {
      return Error(CryptoErrorCode::kBadInput, "OCSP: cannot add the nonce", true);
    }
  }
  if (OCSP_basic_sign(bs.get(), responder_cert, responder_key, EVP_sha256(), nullptr, 0) != 1) {
    return Error(CryptoErrorCode::kBadKey, "OCSP: signing failed", true);
  }
  OcspResponsePtr resp(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get()));
  if (!resp) Fatal("OCSP_response_create");
  return OcspResponseDer(resp.get());
}

}  // namespace spc
