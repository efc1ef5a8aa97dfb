#include "gst-plugins/bcastprotect/smartcard_tek_source.h"

#include <gio/gio.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(bcast_smartcard_source_debug);
#define GST_CAT_DEFAULT bcast_smartcard_source_debug

namespace bcast {
namespace {

constexpr char kPath[] = "/org/openbcast/SPC1";
constexpr char kIface[] = "org.openbcast.SPC1";
constexpr char kErrorPrefix[] = "org.openbcast.SPC1.Error.";
// Messages answered lately: a datagram the network repeats is not sent to the card again (the
// card would refuse it as a replay).
constexpr std::size_t kRecent = 16;
constexpr std::size_t kMaxInFlight = 16;

StkmRejectReason ReasonFor(const std::string& name) {
  if (name == "CardReplay") return StkmRejectReason::kReplay;
  if (name == "CardBadMac") return StkmRejectReason::kBadMac;
  if (name == "MikeyMalformed" || name == "CardMalformedResponse") {
    return StkmRejectReason::kMalformed;
  }
  if (name == "MskUnknown" || name == "MskRequestFailed" || name == "BootstrapFailed") {
    return StkmRejectReason::kNoRights;
  }
  if (name == "InvalidArgs") return StkmRejectReason::kInvalidArgs;
  return StkmRejectReason::kFailed;
}

class SmartcardTekSource final : public TekSource {
 public:
  SmartcardTekSource(SpcdSourceOptions options, SmartcardServiceInfo service,
                     TekSourceListener* listener)
      : options_(std::move(options)), service_(std::move(service)), listener_(listener) {}
  SmartcardTekSource(const SmartcardTekSource&) = delete;
  SmartcardTekSource& operator=(const SmartcardTekSource&) = delete;

  ~SmartcardTekSource() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    if (cancellable_) g_cancellable_cancel(cancellable_);
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
    if (ctx_) {
      // Cancelled calls and queued starts finish on the context: run it until none is left.
      g_main_context_push_thread_default(ctx_);
      while (pending_.load() > 0) g_main_context_iteration(ctx_, TRUE);
      if (subscription_ && conn_) g_dbus_connection_signal_unsubscribe(conn_, subscription_);
      while (g_main_context_iteration(ctx_, FALSE)) {
      }
      g_main_context_pop_thread_default(ctx_);
    }
    if (conn_) {
      if (options_.bus == SpcdSourceOptions::Bus::kAddress) {
        g_dbus_connection_close_sync(conn_, nullptr, nullptr);
      }
      g_object_unref(conn_);
    }
    if (cancellable_) g_object_unref(cancellable_);
    if (loop_) g_main_loop_unref(loop_);
    if (ctx_) g_main_context_unref(ctx_);
  }

  bool Start(std::string* error) {
    g_autoptr(GError) err = nullptr;
    if (options_.bus == SpcdSourceOptions::Bus::kAddress) {
      conn_ = g_dbus_connection_new_for_address_sync(
          options_.address.c_str(),
          static_cast<GDBusConnectionFlags>(G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION),
          nullptr, nullptr, &err);
    } else {
      conn_ = g_bus_get_sync(
          options_.bus == SpcdSourceOptions::Bus::kSession ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM,
          nullptr, &err);
    }
    if (!conn_) {
      *error = std::string("cannot connect to the bus: ") + err->message;
      return false;
    }
    g_dbus_connection_set_exit_on_close(conn_, FALSE);
    g_autoptr(GVariant) st = g_dbus_connection_call_sync(
        conn_, options_.bus_name.c_str(), kPath, kIface, "Status", nullptr,
        G_VARIANT_TYPE("(a{sv})"),
        options_.auto_start ? G_DBUS_CALL_FLAGS_NONE : G_DBUS_CALL_FLAGS_NO_AUTO_START,
        options_.timeout_ms, nullptr, &err);
    if (!st) {
      *error = err->message;
      return false;
    }
    g_autoptr(GVariant) dict = g_variant_get_child_value(st, 0);
    gboolean smartcard = FALSE;
    if (!g_variant_lookup(dict, "smartcard", "b", &smartcard) || !smartcard) {
      *error = "spcd runs without its smartcard backend (start it with --smartcard)";
      return false;
    }
    gboolean present = FALSE;
    g_variant_lookup(dict, "card-present", "b", &present);
    card_present_ = present != FALSE;
    cancellable_ = g_cancellable_new();
    ctx_ = g_main_context_new();
    loop_ = g_main_loop_new(ctx_, FALSE);
    g_main_context_push_thread_default(ctx_);
    subscription_ = g_dbus_connection_signal_subscribe(conn_, nullptr, kIface, "CardChanged", kPath,
                                                       nullptr, G_DBUS_SIGNAL_FLAGS_NONE,
                                                       OnCardChangedSignal, this, nullptr);
    g_main_context_pop_thread_default(ctx_);
    thread_ = std::thread([this] {
      g_main_context_push_thread_default(ctx_);
      g_main_loop_run(loop_);
      g_main_context_pop_thread_default(ctx_);
    });
    return true;
  }

