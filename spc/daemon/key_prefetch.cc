#include "spc/daemon/key_prefetch.h"

#include <glib.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

namespace spc::daemon {
namespace {

// Accepted STKMs kept per base CID: the current and next of a key change, and two key streams of
// a mixed service.
constexpr std::size_t kHeldPerService = 6;
constexpr std::size_t kAnnouncedPerService = 32;
constexpr std::int64_t kMaxBackoffUs = 60 * G_USEC_PER_SEC;
constexpr std::size_t kMaxDatagram = 65535;

std::int64_t Now() { return g_get_real_time() / G_USEC_PER_SEC; }

FetchFailure Failure(const std::string& name, std::string message) {
  return {std::string(kErrorPrefix) + name, std::move(message)};
}

}  // namespace

const char* PrefetchModeName(PrefetchMode mode) {
  switch (mode) {
    case PrefetchMode::kOff:
      return "off";
    case PrefetchMode::kNeighbours:
      return "neighbours";
    case PrefetchMode::kAll:
      return "all";
  }
  return "off";
}

std::optional<PrefetchMode> ParsePrefetchMode(const std::string& text) {
  if (text == "off") return PrefetchMode::kOff;
  if (text == "neighbours" || text == "neighbors") return PrefetchMode::kNeighbours;
  if (text == "all") return PrefetchMode::kAll;
  return std::nullopt;
}

HeldTek::~HeldTek() {
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(salt.data(), salt.size());
}

// One UDP socket of a watched key stream. Bound with address reuse: the player's udpsrc binds the
// same port when the user zaps to this service, and must not fail because spcd listens there.
struct KeyPrefetch::Socket {
  GSocket* socket = nullptr;
  GSource* source = nullptr;
  KeyPrefetch* owner = nullptr;
  std::string base_cid;
  std::vector<std::uint8_t> buffer;

  ~Socket() {
    if (source != nullptr) {
      g_source_destroy(source);
      g_source_unref(source);
    }
    if (socket != nullptr) {
      g_socket_close(socket, nullptr);
      g_object_unref(socket);
    }
  }

