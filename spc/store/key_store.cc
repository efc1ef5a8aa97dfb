#include "spc/store/key_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

namespace spc::store {
namespace {

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

std::string DbError(sqlite3* db, std::string_view what) {
  return std::string(what) + ": " + sqlite3_errmsg(db);
}

Stmt Prepare(sqlite3* db, const char* sql, StoreError* error) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    if (error) error->message = DbError(db, "prepare");
    sqlite3_finalize(raw);
    return nullptr;
  }
  return Stmt(raw);
}

bool Exec(sqlite3* db, const char* sql, StoreError* error) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    if (error) error->message = std::string("sqlite: ") + (msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return false;
  }
  return true;
}

// Rolls back unless Commit() succeeded, so that every early return leaves the old state.
class Transaction {
 public:
  Transaction(sqlite3* db, StoreError* error) : db_(db) {
    // IMMEDIATE takes the write lock now: a second writer waits (busy_timeout) instead of failing
    // half-way through.
    open_ = Exec(db_, "BEGIN IMMEDIATE", error);
  }
  ~Transaction() {
    if (open_) Exec(db_, "ROLLBACK", nullptr);
  }
  bool ok() const { return open_; }
  bool Commit(StoreError* error) {
    if (!Exec(db_, "COMMIT", error)) return false;
    open_ = false;
    return true;
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

struct Migration {
  int version;
  const char* sql;
};

// Append-only: a released migration is never edited, a schema change is a new entry.
constexpr Migration kMigrations[] = {
    {1,
     "CREATE TABLE rights ("
     "  content_id TEXT PRIMARY KEY NOT NULL,"
     "  key_domain_id INTEGER NOT NULL,"
     "  kind TEXT NOT NULL CHECK (kind IN ('service', 'programme')),"
     "  encryption_key BLOB NOT NULL CHECK (length(encryption_key) = 16),"
     "  authentication_key BLOB NOT NULL CHECK (length(authentication_key) = 16),"
     "  not_before INTEGER NOT NULL DEFAULT 0,"
     "  not_after INTEGER NOT NULL DEFAULT 0,"
     "  play INTEGER NOT NULL DEFAULT 1,"
     "  record INTEGER NOT NULL DEFAULT 1,"
     "  source TEXT NOT NULL DEFAULT 'import',"
     "  updated_at INTEGER NOT NULL"
     ");"
     "CREATE TABLE replay_state ("
     "  service TEXT PRIMARY KEY NOT NULL,"
     "  newest_timestamp INTEGER NOT NULL"
     ");"},
};

bool ReadKey(sqlite3_stmt* st, int col, Key128& out) {
  const void* blob = sqlite3_column_blob(st, col);
  if (sqlite3_column_bytes(st, col) != static_cast<int>(out.size()) || blob == nullptr)
    return false;
  std::memcpy(out.data(), blob, out.size());
  return true;
}

constexpr const char* kRightsColumns =
    "content_id, key_domain_id, kind, encryption_key, authentication_key, not_before, not_after, "
    "play, record, source";

bool ReadRights(sqlite3_stmt* st, Rights& r) {
  r.content_id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  r.key.key_domain_id = static_cast<std::uint32_t>(sqlite3_column_int64(st, 1));
  r.key.programme =
      std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(st, 2))) == "programme";
  if (!ReadKey(st, 3, r.key.encryption_key) || !ReadKey(st, 4, r.key.authentication_key)) {
    return false;
  }
  r.not_before = sqlite3_column_int64(st, 5);
  r.not_after = sqlite3_column_int64(st, 6);
  r.play = sqlite3_column_int(st, 7) != 0;
  r.record = sqlite3_column_int(st, 8) != 0;
  const unsigned char* src = sqlite3_column_text(st, 9);
  r.source = src ? reinterpret_cast<const char*>(src) : "";
  return true;
}

}  // namespace

Rights::~Rights() {
  OPENSSL_cleanse(key.encryption_key.data(), key.encryption_key.size());
  OPENSSL_cleanse(key.authentication_key.data(), key.authentication_key.size());
}

void KeyStore::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

std::unique_ptr<KeyStore> KeyStore::Open(const std::string& path, StoreError* error) {
  // Create the file ourselves so that it is 0600 from its first byte, whatever the umask; SQLite
  // gives the -wal and -shm files the mode of the database file.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (error) error->message = "open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  bool mode_ok = ::fchmod(fd, 0600) == 0;
  int saved = errno;
  ::close(fd);
  if (!mode_ok) {
    if (error) error->message = "chmod " + path + ": " + std::strerror(saved);
    return nullptr;
  }

  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
                           nullptr);
  auto store = std::make_unique<KeyStore>(Token{}, raw, path);
  if (rc != SQLITE_OK) {
    if (error) error->message = "sqlite open " + path + ": " + sqlite3_errstr(rc);
    return nullptr;
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);

  // journal_mode answers with the mode in force; anything but "wal" means WAL is unavailable.
  {
    Stmt st = Prepare(raw, "PRAGMA journal_mode=WAL", error);
    if (!st || sqlite3_step(st.get()) != SQLITE_ROW ||
        std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0))) !=
            "wal") {
      if (error) error->message = "cannot switch " + path + " to WAL";
      return nullptr;
    }
  }
  // FULL: a COMMIT has reached the disk before ImportKeys acknowledges it. secure_delete: replaced
  // keys are overwritten in the file, not left in free pages.
  if (!Exec(raw, "PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;",
            error)) {
    return nullptr;
  }
  if (!store->Migrate(error)) return nullptr;
  return store;
}

KeyStore::~KeyStore() = default;

