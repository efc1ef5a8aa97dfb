// bcast-inspect drr: each FILE holds one device_registration_response() (raw bytes).
//
// Key bytes policy (same as stkm's traffic_key): K_MAC, K_DEV and group keys are printed only
// when the response passed every check of the terminal (chain to --anchors, RI signature, device
// ID, unwrap) with the private key the user supplied. The tool is for conformance runs on test
// keys; without --anchors it reports what decrypts, never the keys.
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spc/inspect/inspect.h"
#include "spc/libspc/json_writer.h"
#include "spc/libspc/ltkm/drr.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"

namespace spc::inspect {
namespace {

constexpr char kUsage[] =
    "usage: bcast-inspect drr [--device-key FILE [--anchors FILE] [--now SECONDS]] FILE...\n"
    "  FILE              one raw device_registration_response per file; - reads standard input\n"
    "  --device-key FILE the device's PEM private key: adds addressed_to_device, signature_valid\n"
    "                    (by the message's RI certificate), material_decrypts and per group\n"
    "                    unwraps\n"
    "  --anchors FILE    PEM trust anchors (root CA): adds the terminal's full check, verified or\n"
    "                    verify_error; when verified, k_mac, k_dev and the group keys (test keys\n"
    "                    only: the tool prints what the key you gave it unlocks)\n"
    "  --now SECONDS     time for certificate and registration validity (default: now)\n";

int Usage(const std::string& why) {
  std::fprintf(stderr, "bcast-inspect drr: %s\n%s", why.c_str(), kUsage);
  return kExitUsage;
}

void WriteFields(JsonWriter& w, const DeviceRegistrationResponse& d) {
  w.Member("drr_version", d.drr_version)
      .Member("status", d.status)
      .HexMember("device_id", d.device_id)
      .HexMember("ri_id", d.ri_id)
      .Member("timestamp", d.timestamp)
      .Member("not_after", d.not_after)
      .Member("number_of_certificates", d.certificates.size());
  w.Key("certificates").BeginArray();
  for (const auto& c : d.certificates) {
    w.BeginObject().Member("certificate_length", c.size());
    if (auto cert = LoadCertificateDer(c)) {
      w.Member("subject", CertificateSubject(cert->get()))
          .HexMember("spki_sha1", SpkiSha1(cert->get()));
    }
    w.HexMember("certificate", c).EndObject();
  }
  w.EndArray()
      .Member("encrypted_registration_material_length", d.encrypted_registration_material.size())
      .HexMember("encrypted_registration_material", d.encrypted_registration_material)
      .Member("number_of_groups", d.groups.size());
  w.Key("groups").BeginArray();
  for (const auto& g : d.groups) {
    w.BeginObject()
        .Member("group_id", g.group_id)
        .Member("key_generation", g.key_generation)
        .HexMember("wrapped_group_key", g.wrapped_group_key)
        .EndObject();
  }
  w.EndArray().Member("signature_length", d.signature.size()).HexMember("signature", d.signature);
}

// What the device key alone says (no trust anchor): no key bytes.
void WriteDeviceView(JsonWriter& w, std::span<const std::uint8_t> message,
                     const DeviceRegistrationResponse& d, EVP_PKEY* device_key) {
  bool addressed = SpkiSha1(device_key) == d.device_id;
  w.Member("addressed_to_device", addressed);
  bool signature_valid = false;
  if (!d.certificates.empty()) {
    if (auto leaf = LoadCertificateDer(d.certificates[0])) {
      EvpPkeyPtr ri_key = CertificatePublicKey(leaf->get());
      signature_valid =
          RsaPssVerify(ri_key.get(), message.first(message.size() - 2 - d.signature.size()),
                       d.signature)
              .ok();
    }
  }
  w.Member("signature_valid", signature_valid);
  if (!addressed || d.status != static_cast<std::uint8_t>(DrrStatus::kSuccess)) return;
  auto material = RsaKemDecrypt(device_key, d.encrypted_registration_material);
  bool decrypts = material.ok() && material->size() == 32;
  w.Member("material_decrypts", decrypts);
  if (!decrypts) return;
  w.Key("group_unwraps").BeginArray();
  for (const auto& g : d.groups) {
    bool ok = AesUnwrap(std::span(material->data() + 16, 16), g.wrapped_group_key).ok();
    w.BeginObject()
        .Member("group_id", g.group_id)
        .Member("key_generation", g.key_generation)
        .Member("unwraps", ok)
        .EndObject();
  }
  w.EndArray();
}

}  // namespace

Result<RegistrationMaterial, LtkmFailure> RegistrationFromDrr(std::span<const std::uint8_t> message,
                                                              EVP_PKEY* device_key,
                                                              X509_STORE* anchors,
                                                              std::time_t now) {
  if (anchors != nullptr) return VerifyDrr(message, anchors, device_key, now);
  // No trust anchor: every check but the chain, with the message's own RI certificate.
  auto parsed = ParseDrr(message);
  if (!parsed) {
    return LtkmFailure{LtkmError::kMalformed, parsed.error().message, parsed.error()};
  }
  if (parsed->certificates.empty()) {
    return LtkmFailure{LtkmError::kBrokenChain, "no RI certificate", {}};
  }
  auto leaf = LoadCertificateDer(parsed->certificates[0]);
  if (!leaf) return LtkmFailure{LtkmError::kBrokenChain, leaf.error().message, {}};
  std::vector<X509Ptr> self;
  self.push_back(ShareCertificate(leaf->get()));
  X509StorePtr leaf_store = MakeTrustStore(self);
  // A store holding the leaf itself accepts it only with partial chains allowed.
  X509_STORE_set_flags(leaf_store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  return VerifyDrr(message, *parsed, leaf_store.get(), device_key, now);
}

int DrrCommand(const std::vector<std::string>& args) {
  std::optional<std::string> key_path, anchors_path, now_arg;
  std::vector<std::string> files;
  if (auto done = ParseArguments(
          args, {{"--device-key", &key_path}, {"--anchors", &anchors_path}, {"--now", &now_arg}},
          kUsage, Usage, files))
    return *done;
  if (files.empty()) return Usage("no FILE given");
  if (anchors_path && !key_path) return Usage("--anchors needs --device-key");
  std::time_t now = std::time(nullptr);
  if (now_arg && !ParseTime(*now_arg, now)) return Usage("--now takes seconds since 1970");

  EvpPkeyPtr device_key;
  if (key_path) {
    auto k = LoadPrivateKeyFile(*key_path);
    if (!k) {
      std::fprintf(stderr, "bcast-inspect drr: %s\n", k.error().message.c_str());
      return kExitDataError;
    }
    device_key = std::move(k).value();
  }
  X509StorePtr anchors;
  if (anchors_path) {
    auto a = LoadCertificatesFile(*anchors_path);
    if (!a) {
      std::fprintf(stderr, "bcast-inspect drr: %s\n", a.error().message.c_str());
      return kExitDataError;
    }
    anchors = MakeTrustStore(*a);
  }

  return ForEachInput(files, [&](JsonWriter& w, std::span<const std::uint8_t> message) {
    auto parsed = ParseDrr(message);
    if (!parsed) return WriteMalformed(w, parsed.error());
    WriteFields(w, *parsed);
    if (device_key) WriteDeviceView(w, message, *parsed, device_key.get());
    if (anchors) {
      auto r = VerifyDrr(message, *parsed, anchors.get(), device_key.get(), now);
      w.Member("verified", r.ok());
      if (r) {
        w.HexMember("k_mac", r->k_mac.span()).HexMember("k_dev", r->k_dev.span());
        w.Key("group_keys").BeginArray();
        for (const auto& g : r->groups) {
          w.BeginObject()
              .Member("group_id", g.group_id)
              .Member("key_generation", g.key_generation)
              .HexMember("key", g.key.span())
              .EndObject();
        }
        w.EndArray();
      } else {
        w.Member("verify_error", LtkmErrorName(r.error().code))
            .Member("verify_message", r.error().message);
      }
    }
    return kExitOk;
  });
}

}  // namespace spc::inspect
