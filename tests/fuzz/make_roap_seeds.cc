// Writes the seed corpus of fuzz_roap: every ROAP message and trigger as the writers emit them,
// including an roResponse with real protected ROs (made to a throw-away RSA key).
// Usage: make_roap_seeds OUTDIR  (creates OUTDIR/roap)
#include <glib.h>
#include <glib/gstdio.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <string>

#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/libspc/roap/messages.h"
#include "spc/libspc/roap/protected_ro.h"

namespace {

using namespace spc::roap;  // NOLINT: seed tool

bool Write(const std::string& path, const std::string& data) {
  g_autoptr(GError) error = nullptr;
  if (!g_file_set_contents(path.c_str(), data.data(), static_cast<gssize>(data.size()), &error)) {
    std::fprintf(stderr, "make_roap_seeds: %s\n", error->message);
    return false;
  }
  return true;
}

KeyId Id(std::uint8_t seed) {
  KeyId k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed + i);
  return k;
}

Bytes B(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed * 7 + i);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_roap_seeds OUTDIR\n");
    return 64;
  }
  std::string out = std::string(argv[1]) + "/roap";
  g_mkdir_with_parents(out.c_str(), 0755);
  bool ok = true;

  DeviceHello dh;
  dh.trigger_nonce = "tn";
  dh.device_id = Id(1);
  dh.supported_algorithms = {std::string(kAlgRsaPss), std::string(kAlgRsaKem)};
  dh.certificate_caching = true;
  ok &= Write(out + "/deviceHello.xml", WriteDeviceHello(dh));

  RiHello rh;
  rh.session_id = "s1";
  rh.ri_id = Id(2);
  rh.ri_nonce = B(32, 3);
  rh.selected_algorithms = {std::string(kAlgSha1)};
  rh.server_info = "info";
  rh.trusted_authorities = {Id(4)};
  ok &= Write(out + "/riHello.xml", WriteRiHello(rh));
  RiHello rh_err;
  rh_err.status = Status::kAccessDenied;
  ok &= Write(out + "/riHello-error.xml", WriteRiHello(rh_err));

  RegistrationRequest rq;
  rq.session_id = "s1";
  rq.nonce = B(32, 5);
  rq.time = 1700000000;
  rq.certificate_chain = {B(64, 6)};
  rq.trusted_authorities = {Id(7)};
  rq.server_info = "info";
  rq.signature = B(128, 8);
  ok &= Write(out + "/registrationRequest.xml", WriteRegistrationRequest(rq));

  RegistrationResponse rs;
  rs.session_id = "s1";
  rs.ri_url = "http://127.0.0.1/roap";
  rs.certificate_chain = {B(64, 9)};
  rs.ocsp_responses = {B(64, 10)};
  rs.signature = B(128, 11);
  ok &= Write(out + "/registrationResponse.xml", WriteRegistrationResponse(rs));

  RoRequest ror;
  ror.trigger_nonce = "tn2";
  ror.device_id = Id(12);
  ror.domain_id = "d";
  ror.ri_id = Id(13);
  ror.nonce = B(32, 14);
  ror.time = 1700000000;
  ror.ro_ids = {"RO-1"};
  ror.content_ids = {"urn:openbcast:svc:news:0000002a"};
  ror.signature = B(128, 15);
  ok &= Write(out + "/roRequest.xml", WriteRoRequest(ror));

  spc::EvpPkeyPtr key(EVP_RSA_gen(1024));
  RoResponse rr;
  rr.device_id = Id(16);
  rr.ri_id = Id(17);
  rr.nonce = B(32, 18);
  for (int i = 0; i < 2; ++i) {
    RoGrant g;
    g.ro_id = "RO-" + std::to_string(i);
    g.rights.content_id = "urn:openbcast:svc:news:0000002" + std::to_string(i);
    if (i == 0) g.rights.key_domain_id = 0x0a0b0c;
    g.rights.record = i == 0;
    g.rights.not_before = 1700000000;
    g.rights.not_after = 1800000000;
    auto pro = BuildProtectedRo(g, rr.ri_id, 1700000000, key.get());
    if (!pro) return 1;
    rr.protected_ro_bytes.push_back(*pro);
    ok &= Write(out + "/protectedRO-" + std::to_string(i) + ".xml", *pro);
    auto parsed = ParseProtectedRo(*pro);
    if (parsed) ok &= Write(out + "/ro-" + std::to_string(i) + ".xml", parsed->ro_bytes);
  }
  rr.signature = B(128, 19);
  ok &= Write(out + "/roResponse.xml", WriteRoResponse(rr));
  RoResponse rr_err;
  rr_err.status = Status::kNotRegistered;
  ok &= Write(out + "/roResponse-error.xml", WriteRoResponse(rr_err));

  RoapTrigger t;
  t.id = "t1";
  t.ri_id = Id(20);
  t.ri_alias = "RI";
  t.nonce = "n";
  t.roap_url = "http://127.0.0.1/roap";
  t.ro_ids = {"RO-1"};
  t.content_ids = {"urn:openbcast:svc:news:0000002a"};
  ok &= Write(out + "/roapTrigger-acquisition.xml", WriteRoapTrigger(t));
  t.kind = RoapTrigger::Kind::kRegistrationRequest;
  t.ro_ids.clear();
  t.content_ids.clear();
  ok &= Write(out + "/roapTrigger-registration.xml", WriteRoapTrigger(t));
  return ok ? 0 : 1;
}
