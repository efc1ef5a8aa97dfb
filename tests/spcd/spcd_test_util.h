// Test harness for spcd: a private dbus-daemon, a real spcd process on it, STKM and key-file
// builders. Synchronisation is on events only (bus name owner changes, process exit).
#pragma once

#include <gio/gio.h>
#include <openssl/rand.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "spc/libspc/hex.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

namespace spcd_test {

inline constexpr char kName[] = "org.openbcast.SPC1";
inline constexpr char kPath[] = "/org/openbcast/SPC1";
inline constexpr char kIface[] = "org.openbcast.SPC1";

std::string EnvOr(const char* name, const char* fallback);
inline std::string SpcdPath() { return EnvOr("SPCD", "spcd"); }
inline std::string SpcctlPath() { return EnvOr("SPCCTL", "spcctl"); }

// A fresh folder under the test tmp dir, removed at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// dbus-daemon --nofork --print-address with a permissive session-type config (plus `include`, a
// policy file to check that it parses).
class PrivateBus {
 public:
  explicit PrivateBus(const std::string& dir, const std::string& include = {});
  ~PrivateBus();
  bool ok() const { return conn_ != nullptr; }
  const std::string& address() const { return address_; }
  GDBusConnection* conn() const { return conn_; }
  // A new connection of its own (for a client that must not share the test's).
  GDBusConnection* NewConnection() const;

 private:
  GSubprocess* proc_ = nullptr;
  GDBusConnection* conn_ = nullptr;
  std::string address_;
};

// Waits until `name` has (owned=true) or has not an owner on `conn`, at most timeout_ms; when
// `proc` is given, also returns (false) as soon as that process exits.
bool WaitForName(GDBusConnection* conn, const char* name, bool owned, int timeout_ms,
                 GSubprocess* proc = nullptr);

// Waits for `proc` to exit (at most timeout_ms); returns its exit status or -1.
int WaitForExit(GSubprocess* proc, int timeout_ms);

class Spcd {
 public:
  Spcd(const PrivateBus& bus, std::string store, std::string log,
       std::vector<std::string> args = {});
  ~Spcd();
  // Spawns spcd and waits for it to own the name.
  bool Start();
  void Kill();  // SIGKILL, waits for the exit
  bool Stop();  // SIGTERM, waits for a clean exit (status 0)
  GSubprocess* proc() const { return proc_; }

 private:
  const PrivateBus& bus_;
  std::string store_, log_;
  std::vector<std::string> args_;
  GSubprocess* proc_ = nullptr;
};

struct ServiceKeys {
  spc::Key128 sek{};
  spc::Key128 sak{};
  std::uint32_t key_domain = 0x0a0b0c;
  std::string base_cid = "urn:openbcast:svc:news:";
  std::uint32_t extension = 0x2a;
  bool programme = false;
  std::string content_id() const { return spc::ContentId(base_cid, extension); }
};

ServiceKeys RandomKeys(std::uint32_t extension, bool programme = false);
spc::Key128 RandomKey();

// Key-file group for `k` with extra lines ("not-after=...", "record=false").
std::string KeyFileGroup(const ServiceKeys& k, const std::vector<std::string>& extra = {});

struct StkmSpec {
  std::uint16_t tek_id = 0x1234;
  spc::Key128 tek{};
  std::optional<std::int64_t> timestamp;
  std::optional<spc::MasterSalt> salt;
  std::uint8_t protection_after_reception = 0;
  std::optional<std::uint8_t> parental_rating;
  std::optional<std::uint16_t> next_id;
  spc::Key128 next_tek{};
  std::uint16_t lifetime = 30;
  std::uint8_t protocol = 1;
};

// An STKM for `k` (MAC with `mac_key` when given, else k.sak).
std::vector<std::uint8_t> MakeStkm(const ServiceKeys& k, const StkmSpec& spec,
                                   const spc::Key128* mac_key = nullptr);

std::int64_t Now();
std::string ReadFileOrEmpty(const std::string& path);
std::string Hex(std::span<const std::uint8_t> b);
std::string HexUpper(std::span<const std::uint8_t> b);

// Runs a command, stdout+stderr merged into `output`; returns the exit status.
int RunCommand(const std::vector<std::string>& argv, std::string* output,
        const std::vector<std::pair<std::string, std::string>>& env = {});

}  // namespace spcd_test