  static gboolean OnReadable(GSocket* socket, GIOCondition, gpointer data) {
    auto* self = static_cast<Socket*>(data);
    for (;;) {
      GError* error = nullptr;
      const gssize n = g_socket_receive(socket, reinterpret_cast<gchar*>(self->buffer.data()),
                                        self->buffer.size(), nullptr, &error);
      if (n < 0) {
        g_clear_error(&error);
        break;
      }
      self->owner->OnDatagram(
          self->base_cid,
          std::span<const std::uint8_t>(self->buffer.data(), static_cast<std::size_t>(n)));
    }
    return G_SOURCE_CONTINUE;
  }
};

KeyPrefetch::KeyPrefetch(StkmProcessor& processor, Options options)
    : processor_(processor), options_(std::move(options)), fetcher_(options_.http) {}

KeyPrefetch::~KeyPrefetch() {
  *alive_ = false;
  for (auto& [cid, w] : watches_) {
    if (w->timer != 0) g_source_remove(w->timer);
  }
  // Callers waiting for a fetch (D-Bus invocations) get an answer rather than none.
  std::map<std::string, PendingFetch> pending = std::move(pending_);
  for (auto& [cid, p] : pending) {
    for (auto& w : p.waiters) w(Failure("Failed", "spcd is stopping"));
  }
}

void KeyPrefetch::LearnService(const channels::SessionDescription& sd) {
  for (const channels::KeyStream& ks : sd.key_streams) {
    if (ks.base_cid.empty()) continue;
    ServiceInfo& info = services_[ks.base_cid];
    info.key_domain = ks.key_domain_id;
    if (!sd.stkm_url.empty()) info.stkm_url = sd.stkm_url;
  }
}

Result<unsigned, std::string> KeyPrefetch::SetChannelList(const std::vector<std::string>& sdps,
                                                          int current) {
  if (current < -1 || current >= static_cast<int>(sdps.size())) {
    return "current must be -1 (none) or an index of the " + std::to_string(sdps.size()) +
           " session descriptions, not " + std::to_string(current);
  }
  std::vector<channels::SessionDescription> list;
  for (std::size_t i = 0; i < sdps.size(); ++i) {
    std::string_view text(sdps[i]);
    auto sd = text.starts_with("v=") ? channels::ParseSessionDescription(text)
                                     : channels::LoadSessionDescription(sdps[i]);
    if (!sd) {
      const ParseError& e = sd.error();
      return "session description " + std::to_string(i) + ": " + e.message + " (" + e.field +
             ", line " + std::to_string(e.offset) + ")";
    }
    list.push_back(std::move(*sd));
  }
  for (const auto& sd : list) LearnService(sd);
  channel_list_ = std::move(list);
  current_ = current;

  // The services to watch: never the one watched (its player listens to its key stream).
  std::set<std::size_t> wanted;
  const std::size_t n = channel_list_.size();
  if (options_.mode == PrefetchMode::kAll) {
    for (std::size_t i = 0; i < n; ++i) wanted.insert(i);
  } else if (options_.mode == PrefetchMode::kNeighbours && n > 0 && current >= 0) {
    wanted.insert((static_cast<std::size_t>(current) + 1) % n);
    wanted.insert((static_cast<std::size_t>(current) + n - 1) % n);
  }
  std::set<std::string> current_cids;
  if (current >= 0) {
    for (const auto& ks : channel_list_[static_cast<std::size_t>(current)].key_streams) {
      current_cids.insert(ks.base_cid);
    }
    wanted.erase(static_cast<std::size_t>(current));
  }
  std::set<std::string> wanted_cids;
  for (std::size_t i : wanted) {
    for (const auto& ks : channel_list_[i].key_streams) {
      if (!ks.base_cid.empty() && current_cids.count(ks.base_cid) == 0) {
        wanted_cids.insert(ks.base_cid);
      }
    }
  }
  std::vector<std::string> stop;
  for (const auto& [cid, w] : watches_) {
    if (wanted_cids.count(cid) == 0) stop.push_back(cid);
  }
  for (const auto& cid : stop) Unwatch(cid);
  for (std::size_t i : wanted) StartWatch(channel_list_[i]);
  g_message("channel list: %zu services, watching %d; prefetch (%s) on %zu key streams", n, current,
            PrefetchModeName(options_.mode), watches_.size());
  return static_cast<unsigned>(n);
}

void KeyPrefetch::StartWatch(const channels::SessionDescription& sd) {
  for (const channels::KeyStream& ks : sd.key_streams) {
    if (ks.base_cid.empty()) continue;
    // Not a service the player is on (SetChannelList removed those from the list).
    if (current_ >= 0) {
      bool is_current = false;
      for (const auto& c : channel_list_[static_cast<std::size_t>(current_)].key_streams) {
        is_current |= c.base_cid == ks.base_cid;
      }
      if (is_current) continue;
    }
    auto& slot = watches_[ks.base_cid];
    if (!slot) {
      slot = std::make_unique<Watcher>();
      slot->base_cid = ks.base_cid;
      slot->timer =
          g_timeout_add(std::max(100u, options_.fetch_after_ms / 2), OnWatchTimer, slot.get());
      slot->owner = this;
      // The key stream gets fetch_after to speak before the first fetch.
      last_valid_[ks.base_cid] = g_get_monotonic_time();
    }
    Watcher& w = *slot;
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(ks.address.c_str());
    if (inet == nullptr || ks.port == 0) continue;
    const std::string endpoint = ks.address + ":" + std::to_string(ks.port);
    bool have = false;
    for (const auto& s : w.sockets) {
      g_autoptr(GSocketAddress) local = g_socket_get_local_address(s->socket, nullptr);
      have |= local && g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local)) == ks.port;
    }
    if (have) continue;
    const bool multicast = g_inet_address_get_is_multicast(inet);
    g_autoptr(GError) error = nullptr;
    auto s = std::make_unique<Socket>();
    s->owner = this;
    s->base_cid = ks.base_cid;
    s->buffer.resize(kMaxDatagram + 1);
    s->socket = g_socket_new(g_inet_address_get_family(inet), G_SOCKET_TYPE_DATAGRAM,
                             G_SOCKET_PROTOCOL_UDP, &error);
    if (s->socket == nullptr) {
      g_message("prefetch %s: socket: %s", endpoint.c_str(), error->message);
      continue;
    }
    g_socket_set_blocking(s->socket, FALSE);
    g_autoptr(GInetAddress) bind_inet =
        multicast ? g_inet_address_new_any(g_inet_address_get_family(inet))
                  : static_cast<GInetAddress*>(g_object_ref(inet));
    g_autoptr(GSocketAddress) bind_addr = g_inet_socket_address_new(bind_inet, ks.port);
    if (!g_socket_bind(s->socket, bind_addr, TRUE, &error)) {
      // The key stream stays unheard; the fetch fallback still covers the service.
      g_message("prefetch: cannot listen to the key stream of %s on %s: %s", ks.base_cid.c_str(),
                endpoint.c_str(), error->message);
      continue;
    }
    if (multicast && !g_socket_join_multicast_group(s->socket, inet, FALSE, nullptr, &error)) {
      g_message("prefetch: cannot join %s: %s", ks.address.c_str(), error->message);
      continue;
    }
    s->source = g_socket_create_source(s->socket, G_IO_IN, nullptr);
    g_source_set_callback(s->source, G_SOURCE_FUNC(+Socket::OnReadable), s.get(), nullptr);
    g_source_attach(s->source, nullptr);
    g_message("prefetch: listening to the key stream of %s on %s", ks.base_cid.c_str(),
              endpoint.c_str());
    w.sockets.push_back(std::move(s));
  }
}

