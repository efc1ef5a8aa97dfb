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

inline constexpr int kSchemaVersion = 2;

// Schema history (append-only migrations in key_store.cc):
//   v1  rights (LTKM entries without their origin), replay_state (newest STKM timestamp).
//   v2  rights gains the LTKM origin: ro_id, issuer (RI ID, hex), ro_timestamp.
//       ri_contexts: one row per Rights Issuer the device is (or was) registered with, whatever
//         the carrier: source 'bcro' (broadcast device_registration_response), 'roap' (ROAP
//         4-pass registration), 'import' (provisioned). Holds the RI's public data (URL,
//         certificate chain, validity, OCSP response) and, for broadcast registrations, the
//         registration material K_MAC / K_DEV (secret: this file is 0600 and nothing of it goes on
//         D-Bus or into a log). status 'registered', or 'revoked' / 'unknown-device' after a
//         verified response saying so: the row stays (without keys) so the terminal can say why
//         it has no rights any more.
//       group_keys: broadcast group keys per (RI, group, generation), cascade-deleted with the RI.
//       ro_installs: every RO/BCRO ID installed per issuer with its timestamp, so that the same
//         RO ID is installed again only with a newer timestamp (ltkm.md); ROAP ROs use it too.
//
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
  std::string source = "import";  // "import" | "bcro" | "roap"
  // The LTKM this row came from (empty / 0 for a key file): RO ID, issuer's RI ID (lowercase
  // hex of the SHA-1) and the RO's timestamp.
  std::string ro_id;
  std::string issuer;
  std::int64_t ro_timestamp = 0;

  Rights() = default;
  Rights(const Rights&) = default;
  Rights& operator=(const Rights&) = default;
  // Key bytes do not outlive the row.
  ~Rights();
};

// A Rights Issuer context (public part). `ri_id` is the lowercase hex SHA-1 of the RI
// certificate's SubjectPublicKeyInfo.
struct RiContext {
  std::string ri_id;
  std::string source = "bcro";                          // "bcro" | "roap" | "import"
  std::string url;                                      // RI URL (ROAP); empty for broadcast
  std::vector<std::vector<std::uint8_t>> certificates;  // DER, leaf first
  std::string device_id;                                // hex: the device this registration is for
  std::int64_t timestamp = 0;               // of the registration message (newer replaces older)
  std::int64_t not_after = 0;               // end of the registration, 0 = no limit
  std::string status = "registered";        // "registered" | "revoked" | "unknown-device"
  std::vector<std::uint8_t> ocsp_response;  // DER, empty when none
  std::int64_t ocsp_checked_at = 0;
  std::int64_t updated_at = 0;  // set by the store
};

struct StoredGroupKey {
  std::uint32_t group_id = 0;
  std::uint16_t key_generation = 0;
  Key128 key{};
};

// An RI context with its secrets. Wiped on destruction.
struct Registration {
  RiContext context;
  bool has_device_keys = false;  // K_MAC / K_DEV present (broadcast registration)
  Key128 k_mac{};
  Key128 k_dev{};
  std::vector<StoredGroupKey> groups;

  Registration() = default;
  Registration(const Registration&) = default;
  Registration& operator=(const Registration&) = default;
  ~Registration();
};

enum class InstallOutcome {
  kInstalled,  // new RO ID, or a newer timestamp for a known one
  kRepeat,     // this RO ID with this timestamp is already installed: nothing written
  kReplay,     // this RO ID was installed with a newer timestamp: nothing written
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
  // Raises the stored value to `timestamp` (never lowers it). Written with synchronous=NORMAL:
  // survives a crash of the process, a power cut may take back the last seconds of marks (rights
  // writes stay FULL; see key_store.cc).
  bool RaiseNewestTimestamp(std::string_view service, std::int64_t timestamp, StoreError* error);

  // ---- v2: RI contexts, registration material, LTKM installation ----

  // Replaces the RI context, its registration material and its group keys (all or nothing).
  bool PutRegistration(const Registration& registration, StoreError* error);
  // The context with its secrets; nullopt when absent (error set on failure only).
  std::optional<Registration> FindRegistration(std::string_view ri_id, StoreError* error) const;
  // Every RI context, without secrets, ordered by RI ID.
  std::vector<RiContext> ListRiContexts(StoreError* error) const;
  // A verified "device revoked" / "unknown device" response: in one transaction the context
  // keeps its row with `status` and `timestamp` but loses K_MAC, K_DEV and its group keys, and
  // every rights row issued by that RI and its RO IDs are deleted. Returns the content IDs removed.
  bool WithdrawRegistration(std::string_view ri_id, std::string_view status, std::int64_t timestamp,
                            std::vector<std::string>* removed, StoreError* error);

  // Installs one LTKM entry (rights.ro_id / issuer / ro_timestamp set): checks the RO ID against
  // what the issuer already installed, then writes the rights row and the RO ID, one transaction.
  bool InstallLtkm(const Rights& rights, InstallOutcome* outcome, StoreError* error);
  // The entries of one LTKM message (a ROAP roResponse may carry several ROs): each checked and
  // written as InstallLtkm does, all in one transaction, so a crash leaves all of them or none.
  // `outcomes` gets one outcome per entry, in order.
  bool InstallLtkms(const std::vector<Rights>& rights, std::vector<InstallOutcome>* outcomes,
                    StoreError* error);

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
