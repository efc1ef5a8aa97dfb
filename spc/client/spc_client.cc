#include "spc/client/spc_client.h"

#include <gio/gio.h>
#include <openssl/crypto.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "spc/client/answer_cache.h"
#include "spc/daemon/dbus_api.h"
#include "spc/daemon/spc-dbus-generated.h"

namespace spc::client {
namespace {

void Cleanse(TrafficKey& k) {
  OPENSSL_cleanse(k.key.data(), k.key.size());
  OPENSSL_cleanse(k.salt.data(), k.salt.size());
}

struct VariantUnref {
  void operator()(GVariant* v) const {
    if (v) g_variant_unref(v);
  }
};
using VariantPtr = std::unique_ptr<GVariant, VariantUnref>;

template <std::size_t N>
bool CopyBytes(GVariant* v, std::array<std::uint8_t, N>& out) {
  gsize n = 0;
  const void* p = v ? g_variant_get_fixed_array(v, &n, 1) : nullptr;
  if (n != N || !p) return false;
  std::memcpy(out.data(), p, N);
  return true;
}

// GVariant buffers of key bytes are wiped before they are freed.
void CleanseVariant(GVariant* v) {
  if (!v) return;
  gsize n = 0;
  const void* p = g_variant_get_fixed_array(v, &n, 1);
  if (p && n) OPENSSL_cleanse(const_cast<void*>(p), n);
}

template <class Status>
void SetError(Status& out, GError* err) {
  g_autofree gchar* remote = g_dbus_error_get_remote_error(err);
  out.error_name = remote ? remote : "";
  if (err->domain == spc::daemon::SpcDaemonError() && err->code >= 0 &&
      err->code < spc::daemon::kCodeCount) {
    // Error enumerators after kNone follow daemon::Code's order.
    out.error = static_cast<Error>(err->code + 1);
    out.error_name = spc::daemon::ErrorName(static_cast<spc::daemon::Code>(err->code));
  } else if (remote && g_str_has_prefix(remote, "org.openbcast.SPC1.Error.")) {
    // spcd's ROAP and interaction errors (named by the failed check, not in the fixed table).
    out.error = Error::kFailed;
  } else {
    out.error = Error::kUnavailable;
  }
  g_dbus_error_strip_remote_error(err);
  out.message = err->message;
}

const char* PurposeName(Purpose p) { return p == Purpose::kRecord ? "record" : "play"; }

// Out-arguments of ProcessStkm(For); wipes the key variants whatever happens.
struct TekReply {
  guint16 tek_id = 0, lifetime = 0, next_id = 0;
  guchar protocol = 0;
  gboolean authenticated = FALSE, has_next = FALSE;
  GVariant* tek = nullptr;
  GVariant* salt = nullptr;
  GVariant* next_tek = nullptr;
  GVariant* next_salt = nullptr;
  gchar* content_id = nullptr;

  ~TekReply() {
    for (GVariant* v : {tek, salt, next_tek, next_salt}) {
      CleanseVariant(v);
      if (v) g_variant_unref(v);
    }
    g_free(content_id);
  }

