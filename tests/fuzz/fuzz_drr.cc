// libFuzzer target: the device_registration_response parser, the writer on what it accepts, and
// the terminal's verification path (chain, signature, RSA-KEM, unwrap) on arbitrary bytes.
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "spc/libspc/ltkm/drr.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"

namespace {

// One device key for the whole run (generation is the slow part).
EVP_PKEY* DeviceKey() {
  static const spc::EvpPkeyPtr key(EVP_RSA_gen(2048));
  if (!key) std::abort();
  return key.get();
}

// Its key hash, computed once: SpkiSha1 encodes the public key through OpenSSL's encoder lookup,
// about a tenth of the instructions of an input that parses.
const spc::Sha1Digest& DeviceId() {
  static const spc::Sha1Digest id = spc::SpkiSha1(DeviceKey());
  return id;
}

X509_STORE* EmptyStore() {
  static const spc::X509StorePtr store = spc::MakeTrustStore({});
  return store.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> message(data, size);
  auto parsed = spc::ParseDrr(message);
  if (!parsed) {
    // A rejection must say where.
    if (parsed.error().field.empty() || parsed.error().offset > size) std::abort();
    return 0;
  }
  // What parses must write back to the same bytes.
  std::vector<std::uint8_t> rewritten = spc::SerializeDrr(*parsed);
  if (rewritten.size() != size || !std::equal(rewritten.begin(), rewritten.end(), data)) {
    std::abort();
  }
  // Pretend the message is for this device so that the chain step runs; nothing can be trusted
  // by an empty store.
  parsed->device_id = DeviceId();
  auto verified = spc::VerifyDrr(message, *parsed, EmptyStore(), DeviceKey(), 1700000000);
  if (verified.ok()) std::abort();

  // The crypto steps on their own, with whatever the message carries.
  if (!parsed->certificates.empty()) {
    if (auto leaf = spc::LoadCertificateDer(parsed->certificates[0])) {
      spc::EvpPkeyPtr ri_key = spc::CertificatePublicKey(leaf->get());
      if (ri_key) {
        (void)spc::RsaPssVerify(ri_key.get(), message.first(size - 2 - parsed->signature.size()),
                                parsed->signature);
      }
    }
  }
  auto material = spc::RsaKemDecrypt(DeviceKey(), parsed->encrypted_registration_material);
  if (material.ok() && material->size() >= 32) {
    for (const auto& g : parsed->groups) {
      (void)spc::AesUnwrap(std::span(material->data() + 16, 16), g.wrapped_group_key);
    }
  }
  return 0;
}
