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

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
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
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string_view name, std::optional<std::string>& out) -> int {
      std::string prefix = std::string(name) + "=";
      if (a.starts_with(prefix)) {
        out = a.substr(prefix.size());
      } else if (i + 1 < args.size()) {
        out = args[++i];
      } else {
        return Usage(std::string(name) + " needs a value");
      }
      return kExitOk;
    };
    if (options_done || a == "-" || !a.starts_with("-")) {
      files.push_back(a);
    } else if (a == "--") {
      options_done = true;
    } else if (a == "--drr" || a.starts_with("--drr=")) {
      if (int rc = value("--drr", drr_path)) return rc;
    } else if (a == "--device-key" || a.starts_with("--device-key=")) {
      if (int rc = value("--device-key", key_path)) return rc;
    } else if (a == "--anchors" || a.starts_with("--anchors=")) {
      if (int rc = value("--anchors", anchors_path)) return rc;
    } else if (a == "--now" || a.starts_with("--now=")) {
      if (int rc = value("--now", now_arg)) return rc;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else {
      return Usage("unknown option " + a);
    }
  }
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

  int status = kExitOk;
  for (const std::string& file : files) {
    JsonWriter w;
    w.BeginObject().Member("file", file == "-" ? std::string("<stdin>") : file);
    std::string bytes;
    std::string read_error;
    if (!ReadInput(file, bytes, read_error)) {
      w.Member("error", read_error).Member("field", "").Member("offset", 0).EndObject();
      std::puts(w.str().c_str());
      if (status == kExitOk) status = kExitIoError;
      continue;
    }
    auto message = Bytes(bytes);
    auto parsed = ParseBcro(message);
    if (!parsed) {
      const ParseError& e = parsed.error();
      w.Member("error", e.message).Member("field", e.field).Member("offset", e.offset).EndObject();
      std::puts(w.str().c_str());
      status = kExitMalformed;
      continue;
    }
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
    w.EndObject();
    std::puts(w.str().c_str());
  }
  std::fflush(stdout);
  return status;
}

}  // namespace spc::inspect
