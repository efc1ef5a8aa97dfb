// Runs the built bcast-inspect (path in BCAST_INSPECT, set by meson) on device_registration_
// responses and BCROs made by WriteDrr/WriteBcro with the generated test PKI.
#include <glib.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "spc/libspc/hex.h"
#include "spc/libspc/ltkm/bcro.h"
#include "spc/libspc/ltkm/drr.h"
#include "tests/ltkm/test_pki.h"

namespace spc {
namespace {

using test::SharedPki;

struct ToolRun {
  bool ok = false;  // exit status 0
  int status = -1;
  std::vector<std::string> lines;
  std::string err;
};

ToolRun Inspect(std::vector<std::string> args) {
  const char* exe = std::getenv("BCAST_INSPECT");
  EXPECT_NE(exe, nullptr) << "BCAST_INSPECT not set (run through meson test)";
  args.insert(args.begin(), exe ? exe : "bcast-inspect");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  gchar* out = nullptr;
  gchar* err = nullptr;
  gint wait = 0;
  ToolRun run;
  g_autoptr(GError) error = nullptr;
  if (!g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_DEFAULT, nullptr, nullptr, &out, &err,
                    &wait, &error)) {
    ADD_FAILURE() << error->message;
    return run;
  }
  run.status = WIFEXITED(wait) ? WEXITSTATUS(wait) : -1;
  run.ok = run.status == 0;
  run.err = err ? err : "";
  std::string o = out ? out : "";
  g_free(out);
  g_free(err);
  std::size_t start = 0;
  while (start < o.size()) {
    std::size_t nl = o.find('\n', start);
    if (nl == std::string::npos) nl = o.size();
    run.lines.push_back(o.substr(start, nl - start));
    start = nl + 1;
  }
  return run;
}

bool Has(const std::string& line, const std::string& fragment) {
  return line.find(fragment) != std::string::npos;
}

class InspectLtkm : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& pki = SharedPki();
    dir_ = test::TempDir();
    now_ = std::time(nullptr);
    material_.timestamp = static_cast<std::uint64_t>(now_);
    material_.not_after = static_cast<std::uint64_t>(now_) + 86400;
    std::array<std::uint8_t, 16> k{};
    k.fill(0x11);
    material_.k_mac.Assign(k);
    k.fill(0x22);
    material_.k_dev.Assign(k);
    GroupKey g;
    g.group_id = 77;
    g.key_generation = 5;
    k.fill(0x33);
    g.key.Assign(k);
    material_.groups.push_back(g);
    material_.ri_certificates = {CertificateDer(pki.ri.get())};
    EvpPkeyPtr pub = CertificatePublicKey(pki.devices[0].get());
    auto drr = WriteDrr(material_, DrrStatus::kSuccess, pub.get(), pki.ri_key.get());
    ASSERT_TRUE(drr.ok());
    drr_ = *drr;
    drr_path_ = dir_ + "/reg.drr";
    test::WriteBytes(drr_path_, drr_);

    ltk_.encryption_key.fill(0xa1);
    ltk_.authentication_key.fill(0xb2);
    Bcro b;
    b.address_mode = 1;
    b.ro_id = "RO-1";
    b.timestamp = static_cast<std::uint64_t>(now_);
    b.group_id = 77;
    b.key_generation = 5;
    b.key_domain_id = 42;
    b.content_id = "urn:openbcast:svc:news:0000002a";
    b.permissions = kPermissionPlay;
    b.not_before = 1;
    b.not_after = 2;
    auto bcro = WriteBcro(b, ltk_, g.key.span(), pki.ri_key.get());
    ASSERT_TRUE(bcro.ok());
    bcro_ = *bcro;
    bcro_path_ = dir_ + "/svc.bcro";
    test::WriteBytes(bcro_path_, bcro_);
  }

  std::string dir_;
  std::time_t now_ = 0;
  RegistrationMaterial material_;
  LongTermKey ltk_;
  std::vector<std::uint8_t> drr_, bcro_;
  std::string drr_path_, bcro_path_;
};