  TekResult ToResult() const {
    TekResult r;
    r.content_id = content_id ? content_id : "";
    r.current.id = tek_id;
    r.lifetime = lifetime;
    r.protocol = protocol;
    r.authenticated = authenticated;
    bool sizes = CopyBytes(tek, r.current.key) && CopyBytes(salt, r.current.salt);
    if (has_next) {
      TrafficKey next;
      next.id = next_id;
      sizes = sizes && CopyBytes(next_tek, next.key) && CopyBytes(next_salt, next.salt);
      r.next = next;
      Cleanse(next);
    }
    if (!sizes) {
      r = TekResult{};
      r.error = Error::kFailed;
      r.message = "spcd answered with keys of the wrong size";
    }
    return r;
  }
};

}  // namespace

const char* ErrorString(Error e) {
  switch (e) {
    case Error::kNone:
      return "None";
    case Error::kFailed:
      return "Failed";
    case Error::kMalformed:
      return "Malformed";
    case Error::kNoRights:
      return "NoRights";
    case Error::kBadMac:
      return "BadMac";
    case Error::kReplay:
      return "Replay";
    case Error::kExpired:
      return "Expired";
    case Error::kNotPermitted:
      return "NotPermitted";
    case Error::kInvalidArgs:
      return "InvalidArgs";
    case Error::kInvalidKeyFile:
      return "InvalidKeyFile";
    case Error::kUnavailable:
      return "Unavailable";
  }
  return "?";
}

TekResult::~TekResult() {
  Cleanse(current);
  if (next) Cleanse(*next);
}

struct Client::Impl {
  GMainContext* ctx = nullptr;
  GMainLoop* loop = nullptr;
  GDBusConnection* conn = nullptr;
  SpcSPC1* proxy = nullptr;
  GCancellable* cancellable = nullptr;
  std::thread thread;
  // Touched on the client thread only.
  int pending = 0;
  bool stopping = false;

  // Answers to repeated STKMs (answer_cache.h).
  std::unique_ptr<AnswerCache> cache;

  std::mutex handlers_mutex;
  std::function<void(const std::string&)> on_missing;
  std::function<void(const std::vector<std::string>&)> on_changed;

  ~Impl() {
    if (proxy) g_object_unref(proxy);
    if (conn) g_object_unref(conn);
    if (cancellable) g_object_unref(cancellable);
    if (loop) g_main_loop_unref(loop);
    if (ctx) g_main_context_unref(ctx);
  }

