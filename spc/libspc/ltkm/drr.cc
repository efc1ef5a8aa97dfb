// The one reader and the one writer of the device_registration_response() layout of
// shared/spec/ltkm.md, and its processing.
#include "spc/libspc/ltkm/drr.h"

#include <algorithm>
#include <string>

#include "spc/libspc/hex.h"
#include "spc/libspc/ltkm/signed_message.h"
#include "spc/libspc/wire.h"

namespace spc {
namespace {

using ltkm_signed::Fail;
using wire::PutBytes;
using wire::PutUint;
using wire::Reader;

constexpr std::uint64_t kMax40 = (std::uint64_t{1} << 40) - 1;
// K_MAC ‖ K_DEV inside the RSA-KEM.
constexpr std::size_t kMaterialLength = 32;

bool ParseFields(Reader& r, DeviceRegistrationResponse& d) {
  if (!r.Number("drr_version", 1, d.drr_version)) return false;
  if (d.drr_version != kDrrVersion) {
    return r.Fail("drr_version: unsupported version " + std::to_string(d.drr_version) +
                      " (this terminal reads version 1)",
                  "drr_version", 0);
  }
  if (!r.Number("status", 1, d.status)) return false;
  if (d.status > static_cast<std::uint8_t>(DrrStatus::kUnknownDevice)) {
    return r.Fail("status: reserved value " + std::to_string(d.status) +
                      " (0 success, 1 device revoked, 2 unknown device)",
                  "status", 1);
  }
  if (!r.Bytes("device_id", d.device_id)) return false;
  if (!r.Bytes("ri_id", d.ri_id)) return false;
  if (!r.Number("timestamp", 5, d.timestamp)) return false;
  if (!r.Number("not_after", 5, d.not_after)) return false;
  std::size_t count = 0;
  if (!r.Number("number_of_certificates", 1, count)) return false;
  d.certificates.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    r.context = "certificate " + std::to_string(i + 1) + " of " + std::to_string(count) + ": ";
    std::size_t length = 0;
    if (!r.Number("certificate_length", 2, length)) return false;
    if (!r.Take("certificate", length, d.certificates[i])) return false;
  }
  r.context.clear();
  std::size_t length = 0;
  if (!r.Number("encrypted_registration_material_length", 2, length)) return false;
  if (!r.Take("encrypted_registration_material", length, d.encrypted_registration_material)) {
    return false;
  }
  if (!r.Number("number_of_groups", 1, count)) return false;
  d.groups.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    r.context = "group " + std::to_string(i + 1) + " of " + std::to_string(count) + ": ";
    DrrGroup& g = d.groups[i];
    if (!r.Number("group_id", 4, g.group_id)) return false;
    if (!r.Number("key_generation", 2, g.key_generation)) return false;
    if (!r.Bytes("wrapped_group_key", g.wrapped_group_key)) return false;
  }
  r.context.clear();
  return ltkm_signed::ReadSignature(r, d.signature, "a count or length field");
}

bool Representable(const DeviceRegistrationResponse& d) {
  if (d.timestamp > kMax40 || d.not_after > kMax40 || d.certificates.size() > 0xff ||
      d.groups.size() > 0xff || d.encrypted_registration_material.size() > 0xffff ||
      d.signature.size() > 0xffff) {
    return false;
  }
  return std::all_of(d.certificates.begin(), d.certificates.end(),
                     [](const auto& c) { return c.size() <= 0xffff; });
}

}  // namespace

Result<DeviceRegistrationResponse> ParseDrr(std::span<const std::uint8_t> message) {
  DeviceRegistrationResponse d;
  Reader r(message);
  if (!ParseFields(r, d)) return r.error();
  return d;
}

