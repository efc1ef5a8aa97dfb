#include "tests/roap/roap_test_pki.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

namespace spc::roap::test {

namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "test PKI: %s failed\n", what);
  std::abort();
}

EvpPkeyPtr NewKey() {
  EvpPkeyPtr k(EVP_RSA_gen(2048));
  if (!k) Die("EVP_RSA_gen");
  return k;
}

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) Die("X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

enum class Kind { kCa, kLeaf, kOcsp };

X509Ptr MakeCert(const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, Kind kind,
                 std::int64_t not_before, std::int64_t not_after) {
  static long serial = 1;
  X509Ptr cert(X509_new());
  if (!cert) Die("X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(not_after));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("openbcast roap test"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* iss = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(iss));
  X509_set_pubkey(cert.get(), key);
  AddExt(cert.get(), iss, NID_subject_key_identifier, "hash");
  if (kind == Kind::kCa) {
    AddExt(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExt(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(cert.get(), iss, NID_authority_key_identifier, "keyid");
    if (kind == Kind::kOcsp) {
      AddExt(cert.get(), iss, NID_key_usage, "critical,digitalSignature");
      AddExt(cert.get(), iss, NID_ext_key_usage, "OCSPSigning");
    } else {
      AddExt(cert.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    }
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) Die("X509_sign");
  return cert;
}

TestPki Build() {
  TestPki pki;
  TestPki* p = &pki;
  std::int64_t now = Now();
  std::int64_t year = 365 * 86400;
  p->root.key = NewKey();
  p->root.cert = MakeCert("root", p->root.key.get(), nullptr, p->root.key.get(), Kind::kCa,
                          now - year, now + 10 * year);
  auto leaf = [&](KeyCert& kc, const char* cn, const KeyCert& ca, Kind kind) {
    kc.key = NewKey();
    kc.cert =
        MakeCert(cn, kc.key.get(), ca.cert.get(), ca.key.get(), kind, now - year, now + 5 * year);
  };
  leaf(p->ri, "rights issuer", p->root, Kind::kLeaf);
  leaf(p->ocsp, "ocsp responder", p->root, Kind::kOcsp);
  leaf(p->device, "device 1", p->root, Kind::kLeaf);
  leaf(p->device2, "device 2", p->root, Kind::kLeaf);
  p->other_root.key = NewKey();
  p->other_root.cert = MakeCert("other root", p->other_root.key.get(), nullptr,
                                p->other_root.key.get(), Kind::kCa, now - year, now + 10 * year);
  leaf(p->other_device, "other device", p->other_root, Kind::kLeaf);
  p->ri_untrusted = MakeCert("rights issuer", p->ri.key.get(), p->other_root.cert.get(),
                             p->other_root.key.get(), Kind::kLeaf, now - year, now + 5 * year);
  p->ri_expired = MakeCert("rights issuer", p->ri.key.get(), p->root.cert.get(), p->root.key.get(),
                           Kind::kLeaf, now - 3 * year, now - year);
  return pki;
}

}  // namespace

std::int64_t Now() { return static_cast<std::int64_t>(std::time(nullptr)); }

const TestPki& Pki() {
  static const TestPki pki = Build();
  return pki;
}

EvpPkeyPtr ShareKey(const EvpPkeyPtr& key) { return spc::ShareKey(key.get()); }
X509Ptr Share(const X509Ptr& cert) { return ShareCertificate(cert.get()); }

DeviceCredentials Device(const KeyCert& kc) {
  std::vector<X509Ptr> chain;
  chain.push_back(Share(kc.cert));
  auto d = MakeDeviceCredentials(ShareKey(kc.key), std::move(chain));
  if (!d) Die("MakeDeviceCredentials");
  return std::move(*d);
}

RiCredentials Ri(const X509Ptr& cert, const std::string& url) {
  std::vector<X509Ptr> chain;
  chain.push_back(Share(cert));
  auto r = MakeRiCredentials(ShareKey(Pki().ri.key), std::move(chain), url);
  if (!r) Die("MakeRiCredentials");
  return std::move(*r);
}

TrustAnchors Anchors(const KeyCert& root) {
  std::vector<X509Ptr> roots;
  roots.push_back(Share(root.cert));
  return MakeTrustAnchors(std::move(roots));
}

Bytes Ocsp(X509* cert, OcspCertStatus status, std::span<const std::uint8_t> nonce) {
  OcspResponseSpec spec;
  spec.status = status;
  spec.this_update = Now() - 60;
  spec.next_update = Now() + 3600;
  spec.revocation_time = Now() - 86400;
  spec.nonce.assign(nonce.begin(), nonce.end());
  auto r = MakeOcspResponse(cert, Pki().root.cert.get(), Pki().ocsp.cert.get(),
                            Pki().ocsp.key.get(), spec);
  if (!r) Die("MakeOcspResponse");
  return std::move(*r);
}

std::string SignAs(EVP_PKEY* key, const std::string& prefix, const std::string& unsigned_message,
                   bool ro_response) {
  auto cut = CutSignature(unsigned_message, ro_response);
  if (!cut) Die("CutSignature");
  auto sig = SignBytes(key, prefix + *cut);
  if (!sig) Die("SignBytes");
  return InsertSignature(unsigned_message, *sig);
}

}  // namespace spc::roap::test
