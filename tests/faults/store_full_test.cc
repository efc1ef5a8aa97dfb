// Disk full under the key store: the real spcd on a private bus with its store on a 256 KiB tmpfs
// imports key files until the file system is full. The import that does not fit fails with
// org.openbcast.SPC1.Error.Failed naming the store and the lack of space, and changes nothing;
// every acknowledged right stays listed and keeps serving ProcessStkm (whose replay-state write
// cannot be persisted any more); a restart finds a store that passes PRAGMA integrity_check; once
// the file system has room again the refused import goes through without a restart.
// Needs CAP_SYS_ADMIN for the mount (root in the CI container): skipped, with the reason,
// otherwise.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>

#include "tests/spcd/spcd_test_util.h"

namespace spcd_test {
namespace {

constexpr char kSmallSize[] = "size=256k,mode=0700";
constexpr int kGroupsPerImport = 4;
constexpr int kMaxImports = 2000;  // 256 KiB hold far fewer: the loop must end on a full disk

struct VariantUnref {
  void operator()(GVariant* v) const {
    if (v) g_variant_unref(v);
  }
};
using VariantPtr = std::unique_ptr<GVariant, VariantUnref>;

VariantPtr Call(GDBusConnection* c, const char* method, GVariant* params, GError** err) {
  return VariantPtr(g_dbus_connection_call_sync(c, kName, kPath, kIface, method, params, nullptr,
                                                G_DBUS_CALL_FLAGS_NO_AUTO_START, 20000, nullptr,
                                                err));
}

std::string ErrorName(GError* err) {
  if (!err) return "";
  g_autofree gchar* n = g_dbus_error_get_remote_error(err);
  return n ? n : std::string("(local) ") + err->message;
}

// A tmpfs of its own, detached on destruction (before the TempDir holding it is removed).
class Tmpfs {
 public:
  explicit Tmpfs(std::string dir) : dir_(std::move(dir)) {
    if (::mkdir(dir_.c_str(), 0700) != 0) {
      error_ = "mkdir " + dir_ + ": " + std::strerror(errno);
    } else if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                       kSmallSize) != 0) {
      error_ =
          "mount -t tmpfs -o " + std::string(kSmallSize) + " " + dir_ + ": " + std::strerror(errno);
    } else {
      mounted_ = true;
    }
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool Resize(const char* size) {
    std::string opts = std::string("size=") + size + ",mode=0700";
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   opts.c_str()) == 0;
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  std::string error_;
  bool mounted_ = false;
};

// PRAGMA integrity_check and the stored content IDs, read by SQLite itself (not through spcd).
std::set<std::string> StoredContentIds(const std::string& path, std::string* integrity) {
  std::set<std::string> ids;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    *integrity = std::string("cannot open: ") + sqlite3_errmsg(db);
    sqlite3_close(db);
    return ids;
  }
  sqlite3_stmt* st = nullptr;
  *integrity = "";
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      *integrity += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
  } else {
    *integrity = std::string("prepare: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(db, "SELECT content_id FROM rights", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      ids.emplace(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return ids;
}

class StoreFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    fs_ = std::make_unique<Tmpfs>(dir_.File("store"));
    if (!fs_->mounted()) {
      GTEST_SKIP() << "no size-limited file system for the key store (" << fs_->error()
                   << "): this test needs root or CAP_SYS_ADMIN to mount a tmpfs";
    }
    bus_ = std::make_unique<PrivateBus>(dir_.path());
    ASSERT_TRUE(bus_->ok());
    // The log stays outside the small file system: only the store runs out of space.
    spcd_ = std::make_unique<Spcd>(*bus_, store(), dir_.File("spcd.log"));
    ASSERT_TRUE(spcd_->Start());
  }
  void TearDown() override {
    spcd_.reset();
    bus_.reset();
    fs_.reset();
  }

  std::string store() const { return dir_.File("store") + "/spc.db"; }
  GDBusConnection* c() const { return bus_->conn(); }

  // ImportKeys of `keys`; "" on success, else the error name (message in *message).
  std::string Import(const std::vector<ServiceKeys>& keys, std::string* message) {
    std::string text;
    for (const auto& k : keys) text += KeyFileGroup(k);
    g_autoptr(GError) err = nullptr;
    auto r = Call(c(), "ImportKeys", g_variant_new("(s)", text.c_str()), &err);
    if (r) {
      guint n = 0;
      g_variant_get(r.get(), "(u)", &n);
      EXPECT_EQ(n, keys.size());
      return "";
    }
    std::string name = ErrorName(err);
    g_dbus_error_strip_remote_error(err);
    if (message) *message = err->message;
    return name;
  }

  std::set<std::string> ListRights() {
    std::set<std::string> ids;
    g_autoptr(GError) err = nullptr;
    auto r = Call(c(), "ListRights", nullptr, &err);
    EXPECT_TRUE(r) << ErrorName(err);
    if (!r) return ids;
    GVariantIter* it = nullptr;
    g_variant_get(r.get(), "(a(susxxbbs))", &it);
    const gchar *cid, *kind, *source;
    guint32 domain;
    gint64 nb, na;
    gboolean play, record;
    while (g_variant_iter_next(it, "(&su&sxxbb&s)", &cid, &domain, &kind, &nb, &na, &play, &record,
                               &source)) {
      ids.emplace(cid);
    }
    g_variant_iter_free(it);
    return ids;
  }

  // ProcessStkm with a fresh TEK and timestamp for `k`: the TEK must come back.
  void ExpectServed(const ServiceKeys& k, std::int64_t timestamp) {
    StkmSpec s;
    s.tek_id = static_cast<std::uint16_t>(0x100 + (timestamp & 0xff));
    s.tek = RandomKey();
    s.timestamp = timestamp;
    auto stkm = MakeStkm(k, s);
    GVariant* bytes = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, stkm.data(), stkm.size(), 1);
    g_autoptr(GError) err = nullptr;
    auto r = Call(c(), "ProcessStkm", g_variant_new("(@ays)", bytes, k.base_cid.c_str()), &err);
    ASSERT_TRUE(r) << k.content_id() << ": " << ErrorName(err) << " " << (err ? err->message : "");
    guint16 id = 0;
    GVariant* tek = nullptr;
    g_variant_get_child(r.get(), 0, "q", &id);
    tek = g_variant_get_child_value(r.get(), 1);
    gsize n = 0;
    const auto* p = static_cast<const std::uint8_t*>(g_variant_get_fixed_array(tek, &n, 1));
    EXPECT_EQ(id, s.tek_id) << k.content_id();
    EXPECT_EQ(std::vector<std::uint8_t>(p, p + n),
              std::vector<std::uint8_t>(s.tek.begin(), s.tek.end()))
        << k.content_id();
    g_variant_unref(tek);
  }

  TempDir dir_;
  std::unique_ptr<Tmpfs> fs_;
  std::unique_ptr<PrivateBus> bus_;
  std::unique_ptr<Spcd> spcd_;
};

