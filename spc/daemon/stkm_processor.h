// spcd's STKM processing (stkm.md, rules 1-7) without D-Bus: parse, find the rights, check the MAC
// in constant time, check timestamp / validity / permissions, only then decrypt; repeated
// byte-identical STKMs are answered from a cache without crypto.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spc/daemon/dbus_api.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/result.h"
#include "spc/store/key_store.h"

namespace spc::daemon {

enum class Purpose { kPlay, kRecord };

// The TEK answer. Holds key bytes: wiped on destruction.
struct Answer {
  std::string content_id;
  TrafficKey current;
  std::uint16_t lifetime = 0;
  std::uint8_t protocol = 0;
  bool authenticated = false;
  std::optional<TrafficKey> next;

  Answer() = default;
  Answer(const Answer&) = default;
  Answer& operator=(const Answer&) = default;
  ~Answer();
};

struct Refusal {
  Code code = Code::kFailed;
  std::string message;  // names the field / content ID / reason; never key bytes
  std::string content_id;
};

struct Settings {
  std::uint8_t parental_max_age = 255;  // 255: no limit
  std::int64_t replay_tolerance = 60;   // seconds
  std::size_t cache_entries = 256;
};

struct Counters {
  std::uint64_t processed = 0;  // every request
  std::uint64_t cached = 0;     // answered from the cache
  std::uint64_t rejected = 0;   // every refusal
  std::uint64_t bad_mac = 0;
};

class StkmProcessor {
 public:
  StkmProcessor(store::KeyStore& store, Settings settings) : store_(store), settings_(settings) {}
  ~StkmProcessor();

  // `now`: the terminal's clock (seconds since 1970 UTC).
  Result<Answer, Refusal> Process(std::span<const std::uint8_t> stkm, std::string_view base_cid,
                                  Purpose purpose, std::int64_t now);

  // Rights or settings changed: cached answers may no longer hold.
  void InvalidateCache();
  void set_parental_max_age(std::uint8_t age) {
    settings_.parental_max_age = age;
    InvalidateCache();
  }

  // Writes the in-memory replay marks that are ahead of the store (also done on destruction).
  void PersistReplayMarks();

  // A replay mark is written to the store once it is this many seconds past the stored one.
  static constexpr std::int64_t kReplayPersistStep = 5;

  const Settings& settings() const { return settings_; }
  const Counters& counters() const { return counters_; }

 private:
  struct CacheEntry {
    Answer answer;
    bool has_timestamp = false;
    std::int64_t timestamp = 0;
    std::int64_t not_before = 0;
    std::int64_t not_after = 0;
  };

  Result<Answer, Refusal> ProcessUncached(std::span<const std::uint8_t> stkm,
                                          std::string_view base_cid, Purpose purpose,
                                          std::int64_t now, CacheEntry* entry);
  std::optional<Refusal> CheckTime(const std::string& content_id, bool has_timestamp,
                                   std::int64_t timestamp, std::int64_t not_before,
                                   std::int64_t not_after, std::int64_t now);
  std::int64_t Newest(const std::string& content_id);
  void Accepted(const std::string& content_id, bool has_timestamp, std::int64_t timestamp);

  store::KeyStore& store_;
  Settings settings_;
  Counters counters_;
  std::map<std::string, CacheEntry, std::less<>> cache_;        // request bytes → answer
  std::deque<std::string> cache_order_;                         // oldest first
  std::map<std::string, std::int64_t, std::less<>> newest_;     // content ID → newest timestamp
  std::map<std::string, std::int64_t, std::less<>> persisted_;  // content ID → mark in the store
};

// Cache key of a request: the STKM bytes, base CID and purpose (all public data).
std::string RequestKey(std::span<const std::uint8_t> stkm, std::string_view base_cid,
                       Purpose purpose);

}  // namespace spc::daemon
