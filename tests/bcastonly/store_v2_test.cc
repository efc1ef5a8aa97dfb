// Key store schema v2: migration from v1, RI contexts with registration material and group keys,
// LTKM installation with RO ID replay rules, withdrawal on a revoked registration.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "spc/store/key_store.h"

namespace {

using spc::store::InstallOutcome;
using spc::store::KeyStore;
using spc::store::Registration;
using spc::store::Rights;
using spc::store::StoreError;

std::string TempPath(const std::string& name) {
  static const std::string dir = [] {
    std::string t = testing::TempDir() + "bcastonly-store-XXXXXX";
    char* d = mkdtemp(t.data());
    return std::string(d ? d : "/tmp");
  }();
  return dir + "/" + name;
}

const std::string kRi(40, 'a');
const std::string kOtherRi(40, 'b');

Registration MakeRegistration(const std::string& ri, std::int64_t ts) {
  Registration r;
  r.context.ri_id = ri;
  r.context.source = "bcro";
  r.context.certificates = {{1, 2, 3}, {4, 5}};
  r.context.device_id = std::string(40, 'd');
  r.context.timestamp = ts;
  r.context.not_after = ts + 1000;
  r.has_device_keys = true;
  r.k_mac.fill(0x11);
  r.k_dev.fill(0x22);
  r.groups.push_back({7, 1, {}});
  r.groups.back().key.fill(0x33);
  return r;
}

Rights MakeLtkm(const std::string& cid, const std::string& ro_id, std::int64_t ts,
                std::uint8_t fill) {
  Rights r;
  r.content_id = cid;
  r.key.key_domain_id = 0x0a0b0c;
  r.key.encryption_key.fill(fill);
  r.key.authentication_key.fill(static_cast<std::uint8_t>(fill + 1));
  r.source = "bcro";
  r.ro_id = ro_id;
  r.issuer = kRi;
  r.ro_timestamp = ts;
  return r;
}

TEST(StoreV2, MigratesV1StoreKeepingItsRights) {
  const std::string path = TempPath("v1.db");
  {
    // A v1 store as spcd 0.1 made it.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* sql =
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE rights (content_id TEXT PRIMARY KEY NOT NULL, key_domain_id INTEGER NOT "
        "NULL, kind TEXT NOT NULL CHECK (kind IN ('service', 'programme')), encryption_key BLOB "
        "NOT NULL CHECK (length(encryption_key) = 16), authentication_key BLOB NOT NULL CHECK "
        "(length(authentication_key) = 16), not_before INTEGER NOT NULL DEFAULT 0, not_after "
        "INTEGER NOT NULL DEFAULT 0, play INTEGER NOT NULL DEFAULT 1, record INTEGER NOT NULL "
        "DEFAULT 1, source TEXT NOT NULL DEFAULT 'import', updated_at INTEGER NOT NULL);"
        "CREATE TABLE replay_state (service TEXT PRIMARY KEY NOT NULL, newest_timestamp INTEGER "
        "NOT NULL);"
        "INSERT INTO rights VALUES ('urn:x:00000001', 10, 'service', zeroblob(16), "
        "zeroblob(16), 0, 0, 1, 0, 'import', 1);";
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  StoreError err;
  auto store = KeyStore::Open(path, &err);
  ASSERT_TRUE(store) << err.message;
  EXPECT_EQ(store->schema_version(), 2);
  auto r = store->Find("urn:x:00000001", &err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->key.key_domain_id, 10u);
  EXPECT_FALSE(r->record);
  EXPECT_EQ(r->source, "import");
  EXPECT_EQ(r->ro_id, "");
  EXPECT_TRUE(store->ListRiContexts(&err).empty());
}

TEST(StoreV2, RegistrationRoundTripAndReplacement) {
  StoreError err;
  auto store = KeyStore::Open(TempPath("reg.db"), &err);
  ASSERT_TRUE(store) << err.message;
  EXPECT_FALSE(store->FindRegistration(kRi, &err));
  ASSERT_TRUE(store->PutRegistration(MakeRegistration(kRi, 100), &err)) << err.message;
  auto reg = store->FindRegistration(kRi, &err);
  ASSERT_TRUE(reg);
  EXPECT_TRUE(reg->has_device_keys);
  EXPECT_EQ(reg->k_mac[0], 0x11);
  EXPECT_EQ(reg->k_dev[15], 0x22);
  ASSERT_EQ(reg->groups.size(), 1u);
  EXPECT_EQ(reg->groups[0].group_id, 7u);
  EXPECT_EQ(reg->context.certificates.size(), 2u);
  EXPECT_EQ(reg->context.certificates[1], (std::vector<std::uint8_t>{4, 5}));
  EXPECT_EQ(reg->context.status, "registered");

  // Re-keying: generation 2 replaces generation 1 (a generation no longer listed is gone).
  Registration next = MakeRegistration(kRi, 200);
  next.groups = {{7, 2, {}}};
  next.groups[0].key.fill(0x44);
  ASSERT_TRUE(store->PutRegistration(next, &err)) << err.message;
  reg = store->FindRegistration(kRi, &err);
  ASSERT_TRUE(reg);
  ASSERT_EQ(reg->groups.size(), 1u);
  EXPECT_EQ(reg->groups[0].key_generation, 2);
  EXPECT_EQ(reg->groups[0].key[0], 0x44);
  EXPECT_EQ(reg->context.timestamp, 200);

  // A ROAP context in the same table, without broadcast keys.
  Registration roap;
  roap.context.ri_id = kOtherRi;
  roap.context.source = "roap";
  roap.context.url = "http://ri.example/roap";
  ASSERT_TRUE(store->PutRegistration(roap, &err)) << err.message;
  auto list = store->ListRiContexts(&err);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1].source, "roap");
  auto r2 = store->FindRegistration(kOtherRi, &err);
  ASSERT_TRUE(r2);
  EXPECT_FALSE(r2->has_device_keys);

  Registration bad = MakeRegistration("short", 1);
  EXPECT_FALSE(store->PutRegistration(bad, &err));
  EXPECT_FALSE(err.message.empty());
}

TEST(StoreV2, LtkmInstallRepeatReplayAndNewer) {
  StoreError err;
  auto store = KeyStore::Open(TempPath("ltkm.db"), &err);
  ASSERT_TRUE(store) << err.message;
  InstallOutcome out{};
  ASSERT_TRUE(store->InstallLtkm(MakeLtkm("urn:c:1", "ro-1", 100, 0x10), &out, &err));
  EXPECT_EQ(out, InstallOutcome::kInstalled);
  ASSERT_TRUE(store->InstallLtkm(MakeLtkm("urn:c:1", "ro-1", 100, 0x10), &out, &err));
  EXPECT_EQ(out, InstallOutcome::kRepeat);
  // An older copy of the same RO ID with other keys: nothing changes.
  ASSERT_TRUE(store->InstallLtkm(MakeLtkm("urn:c:1", "ro-1", 99, 0x50), &out, &err));
  EXPECT_EQ(out, InstallOutcome::kReplay);
  auto r = store->Find("urn:c:1", &err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->key.encryption_key[0], 0x10);
  EXPECT_EQ(r->ro_id, "ro-1");
  EXPECT_EQ(r->issuer, kRi);
  EXPECT_EQ(r->ro_timestamp, 100);
  // Newer: replaces.
  ASSERT_TRUE(store->InstallLtkm(MakeLtkm("urn:c:1", "ro-1", 101, 0x60), &out, &err));
  EXPECT_EQ(out, InstallOutcome::kInstalled);
  EXPECT_EQ(store->Find("urn:c:1", &err)->key.encryption_key[0], 0x60);
}

TEST(StoreV2, WithdrawRemovesKeysRightsAndRoIdsOfThatIssuerOnly) {
  StoreError err;
  auto store = KeyStore::Open(TempPath("withdraw.db"), &err);
  ASSERT_TRUE(store) << err.message;
  ASSERT_TRUE(store->PutRegistration(MakeRegistration(kRi, 100), &err));
  InstallOutcome out{};
  ASSERT_TRUE(store->InstallLtkm(MakeLtkm("urn:c:1", "ro-1", 100, 1), &out, &err));
  ASSERT_TRUE(store->InstallLtkm(MakeLtkm("urn:c:2", "ro-2", 100, 2), &out, &err));
  Rights imported = MakeLtkm("urn:c:3", "", 0, 3);
  imported.source = "import";
  imported.issuer = "";
  ASSERT_TRUE(store->ImportRights({imported}, &err));

  std::vector<std::string> removed;
  ASSERT_TRUE(store->WithdrawRegistration(kRi, "revoked", 300, &removed, &err)) << err.message;
  EXPECT_EQ(removed, (std::vector<std::string>{"urn:c:1", "urn:c:2"}));
  EXPECT_FALSE(store->Find("urn:c:1", &err));
  EXPECT_FALSE(store->Find("urn:c:2", &err));
  EXPECT_TRUE(store->Find("urn:c:3", &err));
  auto reg = store->FindRegistration(kRi, &err);
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->context.status, "revoked");
  EXPECT_EQ(reg->context.timestamp, 300);
  EXPECT_FALSE(reg->has_device_keys);
  EXPECT_TRUE(reg->groups.empty());
  // Its RO IDs are forgotten with its keys.
  ASSERT_TRUE(store->InstallLtkm(MakeLtkm("urn:c:1", "ro-1", 100, 1), &out, &err));
  EXPECT_EQ(out, InstallOutcome::kInstalled);
}

TEST(StoreV2, SurvivesReopenWithSecretsAndMode0600) {
  const std::string path = TempPath("reopen.db");
  StoreError err;
  {
    auto store = KeyStore::Open(path, &err);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->PutRegistration(MakeRegistration(kRi, 5), &err));
  }
  auto store = KeyStore::Open(path, &err);
  ASSERT_TRUE(store);
  auto reg = store->FindRegistration(kRi, &err);
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->k_dev[0], 0x22);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