std::vector<std::uint8_t> DrrSignedBytes(const DeviceRegistrationResponse& d) {
  if (!Representable(d)) return {};
  std::vector<std::uint8_t> out;
  PutUint(out, d.drr_version, 1);
  PutUint(out, d.status, 1);
  PutBytes(out, d.device_id);
  PutBytes(out, d.ri_id);
  PutUint(out, d.timestamp, 5);
  PutUint(out, d.not_after, 5);
  PutUint(out, d.certificates.size(), 1);
  for (const auto& c : d.certificates) {
    PutUint(out, c.size(), 2);
    PutBytes(out, c);
  }
  PutUint(out, d.encrypted_registration_material.size(), 2);
  PutBytes(out, d.encrypted_registration_material);
  PutUint(out, d.groups.size(), 1);
  for (const auto& g : d.groups) {
    PutUint(out, g.group_id, 4);
    PutUint(out, g.key_generation, 2);
    PutBytes(out, g.wrapped_group_key);
  }
  return out;
}

std::vector<std::uint8_t> SerializeDrr(const DeviceRegistrationResponse& d) {
  std::vector<std::uint8_t> out = DrrSignedBytes(d);
  if (out.empty()) return out;
  PutUint(out, d.signature.size(), 2);
  PutBytes(out, d.signature);
  return out;
}

const GroupKey* RegistrationMaterial::FindGroup(std::uint32_t group_id,
                                                std::uint16_t key_generation) const {
  for (const auto& g : groups) {
    if (g.group_id == group_id && g.key_generation == key_generation) return &g;
  }
  return nullptr;
}

Result<RegistrationMaterial, LtkmFailure> VerifyDrr(std::span<const std::uint8_t> message,
                                                    const DeviceRegistrationResponse& parsed,
                                                    X509_STORE* trust_anchors,
                                                    EVP_PKEY* device_private_key, std::time_t now) {
  const Sha1Digest device_id = SpkiSha1(device_private_key);
  if (parsed.device_id != device_id) {
    return Fail(LtkmError::kOtherDevice, "device_id " + HexEncode(parsed.device_id) +
                                             " is not this device (" + HexEncode(device_id) + ")");
  }

  if (parsed.certificates.empty()) {
    return Fail(LtkmError::kBrokenChain, "number_of_certificates is 0: no RI certificate");
  }
  std::vector<X509Ptr> chain;
  for (std::size_t i = 0; i < parsed.certificates.size(); ++i) {
    auto cert = LoadCertificateDer(parsed.certificates[i]);
    if (!cert) {
      return Fail(LtkmError::kBrokenChain,
                  "certificate " + std::to_string(i + 1) + " is not a DER X.509 certificate");
    }
    chain.push_back(std::move(cert).value());
  }
  if (auto ok = VerifyChain(chain, trust_anchors, now); !ok) {
    return Fail(LtkmError::kBrokenChain, ok.error().message);
  }
  if (SpkiSha1(chain[0].get()) != parsed.ri_id) {
    return Fail(LtkmError::kBrokenChain, "ri_id " + HexEncode(parsed.ri_id) +
                                             " is not the key hash of the RI certificate (" +
                                             HexEncode(SpkiSha1(chain[0].get())) + ")");
  }

  EvpPkeyPtr ri_key = CertificatePublicKey(chain[0].get());
  if (auto bad = ltkm_signed::VerifySignature(ri_key.get(), message, parsed.signature)) {
    return *bad;
  }

  if (parsed.status == static_cast<std::uint8_t>(DrrStatus::kDeviceRevoked)) {
    return Fail(LtkmError::kDeviceRevoked, "the RI reports this device as revoked (status 1)");
  }
  if (parsed.status == static_cast<std::uint8_t>(DrrStatus::kUnknownDevice)) {
    return Fail(LtkmError::kUnknownDevice, "the RI does not know this device (status 2)");
  }
  if (parsed.not_after <= static_cast<std::uint64_t>(now)) {
    return Fail(LtkmError::kExpired, "registration ended at not_after " +
                                         std::to_string(parsed.not_after) + " (now " +
                                         std::to_string(now) + ")");
  }

  auto material = RsaKemDecrypt(device_private_key, parsed.encrypted_registration_material);
  if (!material) {
    return Fail(LtkmError::kUnwrapFailed,
                "encrypted_registration_material: " + material.error().message);
  }
  if (material->size() != kMaterialLength) {
    return Fail(LtkmError::kUnwrapFailed, "encrypted_registration_material holds " +
                                              std::to_string(material->size()) +
                                              " bytes, not K_MAC ‖ K_DEV (32)");
  }
  RegistrationMaterial out;
  out.ri_id = parsed.ri_id;
  out.device_id = parsed.device_id;
  out.timestamp = parsed.timestamp;
  out.not_after = parsed.not_after;
  out.k_mac.Assign(std::span<const std::uint8_t, 16>(material->data(), 16));
  out.k_dev.Assign(std::span<const std::uint8_t, 16>(material->data() + 16, 16));
  for (std::size_t i = 0; i < parsed.groups.size(); ++i) {
    const DrrGroup& g = parsed.groups[i];
    auto key = AesUnwrap(out.k_dev.span(), g.wrapped_group_key);
    if (!key) {
      return Fail(LtkmError::kUnwrapFailed,
                  "wrapped_group_key of group " + std::to_string(g.group_id) + " generation " +
                      std::to_string(g.key_generation) + ": " + key.error().message);
    }
    GroupKey gk;
    gk.group_id = g.group_id;
    gk.key_generation = g.key_generation;
    gk.key.Assign(std::span<const std::uint8_t, 16>(key->data(), 16));
    out.groups.push_back(std::move(gk));
  }
  out.ri_certificates = parsed.certificates;
  return out;
}