bool KeyStore::Migrate(StoreError* error) {
  sqlite3* db = db_.get();
  Transaction tx(db, error);
  if (!tx.ok()) return false;
  if (!Exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", error)) {
    return false;
  }
  int current = 0;
  {
    Stmt st = Prepare(db, "SELECT max(version) FROM schema_version", error);
    if (!st) return false;
    if (sqlite3_step(st.get()) == SQLITE_ROW) current = sqlite3_column_int(st.get(), 0);
  }
  if (current > kSchemaVersion) {
    if (error) {
      error->message = "key store schema version " + std::to_string(current) +
                       " is newer than this spcd (" + std::to_string(kSchemaVersion) + ")";
    }
    return false;
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current) continue;
    if (!Exec(db, m.sql, error)) return false;
    Stmt st = Prepare(db, "INSERT INTO schema_version (version) VALUES (?1)", error);
    if (!st) return false;
    sqlite3_bind_int(st.get(), 1, m.version);
    if (sqlite3_step(st.get()) != SQLITE_DONE) {
      if (error) error->message = DbError(db, "schema_version");
      return false;
    }
    current = m.version;
  }
  if (!tx.Commit(error)) return false;
  schema_version_ = current;
  return true;
}

bool KeyStore::ImportRights(const std::vector<Rights>& rights, StoreError* error) {
  sqlite3* db = db_.get();
  Transaction tx(db, error);
  if (!tx.ok()) return false;
  Stmt st = Prepare(db,
                    "INSERT OR REPLACE INTO rights (content_id, key_domain_id, kind, "
                    "encryption_key, authentication_key, not_before, not_after, play, record, "
                    "source, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    error);
  if (!st) return false;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  for (const Rights& r : rights) {
    sqlite3_reset(st.get());
    sqlite3_clear_bindings(st.get());
    sqlite3_bind_text(st.get(), 1, r.content_id.data(), static_cast<int>(r.content_id.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(st.get(), 2, r.key.key_domain_id);
    sqlite3_bind_text(st.get(), 3, r.key.programme ? "programme" : "service", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st.get(), 4, r.key.encryption_key.data(), 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st.get(), 5, r.key.authentication_key.data(), 16, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st.get(), 6, r.not_before);
    sqlite3_bind_int64(st.get(), 7, r.not_after);
    sqlite3_bind_int(st.get(), 8, r.play ? 1 : 0);
    sqlite3_bind_int(st.get(), 9, r.record ? 1 : 0);
    sqlite3_bind_text(st.get(), 10, r.source.data(), static_cast<int>(r.source.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(st.get(), 11, now);
    if (sqlite3_step(st.get()) != SQLITE_DONE) {
      if (error) error->message = DbError(db, "insert rights " + r.content_id);
      return false;
    }
  }
  st.reset();
  return tx.Commit(error);
}

std::optional<Rights> KeyStore::Find(std::string_view content_id, StoreError* error) const {
  std::string sql = std::string("SELECT ") + kRightsColumns + " FROM rights WHERE content_id = ?1";
  Stmt st = Prepare(db_.get(), sql.c_str(), error);
  if (!st) return std::nullopt;
  sqlite3_bind_text(st.get(), 1, content_id.data(), static_cast<int>(content_id.size()),
                    SQLITE_TRANSIENT);
  if (sqlite3_step(st.get()) != SQLITE_ROW) return std::nullopt;
  Rights r;
  if (!ReadRights(st.get(), r)) {
    if (error) error->message = "corrupt rights row";
    return std::nullopt;
  }
  return r;
}

std::vector<Rights> KeyStore::List(StoreError* error) const {
  std::vector<Rights> out;
  std::string sql = std::string("SELECT ") + kRightsColumns + " FROM rights ORDER BY content_id";
  Stmt st = Prepare(db_.get(), sql.c_str(), error);
  if (!st) return out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    Rights r;
    if (ReadRights(st.get(), r)) out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE && error) error->message = DbError(db_.get(), "list rights");
  return out;
}

std::int64_t KeyStore::CountRights(StoreError* error) const {
  Stmt st = Prepare(db_.get(), "SELECT count(*) FROM rights", error);
  if (!st || sqlite3_step(st.get()) != SQLITE_ROW) return 0;
  return sqlite3_column_int64(st.get(), 0);
}

std::int64_t KeyStore::NewestTimestamp(std::string_view service, StoreError* error) const {
  Stmt st =
      Prepare(db_.get(), "SELECT newest_timestamp FROM replay_state WHERE service = ?1", error);
  if (!st) return 0;
  sqlite3_bind_text(st.get(), 1, service.data(), static_cast<int>(service.size()),
                    SQLITE_TRANSIENT);
  if (sqlite3_step(st.get()) != SQLITE_ROW) return 0;
  return sqlite3_column_int64(st.get(), 0);
}

bool KeyStore::RaiseNewestTimestamp(std::string_view service, std::int64_t timestamp,
                                    StoreError* error) {
  // A single statement is its own transaction; max() keeps the value monotonic.
  Stmt st = Prepare(db_.get(),
                    "INSERT INTO replay_state (service, newest_timestamp) VALUES (?1, ?2) "
                    "ON CONFLICT(service) DO UPDATE SET newest_timestamp = "
                    "max(newest_timestamp, excluded.newest_timestamp)",
                    error);
  if (!st) return false;
  sqlite3_bind_text(st.get(), 1, service.data(), static_cast<int>(service.size()),
                    SQLITE_TRANSIENT);
  sqlite3_bind_int64(st.get(), 2, timestamp);
  if (sqlite3_step(st.get()) != SQLITE_DONE) {
    if (error) error->message = DbError(db_.get(), "replay state");
    return false;
  }
  return true;
}

}  // namespace spc::store
