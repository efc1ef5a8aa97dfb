#include "gst-plugins/bcastprotect/tek_fetch.h"

#include <glib.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace bcast {
namespace {

constexpr guint kTickMs = 100;
constexpr std::int64_t kMaxBackoffUs = 30 * G_USEC_PER_SEC;

// spcd's refusals of the fetched STKMs themselves (stkm.md checks), as opposed to fetch errors.
bool IsStkmRefusal(spc::client::Error e) {
  using spc::client::Error;
  return e == Error::kMalformed || e == Error::kBadMac || e == Error::kReplay ||
         e == Error::kNoRights || e == Error::kExpired || e == Error::kNotPermitted;
}

BcastTek ToBcastTek(const spc::client::HeldTekInfo& t) {
  BcastTek tek{};
  tek.id = t.id;
  std::memcpy(tek.key, t.key.data(), sizeof(tek.key));
  std::memcpy(tek.salt, t.salt.data(), sizeof(tek.salt));
  tek.lifetime_s = t.lifetime;
  tek.protocol = t.protocol;
  tek.authenticated = t.authenticated ? TRUE : FALSE;
  return tek;
}

}  // namespace

std::unique_ptr<TekFetcher> TekFetcher::Start(Options options, BaseCid base_cid, Deliver deliver,
                                              std::string* error) {
  auto client = spc::client::Client::Connect(options.client, error);
  if (!client) return nullptr;
  auto f = std::make_unique<TekFetcher>(std::move(options), std::move(base_cid), std::move(deliver),
                                        std::move(client));
  f->ctx_ = g_main_context_new();
  f->loop_ = g_main_loop_new(f->ctx_, FALSE);
  f->thread_ = std::thread([p = f.get()] { p->Run(); });
  return f;
}

TekFetcher::TekFetcher(Options options, BaseCid base_cid, Deliver deliver,
                       std::unique_ptr<spc::client::Client> client)
    : options_(std::move(options)),
      base_cid_fn_(std::move(base_cid)),
      deliver_(std::move(deliver)),
      client_(std::move(client)),
      last_key_stream_(g_get_monotonic_time()) {}

TekFetcher::~TekFetcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    g_main_context_invoke(
        ctx_,
        [](gpointer loop) {
          g_main_loop_quit(static_cast<GMainLoop*>(loop));
          return G_SOURCE_REMOVE;
        },
        loop_);
    thread_.join();
  }
  client_.reset();
  if (loop_ != nullptr) g_main_loop_unref(loop_);
  if (ctx_ != nullptr) g_main_context_unref(ctx_);
}

void TekFetcher::Run() {
  g_main_context_push_thread_default(ctx_);
  GSource* timer = g_timeout_source_new(kTickMs);
  g_source_set_callback(
      timer,
      [](gpointer self) -> gboolean {
        static_cast<TekFetcher*>(self)->Tick();
        return G_SOURCE_CONTINUE;
      },
      this, nullptr);
  g_source_attach(timer, ctx_);
  // Held TEKs at once: waiting for the first tick let the key stream win the race on a zap.
  Tick();
  g_main_loop_run(loop_);
  g_source_destroy(timer);
  g_source_unref(timer);
  g_main_context_pop_thread_default(ctx_);
}

void TekFetcher::OnKeyStreamTek() {
  std::lock_guard lock(mu_);
  last_key_stream_ = g_get_monotonic_time();
  if (counters_.fetching) {
    counters_.fetching = false;
    ++counters_.key_stream_returns;
  }
}

TekFetcher::Counters TekFetcher::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

void TekFetcher::TakeHeld(const std::string& base_cid, const char* origin) {
  std::vector<spc::client::HeldTekInfo> teks;
  spc::client::CallStatus st = client_->HeldTeks(
      base_cid, options_.record ? spc::client::Purpose::kRecord : spc::client::Purpose::kPlay,
      &teks);
  if (!st.ok() || teks.empty()) return;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    counters_.held_teks += static_cast<unsigned>(teks.size());
  }
  // Held TEKs come newest first: the first is the one in use, the second (if any) the next.
  OpenedStkm keys;
  keys.current = ToBcastTek(teks.front());
  for (std::size_t i = 1; i < teks.size(); ++i) {
    keys.next = ToBcastTek(teks[i]);
    deliver_(keys, origin);
    keys.current = *keys.next;
  }
  if (teks.size() == 1) deliver_(keys, origin);
  OPENSSL_cleanse(&keys.current, sizeof keys.current);
  if (keys.next) OPENSSL_cleanse(&*keys.next, sizeof *keys.next);
}

void TekFetcher::Tick() {
  if (base_cid_.empty()) {
    base_cid_ = base_cid_fn_();
    if (base_cid_.empty()) return;
  }
  if (options_.ask_held && !held_asked_) {
    held_asked_ = true;
    TakeHeld(base_cid_, "held");
  }
  if (options_.fetch_after_ms == 0) return;
  const std::int64_t now = g_get_monotonic_time();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (now - last_key_stream_ < static_cast<std::int64_t>(options_.fetch_after_ms) * 1000 ||
        now < next_fetch_) {
      return;
    }
    counters_.fetching = true;
    ++counters_.fetch_requests;
  }
  std::uint32_t accepted = 0;
  std::vector<std::uint16_t> ids;
  spc::client::CallStatus st = client_->FetchStkm(base_cid_, options_.key_domain, &accepted, &ids);
  const std::int64_t after = g_get_monotonic_time();
  std::int64_t delay = static_cast<std::int64_t>(options_.fetch_after_ms) * 1000;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (st.ok()) {
      counters_.fetched_accepted += accepted;
      failures_ = 0;
    } else {
      if (IsStkmRefusal(st.error)) {
        ++counters_.fetched_refused;
      } else {
        ++counters_.fetch_errors;
      }
      counters_.last_error =
          (st.error_name.empty() ? std::string("Unavailable") : st.error_name) + ": " + st.message;
      ++failures_;
      for (unsigned i = 0; i < failures_ && delay < kMaxBackoffUs; ++i) delay *= 2;
      delay = std::min(delay, kMaxBackoffUs);
      delay = delay / 2 + g_random_int_range(0, static_cast<gint32>(delay / 2 + 1));
    }
    next_fetch_ = after + delay;
  }
  if (st.ok()) TakeHeld(base_cid_, "fetch");
}

}  // namespace bcast
