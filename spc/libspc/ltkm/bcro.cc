// The one reader and the one writer of the bcro() layout of shared/spec/ltkm.md, and its
// processing.
#include "spc/libspc/ltkm/bcro.h"

#include <algorithm>

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

bool ParseFields(Reader& r, Bcro& b) {
  if (!r.Number("bcro_version", 1, b.bcro_version)) return false;
  if (b.bcro_version != kBcroVersion) {
    return r.Fail("bcro_version: unsupported version " + std::to_string(b.bcro_version) +
                      " (this terminal reads version 1)",
                  "bcro_version", 0);
  }
  if (!r.Number("address_mode", 1, b.address_mode)) return false;
  if (b.address_mode > static_cast<std::uint8_t>(BcroAddressMode::kGroup)) {
    return r.Fail("address_mode: reserved value " + std::to_string(b.address_mode) +
                      " (0 one device, 1 broadcast group)",
                  "address_mode", 1);
  }
  if (!r.Bytes("ri_id", b.ri_id)) return false;
  std::size_t length = 0;
  if (!r.Number("ro_id_length", 1, length)) return false;
  if (!r.Take("ro_id", length, b.ro_id)) return false;
  if (!r.Number("timestamp", 5, b.timestamp)) return false;
  if (b.address_mode == static_cast<std::uint8_t>(BcroAddressMode::kDevice)) {
    if (!r.Bytes("device_id", b.device_id)) return false;
  } else {
    if (!r.Number("group_id", 4, b.group_id)) return false;
    if (!r.Number("key_generation", 2, b.key_generation)) return false;
  }
  if (!r.Number("key_domain_id", 3, b.key_domain_id)) return false;
  if (!r.Number("content_id_length", 1, length)) return false;
  if (!r.Take("content_id", length, b.content_id)) return false;
  if (!r.Number("permissions", 1, b.permissions)) return false;
  if (!r.Number("not_before", 5, b.not_before)) return false;
  if (!r.Number("not_after", 5, b.not_after)) return false;
  if (!r.Bytes("wrapped_key_material", b.wrapped_key_material)) return false;
  return ltkm_signed::ReadSignature(r, b.signature, "a length field");
}

bool Representable(const Bcro& b) {
  return b.ro_id.size() <= 0xff && b.content_id.size() <= 0xff && b.timestamp <= kMax40 &&
         b.not_before <= kMax40 && b.not_after <= kMax40 && b.key_domain_id <= 0xffffff &&
         b.signature.size() <= 0xffff;
}

}  // namespace

Result<Bcro> ParseBcro(std::span<const std::uint8_t> message) {
  Bcro b;
  Reader r(message);
  if (!ParseFields(r, b)) return r.error();
  return b;
}

std::vector<std::uint8_t> BcroSignedBytes(const Bcro& b) {
  if (!Representable(b)) return {};
  std::vector<std::uint8_t> out;
  PutUint(out, b.bcro_version, 1);
  PutUint(out, b.address_mode, 1);
  PutBytes(out, b.ri_id);
  PutUint(out, b.ro_id.size(), 1);
  PutBytes(out, b.ro_id);
  PutUint(out, b.timestamp, 5);
  if (b.address_mode == static_cast<std::uint8_t>(BcroAddressMode::kDevice)) {
    PutBytes(out, b.device_id);
  } else if (b.address_mode == static_cast<std::uint8_t>(BcroAddressMode::kGroup)) {
    PutUint(out, b.group_id, 4);
    PutUint(out, b.key_generation, 2);
  }
  PutUint(out, b.key_domain_id, 3);
  PutUint(out, b.content_id.size(), 1);
  PutBytes(out, b.content_id);
  PutUint(out, b.permissions, 1);
  PutUint(out, b.not_before, 5);
  PutUint(out, b.not_after, 5);
  PutBytes(out, b.wrapped_key_material);
  return out;
}

std::vector<std::uint8_t> SerializeBcro(const Bcro& b) {
  std::vector<std::uint8_t> out = BcroSignedBytes(b);
  if (out.empty()) return out;
  PutUint(out, b.signature.size(), 2);
  PutBytes(out, b.signature);
  return out;
}

