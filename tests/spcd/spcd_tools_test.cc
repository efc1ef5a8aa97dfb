// spcctl and the client library against a real spcd on a private bus, and the key-leak check:
// no key byte in any output or log at G_MESSAGES_DEBUG=all.
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "spc/client/spc_client.h"
#include "spcd_test_util.h"

namespace spcd_test {
namespace {

class SpcdToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_ = std::make_unique<PrivateBus>(dir_.path());
    ASSERT_TRUE(bus_->ok());
    spcd_ = std::make_unique<Spcd>(*bus_, dir_.File("spc.db"), dir_.File("spcd.log"));
    ASSERT_TRUE(spcd_->Start());
  }

  int Ctl(std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {SpcctlPath(), "--bus-address", bus_->address()};
    argv.insert(argv.end(), args.begin(), args.end());
    int st = RunCommand(argv, out, {{"G_MESSAGES_DEBUG", "all"}});
    outputs_ += *out;
    return st;
  }

  std::string WriteFile(const std::string& name, const std::string& data) {
    std::string p = dir_.File(name);
    std::ofstream(p, std::ios::binary) << data;
    return p;
  }
  std::string WriteStkm(const std::string& name, const std::vector<std::uint8_t>& stkm) {
    return WriteFile(name, std::string(stkm.begin(), stkm.end()));
  }

  std::unique_ptr<spc::client::Client> NewClient() {
    spc::client::Options o;
    o.bus = spc::client::Bus::kAddress;
    o.address = bus_->address();
    std::string err;
    auto c = spc::client::Client::Connect(o, &err);
    EXPECT_TRUE(c) << err;
    return c;
  }

  TempDir dir_;
  std::unique_ptr<PrivateBus> bus_;
  std::unique_ptr<Spcd> spcd_;
  std::string outputs_;  // everything spcctl printed
};

TEST_F(SpcdToolsTest, SpcctlCommandsHumanAndJson) {
  ServiceKeys k = RandomKeys(0x2a);
  std::string keyfile = WriteFile("keys.ini", KeyFileGroup(k, {"record=false"}));
  std::string out;
  ASSERT_EQ(Ctl({"import-keys", keyfile}, &out), 0) << out;
  EXPECT_NE(out.find("imported 1 rights"), std::string::npos) << out;

  ASSERT_EQ(Ctl({"list-rights"}, &out), 0) << out;
  EXPECT_NE(out.find(k.content_id()), std::string::npos) << out;
  EXPECT_NE(out.find("no record"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"--json", "list-rights"}, &out), 0) << out;
  EXPECT_NE(out.find("\"content_id\":\"" + k.content_id() + "\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"record\":false"), std::string::npos) << out;

  StkmSpec spec;
  spec.tek_id = 0x4242;
  spec.tek = RandomKey();
  spec.next_id = 0x4243;
  spec.next_tek = RandomKey();
  std::string stkm = WriteStkm("a.stkm", MakeStkm(k, spec));
  ASSERT_EQ(Ctl({"process-stkm", stkm, "--base-cid", k.base_cid}, &out), 0) << out;
  EXPECT_NE(out.find("TEK ID:         16962 (0x4242)"), std::string::npos) << out;
  EXPECT_NE(out.find("sha256:"), std::string::npos) << out;
  EXPECT_NE(out.find("next TEK ID:    16963"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"--json", "process-stkm", "--base-cid", k.base_cid, stkm}, &out), 0) << out;
  EXPECT_NE(out.find("\"tek_id\":16962"), std::string::npos) << out;
  EXPECT_NE(out.find("\"protocol\":\"SRTP\""), std::string::npos) << out;

  // Refusals: exit 1 with the D-Bus error name.
  EXPECT_EQ(Ctl({"process-stkm", stkm, "--base-cid", k.base_cid, "--record"}, &out), 1);
  EXPECT_NE(out.find("org.openbcast.SPC1.Error.NotPermitted"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"--json", "process-stkm", stkm, "--base-cid", "urn:nope:"}, &out), 1);
  EXPECT_NE(out.find("\"error\":\"NoRights\""), std::string::npos) << out;

  ASSERT_EQ(Ctl({"set-parental-rating", "7"}, &out), 0) << out;
  ASSERT_EQ(Ctl({"status"}, &out), 0) << out;
  EXPECT_NE(out.find("parental rating:  7"), std::string::npos) << out;
  EXPECT_NE(out.find("rights:           1"), std::string::npos) << out;
  ASSERT_EQ(Ctl({"--json", "status"}, &out), 0) << out;
  EXPECT_NE(out.find("\"stkms_processed\":4"), std::string::npos) << out;
  EXPECT_NE(out.find("\"stkms_rejected\":2"), std::string::npos) << out;

  // Usage errors: exit 2.
  EXPECT_EQ(Ctl({"frobnicate"}, &out), 2);
  EXPECT_EQ(Ctl({"import-keys"}, &out), 2);
  EXPECT_EQ(Ctl({"import-keys", dir_.File("missing.ini")}, &out), 2);
  // A bad key file is refused by spcd: exit 1.
  EXPECT_EQ(Ctl({"import-keys", WriteFile("bad.ini", "[x]\nsek=00\n")}, &out), 1);
  EXPECT_NE(out.find("InvalidKeyFile"), std::string::npos) << out;

  // spcd gone: exit 3.
  spcd_->Kill();
  EXPECT_EQ(Ctl({"status"}, &out), 3) << out;
}

