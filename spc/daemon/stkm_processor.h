// spcd's STKM processing (stkm.md, rules 1-7) without D-Bus: parse, find the rights, check the MAC
// in constant time, check timestamp / validity / permissions, only then decrypt; repeated
// byte-identical STKMs are answered from a cache without crypto.
//
// Threads: everything runs on spcd's main loop except AnswerRepeat, which GDBus's worker thread
// calls (repeat_answerer.h). The cache, the in-memory replay marks and the counters are shared with
// it under mu_; the store is only ever used on the main loop, never with mu_ held.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <glib.h>

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
  std::int64_t rights_not_after = 0;  // end of the rights used (0 = none): rights_expiry.h

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
  // spcd: a replay mark due to be stored is written from an idle source of the default main
  // context, once the answer has gone out, not inside Process (the call's latency).
  bool defer_replay_writes = false;
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

  // Process for a repeat whose cached answer still passes the clock checks, from any thread;
  // counted as Process counts it. std::nullopt for anything else (not cached, a check that fails,
  // a replay mark not in memory): Process on the main loop answers or refuses it.
  std::optional<Answer> AnswerRepeat(std::span<const std::uint8_t> stkm, std::string_view base_cid,
                                     Purpose purpose, std::int64_t now);

  // Rights or settings changed: cached answers may no longer hold.
  void InvalidateCache();
  void set_parental_max_age(std::uint8_t age) {
    {
      std::lock_guard lock(mu_);
      settings_.parental_max_age = age;
    }
    InvalidateCache();
  }

  // Writes the in-memory replay marks that are ahead of the store (also done on destruction).
  void PersistReplayMarks();

  // A replay mark is written to the store once it is this many seconds past the stored one.
  static constexpr std::int64_t kReplayPersistStep = 5;

  const Settings& settings() const { return settings_; }
  Counters counters() const {
    std::lock_guard lock(mu_);
    return counters_;
  }

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
  // `newest`: the content's replay mark (used only with a timestamp).
  std::optional<Refusal> CheckTime(const std::string& content_id, bool has_timestamp,
                                   std::int64_t timestamp, std::int64_t newest,
                                   std::int64_t not_before, std::int64_t not_after,
                                   std::int64_t now) const;
  // The replay mark, read from the store the first time (main loop only).
  std::int64_t Newest(const std::string& content_id);
  // Writes the marks at least `step` s ahead of the stored ones.
  void PersistMarks(std::int64_t step);
  static gboolean OnPersistIdle(gpointer self);
  void Accepted(const std::string& content_id, bool has_timestamp, std::int64_t timestamp);

  store::KeyStore& store_;
  mutable std::mutex mu_;  // guards settings_, counters_, cache_, cache_order_, newest_
  Settings settings_;
  Counters counters_;
  std::map<std::string, CacheEntry, std::less<>> cache_;        // request bytes → answer
  std::deque<std::string> cache_order_;                         // oldest first
  std::map<std::string, std::int64_t, std::less<>> newest_;     // content ID → newest timestamp
  std::map<std::string, std::int64_t, std::less<>> persisted_;  // content ID → mark in the store
                                                                // (main loop only)
  guint persist_idle_ = 0;                                      // defer_replay_writes
};

// Cache key of a request: the STKM bytes, base CID and purpose (all public data).
std::string RequestKey(std::span<const std::uint8_t> stkm, std::string_view base_cid,
                       Purpose purpose);

}  // namespace spc::daemon
