// Crash safety: spcd is killed with SIGKILL at random points while a client imports keys and sends
// STKMs, 50 rounds. After each kill the key store passes PRAGMA integrity_check, holds every
// import that had been acknowledged, and holds every import whole or not at all.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "spcd_test_util.h"

namespace spcd_test {
namespace {

constexpr int kRounds = 50;
constexpr int kGroupsPerImport = 3;

struct Loader {
  std::mutex m;
  std::condition_variable cv;
  std::set<std::string> acked;                    // content IDs whose ImportKeys answered
  int acked_imports = 0;                          // in this round
  std::vector<std::vector<std::string>> batches;  // every import sent, acknowledged or not
};

std::vector<std::string> StoredContentIds(const std::string& path, std::string* integrity) {
  std::vector<std::string> ids;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    *integrity = "cannot open";
    sqlite3_close(db);
    return ids;
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
  *integrity = "";
  while (sqlite3_step(st) == SQLITE_ROW) {
    *integrity += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "SELECT content_id FROM rights", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    ids.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return ids;
}

TEST(SpcdCrashTest, SigkillDuringImportsAndStkms) {
  TempDir dir;
  PrivateBus bus(dir.path());
  ASSERT_TRUE(bus.ok());
  std::string store = dir.File("spc.db");
  Spcd spcd(bus, store, dir.File("spcd.log"));
  std::mt19937 rng(std::random_device{}());
  Loader loader;
  int next_id = 0;
  std::vector<ServiceKeys> imported_keys;

  for (int round = 0; round < kRounds; ++round) {
    ASSERT_TRUE(spcd.Start()) << "round " << round;
    int wait_for = std::uniform_int_distribution<int>(0, 4)(rng);
    {
      std::lock_guard l(loader.m);
      loader.acked_imports = 0;
    }
    std::atomic<bool> stop{false};
    std::thread client([&] {
      GDBusConnection* c = bus.conn();
      while (!stop) {
        // One import of kGroupsPerImport new groups...
        std::string text;
        std::vector<std::string> batch;
        std::vector<ServiceKeys> keys;
        for (int g = 0; g < kGroupsPerImport; ++g) {
          ServiceKeys k = RandomKeys(static_cast<std::uint32_t>(next_id++));
          text += KeyFileGroup(k);
          batch.push_back(k.content_id());
          keys.push_back(k);
        }
        {
          std::lock_guard l(loader.m);
          loader.batches.push_back(batch);
        }
        g_autoptr(GError) err = nullptr;
        GVariant* r = g_dbus_connection_call_sync(
            c, kName, kPath, kIface, "ImportKeys", g_variant_new("(s)", text.c_str()), nullptr,
            G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, nullptr, &err);
        if (!r) break;  // spcd killed
        g_variant_unref(r);
        {
          std::lock_guard l(loader.m);
          for (auto& id : batch) loader.acked.insert(id);
          ++loader.acked_imports;
          loader.cv.notify_all();
        }
        // ...then STKMs with fresh timestamps (replay-state writes).
        for (const auto& k : keys) {
          StkmSpec s;
          s.tek = RandomKey();
          s.timestamp = Now();
          auto stkm = MakeStkm(k, s);
          GVariant* bytes =
              g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, stkm.data(), stkm.size(), 1);
          GVariant* pr = g_dbus_connection_call_sync(
              c, kName, kPath, kIface, "ProcessStkm",
              g_variant_new("(@ays)", bytes, k.base_cid.c_str()), nullptr,
              G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, nullptr, nullptr);
          if (!pr) return;
          g_variant_unref(pr);
        }
      }
    });
    {
      std::unique_lock l(loader.m);
      ASSERT_TRUE(loader.cv.wait_for(l, std::chrono::seconds(60),
                                     [&] { return loader.acked_imports >= wait_for; }));
    }
    // Not synchronisation: a random offset into the next import / STKM so that the kill lands
    // at a different point of spcd's work each round.
    g_usleep(std::uniform_int_distribution<int>(0, 3000)(rng));
    spcd.Kill();
    stop = true;
    client.join();

    std::string integrity;
    auto ids = StoredContentIds(store, &integrity);
    ASSERT_EQ(integrity, "ok") << "round " << round;
    std::set<std::string> present(ids.begin(), ids.end());
    std::lock_guard l(loader.m);
    for (const auto& id : loader.acked) {
      ASSERT_TRUE(present.count(id)) << "acknowledged import lost: " << id << " round " << round;
    }
    for (const auto& batch : loader.batches) {
      int n = 0;
      for (const auto& id : batch) n += present.count(id) ? 1 : 0;
      ASSERT_TRUE(n == 0 || n == kGroupsPerImport) << "half an import in round " << round;
    }
  }

  // A last start: spcd opens the store and lists at least every acknowledged import.
  ASSERT_TRUE(spcd.Start());
  g_autoptr(GError) err = nullptr;
  GVariant* r = g_dbus_connection_call_sync(bus.conn(), kName, kPath, kIface, "Status", nullptr,
                                            nullptr, G_DBUS_CALL_FLAGS_NONE, 10000, nullptr, &err);
  ASSERT_TRUE(r);
  GVariant* dict = g_variant_get_child_value(r, 0);
  guint32 rights = 0;
  ASSERT_TRUE(g_variant_lookup(dict, "rights", "u", &rights));
  EXPECT_GE(rights, loader.acked.size());
  EXPECT_GT(loader.acked.size(), 0u);
  g_variant_unref(dict);
  g_variant_unref(r);
  EXPECT_TRUE(spcd.Stop());
}

}  // namespace
}  // namespace spcd_test
