#include "spc/daemon/stkm_processor.h"

#include <glib.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "spc/libspc/stkm.h"

namespace spc::daemon {
namespace {

void Cleanse(TrafficKey& k) {
  OPENSSL_cleanse(k.key.data(), k.key.size());
  OPENSSL_cleanse(k.salt.data(), k.salt.size());
}

Refusal Refuse(Code code, std::string message, std::string content_id = {}) {
  return Refusal{code, std::move(message), std::move(content_id)};
}

}  // namespace

Answer::~Answer() {
  Cleanse(current);
  if (next) Cleanse(*next);
}

StkmProcessor::~StkmProcessor() {
  if (persist_idle_ != 0) g_source_remove(persist_idle_);
  PersistReplayMarks();
}

void StkmProcessor::PersistReplayMarks() { PersistMarks(0); }

gboolean StkmProcessor::OnPersistIdle(gpointer data) {
  auto* self = static_cast<StkmProcessor*>(data);
  self->persist_idle_ = 0;
  self->PersistMarks(kReplayPersistStep);
  return G_SOURCE_REMOVE;
}

void StkmProcessor::PersistMarks(std::int64_t step) {
  std::map<std::string, std::int64_t, std::less<>> marks;
  {
    std::lock_guard lock(mu_);
    marks = newest_;
  }
  for (const auto& [cid, newest] : marks) {
    auto it = persisted_.find(cid);
    if (it != persisted_.end() && newest < it->second + std::max<std::int64_t>(step, 1)) continue;
    store::StoreError err;
    if (store_.RaiseNewestTimestamp(cid, newest, &err)) {
      persisted_[cid] = newest;
    } else {
      g_warning("spcd: cannot persist replay state of %s: %s", cid.c_str(), err.message.c_str());
    }
  }
}

std::string RequestKey(std::span<const std::uint8_t> stkm, std::string_view base_cid,
                       Purpose purpose) {
  std::string key;
  key.reserve(stkm.size() + base_cid.size() + 2);
  key.push_back(purpose == Purpose::kRecord ? 'r' : 'p');
  // The base CID is text without NUL (D-Bus strings), so the NUL separates it from the bytes.
  key.append(base_cid);
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(stkm.data()), stkm.size());
  return key;
}

void StkmProcessor::InvalidateCache() {
  std::lock_guard lock(mu_);
  cache_.clear();
  cache_order_.clear();
}

std::int64_t StkmProcessor::Newest(const std::string& content_id) {
  {
    std::lock_guard lock(mu_);
    auto it = newest_.find(content_id);
    if (it != newest_.end()) return it->second;
  }
  // Only the main loop adds marks: nobody else can insert this one meanwhile.
  store::StoreError err;
  std::int64_t v = store_.NewestTimestamp(content_id, &err);
  persisted_.emplace(content_id, v);
  std::lock_guard lock(mu_);
  newest_.emplace(content_id, v);
  return v;
}

void StkmProcessor::Accepted(const std::string& content_id, bool has_timestamp,
                             std::int64_t timestamp) {
  if (!has_timestamp || timestamp <= Newest(content_id)) return;
  {
    std::lock_guard lock(mu_);
    newest_[content_id] = timestamp;
  }
  // The store is written when the mark has moved kReplayPersistStep past what it holds, not on
  // every STKM (a live key stream raises it every second): the in-memory mark protects this run,
  // and after a crash the stored one is less than kReplayPersistStep behind, which widens the
  // replay tolerance (60 s) by at most that much once. A clean exit writes the exact marks.
  // Rights are another matter: ImportKeys acknowledges only after a synchronous commit.
  std::int64_t& persisted = persisted_[content_id];
  if (timestamp < persisted + kReplayPersistStep) return;
  if (settings_.defer_replay_writes) {
    // Default priority, not idle: a steady stream of calls must not starve it.
    if (persist_idle_ == 0) {
      persist_idle_ = g_idle_add_full(G_PRIORITY_DEFAULT, OnPersistIdle, this, nullptr);
    }
    return;
  }
  store::StoreError err;
  if (!store_.RaiseNewestTimestamp(content_id, timestamp, &err)) {
    // The answer stands: the in-memory value still protects this run; only a restart loses it.
    g_warning("spcd: cannot persist replay state of %s: %s", content_id.c_str(),
              err.message.c_str());
    return;
  }
  persisted = timestamp;
}