Result<RegistrationMaterial, LtkmFailure> VerifyDrr(std::span<const std::uint8_t> message,
                                                    X509_STORE* trust_anchors,
                                                    EVP_PKEY* device_private_key, std::time_t now) {
  auto parsed = ParseDrr(message);
  if (!parsed) return ltkm_signed::Malformed(parsed.error());
  return VerifyDrr(message, *parsed, trust_anchors, device_private_key, now);
}

CryptoResult<std::vector<std::uint8_t>> SignDrr(DeviceRegistrationResponse drr, EVP_PKEY* ri_key) {
  std::vector<std::uint8_t> body = DrrSignedBytes(drr);
  if (body.empty()) {
    return CryptoError{CryptoErrorCode::kBadInput,
                       "device_registration_response: a value does not fit its field"};
  }
  auto sig = RsaPssSign(ri_key, body);
  if (!sig) return sig.error();
  drr.signature = std::move(sig).value();
  return SerializeDrr(drr);
}

CryptoResult<std::vector<std::uint8_t>> WriteDrr(const RegistrationMaterial& material,
                                                 DrrStatus status, EVP_PKEY* device_public_key,
                                                 EVP_PKEY* ri_key) {
  DeviceRegistrationResponse d;
  d.status = static_cast<std::uint8_t>(status);
  d.device_id = SpkiSha1(device_public_key);
  d.ri_id = SpkiSha1(ri_key);
  d.timestamp = material.timestamp;
  d.not_after = material.not_after;
  d.certificates = material.ri_certificates;
  if (status == DrrStatus::kSuccess) {
    SecretBytes km(kMaterialLength);
    std::copy_n(material.k_mac.data(), 16, km.begin());
    std::copy_n(material.k_dev.data(), 16, km.begin() + 16);
    auto c = RsaKemEncrypt(device_public_key, km);
    if (!c) return c.error();
    d.encrypted_registration_material = std::move(c).value();
    for (const auto& g : material.groups) {
      auto wrapped = AesWrap(material.k_dev.span(), g.key.span());
      if (!wrapped) return wrapped.error();
      DrrGroup dg;
      dg.group_id = g.group_id;
      dg.key_generation = g.key_generation;
      std::copy(wrapped->begin(), wrapped->end(), dg.wrapped_group_key.begin());
      d.groups.push_back(dg);
    }
  }
  return SignDrr(std::move(d), ri_key);
}

}  // namespace spc