  void MaybeQuit() {
    if (stopping && pending == 0) g_main_loop_quit(loop);
  }
};

namespace {

struct AsyncRequest {
  Client::Impl* impl;
  std::vector<std::uint8_t> stkm;
  std::string base_cid;
  Purpose purpose;
  Client::TekCallback done;
  std::uint64_t cache_generation = 0;
};

std::int64_t NowUs() { return g_get_monotonic_time(); }

// The spcd-changing calls of this client: the cached answers may no longer hold once they return.
struct ClearCacheOnReturn {
  AnswerCache& cache;
  ~ClearCacheOnReturn() { cache.Clear(); }
};

void OnProcessDone(GObject* source, GAsyncResult* res, gpointer user_data) {
  std::unique_ptr<AsyncRequest> req(static_cast<AsyncRequest*>(user_data));
  TekReply reply;
  g_autoptr(GError) err = nullptr;
  TekResult result;
  if (spc_spc1_call_process_stkm_for_finish(
          SPC_SPC1(source), &reply.tek_id, &reply.tek, &reply.salt, &reply.lifetime,
          &reply.protocol, &reply.authenticated, &reply.has_next, &reply.next_id, &reply.next_tek,
          &reply.next_salt, &reply.content_id, res, &err)) {
    result = reply.ToResult();
    req->impl->cache->Put(req->stkm, req->base_cid, req->purpose, result, req->cache_generation,
                          NowUs());
  } else {
    SetError(result, err);
  }
  Client::Impl* impl = req->impl;
  if (req->done) req->done(std::move(result));
  req.reset();
  --impl->pending;
  impl->MaybeQuit();
}

gboolean StartProcess(gpointer user_data) {
  std::unique_ptr<AsyncRequest> req(static_cast<AsyncRequest*>(user_data));
  Client::Impl* impl = req->impl;
  if (impl->stopping) {
    TekResult r;
    r.error = Error::kUnavailable;
    r.message = "client is shutting down";
    if (req->done) req->done(std::move(r));
    return G_SOURCE_REMOVE;
  }
  if (auto cached = impl->cache->Find(req->stkm, req->base_cid, req->purpose, NowUs())) {
    if (req->done) req->done(std::move(*cached));
    return G_SOURCE_REMOVE;
  }
  req->cache_generation = impl->cache->Generation();
  ++impl->pending;
  GVariant* bytes =
      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, req->stkm.data(), req->stkm.size(), 1);
  std::string base = req->base_cid;
  Purpose purpose = req->purpose;
  spc_spc1_call_process_stkm_for(impl->proxy, bytes, base.c_str(), PurposeName(purpose),
                                 impl->cancellable, OnProcessDone, req.release());
  return G_SOURCE_REMOVE;
}

gboolean Stop(gpointer user_data) {
  auto* impl = static_cast<Client::Impl*>(user_data);
  impl->stopping = true;
  g_cancellable_cancel(impl->cancellable);
  impl->MaybeQuit();
  return G_SOURCE_REMOVE;
}

void OnRightsMissingSignal(SpcSPC1*, const gchar* content_id, gpointer user_data) {
  auto* impl = static_cast<Client::Impl*>(user_data);
  std::function<void(const std::string&)> handler;
  {
    std::lock_guard lock(impl->handlers_mutex);
    handler = impl->on_missing;
  }
  if (handler) handler(content_id);
}

void OnRightsChangedSignal(SpcSPC1*, const gchar* const* ids, gpointer user_data) {
  auto* impl = static_cast<Client::Impl*>(user_data);
  impl->cache->Clear();
  std::function<void(const std::vector<std::string>&)> handler;
  {
    std::lock_guard lock(impl->handlers_mutex);
    handler = impl->on_changed;
  }
  std::vector<std::string> v;
  for (const gchar* const* p = ids; p && *p; ++p) v.emplace_back(*p);
  if (handler) handler(v);
}

// spcd restarted (or went away): its answers are asked again.
void OnNameOwnerChanged(GObject*, GParamSpec*, gpointer user_data) {
  static_cast<Client::Impl*>(user_data)->cache->Clear();
}

}  // namespace

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<Client> Client::Connect(const Options& options, std::string* error) {
  spc::daemon::SpcDaemonError();  // map the D-Bus error names to the GError domain
  auto impl = std::make_unique<Impl>();
  impl->cache = std::make_unique<AnswerCache>(
      options.answer_cache_entries, static_cast<std::int64_t>(options.answer_cache_ms) * 1000);
  g_autoptr(GError) err = nullptr;
  if (options.bus == Bus::kAddress) {
    impl->conn = g_dbus_connection_new_for_address_sync(
        options.address.c_str(),
        static_cast<GDBusConnectionFlags>(G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                          G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION),
        nullptr, nullptr, &err);
  } else {
    impl->conn = g_bus_get_sync(
        options.bus == Bus::kSession ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, nullptr, &err);
  }
  if (!impl->conn) {
    if (error) *error = std::string("cannot connect to the bus: ") + err->message;
    return nullptr;
  }
  // The host process (a player) decides about its life, not a lost bus.
  g_dbus_connection_set_exit_on_close(impl->conn, FALSE);

  impl->ctx = g_main_context_new();
  impl->loop = g_main_loop_new(impl->ctx, FALSE);
  impl->cancellable = g_cancellable_new();
  // The proxy delivers its signals and name-owner updates to the thread-default context at
  // construction: make that the client thread's context (nobody runs it yet, so we may push it).
  g_main_context_push_thread_default(impl->ctx);
  int flags = G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES;
  if (!options.auto_start) flags |= G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START;
  impl->proxy = spc_spc1_proxy_new_sync(
      impl->conn, static_cast<GDBusProxyFlags>(flags),
      options.bus_name.empty() ? spc::daemon::kBusName : options.bus_name.c_str(),
      spc::daemon::kObjectPath, nullptr, &err);
  if (impl->proxy) {
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(impl->proxy), options.timeout_ms);
    g_signal_connect(impl->proxy, "rights-missing", G_CALLBACK(OnRightsMissingSignal), impl.get());
    g_signal_connect(impl->proxy, "rights-changed", G_CALLBACK(OnRightsChangedSignal), impl.get());
    g_signal_connect(impl->proxy, "notify::g-name-owner", G_CALLBACK(OnNameOwnerChanged),
                     impl.get());
  }
  g_main_context_pop_thread_default(impl->ctx);
  if (!impl->proxy) {
    if (error) *error = std::string("cannot make the spcd proxy: ") + err->message;
    return nullptr;
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    g_main_context_push_thread_default(raw->ctx);
    g_main_loop_run(raw->loop);
    g_main_context_pop_thread_default(raw->ctx);
  });
  return std::make_unique<Client>(std::move(impl));
}

