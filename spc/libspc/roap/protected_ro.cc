#include "spc/libspc/roap/protected_ro.h"

#include <algorithm>

#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/libspc/roap/xml.h"

namespace spc::roap {

namespace {

using xml::Element;
using xml::kDs;
using xml::TextElement;

Element AlgorithmElement(std::string local, std::string_view algorithm) {
  Element e(kDs, std::move(local));
  e.Attr("Algorithm", std::string(algorithm));
  return e;
}

}  // namespace

LongTermKey ToLongTermKey(const LtkmEntry& entry, bool programme) {
  LongTermKey k;
  k.key_domain_id = entry.key_domain_id.value_or(0);
  k.programme = programme;
  std::copy_n(entry.encryption_key.data(), 16, k.encryption_key.begin());
  std::copy_n(entry.authentication_key.data(), 16, k.authentication_key.begin());
  return k;
}

RoapResult<std::string> BuildProtectedRo(const RoGrant& grant, const KeyId& ri_id,
                                         std::int64_t timestamp, EVP_PKEY* device_public_key) {
  if (grant.ro_id.empty() || grant.rights.content_id.empty()) {
    return MakeError(ErrorCode::kMalformed, "RO without id or content ID", "ro");
  }
  // K_MAC ‖ K_REK, fresh per RO.
  SecretBytes mac_rek(32);
  RandomBytes(mac_rek);
  auto enc_key = RsaKemEncrypt(device_public_key, mac_rek);
  if (!enc_key) {
    return MakeError(ErrorCode::kUnsupported, "RSA-KEM to the device: " + enc_key.error().message,
                     "encKey");
  }
  SecretBytes cek(32);
  std::copy_n(grant.encryption_key.data(), 16, cek.begin());
  std::copy_n(grant.authentication_key.data(), 16, cek.begin() + 16);
  auto wrapped = AesWrap(std::span(mac_rek).subspan(16, 16), cek);
  if (!wrapped) {
    return MakeError(ErrorCode::kUnsupported, "AES-WRAP: " + wrapped.error().message,
                     "CipherValue");
  }

  RightsObject ro;
  ro.id = grant.ro_id;
  ro.ri_id = ri_id;
  ro.rights = grant.rights;
  ro.wrapped_key = std::move(*wrapped);
  ro.timestamp = timestamp;
  Sha1Digest dev = SpkiSha1(device_public_key);
  std::copy(dev.begin(), dev.end(), ro.device_id.begin());
  ro.enc_key = std::move(*enc_key);
  std::string ro_bytes = WriteRightsObject(ro);

  Sha1Digest digest =
      Sha1(std::span(reinterpret_cast<const std::uint8_t*>(ro_bytes.data()), ro_bytes.size()));
  Element reference(kDs, "Reference");
  reference.Attr("URI", "#" + ro.id);
  reference.Add(AlgorithmElement("DigestMethod", kAlgSha1));
  reference.Add(TextElement(kDs, "DigestValue", Base64Encode(digest)));
  Element signed_info(kDs, "SignedInfo");
  signed_info.Add(AlgorithmElement("CanonicalizationMethod", kAlgExcC14n));
  signed_info.Add(AlgorithmElement("SignatureMethod", kAlgHmacSha1));
  signed_info.Add(std::move(reference));
  std::string si_bytes = signed_info.Serialize();
  Sha1Digest mac =
      HmacSha1(std::span(mac_rek).subspan(0, 16),
               std::span(reinterpret_cast<const std::uint8_t*>(si_bytes.data()), si_bytes.size()));

  std::string out = "<roap:protectedRO>";
  out += ro_bytes;
  out += "<mac>";
  out += si_bytes;
  out += TextElement(kDs, "SignatureValue", Base64Encode(mac)).Serialize();
  out += "</mac></roap:protectedRO>";
  return out;
}

RoapResult<LtkmEntry> OpenProtectedRo(const ProtectedRo& pro, EVP_PKEY* device_key,
                                      const KeyId& device_id, const KeyId& ri_id) {
  const RightsObject& ro = pro.ro;
  if (ro.device_id != device_id) {
    return MakeError(ErrorCode::kRoForAnotherDevice, "RO " + ro.id + " is for another device",
                     "encKey");
  }
  if (ro.ri_id != ri_id) {
    return MakeError(ErrorCode::kWrongRiId, "RO " + ro.id + " is from another RI", "riID");
  }
  auto bytes = [](std::string_view s) {
    return std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  Sha1Digest digest = Sha1(bytes(pro.ro_bytes));
  if (!ConstantTimeEqual(digest, pro.digest_value)) {
    return MakeError(ErrorCode::kBadRoDigest,
                     "RO " + ro.id + ": DigestValue is not SHA-1 of the <roap:ro> bytes",
                     "ds:DigestValue");
  }
  auto mac_rek = RsaKemDecrypt(device_key, ro.enc_key);
  if (!mac_rek || mac_rek->size() != 32) {
    return MakeError(ErrorCode::kKeyUnwrapFailed,
                     "RO " + ro.id + ": encKey does not decrypt with the device key" +
                         (mac_rek ? std::string() : ": " + mac_rek.error().message),
                     "encKey");
  }
  Sha1Digest mac = HmacSha1(std::span(*mac_rek).subspan(0, 16), bytes(pro.signed_info_bytes));
  if (!ConstantTimeEqual(mac, pro.signature_value)) {
    return MakeError(ErrorCode::kBadRoMac, "RO " + ro.id + ": MAC over SignedInfo does not match",
                     "ds:SignatureValue");
  }
  auto cek = AesUnwrap(std::span(*mac_rek).subspan(16, 16), ro.wrapped_key);
  if (!cek || cek->size() != 32) {
    return MakeError(ErrorCode::kKeyUnwrapFailed,
                     "RO " + ro.id + ": SEK/SAK do not unwrap with K_REK", "CipherValue");
  }
  LtkmEntry e;
  e.content_id = ro.rights.content_id;
  e.key_domain_id = ro.rights.key_domain_id;
  e.encryption_key.Assign(std::span<const std::uint8_t, 16>(cek->data(), 16));
  e.authentication_key.Assign(std::span<const std::uint8_t, 16>(cek->data() + 16, 16));
  e.play = ro.rights.play;
  e.record = ro.rights.record;
  e.not_before = ro.rights.not_before;
  e.not_after = ro.rights.not_after;
  e.ro_id = ro.id;
  e.ri_id = ro.ri_id;
  e.timestamp = ro.timestamp;
  return e;
}

}  // namespace spc::roap
