// Writes seed corpora for fuzz_mikey (corpus/mikey) and fuzz_apdu (corpus/apdu): MSK, MTK and
// verification messages under the fuzz target's envelope key, and every AUTHENTICATE command and
// response form.  Usage: make_smartcard_seeds OUTDIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "spc/libspc/smartcard/apdu.h"
#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/mikey.h"

using namespace spc::smartcard;

namespace {

void Put(const std::filesystem::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_smartcard_seeds OUTDIR\n");
    return 64;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out / "mikey");
  std::filesystem::create_directories(out / "apdu");
  const std::vector<std::uint8_t> envelope(32, 0x5c);
  std::array<std::uint8_t, 16> key{};
  key.fill(0x42);
  std::array<std::uint8_t, 14> salt{};
  salt.fill(0x24);
  auto msk = MakeMikeyMskMessage({1, 2, 3}, 0x00010001, 5, key, envelope, "bsm.example", "btid@bsf",
                                 BcastLtkmExt{3, {0, 0, 0, 0, 1}, {0, 0, 0, 1, 0}}, true);
  auto mtk = MakeMikeyMtkMessage({1, 2, 3}, 0x00010001, 9, 7, key, salt,
                                 std::span<const std::uint8_t, 16>(envelope.data(), 16),
                                 BcastStkmExt{1, 1, 1, {{1, {18}}, {2, {0, 1}}}});
  auto ver = WriteMikeyVerification(*ParseMikey(msk), envelope);
  Put(out / "mikey" / "msk", msk);
  Put(out / "mikey" / "mtk", mtk);
  Put(out / "mikey" / "verification", ver);

  std::array<std::uint8_t, 16> rand{};
  rand.fill(0x11);
  std::array<std::uint8_t, 14> auts{};
  Put(out / "apdu" / "gba_bootstrap", WriteCommandApdu(MakeGbaBootstrapCommand(rand, rand)));
  Put(out / "apdu" / "gba_naf",
      WriteCommandApdu(MakeGbaNafDerivationCommand(GbaNafId("bsm.example"), "impi@example")));
  Put(out / "apdu" / "msk_update", WriteCommandApdu(MakeMskUpdateCommand(msk)));
  Put(out / "apdu" / "mtk_generation", WriteCommandApdu(MakeMtkGenerationCommand(mtk)));
  Put(out / "apdu" / "msk_deletion", WriteCommandApdu(MakeMskDeletionCommand({1, 2, 3}, 1)));
  Put(out / "apdu" / "rsp_res", MakeGbaBootstrapResponse(std::vector<std::uint8_t>(8, 1)));
  Put(out / "apdu" / "rsp_auts", MakeGbaSyncFailureResponse(auts));
  Put(out / "apdu" / "rsp_naf", MakeGbaNafResponse(std::vector<std::uint8_t>(32, 2)));
  Put(out / "apdu" / "rsp_msk", MakeMskUpdateResponse(ver));
  Put(out / "apdu" / "rsp_mtk", MakeMtkResponse(key, salt));
  Put(out / "apdu" / "rsp_del", MakeMskDeletionResponse());
  std::vector<std::uint8_t> container = {0xAE, 0x25, 0x86, 0x10};
  container.insert(container.end(), key.begin(), key.end());
  container.insert(container.end(), {0x87, 0x0e});
  container.insert(container.end(), salt.begin(), salt.end());
  container.insert(container.end(), {0x88, 0x01, 0x12});
  Put(out / "apdu" / "rsp_container", container);
  return 0;
}
