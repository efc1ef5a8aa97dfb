#include "spc/client/answer_cache.h"

#include <algorithm>
#include <utility>

namespace spc::client {

std::string AnswerCache::Key(std::span<const std::uint8_t> stkm, std::string_view base_cid,
                             Purpose purpose) {
  // The whole request is the key (hashed by the map; compared in full, so no collision can hand
  // out another service's TEK). The base CID is D-Bus text without NUL: the NUL separates it.
  std::string key;
  key.reserve(stkm.size() + base_cid.size() + 2);
  key.push_back(purpose == Purpose::kRecord ? 'r' : 'p');
  key.append(base_cid);
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(stkm.data()), stkm.size());
  return key;
}

std::optional<TekResult> AnswerCache::Find(std::span<const std::uint8_t> stkm,
                                           std::string_view base_cid, Purpose purpose,
                                           std::int64_t now_us) {
  if (!enabled()) return std::nullopt;
  const std::string key = Key(stkm, base_cid, purpose);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (now_us >= it->second.expires_us) {
    order_.erase(it->second.order);
    entries_.erase(it);
    return std::nullopt;
  }
  ++hits_;
  return it->second.answer;
}

void AnswerCache::Put(std::span<const std::uint8_t> stkm, std::string_view base_cid,
                      Purpose purpose, const TekResult& answer, std::uint64_t generation,
                      std::int64_t now_us) {
  if (!enabled() || !answer.ok()) return;
  // A TEK is not handed out from here after its own lifetime (0: the STKM names none).
  std::int64_t ttl = ttl_us_;
  if (answer.lifetime > 0) {
    ttl = std::min<std::int64_t>(ttl, static_cast<std::int64_t>(answer.lifetime) * 1000000);
  }
  const std::int64_t expires = now_us + ttl;
  std::string key = Key(stkm, base_cid, purpose);
  std::lock_guard lock(mu_);
  if (generation != generation_) return;
  if (auto it = entries_.find(key); it != entries_.end()) {
    it->second.answer = answer;
    it->second.expires_us = expires;
    return;
  }
  while (entries_.size() >= max_entries_ && !order_.empty()) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(key);
  auto order = std::prev(order_.end());
  entries_.emplace(std::move(key), Entry{answer, expires, order});
}

void AnswerCache::Clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
  order_.clear();
  ++generation_;
}

std::uint64_t AnswerCache::Generation() {
  std::lock_guard lock(mu_);
  return generation_;
}

}  // namespace spc::client