TEST_F(SpcdToolsTest, ClientAsyncFromAnotherThread) {
  ServiceKeys k = RandomKeys(0x2a);
  auto client = NewClient();
  ASSERT_TRUE(client);
  std::uint32_t n = 0;
  ASSERT_TRUE(client->ImportKeys(KeyFileGroup(k), &n).ok());
  EXPECT_EQ(n, 1u);

  std::mutex m;
  std::condition_variable cv;
  std::vector<spc::client::TekResult> results;
  std::thread::id callback_thread;
  StkmSpec spec;
  spec.tek = RandomKey();
  spec.next_id = 9;
  spec.next_tek = RandomKey();
  auto stkm = MakeStkm(k, spec);
  ServiceKeys missing = RandomKeys(0x99);
  auto unknown = MakeStkm(missing, StkmSpec{});
  // A "streaming thread": fires requests and never blocks on them.
  std::thread streaming([&] {
    for (int i = 0; i < 5; ++i) {
      client->ProcessStkmAsync(i == 4 ? unknown : stkm, k.base_cid, spc::client::Purpose::kPlay,
                               [&](spc::client::TekResult r) {
                                 std::lock_guard l(m);
                                 callback_thread = std::this_thread::get_id();
                                 results.push_back(std::move(r));
                                 cv.notify_all();
                               });
    }
  });
  streaming.join();
  std::unique_lock l(m);
  ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(20), [&] { return results.size() == 5; }));
  EXPECT_NE(callback_thread, std::this_thread::get_id());
  int ok = 0;
  for (const auto& r : results) {
    if (r.ok()) {
      ++ok;
      EXPECT_EQ(r.current.key, spec.tek);
      ASSERT_TRUE(r.next.has_value());
      EXPECT_EQ(r.next->id, 9);
      EXPECT_EQ(r.next->key, spec.next_tek);
      EXPECT_EQ(r.content_id, k.content_id());
    } else {
      EXPECT_EQ(r.error, spc::client::Error::kNoRights);
      EXPECT_EQ(r.error_name, "org.openbcast.SPC1.Error.NoRights");
    }
  }
  EXPECT_EQ(ok, 4);
}

TEST_F(SpcdToolsTest, ClientSignalsAndSyncCalls) {
  auto client = NewClient();
  ASSERT_TRUE(client);
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> missing, changed;
  client->OnRightsMissing([&](const std::string& cid) {
    std::lock_guard l(m);
    missing.push_back(cid);
    cv.notify_all();
  });
  client->OnRightsChanged([&](const std::vector<std::string>& ids) {
    std::lock_guard l(m);
    changed.insert(changed.end(), ids.begin(), ids.end());
    cv.notify_all();
  });
  ServiceKeys k = RandomKeys(0x31);
  auto r = client->ProcessStkm(MakeStkm(k, StkmSpec{}), k.base_cid);
  EXPECT_EQ(r.error, spc::client::Error::kNoRights);
  EXPECT_EQ(r.content_id, "");
  {
    std::unique_lock l(m);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(20), [&] { return !missing.empty(); }));
    EXPECT_EQ(missing[0], k.content_id());
  }
  ASSERT_TRUE(client->ImportKeys(KeyFileGroup(k), nullptr).ok());
  {
    std::unique_lock l(m);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(20), [&] { return !changed.empty(); }));
    EXPECT_EQ(changed[0], k.content_id());
  }
  r = client->ProcessStkm(MakeStkm(k, StkmSpec{}), k.base_cid, spc::client::Purpose::kRecord);
  EXPECT_TRUE(r.ok()) << r.message;
  spc::client::StatusInfo st;
  ASSERT_TRUE(client->Status(&st).ok());
  EXPECT_EQ(st.rights, 1u);
  EXPECT_EQ(st.stkms_processed, 2u);
  std::vector<spc::client::RightsInfo> rights;
  ASSERT_TRUE(client->ListRights(&rights).ok());
  ASSERT_EQ(rights.size(), 1u);
  EXPECT_EQ(rights[0].content_id, k.content_id());
  EXPECT_TRUE(client->SetParentalRating(3).ok());
}

