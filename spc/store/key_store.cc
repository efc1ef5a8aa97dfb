#include "spc/store/key_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <span>
#include <utility>

namespace spc::store {
namespace {

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// SQLite's "database or disk is full" does not say which: on a full file system name the store
// file and the cause, what an operator has to act on.
std::string NoSpaceHint(sqlite3* db) {
  if ((sqlite3_extended_errcode(db) & 0xff) != SQLITE_FULL) return "";
  const char* file = sqlite3_db_filename(db, "main");
  return std::string(" (no space left for the key store ") + (file ? file : "?") + ")";
}

std::string DbError(sqlite3* db, std::string_view what) {
  return std::string(what) + ": " + sqlite3_errmsg(db) + NoSpaceHint(db);
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
    if (error) {
      error->message = std::string("sqlite: ") + (msg ? msg : sqlite3_errmsg(db)) + NoSpaceHint(db);
    }
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
    // v2: LTKM origin, RI contexts with registration material, group keys, installed RO IDs
    // (key_store.h). Designed for every carrier: source 'bcro', 'roap' or 'import'.
    {2,
     "ALTER TABLE rights ADD COLUMN ro_id TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE rights ADD COLUMN issuer TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE rights ADD COLUMN ro_timestamp INTEGER NOT NULL DEFAULT 0;"
     "CREATE INDEX rights_issuer ON rights (issuer);"
     "CREATE TABLE ri_contexts ("
     "  ri_id TEXT PRIMARY KEY NOT NULL CHECK (length(ri_id) = 40),"
     "  source TEXT NOT NULL CHECK (source IN ('bcro', 'roap', 'import')),"
     "  url TEXT NOT NULL DEFAULT '',"
     "  certificate_chain BLOB NOT NULL DEFAULT x'',"
     "  device_id TEXT NOT NULL DEFAULT '',"
     "  timestamp INTEGER NOT NULL DEFAULT 0,"
     "  not_after INTEGER NOT NULL DEFAULT 0,"
     "  status TEXT NOT NULL DEFAULT 'registered'"
     "    CHECK (status IN ('registered', 'revoked', 'unknown-device')),"
     "  k_mac BLOB CHECK (k_mac IS NULL OR length(k_mac) = 16),"
     "  k_dev BLOB CHECK (k_dev IS NULL OR length(k_dev) = 16),"
     "  ocsp_response BLOB NOT NULL DEFAULT x'',"
     "  ocsp_checked_at INTEGER NOT NULL DEFAULT 0,"
     "  updated_at INTEGER NOT NULL"
     ");"
     "CREATE TABLE group_keys ("
     "  ri_id TEXT NOT NULL REFERENCES ri_contexts (ri_id) ON DELETE CASCADE,"
     "  group_id INTEGER NOT NULL,"
     "  key_generation INTEGER NOT NULL,"
     "  group_key BLOB NOT NULL CHECK (length(group_key) = 16),"
     "  PRIMARY KEY (ri_id, group_id, key_generation)"
     ");"
     "CREATE TABLE ro_installs ("
     "  issuer TEXT NOT NULL,"
     "  ro_id TEXT NOT NULL,"
     "  timestamp INTEGER NOT NULL,"
     "  content_id TEXT NOT NULL,"
     "  installed_at INTEGER NOT NULL,"
     "  PRIMARY KEY (issuer, ro_id)"
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
    "play, record, source, ro_id, issuer, ro_timestamp";

std::string ColumnText(sqlite3_stmt* st, int col) {
  const unsigned char* t = sqlite3_column_text(st, col);
  return t ? std::string(reinterpret_cast<const char*>(t),
                         static_cast<std::size_t>(sqlite3_column_bytes(st, col)))
           : std::string();
}

std::vector<std::uint8_t> ColumnBlob(sqlite3_stmt* st, int col) {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(st, col));
  int n = sqlite3_column_bytes(st, col);
  return p && n > 0 ? std::vector<std::uint8_t>(p, p + n) : std::vector<std::uint8_t>();
}

void BindText(sqlite3_stmt* st, int i, std::string_view v) {
  sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void BindBlob(sqlite3_stmt* st, int i, std::span<const std::uint8_t> v) {
  // A zero-length blob, not NULL: the columns are NOT NULL.
  sqlite3_bind_blob(st, i, v.empty() ? "" : static_cast<const void*>(v.data()),
                    static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

// Certificate chain column: each DER certificate preceded by its 32-bit big-endian length.
std::vector<std::uint8_t> EncodeChain(const std::vector<std::vector<std::uint8_t>>& certs) {
  std::vector<std::uint8_t> out;
  for (const auto& c : certs) {
    const auto n = static_cast<std::uint32_t>(c.size());
    out.push_back(static_cast<std::uint8_t>(n >> 24));
    out.push_back(static_cast<std::uint8_t>(n >> 16));
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

std::vector<std::vector<std::uint8_t>> DecodeChain(const std::vector<std::uint8_t>& blob) {
  std::vector<std::vector<std::uint8_t>> out;
  std::size_t i = 0;
  while (i + 4 <= blob.size()) {
    std::size_t n = (std::size_t{blob[i]} << 24) | (std::size_t{blob[i + 1]} << 16) |
                    (std::size_t{blob[i + 2]} << 8) | blob[i + 3];
    i += 4;
    if (n > blob.size() - i) break;
    out.emplace_back(blob.begin() + static_cast<std::ptrdiff_t>(i),
                     blob.begin() + static_cast<std::ptrdiff_t>(i + n));
    i += n;
  }
  return out;
}

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
  r.source = ColumnText(st, 9);
  r.ro_id = ColumnText(st, 10);
  r.issuer = ColumnText(st, 11);
  r.ro_timestamp = sqlite3_column_int64(st, 12);
  return true;
}

bool WriteRights(sqlite3* db, sqlite3_stmt* st, const Rights& r, std::int64_t now,
                 StoreError* error) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  BindText(st, 1, r.content_id);
  sqlite3_bind_int64(st, 2, r.key.key_domain_id);
  sqlite3_bind_text(st, 3, r.key.programme ? "programme" : "service", -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, r.key.encryption_key.data(), 16, SQLITE_TRANSIENT);
  sqlite3_bind_blob(st, 5, r.key.authentication_key.data(), 16, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 6, r.not_before);
  sqlite3_bind_int64(st, 7, r.not_after);
  sqlite3_bind_int(st, 8, r.play ? 1 : 0);
  sqlite3_bind_int(st, 9, r.record ? 1 : 0);
  BindText(st, 10, r.source);
  sqlite3_bind_int64(st, 11, now);
  BindText(st, 12, r.ro_id);
  BindText(st, 13, r.issuer);
  sqlite3_bind_int64(st, 14, r.ro_timestamp);
  if (sqlite3_step(st) != SQLITE_DONE) {
    if (error) error->message = DbError(db, "insert rights " + r.content_id);
    return false;
  }
  return true;
}

constexpr const char* kInsertRights =
    "INSERT OR REPLACE INTO rights (content_id, key_domain_id, kind, encryption_key, "
    "authentication_key, not_before, not_after, play, record, source, updated_at, ro_id, issuer, "
    "ro_timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

constexpr const char* kContextColumns =
    "ri_id, source, url, certificate_chain, device_id, timestamp, not_after, status, "
    "ocsp_response, ocsp_checked_at, updated_at, k_mac, k_dev";

void ReadContext(sqlite3_stmt* st, RiContext& c) {
  c.ri_id = ColumnText(st, 0);
  c.source = ColumnText(st, 1);
  c.url = ColumnText(st, 2);
  c.certificates = DecodeChain(ColumnBlob(st, 3));
  c.device_id = ColumnText(st, 4);
  c.timestamp = sqlite3_column_int64(st, 5);
  c.not_after = sqlite3_column_int64(st, 6);
  c.status = ColumnText(st, 7);
  c.ocsp_response = ColumnBlob(st, 8);
  c.ocsp_checked_at = sqlite3_column_int64(st, 9);
  c.updated_at = sqlite3_column_int64(st, 10);
}

}  // namespace

Registration::~Registration() {
  OPENSSL_cleanse(k_mac.data(), k_mac.size());
  OPENSSL_cleanse(k_dev.data(), k_dev.size());
  for (auto& g : groups) OPENSSL_cleanse(g.key.data(), g.key.size());
}

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
  Stmt st = Prepare(db, kInsertRights, error);
  if (!st) return false;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  for (const Rights& r : rights) {
    if (!WriteRights(db, st.get(), r, now, error)) return false;
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
  // The replay mark is written with synchronous=NORMAL, everything else with FULL. In WAL mode
  // NORMAL still puts the commit into the WAL before returning, so a crash or SIGKILL of spcd loses
  // nothing; only a power cut can take back the marks written since the last fsync (the next FULL
  // commit or checkpoint), i.e. seconds of STKM timestamps, which the replay tolerance (60 s by
  // default) already accepts. Rights keep FULL: an acknowledged import is on the disk. Without
  // this, every fresh STKM that raises the mark waited for an fsync (the p99 of ProcessStkm).
  // The connection is used by one thread (spcd's main loop), so no FULL commit runs in between.
  if (!Exec(db_.get(), "PRAGMA synchronous=NORMAL", error)) return false;
  struct RestoreFull {
    sqlite3* db;
    ~RestoreFull() { Exec(db, "PRAGMA synchronous=FULL", nullptr); }
  } restore{db_.get()};
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

bool KeyStore::PutRegistration(const Registration& reg, StoreError* error) {
  sqlite3* db = db_.get();
  Transaction tx(db, error);
  if (!tx.ok()) return false;
  const RiContext& c = reg.context;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  {
    // Not INSERT OR REPLACE: that would delete the row first and cascade to the group keys of
    // a concurrent reader's view; an upsert keeps the row identity.
    Stmt st = Prepare(db,
                      "INSERT INTO ri_contexts (ri_id, source, url, certificate_chain, device_id, "
                      "timestamp, not_after, status, ocsp_response, ocsp_checked_at, updated_at, "
                      "k_mac, k_dev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                      "?13) ON CONFLICT(ri_id) DO UPDATE SET source = excluded.source, url = "
                      "excluded.url, certificate_chain = excluded.certificate_chain, device_id = "
                      "excluded.device_id, timestamp = excluded.timestamp, not_after = "
                      "excluded.not_after, status = excluded.status, ocsp_response = "
                      "excluded.ocsp_response, ocsp_checked_at = excluded.ocsp_checked_at, "
                      "updated_at = excluded.updated_at, k_mac = excluded.k_mac, k_dev = "
                      "excluded.k_dev",
                      error);
    if (!st) return false;
    BindText(st.get(), 1, c.ri_id);
    BindText(st.get(), 2, c.source);
    BindText(st.get(), 3, c.url);
    BindBlob(st.get(), 4, EncodeChain(c.certificates));
    BindText(st.get(), 5, c.device_id);
    sqlite3_bind_int64(st.get(), 6, c.timestamp);
    sqlite3_bind_int64(st.get(), 7, c.not_after);
    BindText(st.get(), 8, c.status);
    BindBlob(st.get(), 9, c.ocsp_response);
    sqlite3_bind_int64(st.get(), 10, c.ocsp_checked_at);
    sqlite3_bind_int64(st.get(), 11, now);
    if (reg.has_device_keys) {
      sqlite3_bind_blob(st.get(), 12, reg.k_mac.data(), 16, SQLITE_TRANSIENT);
      sqlite3_bind_blob(st.get(), 13, reg.k_dev.data(), 16, SQLITE_TRANSIENT);
    }
    if (sqlite3_step(st.get()) != SQLITE_DONE) {
      if (error) error->message = DbError(db, "write RI context " + c.ri_id);
      return false;
    }
  }
  {
    // The registration's group keys replace the old ones: a generation the new response no
    // longer lists is gone (revocation by re-keying).
    Stmt del = Prepare(db, "DELETE FROM group_keys WHERE ri_id = ?1", error);
    if (!del) return false;
    BindText(del.get(), 1, c.ri_id);
    if (sqlite3_step(del.get()) != SQLITE_DONE) {
      if (error) error->message = DbError(db, "delete group keys");
      return false;
    }
    Stmt ins = Prepare(db,
                       "INSERT INTO group_keys (ri_id, group_id, key_generation, group_key) "
                       "VALUES (?1, ?2, ?3, ?4)",
                       error);
    if (!ins) return false;
    for (const StoredGroupKey& g : reg.groups) {
      sqlite3_reset(ins.get());
      BindText(ins.get(), 1, c.ri_id);
      sqlite3_bind_int64(ins.get(), 2, g.group_id);
      sqlite3_bind_int(ins.get(), 3, g.key_generation);
      sqlite3_bind_blob(ins.get(), 4, g.key.data(), 16, SQLITE_TRANSIENT);
      if (sqlite3_step(ins.get()) != SQLITE_DONE) {
        if (error) error->message = DbError(db, "write group key");
        return false;
      }
    }
  }
  return tx.Commit(error);
}

std::optional<Registration> KeyStore::FindRegistration(std::string_view ri_id,
                                                       StoreError* error) const {
  sqlite3* db = db_.get();
  std::string sql = std::string("SELECT ") + kContextColumns + " FROM ri_contexts WHERE ri_id = ?1";
  Stmt st = Prepare(db, sql.c_str(), error);
  if (!st) return std::nullopt;
  BindText(st.get(), 1, ri_id);
  if (sqlite3_step(st.get()) != SQLITE_ROW) return std::nullopt;
  Registration reg;
  ReadContext(st.get(), reg.context);
  reg.has_device_keys = ReadKey(st.get(), 11, reg.k_mac) && ReadKey(st.get(), 12, reg.k_dev);
  Stmt g = Prepare(db,
                   "SELECT group_id, key_generation, group_key FROM group_keys WHERE ri_id = ?1 "
                   "ORDER BY group_id, key_generation",
                   error);
  if (!g) return std::nullopt;
  BindText(g.get(), 1, ri_id);
  while (sqlite3_step(g.get()) == SQLITE_ROW) {
    StoredGroupKey k;
    k.group_id = static_cast<std::uint32_t>(sqlite3_column_int64(g.get(), 0));
    k.key_generation = static_cast<std::uint16_t>(sqlite3_column_int(g.get(), 1));
    if (!ReadKey(g.get(), 2, k.key)) continue;
    reg.groups.push_back(k);
    OPENSSL_cleanse(k.key.data(), k.key.size());
  }
  return reg;
}

std::vector<RiContext> KeyStore::ListRiContexts(StoreError* error) const {
  std::vector<RiContext> out;
  std::string sql = std::string("SELECT ") + kContextColumns + " FROM ri_contexts ORDER BY ri_id";
  Stmt st = Prepare(db_.get(), sql.c_str(), error);
  if (!st) return out;
  while (sqlite3_step(st.get()) == SQLITE_ROW) {
    RiContext c;
    ReadContext(st.get(), c);
    out.push_back(std::move(c));
  }
  return out;
}

bool KeyStore::WithdrawRegistration(std::string_view ri_id, std::string_view status,
                                    std::int64_t timestamp, std::vector<std::string>* removed,
                                    StoreError* error) {
  sqlite3* db = db_.get();
  Transaction tx(db, error);
  if (!tx.ok()) return false;
  std::vector<std::string> cids;
  {
    Stmt st =
        Prepare(db, "SELECT content_id FROM rights WHERE issuer = ?1 ORDER BY content_id", error);
    if (!st) return false;
    BindText(st.get(), 1, ri_id);
    while (sqlite3_step(st.get()) == SQLITE_ROW) cids.push_back(ColumnText(st.get(), 0));
  }
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  struct Step {
    const char* sql;
    bool with_status;
  };
  const Step steps[] = {
      {"DELETE FROM rights WHERE issuer = ?1", false},
      {"DELETE FROM ro_installs WHERE issuer = ?1", false},
      {"DELETE FROM group_keys WHERE ri_id = ?1", false},
      {"UPDATE ri_contexts SET status = ?2, timestamp = max(timestamp, ?3), k_mac = NULL, "
       "k_dev = NULL, updated_at = ?4 WHERE ri_id = ?1",
       true},
  };
  for (const Step& step : steps) {
    Stmt st = Prepare(db, step.sql, error);
    if (!st) return false;
    BindText(st.get(), 1, ri_id);
    if (step.with_status) {
      BindText(st.get(), 2, status);
      sqlite3_bind_int64(st.get(), 3, timestamp);
      sqlite3_bind_int64(st.get(), 4, now);
    }
    if (sqlite3_step(st.get()) != SQLITE_DONE) {
      if (error) error->message = DbError(db, "withdraw registration");
      return false;
    }
  }
  if (!tx.Commit(error)) return false;
  if (removed) *removed = std::move(cids);
  return true;
}

namespace {

// One LTKM entry inside the caller's transaction (KeyStore::InstallLtkms).
bool InstallOneLtkm(sqlite3* db, const Rights& rights, std::int64_t now, InstallOutcome* outcome,
                    StoreError* error) {
  {
    Stmt st =
        Prepare(db, "SELECT timestamp FROM ro_installs WHERE issuer = ?1 AND ro_id = ?2", error);
    if (!st) return false;
    BindText(st.get(), 1, rights.issuer);
    BindText(st.get(), 2, rights.ro_id);
    if (sqlite3_step(st.get()) == SQLITE_ROW) {
      std::int64_t installed = sqlite3_column_int64(st.get(), 0);
      if (rights.ro_timestamp <= installed) {
        *outcome =
            rights.ro_timestamp == installed ? InstallOutcome::kRepeat : InstallOutcome::kReplay;
        return true;  // nothing written for this entry
      }
    }
  }
  {
    Stmt st = Prepare(db, kInsertRights, error);
    if (!st || !WriteRights(db, st.get(), rights, now, error)) return false;
  }
  {
    Stmt st = Prepare(db,
                      "INSERT OR REPLACE INTO ro_installs (issuer, ro_id, timestamp, content_id, "
                      "installed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                      error);
    if (!st) return false;
    BindText(st.get(), 1, rights.issuer);
    BindText(st.get(), 2, rights.ro_id);
    sqlite3_bind_int64(st.get(), 3, rights.ro_timestamp);
    BindText(st.get(), 4, rights.content_id);
    sqlite3_bind_int64(st.get(), 5, now);
    if (sqlite3_step(st.get()) != SQLITE_DONE) {
      if (error) error->message = DbError(db, "write RO ID");
      return false;
    }
  }
  *outcome = InstallOutcome::kInstalled;
  return true;
}

}  // namespace

bool KeyStore::InstallLtkm(const Rights& rights, InstallOutcome* outcome, StoreError* error) {
  std::vector<InstallOutcome> outcomes;
  if (!InstallLtkms({rights}, &outcomes, error)) return false;
  *outcome = outcomes.front();
  return true;
}

bool KeyStore::InstallLtkms(const std::vector<Rights>& rights,
                            std::vector<InstallOutcome>* outcomes, StoreError* error) {
  sqlite3* db = db_.get();
  Transaction tx(db, error);
  if (!tx.ok()) return false;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  std::vector<InstallOutcome> out(rights.size(), InstallOutcome::kRepeat);
  bool written = false;
  for (std::size_t i = 0; i < rights.size(); ++i) {
    if (!InstallOneLtkm(db, rights[i], now, &out[i], error)) return false;
    written = written || out[i] == InstallOutcome::kInstalled;
  }
  // Nothing written: the transaction rolls back (no commit, no fsync).
  if (written && !tx.Commit(error)) return false;
  *outcomes = std::move(out);
  return true;
}

}  // namespace spc::store
