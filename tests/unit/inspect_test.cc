// Runs the built bcast-inspect (path in BCAST_INSPECT, set by meson) on STKMs made by WriteStkm.
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "spc/libspc/hex.h"
#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"
#include "tests/unit/stkm_test_util.h"

namespace spc {
namespace {

using test::kSak;
using test::kSek;

constexpr Key128 kTek = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33,
                         0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};
constexpr Key128 kNextTek = {0xfe, 0xed, 0xfa, 0xce, 0x01, 0x02, 0x03, 0x04,
                             0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
constexpr char kBase[] = "urn:openbcast:svc:news:";

struct ToolRun {
  int status = -1;
  std::vector<std::string> lines;
  std::string err;
};

class Inspect : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* exe = std::getenv("BCAST_INSPECT");
    ASSERT_NE(exe, nullptr) << "BCAST_INSPECT not set (run through meson test)";
    exe_ = exe;
    g_autoptr(GError) error = nullptr;
    char* dir = g_dir_make_tmp("inspect-XXXXXX", &error);
    ASSERT_NE(dir, nullptr) << error->message;
    dir_ = dir;
    g_free(dir);
  }
  void TearDown() override {
    for (const auto& f : files_) g_unlink(f.c_str());
    if (!dir_.empty()) g_rmdir(dir_.c_str());
  }

  std::string WriteFile(const std::string& name, std::span<const std::uint8_t> bytes) {
    std::string path = dir_ + "/" + name;
    g_autoptr(GError) error = nullptr;
    EXPECT_TRUE(g_file_set_contents(path.c_str(), reinterpret_cast<const char*>(bytes.data()),
                                    static_cast<gssize>(bytes.size()), &error));
    files_.push_back(path);
    return path;
  }

  ToolRun Exec(std::vector<std::string> args, std::span<const std::uint8_t> input = {}) {
    std::vector<const char*> argv = {exe_.c_str()};
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    g_autoptr(GError) error = nullptr;
    g_autoptr(GSubprocess) proc =
        g_subprocess_newv(argv.data(),
                          static_cast<GSubprocessFlags>(G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                        G_SUBPROCESS_FLAGS_STDERR_PIPE),
                          &error);
    ToolRun run;
    if (proc == nullptr) {
      ADD_FAILURE() << error->message;
      return run;
    }
    g_autoptr(GBytes) in = g_bytes_new(input.data(), input.size());
    g_autoptr(GBytes) out = nullptr;
    g_autoptr(GBytes) err = nullptr;
    if (!g_subprocess_communicate(proc, in, nullptr, &out, &err, &error)) {
      ADD_FAILURE() << error->message;
      return run;
    }
    run.status = g_subprocess_get_exit_status(proc);
    gsize n = 0;
    const char* data = static_cast<const char*>(g_bytes_get_data(out, &n));
    std::string text(data == nullptr ? "" : data, n);
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t nl = text.find('\n', start);
      EXPECT_NE(nl, std::string::npos) << "output line not terminated";
      if (nl == std::string::npos) nl = text.size();
      run.lines.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
    const char* e = static_cast<const char*>(g_bytes_get_data(err, &n));
    run.err.assign(e == nullptr ? "" : e, n);
    return run;
  }

