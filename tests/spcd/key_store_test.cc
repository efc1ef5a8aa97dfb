// The key store, the key-file import and the STKM processor in-process (no D-Bus).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "spc/daemon/stkm_processor.h"
#include "spc/store/key_import.h"
#include "spc/store/key_store.h"
#include "spcd_test_util.h"

namespace spcd_test {
namespace {

using spc::store::KeyStore;
using spc::store::Rights;
using spc::store::StoreError;

Rights MakeRights(const ServiceKeys& k) {
  Rights r;
  r.content_id = k.content_id();
  r.key.key_domain_id = k.key_domain;
  r.key.programme = k.programme;
  r.key.encryption_key = k.sek;
  r.key.authentication_key = k.sak;
  return r;
}

TEST(KeyStoreTest, CreatesSchemaV1WalFullAndMode0600) {
  TempDir dir;
  StoreError err;
  mode_t old = ::umask(0);
  auto store = KeyStore::Open(dir.File("s.db"), &err);
  ::umask(old);
  ASSERT_TRUE(store) << err.message;
  EXPECT_EQ(store->schema_version(), spc::store::kSchemaVersion);
  struct stat st {};
  ASSERT_EQ(::stat(dir.File("s.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("s.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
  sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), 1);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST(KeyStoreTest, ImportFindListAndReopen) {
  TempDir dir;
  StoreError err;
  ServiceKeys a = RandomKeys(1), b = RandomKeys(2, true);
  {
    auto store = KeyStore::Open(dir.File("s.db"), &err);
    ASSERT_TRUE(store) << err.message;
    Rights ra = MakeRights(a);
    ra.not_before = 100;
    ra.not_after = 200;
    ra.record = false;
    ASSERT_TRUE(store->ImportRights({ra, MakeRights(b)}, &err)) << err.message;
    ASSERT_TRUE(store->RaiseNewestTimestamp(a.content_id(), 150, &err));
    ASSERT_TRUE(store->RaiseNewestTimestamp(a.content_id(), 120, &err));  // never lowers
  }
  auto store = KeyStore::Open(dir.File("s.db"), &err);
  ASSERT_TRUE(store) << err.message;
  EXPECT_EQ(store->CountRights(&err), 2);
  auto found = store->Find(a.content_id(), &err);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->key.encryption_key, a.sek);
  EXPECT_EQ(found->key.authentication_key, a.sak);
  EXPECT_EQ(found->not_before, 100);
  EXPECT_EQ(found->not_after, 200);
  EXPECT_FALSE(found->record);
  EXPECT_TRUE(found->play);
  EXPECT_FALSE(found->key.programme);
  auto fb = store->Find(b.content_id(), &err);
  ASSERT_TRUE(fb);
  EXPECT_TRUE(fb->key.programme);
  EXPECT_FALSE(store->Find("urn:none", &err));
  EXPECT_EQ(store->List(&err).size(), 2u);
  EXPECT_EQ(store->NewestTimestamp(a.content_id(), &err), 150);
  EXPECT_EQ(store->NewestTimestamp(b.content_id(), &err), 0);
}

TEST(KeyStoreTest, RefusesANewerSchema) {
  TempDir dir;
  StoreError err;
  ASSERT_TRUE(KeyStore::Open(dir.File("s.db"), &err));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("s.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_FALSE(KeyStore::Open(dir.File("s.db"), &err));
  EXPECT_NE(err.message.find("99"), std::string::npos) << err.message;
}

TEST(KeyImportTest, OptionalKeys) {
  ServiceKeys k = RandomKeys(5);
  auto r = spc::store::ParseRightsFile(KeyFileGroup(
      k, {"not-before=2024-01-01T00:00:00Z", "not-after=1800000000", "play=true", "record=false"}));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].content_id, k.content_id());
  EXPECT_EQ((*r)[0].not_before, 1704067200);
  EXPECT_EQ((*r)[0].not_after, 1800000000);
  EXPECT_TRUE((*r)[0].play);
  EXPECT_FALSE((*r)[0].record);
  EXPECT_EQ((*r)[0].key.encryption_key, k.sek);
  EXPECT_EQ((*r)[0].source, "import");

  auto bad = spc::store::ParseRightsFile(KeyFileGroup(k, {"record=maybe"}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, k.content_id());
  bad = spc::store::ParseRightsFile(KeyFileGroup(k, {"not-before=2000", "not-after=1000"}));
  EXPECT_FALSE(bad);
  EXPECT_FALSE(spc::store::ParseTime("2024-13-01T00:00:00Z"));
  EXPECT_EQ(spc::store::ParseTime(" 42 "), 42);
}

TEST(StkmProcessorTest, CacheReplayAndCounters) {
  TempDir dir;
  StoreError err;
  auto store = KeyStore::Open(dir.File("s.db"), &err);
  ASSERT_TRUE(store);
  ServiceKeys k = RandomKeys(7);
  ASSERT_TRUE(store->ImportRights({MakeRights(k)}, &err));
  spc::daemon::StkmProcessor p(*store, spc::daemon::Settings{});
  StkmSpec s;
  s.tek = RandomKey();
  s.timestamp = 1000;
  auto stkm = MakeStkm(k, s);
  auto a = p.Process(stkm, k.base_cid, spc::daemon::Purpose::kPlay, 1000);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->current.key, s.tek);
  auto b = p.Process(stkm, k.base_cid, spc::daemon::Purpose::kPlay, 1001);
  ASSERT_TRUE(b);
  EXPECT_EQ(p.counters().cached, 1u);
  // Another purpose is another request: not from the cache.
  ASSERT_TRUE(p.Process(stkm, k.base_cid, spc::daemon::Purpose::kRecord, 1001));
  EXPECT_EQ(p.counters().cached, 1u);
  s.timestamp = 2000;
  ASSERT_TRUE(p.Process(MakeStkm(k, s), k.base_cid, spc::daemon::Purpose::kPlay, 2000));
  auto replay = p.Process(stkm, k.base_cid, spc::daemon::Purpose::kPlay, 2000);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, spc::daemon::Code::kReplay);
  EXPECT_EQ(store->NewestTimestamp(k.content_id(), &err), 2000);
  EXPECT_EQ(p.counters().processed, 5u);
  EXPECT_EQ(p.counters().rejected, 1u);
}

}  // namespace
}  // namespace spcd_test