Client::~Client() {
  if (!impl_) return;
  g_main_context_invoke(impl_->ctx, Stop, impl_.get());
  if (impl_->thread.joinable()) impl_->thread.join();
  // Signal handlers must not fire into a freed Impl.
  g_signal_handlers_disconnect_by_data(impl_->proxy, impl_.get());
  // Dropping the proxy unsubscribes its D-Bus signal matches, and GDBusConnection runs their
  // destroy notifies from idle sources on the proxy's context (ours, no longer run by the thread):
  // dispatch them here, or the subscription data leaks with the context.
  g_main_context_push_thread_default(impl_->ctx);
  g_clear_object(&impl_->proxy);
  while (g_main_context_iteration(impl_->ctx, FALSE)) {
  }
  g_main_context_pop_thread_default(impl_->ctx);
}

void Client::ProcessStkmAsync(std::span<const std::uint8_t> stkm, const std::string& base_cid,
                              Purpose purpose, TekCallback done) {
  // Looked up here, not on the client's thread: a hit needs neither D-Bus nor that thread, and two
  // thread switches would cost more than the answer.
  if (auto cached = impl_->cache->Find(stkm, base_cid, purpose, NowUs())) {
    if (done) done(std::move(*cached));
    return;
  }
  auto req = std::make_unique<AsyncRequest>(
      AsyncRequest{impl_.get(), std::vector<std::uint8_t>(stkm.begin(), stkm.end()), base_cid,
                   purpose, std::move(done)});
  g_main_context_invoke(impl_->ctx, StartProcess, req.release());
}

TekResult Client::ProcessStkm(std::span<const std::uint8_t> stkm, const std::string& base_cid,
                              Purpose purpose) {
  if (auto cached = impl_->cache->Find(stkm, base_cid, purpose, NowUs())) return *cached;
  const std::uint64_t generation = impl_->cache->Generation();
  TekReply reply;
  g_autoptr(GError) err = nullptr;
  GVariant* bytes = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, stkm.data(), stkm.size(), 1);
  TekResult result;
  if (spc_spc1_call_process_stkm_for_sync(
          impl_->proxy, bytes, base_cid.c_str(), PurposeName(purpose), &reply.tek_id, &reply.tek,
          &reply.salt, &reply.lifetime, &reply.protocol, &reply.authenticated, &reply.has_next,
          &reply.next_id, &reply.next_tek, &reply.next_salt, &reply.content_id, nullptr, &err)) {
    result = reply.ToResult();
    impl_->cache->Put(stkm, base_cid, purpose, result, generation, NowUs());
  } else {
    SetError(result, err);
  }
  return result;
}

std::uint64_t Client::AnswerCacheHits() { return impl_->cache->hits(); }

CallStatus Client::ImportKeys(const std::string& key_file_text, std::uint32_t* imported) {
  ClearCacheOnReturn clear_cache{*impl_->cache};
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  guint n = 0;
  if (!spc_spc1_call_import_keys_sync(impl_->proxy, key_file_text.c_str(), &n, nullptr, &err)) {
    SetError(st, err);
  } else if (imported) {
    *imported = n;
  }
  return st;
}