void KeyPrefetch::Unwatch(const std::string& base_cid) {
  auto it = watches_.find(base_cid);
  if (it == watches_.end()) return;
  if (it->second->timer != 0) g_source_remove(it->second->timer);
  g_message("prefetch: stopped watching %s", base_cid.c_str());
  watches_.erase(it);
}

void KeyPrefetch::OnDatagram(const std::string& base_cid, std::span<const std::uint8_t> datagram) {
  ++counters_.prefetch_datagrams;
  auto r = processor_.Process(datagram, base_cid, Purpose::kPlay, Now());
  if (!r) {
    ++counters_.prefetch_refused;
    g_debug("prefetch: STKM for %s refused: %s: %s", base_cid.c_str(), ErrorName(r.error().code),
            r.error().message.c_str());
    return;
  }
  ++counters_.prefetch_accepted;
  Hold(datagram, base_cid, *r, "prefetch");
}

gboolean KeyPrefetch::OnWatchTimer(gpointer data) {
  auto* w = static_cast<Watcher*>(data);
  KeyPrefetch* self = w->owner;
  const std::int64_t now = g_get_monotonic_time();
  const std::int64_t after = static_cast<std::int64_t>(self->options_.fetch_after_ms) * 1000;
  if (now - self->last_valid_[w->base_cid] < after || now < w->next_fetch ||
      self->pending_.count(w->base_cid) != 0) {
    return G_SOURCE_CONTINUE;
  }
  auto info = self->services_.find(w->base_cid);
  if ((info == self->services_.end() || info->second.stkm_url.empty()) &&
      self->options_.default_stkm_url.empty()) {
    return G_SOURCE_CONTINUE;  // nowhere to fetch from: the key stream is all there is
  }
  ++self->counters_.prefetch_fetches;
  const std::string cid = w->base_cid;
  std::weak_ptr<bool> alive = self->alive_;
  g_message("prefetch: no valid STKM for %s in %u ms: fetching", cid.c_str(),
            self->options_.fetch_after_ms);
  self->Fetch(cid, "", "prefetch", [self, alive, cid](Result<FetchOutcome, FetchFailure> r) {
    if (alive.expired() || !*alive.lock()) return;
    auto it = self->watches_.find(cid);
    if (it == self->watches_.end()) return;
    Watcher& watcher = *it->second;
    if (r) {
      watcher.failures = 0;
      watcher.next_fetch = 0;
      return;
    }
    // Exponential backoff with jitter: the delay uniform in [d/2, d].
    ++watcher.failures;
    std::int64_t d = static_cast<std::int64_t>(self->options_.fetch_after_ms) * 1000;
    for (unsigned i = 0; i < watcher.failures && d < kMaxBackoffUs; ++i) d *= 2;
    d = std::min(d, kMaxBackoffUs);
    watcher.next_fetch =
        g_get_monotonic_time() + d / 2 + g_random_int_range(0, static_cast<gint32>(d / 2 + 1));
  });
  return G_SOURCE_CONTINUE;
}