  SubmitResult Submit(std::span<const std::uint8_t> message, std::string_view base_cid) override {
    auto call = std::make_unique<Call>();
    call->self = this;
    call->message.assign(message.begin(), message.end());
    call->base_cid = base_cid;
    const std::string key(reinterpret_cast<const char*>(message.data()), message.size());
    {
      std::lock_guard lock(mu_);
      if (stopping_) return SubmitResult::kDropped;
      if (in_flight_.count(key) ||
          std::find(recent_.begin(), recent_.end(), key) != recent_.end()) {
        return SubmitResult::kInFlight;
      }
      if (in_flight_.size() >= kMaxInFlight) return SubmitResult::kDropped;
      in_flight_.insert(key);
    }
    ++pending_;
    GSource* s = g_idle_source_new();
    g_source_set_callback(s, StartCall, call.release(), nullptr);
    g_source_attach(s, ctx_);
    g_source_unref(s);
    return SubmitResult::kSubmitted;
  }

  std::string Describe() const override {
    return "spcd's smartcard (" + options_.bus_name + " on " + DescribeBus(options_) + ")";
  }

 private:
  struct Call {
    SmartcardTekSource* self = nullptr;
    std::vector<std::uint8_t> message;
    std::string base_cid;
  };

  static gboolean StartCall(gpointer data) {
    Call* call = static_cast<Call*>(data);
    SmartcardTekSource* self = call->self;
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{ss}"));
    auto add = [&](const char* k, const std::string& v) {
      if (!v.empty()) g_variant_builder_add(&b, "{ss}", k, v.c_str());
    };
    add("bsf-url", self->service_.bsf_url);
    add("bsm-url", self->service_.bsm_url);
    std::string domain = self->service_.key_domain;
    if (!domain.empty() && domain.size() < 6) domain.insert(0, 6 - domain.size(), '0');
    add("key-domain", domain);
    GVariant* msg = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, call->message.data(),
                                              call->message.size(), 1);
    // An MSK request may run first (bootstrapping, BSM): a longer timeout than plain calls.
    g_dbus_connection_call(
        self->conn_, self->options_.bus_name.c_str(), kPath, kIface, "ProcessMtk",
        g_variant_new("(@ays@a{ss})", msg, call->base_cid.c_str(), g_variant_builder_end(&b)),
        G_VARIANT_TYPE("(ayayayuqqyb)"),
        self->options_.auto_start ? G_DBUS_CALL_FLAGS_NONE : G_DBUS_CALL_FLAGS_NO_AUTO_START,
        std::max(self->options_.timeout_ms, 60000), self->cancellable_, OnCallDone, call);
    return G_SOURCE_REMOVE;
  }