TEST_F(InspectLtkm, DrrFields) {
  auto run = Inspect({"drr", drr_path_});
  ASSERT_TRUE(run.ok) << run.err;
  ASSERT_EQ(run.lines.size(), 1u);
  const std::string& l = run.lines[0];
  EXPECT_TRUE(Has(l, "\"drr_version\":1,\"status\":0,")) << l;
  EXPECT_TRUE(Has(l, "\"device_id\":\"" + HexEncode(SpkiSha1(SharedPki().devices[0].get())))) << l;
  EXPECT_TRUE(Has(l, "\"ri_id\":\"" + HexEncode(SpkiSha1(SharedPki().ri.get())))) << l;
  EXPECT_TRUE(Has(l, "\"number_of_certificates\":1")) << l;
  EXPECT_TRUE(Has(l, "Rights Issuer")) << l;
  EXPECT_TRUE(Has(l, "\"encrypted_registration_material_length\":296")) << l;
  EXPECT_TRUE(Has(l, "{\"group_id\":77,\"key_generation\":5,\"wrapped_group_key\":\"")) << l;
  EXPECT_TRUE(Has(l, "\"signature_length\":256")) << l;
  EXPECT_FALSE(Has(l, "k_dev")) << l;
  EXPECT_FALSE(Has(l, "2222222222")) << l;
}

TEST_F(InspectLtkm, DrrWithDeviceKeyAndAnchors) {
  auto run = Inspect({"drr", "--device-key", SharedPki().Path("device-1.key"), drr_path_});
  ASSERT_TRUE(run.ok) << run.err;
  const std::string& l = run.lines.at(0);
  EXPECT_TRUE(Has(l,
                  "\"addressed_to_device\":true,\"signature_valid\":true,"
                  "\"material_decrypts\":true"))
      << l;
  EXPECT_TRUE(Has(l, "\"group_unwraps\":[{\"group_id\":77,\"key_generation\":5,\"unwraps\":true}]"))
      << l;
  EXPECT_FALSE(Has(l, "k_dev")) << l;

  auto other = Inspect({"drr", "--device-key", SharedPki().Path("device-2.key"), drr_path_});
  ASSERT_TRUE(other.ok);
  EXPECT_TRUE(Has(other.lines.at(0), "\"addressed_to_device\":false")) << other.lines[0];
  EXPECT_FALSE(Has(other.lines.at(0), "material_decrypts")) << other.lines[0];

  auto full = Inspect({"drr", "--device-key", SharedPki().Path("device-1.key"), "--anchors",
                       SharedPki().Path("root.pem"), drr_path_});
  ASSERT_TRUE(full.ok) << full.err;
  const std::string& f = full.lines.at(0);
  EXPECT_TRUE(Has(f,
                  "\"verified\":true,\"k_mac\":\"11111111111111111111111111111111\","
                  "\"k_dev\":\"22222222222222222222222222222222\""))
      << f;
  EXPECT_TRUE(Has(f, "\"key\":\"33333333333333333333333333333333\"")) << f;

  // The other PKI's root: not verified, and no key bytes.
  auto untrusted = Inspect({"drr", "--device-key", SharedPki().Path("device-1.key"), "--anchors",
                            test::OtherPki().Path("root.pem"), drr_path_});
  ASSERT_TRUE(untrusted.ok);
  EXPECT_TRUE(Has(untrusted.lines.at(0), "\"verified\":false,\"verify_error\":\"broken-chain\""))
      << untrusted.lines[0];
  EXPECT_FALSE(Has(untrusted.lines.at(0), "k_dev")) << untrusted.lines[0];
}

