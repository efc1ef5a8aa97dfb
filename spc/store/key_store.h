// The SP-C key store: one SQLite file (mode 0600, WAL, synchronous=FULL) holding the long-term keys
// (rights) and the replay state that spcd needs across restarts. Every change is one transaction,
// so after a crash the file holds either the old or the new state (ltkm.md, "What the key store
// keeps").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spc/libspc/keys.h"

struct sqlite3;

namespace spc::store {

inline constexpr int kSchemaVersion = 1;

// One rights row: the long-term key pair of a service (SEK/SAK) or programme (PEK/PAK) with its
// validity and permissions. `not_before` / `not_after` are seconds since 1970 UTC; 0 means "no
// limit" on that side.
struct Rights {
  std::string content_id;
  LongTermKey key;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  bool play = true;
  bool record = true;
  std::string source = "import";

  Rights() = default;
  Rights(const Rights&) = default;
  Rights& operator=(const Rights&) = default;
  // Key bytes do not outlive the row.
  ~Rights();
};

// Error text from SQLite or the file system; never contains key bytes.
struct StoreError {
  std::string message;
};

class KeyStore {
 public:
  // Opens (creating when absent) the store at `path`, applies the pending migrations and forces the
  // file mode to 0600 whatever the umask. The parent folder must exist.
  static std::unique_ptr<KeyStore> Open(const std::string& path, StoreError* error);

  // Only Open() can make one (the token is private).
  struct Token {
   private:
    Token() = default;
    friend class KeyStore;
  };
  KeyStore(Token, sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  const std::string& path() const { return path_; }

  // Inserts or replaces every row in one transaction: all or nothing. Returns only after COMMIT.
  bool ImportRights(const std::vector<Rights>& rights, StoreError* error);

  // The rights of `content_id`, if any (any key domain: the caller compares the key domain).
  std::optional<Rights> Find(std::string_view content_id, StoreError* error) const;

  // Every rights row, ordered by content ID.
  std::vector<Rights> List(StoreError* error) const;
  std::int64_t CountRights(StoreError* error) const;

  // Newest STKM timestamp accepted for `service` (the content ID of its rights); 0 when none.
  std::int64_t NewestTimestamp(std::string_view service, StoreError* error) const;
  // Raises the stored value to `timestamp` (never lowers it).
  bool RaiseNewestTimestamp(std::string_view service, std::int64_t timestamp, StoreError* error);

  int schema_version() const { return schema_version_; }

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  bool Migrate(StoreError* error);

  std::unique_ptr<sqlite3, DbCloser> db_;
  std::string path_;
  int schema_version_ = 0;
};

}  // namespace spc::store