  static void OnCallDone(GObject* source, GAsyncResult* res, gpointer data) {
    std::unique_ptr<Call> call(static_cast<Call*>(data));
    SmartcardTekSource* self = call->self;
    g_autoptr(GError) err = nullptr;
    g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &err);
    const std::string key(reinterpret_cast<const char*>(call->message.data()),
                          call->message.size());
    bool stopping = false;
    {
      std::lock_guard lock(self->mu_);
      self->in_flight_.erase(key);
      stopping = self->stopping_;
      if (r && !stopping) {
        self->recent_.push_back(key);
        if (self->recent_.size() > kRecent) self->recent_.pop_front();
      }
    }
    if (!stopping) self->Answer(*call, r, err);
    --self->pending_;
  }

  void Answer(const Call& call, GVariant* r, GError* err) {
    if (!r) {
      g_autofree gchar* remote = g_dbus_error_get_remote_error(err);
      std::string name = remote ? remote : "";
      g_dbus_error_strip_remote_error(err);
      StkmRejection rej;
      rej.content_id = call.base_cid;
      rej.detail = std::string(err->message) + (name.empty() ? "" : " (" + name + ")");
      // With the card out, every key message fails alike: CardChanged already said so.
      if (name == std::string(kErrorPrefix) + "NoCard" && !card_present_.load() &&
          card_reported_.load()) {
        return;
      }
      if (name.rfind(kErrorPrefix, 0) == 0) {
        rej.reason = ReasonFor(name.substr(sizeof kErrorPrefix - 1));
      } else {
        rej.reason = StkmRejectReason::kUnavailable;  // no answer from spcd
      }
      listener_->OnRejected(rej);
      return;
    }
    g_autoptr(GVariant) mki = nullptr;
    g_autoptr(GVariant) tek = nullptr;
    g_autoptr(GVariant) salt = nullptr;
    guint32 msk_id = 0;
    guint16 mtk_id = 0, lifetime = 0;
    guchar protocol = 0;
    gboolean authenticated = FALSE;
    g_variant_get(r, "(@ay@ay@ayuqqyb)", &mki, &tek, &salt, &msk_id, &mtk_id, &lifetime, &protocol,
                  &authenticated);
    gsize tek_n = 0, salt_n = 0;
    const void* tek_p = g_variant_get_fixed_array(tek, &tek_n, 1);
    const void* salt_p = g_variant_get_fixed_array(salt, &salt_n, 1);
    if (tek_n != 16 || salt_n != 14) {
      StkmRejection rej;
      rej.reason = StkmRejectReason::kFailed;
      rej.content_id = call.base_cid;
      rej.detail = "spcd answered a TEK of " + std::to_string(tek_n) + " bytes";
      listener_->OnRejected(rej);
      return;
    }
    OpenedStkm opened;
    opened.content_id = call.base_cid;
    opened.current.id = mtk_id;
    opened.current.msk_id = msk_id;
    std::memcpy(opened.current.key, tek_p, 16);
    std::memcpy(opened.current.salt, salt_p, 14);
    opened.current.lifetime_s = lifetime;
    opened.current.protocol = protocol;
    opened.current.authenticated = authenticated;
    NoteKey((static_cast<std::uint64_t>(msk_id) << 16) | mtk_id);
    listener_->OnOpened(opened);
    OPENSSL_cleanse(&opened.current, sizeof(opened.current));
  }

  // The key period, from the times new key IDs appear: how long the held keys last.
  void NoteKey(std::uint64_t key_id) {
    std::lock_guard lock(mu_);
    if (!seen_.insert(key_id).second) return;
    const std::int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    if (last_new_ > 0 && now > last_new_) period_ = now - last_new_;
    last_new_ = now;
  }

  std::int64_t HeldUntil() {
    std::lock_guard lock(mu_);
    if (last_new_ == 0 || period_ == 0) return 0;
    return last_new_ + period_;
  }

  static void OnCardChangedSignal(GDBusConnection*, const gchar*, const gchar*, const gchar*,
                                  const gchar*, GVariant* params, gpointer data) {
    auto* self = static_cast<SmartcardTekSource*>(data);
    gboolean present = FALSE;
    const gchar* reader = nullptr;
    if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(bs)"))) return;
    g_variant_get(params, "(b&s)", &present, &reader);
    {
      std::lock_guard lock(self->mu_);
      if (self->stopping_) return;
    }
    self->card_present_ = present != FALSE;
    self->card_reported_ = true;
    GST_INFO("smartcard %s (%s)", present ? "inserted" : "removed", reader);
    self->listener_->OnCardChanged(present != FALSE, reader, self->HeldUntil());
  }

  const SpcdSourceOptions options_;
  const SmartcardServiceInfo service_;
  TekSourceListener* const listener_;

  std::mutex mu_;
  bool stopping_ = false;
  std::set<std::string> in_flight_;
  std::deque<std::string> recent_;
  std::set<std::uint64_t> seen_;
  std::int64_t last_new_ = 0;
  std::int64_t period_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<bool> card_present_{false};
  std::atomic<bool> card_reported_{false};  // a CardChanged reached the listener

  GDBusConnection* conn_ = nullptr;
  GCancellable* cancellable_ = nullptr;
  GMainContext* ctx_ = nullptr;
  GMainLoop* loop_ = nullptr;
  guint subscription_ = 0;
  std::thread thread_;
};

}  // namespace

spc::Result<std::unique_ptr<TekSource>, std::string> MakeSmartcardTekSource(
    const SpcdSourceOptions& options, const SmartcardServiceInfo& service,
    TekSourceListener* listener) {
  static gsize debug_init = 0;
  if (g_once_init_enter(&debug_init)) {
    GST_DEBUG_CATEGORY_INIT(bcast_smartcard_source_debug, "bcastsmartcard", 0,
                            "tekdec's Smartcard Profile key source");
    g_once_init_leave(&debug_init, 1);
  }
  auto source = std::make_unique<SmartcardTekSource>(options, service, listener);
  std::string error;
  if (!source->Start(&error)) return error;
  return std::unique_ptr<TekSource>(std::move(source));
}

}  // namespace bcast