TEST_F(InspectLtkm, DrrMalformedAndUsage) {
  test::WriteBytes(dir_ + "/cut.drr", std::vector<std::uint8_t>(drr_.begin(), drr_.begin() + 50));
  auto run = Inspect({"drr", drr_path_, dir_ + "/cut.drr"});
  EXPECT_EQ(run.status, 2);
  ASSERT_EQ(run.lines.size(), 2u);
  EXPECT_TRUE(Has(run.lines[0], "\"drr_version\":1")) << run.lines[0];
  EXPECT_TRUE(Has(run.lines[1], "\"error\":")) << run.lines[1];
  EXPECT_TRUE(Has(run.lines[1], "\"field\":\"not_after\",\"offset\":47")) << run.lines[1];
  EXPECT_EQ(Inspect({"drr"}).status, 64);
  EXPECT_EQ(Inspect({"drr", "--anchors", "x", drr_path_}).status, 64);
  EXPECT_EQ(Inspect({"drr", "--now", "soon", drr_path_}).status, 64);
  EXPECT_EQ(Inspect({"drr", dir_ + "/missing"}).status, 1);
}

TEST_F(InspectLtkm, BcroFieldsAndOpen) {
  auto run = Inspect({"bcro", bcro_path_});
  ASSERT_TRUE(run.ok) << run.err;
  const std::string& l = run.lines.at(0);
  EXPECT_TRUE(Has(l, "\"bcro_version\":1,\"address_mode\":1,\"ri_id\":\"" +
                         HexEncode(SpkiSha1(SharedPki().ri.get())) +
                         "\",\"ro_id_length\":4,\"ro_id\":\"RO-1\""))
      << l;
  EXPECT_TRUE(Has(l,
                  "\"group_id\":77,\"key_generation\":5,\"key_domain_id\":42,"
                  "\"content_id_length\":31,\"content_id\":\"urn:openbcast:svc:news:0000002a\","
                  "\"permissions\":1,\"play\":true,\"record\":false,\"not_before\":1,"
                  "\"not_after\":2,\"wrapped_key_material\":\""))
      << l;
  EXPECT_FALSE(Has(l, "opened")) << l;
  EXPECT_FALSE(Has(l, "device_id")) << l;

  for (bool with_anchors : {false, true}) {
    std::vector<std::string> args = {"bcro", "--drr", drr_path_, "--device-key",
                                     SharedPki().Path("device-1.key")};
    if (with_anchors) {
      args.push_back("--anchors");
      args.push_back(SharedPki().Path("root.pem"));
    }
    args.push_back(bcro_path_);
    auto opened = Inspect(args);
    ASSERT_TRUE(opened.ok) << opened.err;
    EXPECT_TRUE(Has(opened.lines.at(0), "\"opened\":true,\"sek\":\"" +
                                            HexEncode(ltk_.encryption_key) + "\",\"sak\":\"" +
                                            HexEncode(ltk_.authentication_key) + "\""))
        << opened.lines[0];
  }
}

TEST_F(InspectLtkm, BcroNotOpenedAndMalformed) {
  auto forged = bcro_;
  forged[30] ^= 1;
  test::WriteBytes(dir_ + "/forged.bcro", forged);
  auto run = Inspect({"bcro", "--drr", drr_path_, "--device-key", SharedPki().Path("device-1.key"),
                      dir_ + "/forged.bcro"});
  ASSERT_TRUE(run.ok) << run.err;
  EXPECT_TRUE(Has(run.lines.at(0), "\"opened\":false,\"open_error\":\"bad-signature\""))
      << run.lines[0];
  EXPECT_FALSE(Has(run.lines.at(0), "\"sek\"")) << run.lines[0];

  // The registration is for device 1: device 2's key cannot use it.
  auto wrong = Inspect(
      {"bcro", "--drr", drr_path_, "--device-key", SharedPki().Path("device-2.key"), bcro_path_});
  EXPECT_EQ(wrong.status, 65);
  EXPECT_TRUE(Has(wrong.err, "other-device")) << wrong.err;

  auto bad_mode = bcro_;
  bad_mode[1] = 7;
  test::WriteBytes(dir_ + "/mode.bcro", bad_mode);
  auto malformed = Inspect({"bcro", dir_ + "/mode.bcro"});
  EXPECT_EQ(malformed.status, 2);
  EXPECT_TRUE(Has(malformed.lines.at(0), "\"field\":\"address_mode\",\"offset\":1"))
      << malformed.lines[0];
  EXPECT_EQ(Inspect({"bcro", "--drr", drr_path_, bcro_path_}).status, 64);
}

}  // namespace
}  // namespace spc