std::optional<Refusal> StkmProcessor::CheckTime(const std::string& cid, bool has_timestamp,
                                                std::int64_t ts, std::int64_t newest,
                                                std::int64_t not_before, std::int64_t not_after,
                                                std::int64_t now) const {
  if (has_timestamp) {
    if (ts + settings_.replay_tolerance < newest) {
      return Refuse(Code::kReplay,
                    "STKM timestamp " + std::to_string(ts) +
                        " is older than the newest accepted (" + std::to_string(newest) +
                        ") minus the replay tolerance of " +
                        std::to_string(settings_.replay_tolerance) + " s for " + cid,
                    cid);
    }
    if (not_after != 0 && ts > not_after) {
      return Refuse(Code::kExpired,
                    "STKM timestamp " + std::to_string(ts) + " is after the end of the rights of " +
                        cid + " (" + std::to_string(not_after) + ")",
                    cid);
    }
    if (not_before != 0 && ts < not_before) {
      return Refuse(Code::kNotPermitted,
                    "STKM timestamp " + std::to_string(ts) +
                        " is before the start of the rights of " + cid + " (" +
                        std::to_string(not_before) + ")",
                    cid);
    }
  }
  // The terminal's clock too: an old STKM (a recording) must not outlive the rights.
  if (not_after != 0 && now > not_after) {
    return Refuse(Code::kExpired,
                  "the rights of " + cid + " expired at " + std::to_string(not_after), cid);
  }
  if (not_before != 0 && now < not_before) {
    return Refuse(Code::kNotPermitted,
                  "the rights of " + cid + " are not valid before " + std::to_string(not_before),
                  cid);
  }
  return std::nullopt;
}

