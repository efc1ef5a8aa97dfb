// libFuzzer target: the BCRO parser, the writer on what it accepts, and OpenBcro (address,
// signature, unwrap) with a registration that always names the message's RI.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "spc/libspc/ltkm/bcro.h"
#include "spc/libspc/ltkm/drr.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"

namespace {

// A registration whose RI certificate is a self-signed one made here: the signature step runs on
// every input (and never verifies, the fuzzer cannot sign).
const spc::RegistrationMaterial& Registration() {
  static const spc::RegistrationMaterial reg = [] {
    spc::RegistrationMaterial r;
    spc::EvpPkeyPtr key(EVP_RSA_gen(2048));
    spc::X509Ptr cert(X509_new());
    if (!key || !cert) std::abort();
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("fuzz RI"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) std::abort();
    r.ri_certificates = {spc::CertificateDer(cert.get())};
    std::array<std::uint8_t, 16> k{};
    k.fill(0x22);
    r.k_dev.Assign(k);
    for (std::uint16_t gen : {1, 2}) {
      spc::GroupKey g;
      g.group_id = 7;
      g.key_generation = gen;
      k.fill(static_cast<std::uint8_t>(0x30 + gen));
      g.key.Assign(k);
      r.groups.push_back(g);
    }
    return r;
  }();
  return reg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> message(data, size);
  auto parsed = spc::ParseBcro(message);
  if (!parsed) {
    if (parsed.error().field.empty() || parsed.error().offset > size) std::abort();
    return 0;
  }
  std::vector<std::uint8_t> rewritten = spc::SerializeBcro(*parsed);
  if (rewritten.size() != size || !std::equal(rewritten.begin(), rewritten.end(), data)) {
    std::abort();
  }
  spc::RegistrationMaterial reg = Registration();
  reg.ri_id = parsed->ri_id;
  // Half of the inputs are "for this device".
  spc::Sha1Digest device_id{};
  if (parsed->timestamp & 1) device_id = parsed->device_id;
  auto opened = spc::OpenBcro(message, *parsed, &reg, device_id);
  if (opened.ok()) std::abort();
  if (spc::LtkmErrorName(opened.error().code).empty()) std::abort();
  (void)spc::AesUnwrap(reg.k_dev.span(), parsed->wrapped_key_material);
  return 0;
}
