// Seeds of fuzz_stkm_fetch (corpus/stkm_fetch): STKM fetch answers made by the writer from STKMs
// made by WriteStkm, one and two STKMs per answer.
//   build-fuzz/tests/fuzz/make_fetch_seeds tests/fuzz/corpus/stkm_fetch
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "spc/libspc/stkm.h"
#include "spc/libspc/stkm_fetch_response.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fetch_seeds OUTDIR\n");
    return 2;
  }
  const std::array<std::uint8_t, 16> sak{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  spc::Stkm a;
  a.key_domain_id = 0x0a0b0c;
  a.service_CID_extension = 0x2a;
  a.traffic_key_id = 7;
  a.traffic_key_lifetime = 25;
  a.timestamp_flag = true;
  a.timestamp = 1700000000;
  a.master_salt_flag = true;
  a.next_traffic_key_flag = true;
  a.next_traffic_key_id = 8;
  spc::Stkm b = a;
  b.traffic_key_id = 8;
  b.next_traffic_key_flag = false;
  b.access_criteria_flag = true;
  b.access_criteria.push_back({spc::kAccessCriteriaParentalRating, {12}});
  const auto sa = spc::WriteStkm(a, sak);
  const auto sb = spc::WriteStkm(b, sak);
  const std::vector<std::vector<std::vector<std::uint8_t>>> seeds = {{sa}, {sa, sb}, {sb}};
  int n = 0;
  for (const auto& s : seeds) {
    const std::vector<std::uint8_t> body = spc::WriteStkmFetchResponse(s);
    const std::string path = std::string(argv[1]) + "/seed-" + std::to_string(++n);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(body.data(), 1, body.size(), f) != body.size()) return 1;
    std::fclose(f);
  }
  return 0;
}
