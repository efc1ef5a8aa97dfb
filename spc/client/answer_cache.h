// The client's cache of spcd's TEK answers for repeated STKMs (issue 8).
//
// Broadcast repeats every STKM every 0.5-2 s, and several elements of one process (tekdec in the
// player, a prefetching tuner, a recorder) may hand spcd the same bytes. spcd answers a repeat from
// its own cache without crypto, but the D-Bus round trip through dbus-daemon stays (tens of µs to
// ms). This cache answers a byte-identical request (STKM, base CID, purpose) in the calling
// process, for a short time after spcd answered it with a TEK:
//  - only successful answers are kept (a refusal is always asked again);
//  - an entry lives `ttl_us`, and never longer than the TEK it holds is valid (the answer's
//    traffic_key_lifetime): a repeat of an STKM whose TEK has run out goes to spcd again;
//  - RightsChanged (spcd emits it when rights are imported, installed, revoked or run out, and
//    when the parental rating setting changes), a new owner of spcd's bus name and this client's
//    own changing calls clear it, and an answer that crossed such a clearing is not kept
//    (Generation);
//  - late by at most the TTL: spcd's replay-tolerance check (60 s, above any sensible TTL).
// The key is the whole request: an answer is never shared across base CIDs or purposes.
// Opt-in per Client (Options::answer_cache_ms, default 0); tekdec turns it on.
// Entries hold key bytes: TekResult wipes them on destruction. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "spc/client/spc_client.h"

namespace spc::client {

class AnswerCache {
 public:
  AnswerCache(std::size_t max_entries, std::int64_t ttl_us)
      : max_entries_(max_entries), ttl_us_(ttl_us) {}

  bool enabled() const { return max_entries_ > 0 && ttl_us_ > 0; }

  // The answer to this request if spcd gave it less than ttl ago.
  std::optional<TekResult> Find(std::span<const std::uint8_t> stkm, std::string_view base_cid,
                                Purpose purpose, std::int64_t now_us);
  // Keeps `answer` if it is a TEK. `generation`: Generation() read before the request was sent, so
  // that an answer that crossed an invalidation is not kept.
  void Put(std::span<const std::uint8_t> stkm, std::string_view base_cid, Purpose purpose,
           const TekResult& answer, std::uint64_t generation, std::int64_t now_us);
  void Clear();
  std::uint64_t Generation();

  std::uint64_t hits() {
    std::lock_guard lock(mu_);
    return hits_;
  }

 private:
  struct Entry {
    TekResult answer;
    std::int64_t expires_us = 0;
    std::list<std::string>::iterator order;
  };
  static std::string Key(std::span<const std::uint8_t> stkm, std::string_view base_cid,
                         Purpose purpose);

  const std::size_t max_entries_;
  const std::int64_t ttl_us_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // oldest first
  std::uint64_t generation_ = 0;
  std::uint64_t hits_ = 0;
};

}  // namespace spc::client