Result<LtkmEntry, LtkmFailure> OpenBcro(std::span<const std::uint8_t> message, const Bcro& parsed,
                                        const RegistrationMaterial* registration,
                                        const Sha1Digest& device_id) {
  if (registration == nullptr || registration->ri_id != parsed.ri_id) {
    return Fail(LtkmError::kUnknownRi,
                "ri_id " + HexEncode(parsed.ri_id) + ": this device has no registration with it");
  }
  const std::uint8_t* wrapping_key = nullptr;
  if (parsed.address_mode == static_cast<std::uint8_t>(BcroAddressMode::kDevice)) {
    if (parsed.device_id != device_id) {
      return Fail(LtkmError::kOtherDevice, "device_id " + HexEncode(parsed.device_id) +
                                               " is not this device (" + HexEncode(device_id) +
                                               ")");
    }
    wrapping_key = registration->k_dev.data();
  } else {
    bool member = std::any_of(registration->groups.begin(), registration->groups.end(),
                              [&](const GroupKey& g) { return g.group_id == parsed.group_id; });
    if (!member) {
      return Fail(LtkmError::kOtherGroup, "group_id " + std::to_string(parsed.group_id) +
                                              ": this device is not in the group");
    }
    const GroupKey* g = registration->FindGroup(parsed.group_id, parsed.key_generation);
    if (g == nullptr) {
      return Fail(LtkmError::kUnknownGeneration,
                  "group_id " + std::to_string(parsed.group_id) + " key_generation " +
                      std::to_string(parsed.key_generation) +
                      ": this device does not hold that group key generation");
    }
    wrapping_key = g->key.data();
  }

  if (registration->ri_certificates.empty()) {
    return Fail(LtkmError::kUnknownRi, "the registration holds no RI certificate");
  }
  auto ri_cert = LoadCertificateDer(registration->ri_certificates[0]);
  if (!ri_cert) {
    return Fail(LtkmError::kBrokenChain, "registered RI certificate: " + ri_cert.error().message);
  }
  EvpPkeyPtr ri_key = CertificatePublicKey(ri_cert->get());
  if (auto bad = ltkm_signed::VerifySignature(ri_key.get(), message, parsed.signature)) {
    return *bad;
  }

  auto keys =
      AesUnwrap(std::span<const std::uint8_t>(wrapping_key, 16), parsed.wrapped_key_material);
  if (!keys || keys->size() != 32) {
    return Fail(LtkmError::kUnwrapFailed,
                std::string("wrapped_key_material: ") +
                    (keys ? "does not hold SEK ‖ SAK (32 bytes)" : keys.error().message));
  }
  LtkmEntry e;
  e.content_id = parsed.content_id;
  e.key_domain_id = parsed.key_domain_id;
  e.key.key_domain_id = parsed.key_domain_id;
  std::copy_n(keys->begin(), 16, e.key.encryption_key.begin());
  std::copy_n(keys->begin() + 16, 16, e.key.authentication_key.begin());
  e.permissions = parsed.permissions;
  e.not_before = parsed.not_before;
  e.not_after = parsed.not_after;
  e.ro_id = parsed.ro_id;
  e.ri_id = parsed.ri_id;
  e.timestamp = parsed.timestamp;
  return e;
}

Result<LtkmEntry, LtkmFailure> OpenBcro(std::span<const std::uint8_t> message,
                                        const RegistrationMaterial* registration,
                                        const Sha1Digest& device_id) {
  auto parsed = ParseBcro(message);
  if (!parsed) return ltkm_signed::Malformed(parsed.error());
  return OpenBcro(message, *parsed, registration, device_id);
}

CryptoResult<std::vector<std::uint8_t>> SignBcro(Bcro bcro, EVP_PKEY* ri_key) {
  std::vector<std::uint8_t> body = BcroSignedBytes(bcro);
  if (body.empty()) {
    return CryptoError{CryptoErrorCode::kBadInput, "bcro: a value does not fit its field"};
  }
  auto sig = RsaPssSign(ri_key, body);
  if (!sig) return sig.error();
  bcro.signature = std::move(sig).value();
  return SerializeBcro(bcro);
}

CryptoResult<std::vector<std::uint8_t>> WriteBcro(Bcro bcro, const LongTermKey& key,
                                                  std::span<const std::uint8_t, 16> wrapping_key,
                                                  EVP_PKEY* ri_key) {
  SecretBytes material(32);
  std::copy(key.encryption_key.begin(), key.encryption_key.end(), material.begin());
  std::copy(key.authentication_key.begin(), key.authentication_key.end(), material.begin() + 16);
  auto wrapped = AesWrap(wrapping_key, material);
  if (!wrapped) return wrapped.error();
  std::copy(wrapped->begin(), wrapped->end(), bcro.wrapped_key_material.begin());
  bcro.ri_id = SpkiSha1(ri_key);
  return SignBcro(std::move(bcro), ri_key);
}

}  // namespace spc