std::optional<Answer> StkmProcessor::AnswerRepeat(std::span<const std::uint8_t> stkm,
                                                  std::string_view base_cid, Purpose purpose,
                                                  std::int64_t now) {
  const std::string key = RequestKey(stkm, base_cid, purpose);
  std::lock_guard lock(mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  const CacheEntry& e = it->second;
  std::int64_t newest = 0;
  if (e.has_timestamp) {
    auto n = newest_.find(e.answer.content_id);
    if (n == newest_.end()) return std::nullopt;
    newest = n->second;
  }
  // Rule 7 as in Process; a refusal is left to Process (it counts it and drops the entry).
  if (CheckTime(e.answer.content_id, e.has_timestamp, e.timestamp, newest, e.not_before,
                e.not_after, now)) {
    return std::nullopt;
  }
  ++counters_.processed;
  ++counters_.cached;
  return e.answer;
}

Result<Answer, Refusal> StkmProcessor::Process(std::span<const std::uint8_t> stkm,
                                               std::string_view base_cid, Purpose purpose,
                                               std::int64_t now) {
  std::string key = RequestKey(stkm, base_cid, purpose);
  std::optional<CacheEntry> cached;
  {
    std::lock_guard lock(mu_);
    ++counters_.processed;
    if (auto it = cache_.find(key); it != cache_.end()) cached = it->second;
  }
  if (cached) {
    // Rule 7: no crypto, but the clock-dependent checks still apply to a repeat.
    const CacheEntry& e = *cached;
    const std::int64_t newest = e.has_timestamp ? Newest(e.answer.content_id) : 0;
    auto refusal = CheckTime(e.answer.content_id, e.has_timestamp, e.timestamp, newest,
                             e.not_before, e.not_after, now);
    std::lock_guard lock(mu_);
    if (refusal) {
      ++counters_.rejected;
      cache_.erase(key);
      return *refusal;
    }
    ++counters_.cached;
    return e.answer;
  }
  CacheEntry entry;
  auto result = ProcessUncached(stkm, base_cid, purpose, now, &entry);
  if (!result) {
    std::lock_guard lock(mu_);
    ++counters_.rejected;
    if (result.error().code == Code::kBadMac) ++counters_.bad_mac;
    return result;
  }
  entry.answer = *result;
  std::lock_guard lock(mu_);
  if (settings_.cache_entries > 0) {
    while (cache_.size() >= settings_.cache_entries && !cache_order_.empty()) {
      cache_.erase(cache_order_.front());
      cache_order_.pop_front();
    }
    cache_order_.push_back(key);
    cache_.insert_or_assign(std::move(key), std::move(entry));
  }
  return result;
}

Result<Answer, Refusal> StkmProcessor::ProcessUncached(std::span<const std::uint8_t> message,
                                                       std::string_view base_cid, Purpose purpose,
                                                       std::int64_t now, CacheEntry* entry) {
  // Rule 1.
  auto parsed = ParseStkm(message);
  if (!parsed) {
    const ParseError& e = parsed.error();
    return Refuse(Code::kMalformed, "malformed STKM: " + e.message + " (field " + e.field +
                                        ", offset " + std::to_string(e.offset) + ")");
  }
  const Stkm& s = *parsed;

  // Rule 2: (key_domain_id, content ID).
  std::string cid = StkmContentId(s, base_cid);
  store::StoreError err;
  std::optional<store::Rights> rights = store_.Find(cid, &err);
  if (!rights && !err.message.empty()) {
    return Refuse(Code::kFailed, "key store: " + err.message, cid);
  }
  char domain[16];
  g_snprintf(domain, sizeof domain, "%06x", s.key_domain_id);
  if (!rights || rights->key.key_domain_id != s.key_domain_id ||
      rights->key.programme != s.programme_flag) {
    return Refuse(Code::kNoRights,
                  "no rights for " + cid + " (key domain " + domain + ", " +
                      (s.programme_flag ? "programme" : "service") + " key)",
                  cid);
  }

  // Rule 3: constant-time MAC check before anything is decrypted.
  if (!VerifyStkmMac(message, rights->key.authentication_key)) {
    return Refuse(Code::kBadMac, "STKM MAC does not verify with the rights of " + cid, cid);
  }

  // Rule 4.
  if (auto refusal = CheckTime(cid, s.timestamp_flag, static_cast<std::int64_t>(s.timestamp),
                               s.timestamp_flag ? Newest(cid) : 0, rights->not_before,
                               rights->not_after, now)) {
    return *refusal;
  }

  // Rule 5.
  if (!rights->play) {
    return Refuse(Code::kNotPermitted, "the rights of " + cid + " do not permit play", cid);
  }
  if (purpose == Purpose::kRecord) {
    if (s.protection_after_reception == 3) {
      return Refuse(Code::kNotPermitted,
                    "recording not permitted: protection_after_reception 3 (service protection "
                    "only) for " +
                        cid,
                    cid);
    }
    if (!rights->record) {
      return Refuse(Code::kNotPermitted, "the rights of " + cid + " do not permit record", cid);
    }
  }
  for (const AccessCriteriaDescriptor& d : s.access_criteria) {
    if (d.tag == kAccessCriteriaParentalRating && !d.data.empty() &&
        d.data[0] > settings_.parental_max_age) {
      return Refuse(Code::kNotPermitted,
                    "parental rating " + std::to_string(d.data[0]) +
                        " is above the terminal setting " +
                        std::to_string(settings_.parental_max_age) + " for " + cid,
                    cid);
    }
  }

  // Rule 6.
  auto opened = OpenStkmWithKey(message, s, cid, &rights->key);
  if (!opened) {
    const StkmFailure& f = opened.error();
    Code code = f.code == StkmError::kBadMac     ? Code::kBadMac
                : f.code == StkmError::kNoRights ? Code::kNoRights
                                                 : Code::kMalformed;
    return Refuse(code, f.message, cid);
  }
  StkmKeys& keys = *opened;
  Answer a;
  a.content_id = cid;
  a.current = keys.current;
  a.next = keys.next;
  a.lifetime = s.traffic_key_lifetime;
  a.protocol = s.traffic_protection_protocol;
  a.authenticated = s.traffic_authentication_flag;
  a.rights_not_after = rights->not_after;
  Cleanse(keys.current);
  if (keys.next) Cleanse(*keys.next);

  Accepted(cid, s.timestamp_flag, static_cast<std::int64_t>(s.timestamp));
  entry->has_timestamp = s.timestamp_flag;
  entry->timestamp = static_cast<std::int64_t>(s.timestamp);
  entry->not_before = rights->not_before;
  entry->not_after = rights->not_after;
  return a;
}

}  // namespace spc::daemon