CallStatus Client::Status(StatusInfo* out) {
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  GVariant* raw = nullptr;
  // GLib 2.74 leaks the (floating) arguments of a call that a DO_NOT_AUTO_START proxy refuses
  // because nobody owns the name: answer that case here, as GLib would (LeakSanitizer).
  auto* proxy = G_DBUS_PROXY(impl_->proxy);
  g_autofree gchar* owner = g_dbus_proxy_get_name_owner(proxy);
  if (!owner && (g_dbus_proxy_get_flags(proxy) & G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START)) {
    st.error = Error::kUnavailable;
    st.message = std::string("no owner of ") + g_dbus_proxy_get_name(proxy) +
                 " on the bus and auto-start is off";
    return st;
  }
  if (!spc_spc1_call_status_sync(impl_->proxy, &raw, nullptr, &err)) {
    SetError(st, err);
    return st;
  }
  VariantPtr dict(raw);
  g_autoptr(GVariantDict) d = g_variant_dict_new(dict.get());
  const gchar* s = nullptr;
  if (g_variant_dict_lookup(d, "version", "&s", &s)) out->version = s;
  if (g_variant_dict_lookup(d, "key-store", "&s", &s)) out->key_store = s;
  g_variant_dict_lookup(d, "schema-version", "u", &out->schema_version);
  g_variant_dict_lookup(d, "rights", "u", &out->rights);
  g_variant_dict_lookup(d, "parental-rating", "y", &out->parental_rating);
  g_variant_dict_lookup(d, "replay-tolerance", "u", &out->replay_tolerance);
  guint64 v = 0;
  if (g_variant_dict_lookup(d, "stkms-processed", "t", &v)) out->stkms_processed = v;
  if (g_variant_dict_lookup(d, "stkms-cached", "t", &v)) out->stkms_cached = v;
  if (g_variant_dict_lookup(d, "stkms-rejected", "t", &v)) out->stkms_rejected = v;
  if (g_variant_dict_lookup(d, "stkms-bad-mac", "t", &v)) out->stkms_bad_mac = v;
  if (g_variant_dict_lookup(d, "uptime", "t", &v)) out->uptime = v;
  if (g_variant_dict_lookup(d, "roap-state", "&s", &s)) out->roap_state = s;
  if (g_variant_dict_lookup(d, "roap-ri-id", "&s", &s)) out->roap_ri_id = s;
  if (g_variant_dict_lookup(d, "roap-ri-url", "&s", &s)) out->roap_ri_url = s;
  if (g_variant_dict_lookup(d, "roap-last-error", "&s", &s)) out->roap_last_error = s;
  if (g_variant_dict_lookup(d, "roap-acquisitions", "t", &v)) out->roap_acquisitions = v;
  if (g_variant_dict_lookup(d, "roap-failures", "t", &v)) out->roap_failures = v;
  if (g_variant_dict_lookup(d, "interaction-requests", "t", &v)) out->interaction_requests = v;
  gboolean b = FALSE;
  if (g_variant_dict_lookup(d, "auto-acquire", "b", &b)) out->auto_acquire = b;
  if (g_variant_dict_lookup(d, "smartcard", "b", &b)) out->smartcard = b;
  if (g_variant_dict_lookup(d, "card-present", "b", &b)) out->card_present = b;
  if (g_variant_dict_lookup(d, "card-reader", "&s", &s)) out->card_reader = s;
  if (g_variant_dict_lookup(d, "card-btid", "&s", &s)) out->card_btid = s;
  if (g_variant_dict_lookup(d, "card-mtks", "t", &v)) out->card_mtks = v;
  g_autoptr(GVariant) msks = g_variant_dict_lookup_value(d, "card-msks", G_VARIANT_TYPE("as"));
  for (gsize i = 0; msks && i < g_variant_n_children(msks); ++i) {
    const gchar* m = nullptr;
    g_variant_get_child(msks, i, "&s", &m);
    out->card_msks.emplace_back(m);
  }
  g_autoptr(GVariant) refusals =
      g_variant_dict_lookup_value(d, "card-refusals", G_VARIANT_TYPE("a{st}"));
  if (refusals) {
    GVariantIter it;
    g_variant_iter_init(&it, refusals);
    const gchar* name = nullptr;
    guint64 n = 0;
    while (g_variant_iter_next(&it, "{&st}", &name, &n)) out->card_refusals[name] = n;
  }
  return st;
}

