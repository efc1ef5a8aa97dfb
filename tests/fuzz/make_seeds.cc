// Writes the seed corpora of the fuzz targets: STKMs for every flag combination (made by
// WriteStkm) and a few key files. Usage: make_seeds OUTDIR  (creates OUTDIR/stkm, OUTDIR/key_file)
#include <glib.h>
#include <glib/gstdio.h>

#include <cstdio>
#include <string>

#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

namespace {

constexpr spc::Key128 kSek = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr spc::Key128 kSak = {16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

bool Write(const std::string& path, const void* data, std::size_t size) {
  g_autoptr(GError) error = nullptr;
  if (!g_file_set_contents(path.c_str(), static_cast<const char*>(data), static_cast<gssize>(size),
                           &error)) {
    std::fprintf(stderr, "make_seeds: %s\n", error->message);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUTDIR\n");
    return 64;
  }
  std::string out = argv[1];
  g_mkdir_with_parents((out + "/stkm").c_str(), 0755);
  g_mkdir_with_parents((out + "/key_file").c_str(), 0755);
  for (unsigned flags = 0; flags < 64; ++flags) {
    spc::Stkm s;
    s.access_criteria_flag = flags & 1;
    s.master_salt_flag = flags & 2;
    s.next_traffic_key_flag = flags & 4;
    s.timestamp_flag = flags & 8;
    s.traffic_authentication_flag = flags & 16;
    s.programme_flag = flags & 32;
    s.service_flag = !s.programme_flag;
    s.traffic_protection_protocol = static_cast<std::uint8_t>(flags % 3);
    s.protection_after_reception = static_cast<std::uint8_t>(flags % 4);
    s.key_domain_id = 0x0a0b0c;
    s.service_CID_extension = s.service_flag ? 0x2a : 0;
    s.programme_CID_extension = s.programme_flag ? 0x2b : 0;
    s.traffic_key_id = static_cast<std::uint16_t>(flags);
    s.traffic_key_lifetime = 30;
    if (s.timestamp_flag) s.timestamp = 1700000000;
    spc::Key128 tek{};
    tek.fill(static_cast<std::uint8_t>(flags));
    s.encrypted_traffic_key_material = spc::EncryptTrafficKey(kSek, tek);
    if (s.master_salt_flag) s.master_salt.fill(0x5a);
    if (s.next_traffic_key_flag) {
      s.next_traffic_key_id = static_cast<std::uint16_t>(flags + 1);
      s.next_encrypted_traffic_key_material = spc::EncryptTrafficKey(kSek, kSak);
      if (s.master_salt_flag) s.next_master_salt.fill(0xa5);
    }
    if (s.access_criteria_flag) {
      s.access_criteria = {{spc::kAccessCriteriaParentalRating, {12}},
                           {spc::kAccessCriteriaBlackout, {'F', 'R'}}};
    }
    auto wire = spc::WriteStkm(s, kSak);
    char name[64];
    std::snprintf(name, sizeof name, "/stkm/flags-%02u.stkm", flags);
    if (!Write(out + name, wire.data(), wire.size())) return 1;
  }
  spc::KeyTable keys;
  spc::LongTermKey k;
  k.key_domain_id = 0x0a0b0c;
  k.encryption_key = kSek;
  k.authentication_key = kSak;
  keys["urn:openbcast:svc:news:0000002a"] = k;
  k.programme = true;
  keys["urn:openbcast:prog:film:0000002b"] = k;
  std::string text = spc::WriteKeyFile(keys);
  if (!Write(out + "/key_file/two-groups.conf", text.data(), text.size())) return 1;
  const char comment[] =
      "# a service key; a programme key uses pek= and pak= instead\n"
      "[urn:openbcast:svc:news:0000002a]\nkey-domain=0a0b0c\n"
      "sek=000102030405060708090a0b0c0d0e0f\nsak=101112131415161718191a1b1c1d1e1f\n";
  if (!Write(out + "/key_file/spec-example.conf", comment, sizeof comment - 1)) return 1;
  return 0;
}
