// bcast-inspect bcro: each FILE holds one bcro() (raw bytes).
//
// Key bytes policy (same as stkm's traffic_key): SEK and SAK are printed only for a BCRO that
// opened — RI signature verified and key material unwrapped — with the registration of --drr and
// the private key the user supplied (test keys in conformance runs).
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spc/inspect/inspect.h"
#include "spc/libspc/json_writer.h"
#include "spc/libspc/ltkm/bcro.h"
#include "spc/libspc/ltkm/drr.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"

namespace spc::inspect {
namespace {

constexpr char kUsage[] =
    "usage: bcast-inspect bcro [--drr FILE --device-key FILE [--anchors FILE] [--now SECONDS]]\n"
    "                          FILE...\n"
    "  FILE              one raw bcro per file; - reads standard input\n"
    "  --drr FILE        the device_registration_response that registered the device\n"
    "  --device-key FILE the device's PEM private key (with --drr): adds opened, and sek/sak when\n"
    "                    the BCRO opens (signature by the RI, key material unwrapped), else\n"
    "                    open_error\n"
    "  --anchors FILE    PEM trust anchors to check the --drr chain (without: the response's own\n"
    "                    RI certificate is taken as trusted)\n"
    "  --now SECONDS     time for the --drr validity checks (default: now)\n";

int Usage(const std::string& why) {
  std::fprintf(stderr, "bcast-inspect bcro: %s\n%s", why.c_str(), kUsage);
  return kExitUsage;
}

void WriteFields(JsonWriter& w, const Bcro& b) {
  w.Member("bcro_version", b.bcro_version)
      .Member("address_mode", b.address_mode)
      .HexMember("ri_id", b.ri_id)
      .Member("ro_id_length", b.ro_id.size())
      .Member("ro_id", b.ro_id)
      .Member("timestamp", b.timestamp);
  if (b.address_mode == static_cast<std::uint8_t>(BcroAddressMode::kDevice)) {
    w.HexMember("device_id", b.device_id);
  } else {
    w.Member("group_id", b.group_id).Member("key_generation", b.key_generation);
  }
  w.Member("key_domain_id", b.key_domain_id)
      .Member("content_id_length", b.content_id.size())
      .Member("content_id", b.content_id)
      .Member("permissions", b.permissions)
      .Member("play", (b.permissions & kPermissionPlay) != 0)
      .Member("record", (b.permissions & kPermissionRecord) != 0)
      .Member("not_before", b.not_before)
      .Member("not_after", b.not_after)
      .HexMember("wrapped_key_material", b.wrapped_key_material)
      .Member("signature_length", b.signature.size())
      .HexMember("signature", b.signature);
}

}  // namespace

int BcroCommand(const std::vector<std::string>& args) {
  std::optional<std::string> drr_path, key_path, anchors_path, now_arg;
  std::vector<std::string> files;
  if (auto done = ParseArguments(args,
                                 {{"--drr", &drr_path},
                                  {"--device-key", &key_path},
                                  {"--anchors", &anchors_path},
                                  {"--now", &now_arg}},
                                 kUsage, Usage, files))
    return *done;
  if (files.empty()) return Usage("no FILE given");
  if (drr_path.has_value() != key_path.has_value()) {
    return Usage("--drr and --device-key go together");
  }
  if (anchors_path && !drr_path) return Usage("--anchors needs --drr and --device-key");
  std::time_t now = std::time(nullptr);
  if (now_arg && !ParseTime(*now_arg, now)) return Usage("--now takes seconds since 1970");

  std::optional<RegistrationMaterial> registration;
  Sha1Digest device_id{};
  if (drr_path) {
    auto key = LoadPrivateKeyFile(*key_path);
    if (!key) {
      std::fprintf(stderr, "bcast-inspect bcro: %s\n", key.error().message.c_str());
      return kExitDataError;
    }
    device_id = SpkiSha1(key->get());
    X509StorePtr anchors;
    if (anchors_path) {
      auto a = LoadCertificatesFile(*anchors_path);
      if (!a) {
        std::fprintf(stderr, "bcast-inspect bcro: %s\n", a.error().message.c_str());
        return kExitDataError;
      }
      anchors = MakeTrustStore(*a);
    }
    std::string drr_bytes, error;
    if (!ReadInput(*drr_path, drr_bytes, error)) {
      std::fprintf(stderr, "bcast-inspect bcro: %s\n", error.c_str());
      return kExitNoInput;
    }
    auto reg = RegistrationFromDrr(Bytes(drr_bytes), key->get(), anchors.get(), now);
    if (!reg) {
      std::fprintf(stderr, "bcast-inspect bcro: --drr %s: %s: %s\n", drr_path->c_str(),
                   std::string(LtkmErrorName(reg.error().code)).c_str(),
                   reg.error().message.c_str());
      return kExitDataError;
    }
    registration = std::move(reg).value();
  }

  return ForEachInput(files, [&](JsonWriter& w, std::span<const std::uint8_t> message) {
    auto parsed = ParseBcro(message);
    if (!parsed) return WriteMalformed(w, parsed.error());
    WriteFields(w, *parsed);
    if (registration) {
      auto opened = OpenBcro(message, *parsed, &*registration, device_id);
      w.Member("opened", opened.ok());
      if (opened) {
        w.HexMember("sek", opened->key.encryption_key)
            .HexMember("sak", opened->key.authentication_key);
      } else {
        w.Member("open_error", LtkmErrorName(opened.error().code))
            .Member("open_message", opened.error().message);
      }
    }
    return kExitOk;
  });
}

}  // namespace spc::inspect