CallStatus Client::ListRights(std::vector<RightsInfo>* out) {
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  GVariant* raw = nullptr;
  if (!spc_spc1_call_list_rights_sync(impl_->proxy, &raw, nullptr, &err)) {
    SetError(st, err);
    return st;
  }
  VariantPtr list(raw);
  GVariantIter it;
  g_variant_iter_init(&it, list.get());
  const gchar *cid = nullptr, *kind = nullptr, *source = nullptr;
  guint32 domain = 0;
  gint64 nb = 0, na = 0;
  gboolean play = FALSE, record = FALSE;
  while (g_variant_iter_next(&it, "(&su&sxxbb&s)", &cid, &domain, &kind, &nb, &na, &play, &record,
                             &source)) {
    out->push_back(RightsInfo{cid, domain, kind, nb, na, play != FALSE, record != FALSE, source});
  }
  return st;
}

CallStatus Client::SetParentalRating(std::uint8_t max_age) {
  ClearCacheOnReturn clear_cache{*impl_->cache};
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  if (!spc_spc1_call_set_parental_rating_sync(impl_->proxy, max_age, nullptr, &err)) {
    SetError(st, err);
  }
  return st;
}

CallStatus Client::DeviceData(std::vector<std::uint8_t>* certificate_der, std::string* device_id) {
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  g_autoptr(GVariant) cert = nullptr;
  g_autofree gchar* id = nullptr;
  if (!spc_spc1_call_device_data_sync(impl_->proxy, &cert, &id, nullptr, &err)) {
    SetError(st, err);
    return st;
  }
  gsize n = 0;
  const auto* p = static_cast<const std::uint8_t*>(g_variant_get_fixed_array(cert, &n, 1));
  certificate_der->assign(p, p + n);
  *device_id = id ? id : "";
  return st;
}

CallStatus Client::AddBroadcastService(const std::string& description, std::uint32_t* streams) {
  ClearCacheOnReturn clear_cache{*impl_->cache};
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  guint n = 0;
  if (!spc_spc1_call_add_broadcast_service_sync(impl_->proxy, description.c_str(), &n, nullptr,
                                                &err)) {
    SetError(st, err);
  }
  if (streams) *streams = n;
  return st;
}

namespace {

// A call with its own timeout (the ROAP calls last as long as the exchange with the RI).
GVariant* CallWithTimeout(SpcSPC1* proxy, const char* method, GVariant* args, int timeout_ms,
                          GError** err) {
  return g_dbus_proxy_call_sync(G_DBUS_PROXY(proxy), method, args, G_DBUS_CALL_FLAGS_NONE,
                                timeout_ms, nullptr, err);
}

}  // namespace

CallStatus Client::Register(const std::string& ri_url, std::string* ri_id, int timeout_ms) {
  ClearCacheOnReturn clear_cache{*impl_->cache};
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  g_autoptr(GVariant) out = CallWithTimeout(impl_->proxy, "Register",
                                            g_variant_new("(s)", ri_url.c_str()), timeout_ms, &err);
  if (!out) {
    SetError(st, err);
    return st;
  }
  const gchar* id = nullptr;
  g_variant_get(out, "(&s)", &id);
  if (ri_id) *ri_id = id;
  return st;
}

CallStatus Client::AcquireRights(const std::vector<std::string>& content_ids,
                                 std::vector<std::string>* installed, int timeout_ms) {
  ClearCacheOnReturn clear_cache{*impl_->cache};
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  GVariantBuilder b;
  g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
  for (const auto& c : content_ids) g_variant_builder_add(&b, "s", c.c_str());
  g_autoptr(GVariant) out =
      CallWithTimeout(impl_->proxy, "AcquireRights", g_variant_new("(as)", &b), timeout_ms, &err);
  if (!out) {
    SetError(st, err);
    return st;
  }
  g_autoptr(GVariantIter) it = nullptr;
  g_variant_get(out, "(as)", &it);
  const gchar* s = nullptr;
  while (g_variant_iter_next(it, "&s", &s)) {
    if (installed) installed->emplace_back(s);
  }
  return st;
}