void KeyPrefetch::Hold(std::span<const std::uint8_t> stkm, const std::string& base_cid,
                       const Answer& answer, const char* source) {
  last_valid_[base_cid] = g_get_monotonic_time();
  auto& q = held_[base_cid];
  std::erase_if(q, [&](const HeldStkm& h) {
    return h.bytes.size() == stkm.size() &&
           std::equal(h.bytes.begin(), h.bytes.end(), stkm.begin());
  });
  q.push_front({std::vector<std::uint8_t>(stkm.begin(), stkm.end()), g_get_monotonic_time()});
  if (q.size() > kHeldPerService) q.pop_back();
  auto& ann = announced_[base_cid];
  std::vector<std::uint16_t> ids = {answer.current.id};
  if (answer.next) ids.push_back(answer.next->id);
  for (std::uint16_t id : ids) {
    if (std::find(ann.begin(), ann.end(), id) != ann.end()) continue;
    ann.push_front(id);
    if (ann.size() > kAnnouncedPerService) ann.pop_back();
    if (on_teks_held) on_teks_held(base_cid, id, source);
  }
}

void KeyPrefetch::Fetch(const std::string& base_cid, const std::string& key_domain_hex,
                        const char* source, FetchDone done) {
  ++counters_.fetch_requests;
  auto fail_now = [&](FetchFailure f) {
    ++counters_.fetch_errors;
    counters_.last_error = f.dbus_name + ": " + f.message;
    // Answered from the main loop like every other outcome.
    struct Deferred {
      FetchDone done;
      FetchFailure failure;
    };
    auto deferred = std::make_unique<Deferred>(Deferred{std::move(done), std::move(f)});
    g_idle_add_full(
        G_PRIORITY_DEFAULT,
        [](gpointer p) -> gboolean {
          auto* d = static_cast<Deferred*>(p);
          d->done(std::move(d->failure));
          return G_SOURCE_REMOVE;
        },
        deferred.release(),
        [](gpointer p) { std::unique_ptr<Deferred> drop(static_cast<Deferred*>(p)); });
  };
  if (base_cid.empty()) return fail_now(Failure("InvalidArgs", "base CID is empty"));
  std::optional<std::uint32_t> domain;
  if (!key_domain_hex.empty()) {
    guint64 v = 0;
    if (key_domain_hex.size() > 6 ||
        !g_ascii_string_to_unsigned(key_domain_hex.c_str(), 16, 0, 0xffffff, &v, nullptr)) {
      return fail_now(Failure(
          "InvalidArgs", "key domain must be up to 6 hex digits, not \"" + key_domain_hex + "\""));
    }
    domain = static_cast<std::uint32_t>(v);
  }
  auto info = services_.find(base_cid);
  if (!domain && info != services_.end()) domain = info->second.key_domain;
  if (!domain) {
    return fail_now(Failure("InvalidArgs", "no key domain given and no session description of " +
                                               base_cid + " names one"));
  }
  std::string url = info != services_.end() ? info->second.stkm_url : "";
  if (url.empty()) url = options_.default_stkm_url;
  if (url.empty()) {
    return fail_now(Failure("Fetch.NoUrl", "no STKM URL for " + base_cid +
                                               " (no a=bcast-stkm-url in its session description "
                                               "and no --stkm-url)"));
  }
  auto& pending = pending_[base_cid];
  pending.waiters.push_back(std::move(done));
  if (pending.waiters.size() > 1) return;  // one request serves them all
  std::string src = source;
  std::weak_ptr<bool> alive = alive_;
  fetcher_.Fetch(
      url, base_cid, *domain,
      [this, alive, base_cid, src](Result<StkmFetcher::Stkms, FetchFailure> r) {
        if (alive.expired() || !*alive.lock()) return;
        if (!r) return FinishFetch(base_cid, r.error());
        FetchOutcome out;
        std::optional<Refusal> first;
        unsigned i = 0;
        for (const auto& stkm : *r) {
          ++i;
          auto a = processor_.Process(stkm, base_cid, Purpose::kPlay, Now());
          if (!a) {
            ++out.refused;
            ++counters_.fetched_refused;
            g_message("fetched STKM %u of %zu for %s refused: %s: %s", i, r->size(),
                      base_cid.c_str(), ErrorName(a.error().code), a.error().message.c_str());
            if (!first) first = a.error();
            continue;
          }
          ++out.accepted;
          ++counters_.fetched_accepted;
          out.tek_ids.push_back(a->current.id);
          if (a->next) out.tek_ids.push_back(a->next->id);
          Hold(stkm, base_cid, *a, src.c_str());
        }
        if (out.accepted == 0 && first) {
          // Refused like a broadcast STKM: the processor's error, nothing held.
          return FinishFetch(base_cid, FetchFailure{ErrorName(first->code),
                                                    "fetched STKM refused: " + first->message});
        }
        FinishFetch(base_cid, std::move(out));
      });
}