TEST_F(SpcdToolsTest, ClientReportsUnavailableAndShutsDownWithPendingCalls) {
  auto client = NewClient();
  ASSERT_TRUE(client);
  spcd_->Kill();
  ServiceKeys k = RandomKeys(1);
  auto r = client->ProcessStkm(MakeStkm(k, StkmSpec{}), k.base_cid);
  EXPECT_EQ(r.error, spc::client::Error::kUnavailable);
  std::mutex m;
  int called = 0;
  for (int i = 0; i < 3; ++i) {
    client->ProcessStkmAsync(MakeStkm(k, StkmSpec{}), k.base_cid, spc::client::Purpose::kPlay,
                             [&](spc::client::TekResult res) {
                               std::lock_guard l(m);
                               EXPECT_FALSE(res.ok());
                               ++called;
                             });
  }
  client.reset();  // every callback has run when the destructor returns
  EXPECT_EQ(called, 3);
}

TEST_F(SpcdToolsTest, NoKeyBytesInAnyOutputOrLog) {
  ServiceKeys k = RandomKeys(0x2a);
  std::string out;
  ASSERT_EQ(Ctl({"import-keys", WriteFile("keys.ini", KeyFileGroup(k))}, &out), 0) << out;
  StkmSpec spec;
  spec.tek = RandomKey();
  spec.next_id = 2;
  spec.next_tek = RandomKey();
  spec.timestamp = Now();
  std::string good = WriteStkm("good.stkm", MakeStkm(k, spec));
  spc::Key128 wrong = RandomKey();
  std::string badmac = WriteStkm("badmac.stkm", MakeStkm(k, spec, &wrong));
  for (const char* flag : {"", "--json"}) {
    std::vector<std::string> a = {"process-stkm", good, "--base-cid", k.base_cid};
    if (*flag) a.insert(a.begin(), flag);
    ASSERT_EQ(Ctl(a, &out), 0) << out;
  }
  Ctl({"list-rights"}, &out);
  Ctl({"--json", "list-rights"}, &out);
  Ctl({"status"}, &out);
  Ctl({"process-stkm", badmac, "--base-cid", k.base_cid}, &out);
  Ctl({"process-stkm", good, "--base-cid", k.base_cid, "--record"}, &out);
  Ctl({"import-keys", WriteFile("bad.ini", KeyFileGroup(k, {"not-after=never"}))}, &out);
  // Through the client library too (its messages go to this process, not checked here).
  auto client = NewClient();
  ASSERT_TRUE(client->ProcessStkm(MakeStkm(k, spec), k.base_cid).ok());
  ASSERT_TRUE(spcd_->Stop());

  std::string log = ReadFileOrEmpty(dir_.File("spcd.log"));
  ASSERT_NE(log.find("imported rights for " + k.content_id()), std::string::npos) << log;
  ASSERT_NE(log.find("TEK ID"), std::string::npos) << "debug messages missing:\n" << log;
  std::string all = log + outputs_;
  for (const spc::Key128* key : {&k.sek, &k.sak, &spec.tek, &spec.next_tek}) {
    EXPECT_EQ(all.find(Hex(*key)), std::string::npos) << Hex(*key);
    EXPECT_EQ(all.find(HexUpper(*key)), std::string::npos) << Hex(*key);
    EXPECT_EQ(all.find(std::string(key->begin(), key->end())), std::string::npos) << Hex(*key);
    // Nor half of a key (a truncated dump).
    EXPECT_EQ(all.find(Hex(*key).substr(0, 16)), std::string::npos) << Hex(*key);
  }
}

}  // namespace
}  // namespace spcd_test