CallStatus Client::HandleTrigger(std::span<const std::uint8_t> trigger, std::string* outcome,
                                 int timeout_ms) {
  ClearCacheOnReturn clear_cache{*impl_->cache};
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  GVariant* bytes =
      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, trigger.data(), trigger.size(), 1);
  g_autoptr(GVariant) out = CallWithTimeout(impl_->proxy, "HandleTrigger",
                                            g_variant_new_tuple(&bytes, 1), timeout_ms, &err);
  if (!out) {
    SetError(st, err);
    return st;
  }
  const gchar* s = nullptr;
  g_variant_get(out, "(&s)", &s);
  if (outcome) *outcome = s;
  return st;
}

HeldTekInfo::~HeldTekInfo() {
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(salt.data(), salt.size());
}

CallStatus Client::FetchStkm(const std::string& base_cid, const std::string& key_domain,
                             std::uint32_t* accepted, std::vector<std::uint16_t>* tek_ids,
                             int timeout_ms) {
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  g_autoptr(GVariant) out = CallWithTimeout(
      impl_->proxy, "FetchStkm", g_variant_new("(ss)", base_cid.c_str(), key_domain.c_str()),
      timeout_ms, &err);
  if (!out) {
    SetError(st, err);
    return st;
  }
  guint32 n = 0;
  g_autoptr(GVariant) ids = nullptr;
  g_variant_get(out, "(u@aq)", &n, &ids);
  if (accepted) *accepted = n;
  gsize count = 0;
  const auto* p =
      static_cast<const guint16*>(g_variant_get_fixed_array(ids, &count, sizeof(guint16)));
  if (tek_ids) tek_ids->assign(p, p + count);
  return st;
}

CallStatus Client::HeldTeks(const std::string& base_cid, Purpose purpose,
                            std::vector<HeldTekInfo>* out) {
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  g_autoptr(GVariant) reply =
      CallWithTimeout(impl_->proxy, "HeldTeks",
                      g_variant_new("(ss)", base_cid.c_str(), PurposeName(purpose)), -1, &err);
  if (!reply) {
    SetError(st, err);
    return st;
  }
  g_autoptr(GVariantIter) it = nullptr;
  g_variant_get(reply, "(a(qayayqy))", &it);
  guint16 id = 0, lifetime = 0;
  guchar protocol = 0;
  GVariant* tek = nullptr;
  GVariant* salt = nullptr;
  while (g_variant_iter_next(it, "(q@ay@ayqy)", &id, &tek, &salt, &lifetime, &protocol)) {
    HeldTekInfo t;
    t.id = id;
    t.lifetime = lifetime;
    t.protocol = protocol & 0x07;
    t.authenticated = (protocol & 0x80) != 0;
    const bool sizes = CopyBytes(tek, t.key) && CopyBytes(salt, t.salt);
    for (GVariant* v : {tek, salt}) {
      CleanseVariant(v);
      g_variant_unref(v);
    }
    if (!sizes) {
      st.error = Error::kFailed;
      st.message = "spcd answered with keys of the wrong size";
      if (out) out->clear();
      return st;
    }
    if (out) out->push_back(t);
  }
  return st;
}

CallStatus Client::SetChannelList(const std::vector<std::string>& sdps, int current) {
  CallStatus st;
  g_autoptr(GError) err = nullptr;
  GVariantBuilder b;
  g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
  for (const auto& s : sdps) g_variant_builder_add(&b, "s", s.c_str());
  g_autoptr(GVariant) out = CallWithTimeout(impl_->proxy, "SetChannelList",
                                            g_variant_new("(asi)", &b, current), -1, &err);
  if (!out) SetError(st, err);
  return st;
}

void Client::OnRightsMissing(std::function<void(const std::string&)> handler) {
  std::lock_guard lock(impl_->handlers_mutex);
  impl_->on_missing = std::move(handler);
}

void Client::OnRightsChanged(std::function<void(const std::vector<std::string>&)> handler) {
  std::lock_guard lock(impl_->handlers_mutex);
  impl_->on_changed = std::move(handler);
}

}  // namespace spc::client