TEST_F(StoreFullTest, ImportUntilFullKeepsTheOldStateAndServes) {
  std::vector<ServiceKeys> acked;
  std::vector<ServiceKeys> refused;
  std::string name, message;
  std::uint32_t next = 1;
  for (int i = 0; i < kMaxImports && refused.empty(); ++i) {
    std::vector<ServiceKeys> batch;
    for (int g = 0; g < kGroupsPerImport; ++g) batch.push_back(RandomKeys(next++));
    name = Import(batch, &message);
    if (name.empty()) {
      acked.insert(acked.end(), batch.begin(), batch.end());
    } else {
      refused = batch;
    }
  }
  ASSERT_FALSE(refused.empty()) << "the 256 KiB store never filled up";
  ASSERT_FALSE(acked.empty()) << "the first import already failed: " << name << " " << message;
  std::printf("store full after %zu rights; refused: %s: %s\n", acked.size(), name.c_str(),
              message.c_str());
  EXPECT_EQ(name, "org.openbcast.SPC1.Error.Failed");
  EXPECT_NE(message.find("key store"), std::string::npos) << message;
  EXPECT_NE(message.find(store()), std::string::npos) << message;
  EXPECT_NE(message.find("no space"), std::string::npos) << message;

  // Nothing of the refused import, everything acknowledged before it.
  std::set<std::string> listed = ListRights();
  EXPECT_EQ(listed.size(), acked.size());
  for (const auto& k : acked) EXPECT_TRUE(listed.count(k.content_id())) << k.content_id();
  for (const auto& k : refused) EXPECT_FALSE(listed.count(k.content_id())) << k.content_id();

  // Still serving: the first, a middle and the last right (timestamps: replay-state writes that
  // the full disk refuses; the answers stand).
  const std::int64_t now = Now();
  for (std::size_t i : {std::size_t{0}, acked.size() / 2, acked.size() - 1}) {
    ExpectServed(acked[i], now);
  }
  // And a second import on the full disk fails the same way without harming spcd.
  EXPECT_EQ(Import(refused, &message), "org.openbcast.SPC1.Error.Failed");

  // Restart on the full disk: a sound store with every acknowledged right.
  ASSERT_TRUE(spcd_->Stop()) << ReadFileOrEmpty(dir_.File("spcd.log"));
  std::string integrity;
  std::set<std::string> stored = StoredContentIds(store(), &integrity);
  EXPECT_EQ(integrity, "ok");
  EXPECT_EQ(stored.size(), acked.size());
  for (const auto& k : acked) EXPECT_TRUE(stored.count(k.content_id())) << k.content_id();
  ASSERT_TRUE(spcd_->Start());
  listed = ListRights();
  EXPECT_EQ(listed.size(), acked.size());
  for (const auto& k : acked) EXPECT_TRUE(listed.count(k.content_id())) << k.content_id();
  ExpectServed(acked.front(), now + 1);
  ExpectServed(acked.back(), now + 1);

  // Room again: the refused import goes through, no restart needed.
  ASSERT_TRUE(fs_->Resize("4m")) << std::strerror(errno);
  EXPECT_EQ(Import(refused, &message), "") << message;
  listed = ListRights();
  EXPECT_EQ(listed.size(), acked.size() + refused.size());
  for (const auto& k : refused) EXPECT_TRUE(listed.count(k.content_id())) << k.content_id();
  ExpectServed(refused.front(), now + 2);
  ASSERT_TRUE(spcd_->Stop());
  stored = StoredContentIds(store(), &integrity);
  EXPECT_EQ(integrity, "ok");
  EXPECT_EQ(stored.size(), acked.size() + refused.size());

  // The log names the failures, never a key.
  std::string log = ReadFileOrEmpty(dir_.File("spcd.log"));
  EXPECT_NE(log.find("ImportKeys failed"), std::string::npos);
  for (const auto& k : acked) {
    ASSERT_EQ(log.find(Hex(k.sek)), std::string::npos);
    ASSERT_EQ(log.find(Hex(k.sak)), std::string::npos);
  }
}

}  // namespace
}  // namespace spcd_test
