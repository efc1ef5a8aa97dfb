// bcast-inspect mikey: JSON Lines for MSK/MTK/verification messages, MAC check and key data with
// --msk/--muk, named errors and exit 2 for malformed messages.
#include <glib.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "spc/libspc/smartcard/mikey.h"
#include "tests/smartcard/test_util.h"

namespace spc::smartcard {
namespace {

using testing::H;

// make_mikey_vectors.py's MTK message (MSK 60..6f; MTK 20..2f; salt 30..3d).
const char kMtkMessage[] =
    "010015000001000200010506000c0200090a0b0c0001000200050b02000000091510c0c1c2c3c4c5c6c7c8c9cacbcc"
    "cdcecf0105000802010201010101120001002727c0bd94ed44d2b370f1d8191b8db41e045b7a298a312f0be7ff9d7a"
    "84076c02d611714404d46501b0323a59937f30ea87541fe28da0cefe33712660";

struct Outcome {
  int exit_code = -1;
  std::string out;
};

Outcome Inspect(std::vector<std::string> args) {
  args.insert(args.begin(), {BCAST_INSPECT, "mikey"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  gchar* out = nullptr;
  gint status = 0;
  GError* error = nullptr;
  Outcome r;
  if (!g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_STDERR_TO_DEV_NULL, nullptr, nullptr,
                    &out, nullptr, &status, &error)) {
    ADD_FAILURE() << error->message;
    g_error_free(error);
    return r;
  }
  r.out = out ? out : "";
  g_free(out);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class InspectMikey : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("inspect-mikey-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::vector<std::uint8_t>& bytes) {
    std::string path = dir_ / name;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(InspectMikey, MtkMessageWithAndWithoutTheMsk) {
  auto f = Write("mtk.bin", H(kMtkMessage));
  Outcome plain = Inspect({f});
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_NE(plain.out.find("\"message\":\"mtk\""), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("\"key_domain_id\":\"0a0b0c\""), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("\"mtk_id\":5"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("\"counter\":9"), std::string::npos) << plain.out;
  EXPECT_EQ(plain.out.find("mac_valid"), std::string::npos) << plain.out;

  Outcome keyed = Inspect({"--msk", "606162636465666768696a6b6c6d6e6f", f});
  EXPECT_EQ(keyed.exit_code, 0);
  EXPECT_NE(keyed.out.find("\"mac_valid\":true"), std::string::npos) << keyed.out;
  EXPECT_NE(keyed.out.find("\"key\":\"202122232425262728292a2b2c2d2e2f\""), std::string::npos)
      << keyed.out;
  EXPECT_NE(keyed.out.find("\"salt\":\"303132333435363738393a3b3c3d\""), std::string::npos)
      << keyed.out;

  Outcome wrong = Inspect({"--msk=606162636465666768696a6b6c6d6e60", f});
  EXPECT_EQ(wrong.exit_code, 0);
  EXPECT_NE(wrong.out.find("\"mac_valid\":false"), std::string::npos) << wrong.out;
  EXPECT_EQ(wrong.out.find("\"key\":"), std::string::npos) << wrong.out;
}

TEST_F(InspectMikey, MskMessageAndVerification) {
  std::vector<std::uint8_t> muk(32, 0x11);
  std::array<std::uint8_t, 16> msk{};
  msk.fill(0x22);
  auto bytes = MakeMikeyMskMessage({1, 2, 3}, 0x00040001, 7, msk, muk, "bsm.example", "btid@bsf",
                                   BcastLtkmExt{1, {}, {}}, true);
  auto f = Write("msk.bin", bytes);
  auto v = Write("ver.bin", WriteMikeyVerification(*ParseMikey(bytes), muk));
  Outcome r = Inspect({"--muk", std::string(64, '1'), f, v});
  EXPECT_EQ(r.exit_code, 0);
  auto nl = r.out.find('\n');
  ASSERT_NE(nl, std::string::npos);
  std::string first = r.out.substr(0, nl), second = r.out.substr(nl + 1);
  EXPECT_NE(first.find("\"message\":\"msk\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"IDi\":\"bsm.example\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"key\":\"" + std::string(32, '2') + "\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"bcast_ltkm\":{\"permissions\":1"), std::string::npos) << first;
  EXPECT_NE(second.find("\"message\":\"verification\""), std::string::npos) << second;
}

TEST_F(InspectMikey, MalformedAndUsage) {
  auto good = H(kMtkMessage);
  auto f = Write("cut.bin", std::vector<std::uint8_t>(good.begin(), good.begin() + 40));
  Outcome r = Inspect({f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("\"field\":\"RAND.RAND\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"offset\":34"), std::string::npos) << r.out;
  EXPECT_EQ(Inspect({"--msk", "abc", f}).exit_code, 64);
  EXPECT_EQ(Inspect({}).exit_code, 64);
  EXPECT_EQ(Inspect({(dir_ / "missing").string()}).exit_code, 1);
}

}  // namespace
}  // namespace spc::smartcard