  std::string KeyFile() {
    KeyTable keys;
    LongTermKey k;
    k.key_domain_id = 0x0a0b0c;
    k.encryption_key = kSek;
    k.authentication_key = kSak;
    keys[ContentId(kBase, 0x2a)] = k;
    std::string text = WriteKeyFile(keys);
    return WriteFile("keys.conf",
                     std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  }

  std::string exe_;
  std::string dir_;
  std::vector<std::string> files_;
};

// A key stream STKM as the head-end makes it: every optional field, service 0x2a.
Stkm FullStkm() {
  Stkm s = test::MakeStkm(test::kAccessCriteria | test::kMasterSalt | test::kNextTrafficKey |
                          test::kTimestamp | test::kTrafficAuthentication);
  s.service_CID_extension = 0x2a;
  s.encrypted_traffic_key_material = EncryptTrafficKey(kSek, kTek);
  s.next_encrypted_traffic_key_material = EncryptTrafficKey(kSek, kNextTek);
  return s;
}

void ExpectHas(const std::string& line, const std::string& part) {
  EXPECT_NE(line.find(part), std::string::npos) << "missing " << part << "\nin " << line;
}
void ExpectLacks(const std::string& line, const std::string& part) {
  EXPECT_EQ(line.find(part), std::string::npos) << "unexpected " << part << "\nin " << line;
}

TEST_F(Inspect, MinimalMessageExactLine) {
  Stkm s;
  s.key_domain_id = 0x0a0b0c;
  s.service_CID_extension = 0x2a;
  s.traffic_key_id = 7;
  s.traffic_key_lifetime = 60;
  s.encrypted_traffic_key_material.fill(0xab);
  auto wire = WriteStkm(s, kSak);
  std::string path = WriteFile("min.stkm", wire);
  ToolRun r = Exec({"stkm", path});
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  std::string mac = HexEncode(std::span(wire).last(12));
  EXPECT_EQ(r.lines[0],
            "{\"file\":\"" + path +
                "\",\"protocol_version\":1,\"protection_after_reception\":0,"
                "\"access_criteria_flag\":false,\"master_salt_flag\":false,"
                "\"traffic_protection_protocol\":1,\"traffic_authentication_flag\":true,"
                "\"next_traffic_key_flag\":false,\"timestamp_flag\":false,"
                "\"programme_flag\":false,\"service_flag\":true,\"key_domain_id\":658188,"
                "\"service_CID_extension\":42,\"traffic_key_id\":7,\"traffic_key_lifetime\":60,"
                "\"encrypted_traffic_key_material\":\"abababababababababababababababab\","
                "\"MAC\":\"" +
                mac + "\"}");
}

TEST_F(Inspect, AllFieldsWithKeys) {
  Stkm s = FullStkm();
  auto wire = WriteStkm(s, kSak);
  std::string path = WriteFile("full.stkm", wire);
  ToolRun r = Exec({"stkm", "--keys", KeyFile(), "--base-cid", kBase, path});
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  const std::string& l = r.lines[0];
  EXPECT_EQ(l.front(), '{');
  EXPECT_EQ(l.back(), '}');
  for (const std::string& part : {
           std::string("\"protocol_version\":1,"),
           std::string("\"protection_after_reception\":1,"),
           std::string("\"access_criteria_flag\":true,"),
           std::string("\"master_salt_flag\":true,"),
           std::string("\"traffic_protection_protocol\":1,"),
           std::string("\"next_traffic_key_flag\":true,"),
           std::string("\"timestamp_flag\":true,"),
           std::string("\"programme_flag\":false,"),
           std::string("\"service_CID_extension\":42,"),
           "\"traffic_key_id\":" + std::to_string(s.traffic_key_id) + ",",
           "\"timestamp\":" + std::to_string(s.timestamp) + ",",
           "\"master_salt\":\"" + HexEncode(s.master_salt) + "\",",
           "\"encrypted_traffic_key_material\":\"" + HexEncode(s.encrypted_traffic_key_material) +
               "\",",
           "\"next_traffic_key_id\":" + std::to_string(s.next_traffic_key_id) + ",",
           "\"next_encrypted_traffic_key_material\":\"" +
               HexEncode(s.next_encrypted_traffic_key_material) + "\",",
           "\"next_master_salt\":\"" + HexEncode(s.next_master_salt) + "\",",
           std::string("\"access_criteria\":[{\"tag\":1,\"length\":1,\"data\":\"10\"},"
                       "{\"tag\":2,\"length\":0,\"data\":\"\"},"
                       "{\"tag\":3,\"length\":3,\"data\":\"465201\"}],"),
           "\"MAC\":\"" + HexEncode(std::span(wire).last(12)) + "\",",
           std::string("\"content_id\":\"urn:openbcast:svc:news:0000002a\","),
           std::string("\"mac_valid\":true,"),
           "\"traffic_key\":\"" + HexEncode(kTek) + "\",",
           "\"next_traffic_key\":\"" + HexEncode(kNextTek) + "\"}",
       }) {
    ExpectHas(l, part);
  }
  ExpectLacks(l, "programme_CID_extension");
}

TEST_F(Inspect, BadMacGivesNoKeys) {
  auto wire = WriteStkm(FullStkm(), kSak);
  wire[wire.size() - 1] ^= 0x55;
  std::string path = WriteFile("badmac.stkm", wire);
  ToolRun r = Exec({"stkm", "--base-cid=" + std::string(kBase), "--keys=" + KeyFile(), path});
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  ExpectHas(r.lines[0], "\"mac_valid\":false");
  ExpectLacks(r.lines[0], "traffic_key\"");
  ExpectLacks(r.lines[0], HexEncode(kTek));
}

TEST_F(Inspect, UnknownContentSaysNoRights) {
  Stkm s = FullStkm();
  s.service_CID_extension = 0x2b;
  std::string path = WriteFile("other.stkm", WriteStkm(s, kSak));
  ToolRun r = Exec({"stkm", "--keys", KeyFile(), "--base-cid", kBase, path});
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  ExpectHas(r.lines[0], "\"content_id\":\"urn:openbcast:svc:news:0000002b\"");
  ExpectHas(r.lines[0], "\"key_error\":\"no rights for urn:openbcast:svc:news:0000002b\"");
  ExpectLacks(r.lines[0], "mac_valid");
}

TEST_F(Inspect, ProgrammeMessageAndBaseCidOnly) {
  Stkm s = test::MakeStkm(test::kProgramme);
  s.programme_CID_extension = 0xff;
  std::string path = WriteFile("prog.stkm", WriteStkm(s, kSak));
  ToolRun r = Exec({"stkm", "--base-cid", "urn:p:", path});
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  ExpectHas(r.lines[0], "\"programme_flag\":true,\"service_flag\":false,");
  ExpectHas(r.lines[0], "\"programme_CID_extension\":255,");
  ExpectHas(r.lines[0], "\"content_id\":\"urn:p:000000ff\"");
  ExpectLacks(r.lines[0], "service_CID_extension");
  ExpectLacks(r.lines[0], "mac_valid");
}

TEST_F(Inspect, MalformedFileExitsTwoAndOthersStillPrinted) {
  auto good = WriteStkm(FullStkm(), kSak);
  auto bad = good;
  bad[0] = 0x20 | (bad[0] & 0x0f);  // protocol_version 2
  std::string bad_path = WriteFile("bad.stkm", bad);
  std::string good_path = WriteFile("good.stkm", good);
  std::string cut_path = WriteFile("cut.stkm", std::span(good).first(20));
  ToolRun r = Exec({"stkm", bad_path, good_path, cut_path});
  EXPECT_EQ(r.status, 2);
  ASSERT_EQ(r.lines.size(), 3u);
  ExpectHas(r.lines[0], "\"file\":\"" + bad_path + "\"");
  ExpectHas(r.lines[0], "\"error\":\"protocol_version: unsupported version 2");
  ExpectHas(r.lines[0], "\"field\":\"protocol_version\",\"offset\":0}");
  ExpectHas(r.lines[1], "\"protocol_version\":1,");
  ExpectHas(r.lines[2], "\"field\":\"service_CID_extension\",\"offset\":5}");
}

TEST_F(Inspect, StandardInput) {
  auto wire = WriteStkm(FullStkm(), kSak);
  ToolRun r = Exec({"stkm", "-"}, wire);
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  ExpectHas(r.lines[0], "\"file\":\"<stdin>\"");
  ExpectHas(r.lines[0], "\"MAC\":\"" + HexEncode(std::span(wire).last(12)) + "\"");
}

TEST_F(Inspect, UnreadableFile) {
  ToolRun r = Exec({"stkm", dir_ + "/does-not-exist"});
  EXPECT_EQ(r.status, 1);
  ASSERT_EQ(r.lines.size(), 1u);
  ExpectHas(r.lines[0], "\"error\":");
}

TEST_F(Inspect, UsageErrors) {
  ToolRun unknown = Exec({"frobnicate"});
  EXPECT_EQ(unknown.status, 64);
  ExpectHas(unknown.err, "usage:");
  EXPECT_TRUE(unknown.lines.empty());
  EXPECT_EQ(Exec({}).status, 64);
  EXPECT_EQ(Exec({"stkm"}).status, 64);
  EXPECT_EQ(Exec({"stkm", "--bogus", "x"}).status, 64);
  ToolRun keys_only = Exec({"stkm", "--keys", "k", "x"});
  EXPECT_EQ(keys_only.status, 64);
  ExpectHas(keys_only.err, "--base-cid");
  EXPECT_EQ(Exec({"--help"}).status, 0);
}

TEST_F(Inspect, BadKeyFile) {
  std::string path = WriteFile("min.stkm", WriteStkm(FullStkm(), kSak));
  const char text[] = "[urn:x]\nkey-domain=01\nsek=00\n";
  std::string keys = WriteFile(
      "bad.conf", std::span(reinterpret_cast<const std::uint8_t*>(text), sizeof text - 1));
  ToolRun r = Exec({"stkm", "--keys", keys, "--base-cid", kBase, path});
  EXPECT_EQ(r.status, 65);
  ExpectHas(r.err, "sek");
}

}  // namespace
}  // namespace spc