void KeyPrefetch::FinishFetch(const std::string& base_cid, Result<FetchOutcome, FetchFailure> r) {
  auto it = pending_.find(base_cid);
  if (it == pending_.end()) return;
  std::vector<FetchDone> waiters = std::move(it->second.waiters);
  pending_.erase(it);
  if (!r) {
    ++counters_.fetch_errors;
    counters_.last_error = r.error().dbus_name + ": " + r.error().message;
  }
  for (auto& w : waiters) {
    if (r) {
      w(*r);
    } else {
      w(r.error());
    }
  }
}

Result<std::vector<HeldTek>, FetchFailure> KeyPrefetch::Held(const std::string& base_cid,
                                                             Purpose purpose) {
  auto it = held_.find(base_cid);
  std::vector<HeldTek> out;
  std::optional<Refusal> first;
  if (it != held_.end()) {
    auto& q = it->second;
    for (auto h = q.begin(); h != q.end();) {
      auto a = processor_.Process(h->bytes, base_cid, purpose, Now());
      if (!a) {
        if (!first) first = a.error();
        // Too old now: never again.
        if (a.error().code == Code::kReplay || a.error().code == Code::kExpired) {
          h = q.erase(h);
          continue;
        }
        ++h;
        continue;
      }
      for (const TrafficKey* k : {&a->current, a->next ? &*a->next : nullptr}) {
        if (k == nullptr) continue;
        if (std::any_of(out.begin(), out.end(), [&](const HeldTek& t) { return t.id == k->id; })) {
          continue;
        }
        HeldTek t;
        t.id = k->id;
        t.key = k->key;
        t.salt = k->salt;
        t.lifetime = a->lifetime;
        t.protocol = a->protocol;
        t.authenticated = a->authenticated;
        out.push_back(t);
      }
      ++h;
    }
  }
  if (!out.empty()) return out;
  if (first && first->code != Code::kReplay && first->code != Code::kExpired) {
    return FetchFailure{ErrorName(first->code), first->message};
  }
  return Failure("NoTeksHeld", "spcd holds no TEK for " + base_cid +
                                   " (no accepted STKM from its key stream, a fetch or prefetch)");
}

}  // namespace spc::daemon
