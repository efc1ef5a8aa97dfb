// Writes the seed corpora of fuzz_drr and fuzz_bcro with WriteDrr/WriteBcro on a test PKI made by
// scripts/make-test-pki.sh. Usage: make_ltkm_seeds PKIDIR OUTDIR  (creates OUTDIR/drr, OUTDIR/bcro)
// The seeds hold only public certificates and test keys wrapped for the PKI's device 1.
#include <glib.h>

#include <cstdio>
#include <string>

#include "spc/libspc/ltkm/bcro.h"
#include "spc/libspc/ltkm/drr.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"

namespace {

bool Write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  g_autoptr(GError) error = nullptr;
  if (!g_file_set_contents(path.c_str(), reinterpret_cast<const char*>(bytes.data()),
                           static_cast<gssize>(bytes.size()), &error)) {
    std::fprintf(stderr, "make_ltkm_seeds: %s\n", error->message);
    return false;
  }
  return true;
}

template <class T>
T Must(spc::CryptoResult<T> r) {
  if (!r) {
    std::fprintf(stderr, "make_ltkm_seeds: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_ltkm_seeds PKIDIR OUTDIR\n");
    return 64;
  }
  std::string pki = argv[1];
  std::string out = argv[2];
  g_mkdir_with_parents((out + "/drr").c_str(), 0755);
  g_mkdir_with_parents((out + "/bcro").c_str(), 0755);
  spc::X509Ptr ri = Must(spc::LoadCertificateFile(pki + "/ri.pem"));
  spc::X509Ptr device = Must(spc::LoadCertificateFile(pki + "/device-1.pem"));
  spc::EvpPkeyPtr ri_key = Must(spc::LoadPrivateKeyFile(pki + "/ri.key"));
  spc::EvpPkeyPtr device_pub = spc::CertificatePublicKey(device.get());

  spc::RegistrationMaterial m;
  m.timestamp = 1700000000;
  m.not_after = 1700000000 + 365 * 86400;
  std::array<std::uint8_t, 16> k{};
  k.fill(0x11);
  m.k_mac.Assign(k);
  k.fill(0x22);
  m.k_dev.Assign(k);
  m.ri_certificates = {spc::CertificateDer(ri.get())};
  for (unsigned groups = 0; groups <= 3; ++groups) {
    if (groups > 0) {
      spc::GroupKey g;
      g.group_id = 7 * groups;
      g.key_generation = static_cast<std::uint16_t>(groups);
      k.fill(static_cast<std::uint8_t>(0x30 + groups));
      g.key.Assign(k);
      m.groups.push_back(g);
    }
    auto drr = Must(spc::WriteDrr(m, spc::DrrStatus::kSuccess, device_pub.get(), ri_key.get()));
    if (!Write(out + "/drr/success-groups-" + std::to_string(groups) + ".drr", drr)) return 1;
  }
  for (auto [status, name] : {std::pair{spc::DrrStatus::kDeviceRevoked, "revoked"},
                              std::pair{spc::DrrStatus::kUnknownDevice, "unknown"}}) {
    auto drr = Must(spc::WriteDrr(m, status, device_pub.get(), ri_key.get()));
    if (!Write(out + "/drr/" + name + ".drr", drr)) return 1;
  }

  spc::LongTermKey ltk;
  ltk.encryption_key.fill(0xa1);
  ltk.authentication_key.fill(0xb2);
  for (unsigned mode = 0; mode < 2; ++mode) {
    for (std::uint8_t permissions = 0; permissions < 4; ++permissions) {
      spc::Bcro b;
      b.address_mode = static_cast<std::uint8_t>(mode);
      b.ro_id = "RO-" + std::to_string(mode) + "-" + std::to_string(permissions);
      b.timestamp = 1700000000 + permissions;
      if (mode == 0) {
        b.device_id = spc::SpkiSha1(device.get());
      } else {
        b.group_id = 7;
        b.key_generation = 1;
      }
      b.key_domain_id = 0x0a0b0c;
      b.content_id = "urn:openbcast:svc:news:0000002a";
      b.permissions = permissions;
      b.not_before = 1700000000;
      b.not_after = 1800000000;
      k.fill(mode == 0 ? 0x22 : 0x31);
      auto bcro = Must(spc::WriteBcro(b, ltk, k, ri_key.get()));
      if (!Write(out + "/bcro/mode" + std::to_string(mode) + "-perm" + std::to_string(permissions) +
                     ".bcro",
                 bcro)) {
        return 1;
      }
    }
  }
  return 0;
}
