/**
 * SECTION:element-tekdec
 * @title: tekdec
 * @short_description: turns OMA BCAST STKMs into TEKs in the pipeline's keyring
 *
 * tekdec is the sink of the key stream. For each STKM it obtains the TEK and the announced next
 * TEK and puts them into the keyring that the pipeline shares as GstContext `openbcast.keyring`,
 * where bcastsrtpdec and ismacrypdec find them by TEK ID.
 *
 * By default the TEKs come from the SP-C daemon spcd (`org.openbcast.SPC1` on the system bus,
 * #GstTekDec:bus, #GstTekDec:bus-address, #GstTekDec:bus-name): tekdec sends each STKM with
 * ProcessStkmFor and the long-term keys (SEK/SAK, PEK/PAK) never enter the pipeline. The calls are
 * asynchronous: the streaming thread never waits for D-Bus, and an STKM already on its way to spcd
 * is not sent again. When spcd goes away while playing, tekdec warns once, keeps the TEKs it has
 * (playback goes on with them), keeps the latest STKMs it could not send and sends them as soon
 * as spcd owns its name again. With #GstTekDec:sek-file set, the long-term keys come from a key
 * file instead (conformance runs and tests) and spcd is not used.
 *
 * Smartcard Profile (#GstTekDec:profile "smartcard", with #GstTekDec:bsf-url, #GstTekDec:bsm-url
 * and #GstTekDec:key-domain from the SDP): each key-stream datagram is a MIKEY MTK message that
 * goes to spcd's ProcessMtk (spcd --smartcard hands it to the (U)SIM); the TEK enters the keyring
 * with its MSK ID and MTK ID (SRTP MKI = MSK ID ‖ MTK ID, 6 bytes).
 *
 * The base CID that forms content IDs comes from the `base-cid` caps field (set by stkmparse) or
 * the #GstTekDec:base-cid property, which wins.
 *
 * Element messages:
 *
 * * `openbcast-tek`: an STKM brought a TEK ID not learned before: `tek-id` (uint), `has-next`
 *   (boolean), `next-tek-id` (uint, 0 without next), `content-id` (string), `protocol` (uint,
 *   traffic_protection_protocol: 1 SRTP, 2 ISMACryp), `lifetime` (uint, seconds),
 *   `authenticated` (boolean).
 * * `openbcast-stkm-rejected`: `reason` (string: spcd's D-Bus error short name in kebab case:
 *   "bad-mac", "no-rights", "malformed", "replay", "expired", "not-permitted", "invalid-args",
 *   "failed", or "unavailable" when spcd did not answer), `content-id` (string, the content ID
 *   the STKM names; empty when it could not be parsed), `detail` (string).
 * * `bcast-tek-ready`: the first time after start that a TEK is usable for the stream:
 *   `base-cid` (string), `tek-id` (uint), `source` (string: "held" = from spcd's HeldTeks before
 *   the key stream delivered one, "stkm" = from the key stream, "fetch" = fetched over the
 *   interaction channel).
 * * `openbcast-smartcard` (profile "smartcard"): `present` (boolean), `reader` (string),
 *   `held-until` (int64, seconds since 1970 when the TEKs held are expected to run out, 0
 *   unknown): spcd's CardChanged. While the card is out the TEKs held keep the media playing.
 * * `openbcast-spcd` (spcd mode): `available` (boolean), `bus` (string: "system", "session" or
 *   the address), `bus-name` (string), `detail` (string). Posted when the element starts
 *   (available), when spcd goes away and when it answers again.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 udpsrc port=5004 caps=application/x-bcast-stkm ! \
 *     stkmparse base-cid=urn:openbcast:svc:news: ! tekdec bus=session \
 *   udpsrc port=5006 caps=application/x-srtp ! bcastsrtpdec ! ...
 * ]|
 */
#include "gst-plugins/bcastprotect/tekdec.h"

#include <gio/gio.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "gst-plugins/bcastprotect/smartcard_tek_source.h"
#include "gst-plugins/bcastprotect/tek_fetch.h"
#include "spc/client/spc_client.h"
#include "spc/libspc/crypto.h"
#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

GST_DEBUG_CATEGORY_STATIC(gst_tek_dec_debug);
#define GST_CAT_DEFAULT gst_tek_dec_debug

namespace bcast {

const char* StkmRejectReasonName(StkmRejectReason reason) {
  switch (reason) {
    case StkmRejectReason::kMalformed:
      return "malformed";
    case StkmRejectReason::kNoRights:
      return "no-rights";
    case StkmRejectReason::kBadMac:
      return "bad-mac";
    case StkmRejectReason::kReplay:
      return "replay";
    case StkmRejectReason::kExpired:
      return "expired";
    case StkmRejectReason::kNotPermitted:
      return "not-permitted";
    case StkmRejectReason::kInvalidArgs:
      return "invalid-args";
    case StkmRejectReason::kFailed:
      return "failed";
    case StkmRejectReason::kUnavailable:
      return "unavailable";
  }
  return "failed";
}

std::string DescribeBus(const SpcdSourceOptions& options) {
  switch (options.bus) {
    case SpcdSourceOptions::Bus::kSystem:
      return "the system bus";
    case SpcdSourceOptions::Bus::kSession:
      return "the session bus";
    case SpcdSourceOptions::Bus::kAddress:
      return "the bus at " + options.address;
  }
  return "the system bus";
}

namespace {

BcastTek ToBcastTek(const spc::TrafficKey& key, const spc::Stkm& stkm) {
  BcastTek tek{};
  tek.id = key.id;
  std::memcpy(tek.key, key.key.data(), sizeof(tek.key));
  std::memcpy(tek.salt, key.salt.data(), sizeof(tek.salt));
  tek.lifetime_s = stkm.traffic_key_lifetime;
  tek.protocol = stkm.traffic_protection_protocol;
  tek.authenticated = stkm.traffic_authentication_flag ? TRUE : FALSE;
  return tek;
}

// Long-term keys held in this process, from the key file of stkm.md. Answers synchronously.
class KeyFileTekSource final : public TekSource {
 public:
  KeyFileTekSource(std::string path, spc::KeyTable keys, TekSourceListener* listener)
      : path_(std::move(path)), keys_(std::move(keys)), listener_(listener) {}
  KeyFileTekSource(const KeyFileTekSource&) = delete;
  KeyFileTekSource& operator=(const KeyFileTekSource&) = delete;
  ~KeyFileTekSource() override {
    for (auto& [cid, key] : keys_) {
      OPENSSL_cleanse(key.encryption_key.data(), key.encryption_key.size());
      OPENSSL_cleanse(key.authentication_key.data(), key.authentication_key.size());
    }
  }

  SubmitResult Submit(std::span<const std::uint8_t> stkm, std::string_view base_cid) override {
    auto opened = Open(stkm, base_cid);
    if (opened) {
      listener_->OnOpened(opened.value());
      OPENSSL_cleanse(&opened->current, sizeof(opened->current));
      if (opened->next) OPENSSL_cleanse(&*opened->next, sizeof(*opened->next));
    } else {
      listener_->OnRejected(opened.error());
    }
    return SubmitResult::kSubmitted;
  }

  std::string Describe() const override { return "the key file " + path_; }

 private:
  spc::Result<OpenedStkm, StkmRejection> Open(std::span<const std::uint8_t> stkm,
                                              std::string_view base_cid) {
    auto parsed = spc::ParseStkm(stkm);
    if (!parsed) {
      const spc::ParseError& err = parsed.error();
      return StkmRejection{
          StkmRejectReason::kMalformed,
          {},
          "field " + err.field + " at offset " + std::to_string(err.offset) + ": " + err.message,
          0};
    }
    std::string cid = spc::StkmContentId(*parsed, base_cid);
    auto it = keys_.find(cid);
    const spc::LongTermKey* key = it == keys_.end() ? nullptr : &it->second;
    auto opened = spc::OpenStkmWithKey(stkm, *parsed, cid, key);
    if (!opened) {
      const spc::StkmFailure& failure = opened.error();
      StkmRejection rejection;
      rejection.tek_id = parsed->traffic_key_id;
      rejection.content_id = failure.content_id.empty() ? cid : failure.content_id;
      rejection.detail = failure.message;
      switch (failure.code) {
        case spc::StkmError::kMalformed:
          rejection.reason = StkmRejectReason::kMalformed;
          break;
        case spc::StkmError::kNoRights:
          rejection.reason = StkmRejectReason::kNoRights;
          break;
        case spc::StkmError::kBadMac:
          rejection.reason = StkmRejectReason::kBadMac;
          break;
      }
      return rejection;
    }
    spc::StkmKeys& keys = opened.value();
    OpenedStkm out;
    out.content_id = keys.content_id;
    out.current = ToBcastTek(keys.current, keys.stkm);
    if (keys.next) out.next = ToBcastTek(*keys.next, keys.stkm);
    // The plain TEKs now live in `out` only.
    OPENSSL_cleanse(keys.current.key.data(), keys.current.key.size());
    if (keys.next) OPENSSL_cleanse(keys.next->key.data(), keys.next->key.size());
    return out;
  }

  std::string path_;
  spc::KeyTable keys_;
  TekSourceListener* listener_;
};

StkmRejectReason ReasonOf(spc::client::Error error) {
  using spc::client::Error;
  switch (error) {
    case Error::kMalformed:
      return StkmRejectReason::kMalformed;
    case Error::kNoRights:
      return StkmRejectReason::kNoRights;
    case Error::kBadMac:
      return StkmRejectReason::kBadMac;
    case Error::kReplay:
      return StkmRejectReason::kReplay;
    case Error::kExpired:
      return StkmRejectReason::kExpired;
    case Error::kNotPermitted:
      return StkmRejectReason::kNotPermitted;
    case Error::kInvalidArgs:
      return StkmRejectReason::kInvalidArgs;
    case Error::kUnavailable:
      return StkmRejectReason::kUnavailable;
    case Error::kNone:
    case Error::kFailed:
    case Error::kInvalidKeyFile:
      break;
  }
  return StkmRejectReason::kFailed;
}

BcastTek ToBcastTek(const spc::TrafficKey& key, const spc::client::TekResult& r) {
  BcastTek tek{};
  tek.id = key.id;
  std::memcpy(tek.key, key.key.data(), sizeof(tek.key));
  std::memcpy(tek.salt, key.salt.data(), sizeof(tek.salt));
  tek.lifetime_s = r.lifetime;
  tek.protocol = r.protocol;
  tek.authenticated = r.authenticated ? TRUE : FALSE;
  return tek;
}

// While spcd is away: how often the newest unsent STKM is tried again (it is what brings spcd
// back by D-Bus activation, and what notices a daemon that stopped answering without leaving).
constexpr guint kProbeIntervalMs = 1000;
// Unsent STKMs kept for when spcd is back (the newest distinct ones; one per stream is enough).
constexpr std::size_t kKeptStkms = 4;
// More calls than this waiting for spcd: it is stuck, further STKMs are dropped.
constexpr std::size_t kMaxInFlight = 16;

// spcd over D-Bus through the client library. Threads: Submit runs on the streaming thread, the
// answers on the client's thread, the name watch and the retries on a thread of this source
// ("tekdec-spcd"). Only the streaming thread and that thread send, so that no call starts while
// the client is being destroyed.
class SpcdTekSource final : public TekSource {
 public:
  SpcdTekSource(SpcdSourceOptions options, TekSourceListener* listener,
                std::unique_ptr<spc::client::Client> client)
      : options_(std::move(options)), listener_(listener), client_(std::move(client)) {}
  SpcdTekSource(const SpcdTekSource&) = delete;
  SpcdTekSource& operator=(const SpcdTekSource&) = delete;

  ~SpcdTekSource() override {
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
    if (watch_id_ != 0) {
      // The watcher is freed by its destroy notify, dispatched in its context.
      g_bus_unwatch_name(watch_id_);
      while (!watch_released_) g_main_context_iteration(ctx_, TRUE);
    }
    if (conn_ != nullptr) {
      if (options_.bus == SpcdSourceOptions::Bus::kAddress) {
        g_dbus_connection_close_sync(conn_, nullptr, nullptr);
      }
      g_object_unref(conn_);
    }
    // Pending answers come back as kUnavailable and are ignored (stopping_).
    client_.reset();
    if (loop_ != nullptr) g_main_loop_unref(loop_);
    if (ctx_ != nullptr) g_main_context_unref(ctx_);
  }

  // Watches the name from now on (spcd was just seen answering).
  bool StartWatch(std::string* error) {
    ctx_ = g_main_context_new();
    loop_ = g_main_loop_new(ctx_, FALSE);
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
    if (conn_ == nullptr) {
      *error = std::string("cannot connect to the bus: ") + err->message;
      return false;
    }
    // A lost bus must not end the player's process.
    g_dbus_connection_set_exit_on_close(conn_, FALSE);
    g_main_context_push_thread_default(ctx_);
    watch_id_ = g_bus_watch_name_on_connection(conn_, options_.bus_name.c_str(),
                                               G_BUS_NAME_WATCHER_FLAGS_NONE, OnNameAppeared,
                                               OnNameVanished, this, OnWatchReleased);
    g_main_context_pop_thread_default(ctx_);
    thread_ = std::thread([this] {
      g_main_context_push_thread_default(ctx_);
      g_main_loop_run(loop_);
      g_main_context_pop_thread_default(ctx_);
    });
    return true;
  }

  SubmitResult Submit(std::span<const std::uint8_t> stkm, std::string_view base_cid) override {
    auto req = std::make_shared<Request>();
    req->stkm.assign(stkm.begin(), stkm.end());
    req->base_cid = base_cid;
    req->key = req->base_cid;
    req->key.push_back('\0');
    req->key.append(reinterpret_cast<const char*>(stkm.data()), stkm.size());
    // spcd judges the STKM; parsed here only to name the content ID and TEK in messages (the
    // D-Bus errors carry text only).
    if (auto parsed = spc::ParseStkm(stkm)) {
      req->content_id = spc::StkmContentId(*parsed, base_cid);
      req->tek_id = parsed->traffic_key_id;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return SubmitResult::kDropped;
      if (in_flight_.count(req->key) != 0) return SubmitResult::kInFlight;
      if (!available_) {
        KeepLocked(req);
        return SubmitResult::kDropped;
      }
      if (in_flight_.size() >= kMaxInFlight) return SubmitResult::kDropped;
      in_flight_.insert(req->key);
    }
    Send(std::move(req));
    return SubmitResult::kSubmitted;
  }

  std::string Describe() const override {
    return "spcd (" + options_.bus_name + " on " + DescribeBus(options_) + ")";
  }

 private:
  struct Request {
    std::string key;  // base CID, NUL, STKM bytes: identity for "already in flight"
    std::vector<std::uint8_t> stkm;
    std::string base_cid;
    std::string content_id;
    std::uint16_t tek_id = 0;
    bool retry = false;  // sent again after spcd was away: its failure is already counted
  };
  using RequestPtr = std::shared_ptr<Request>;

  void Send(RequestPtr req) {
    GST_LOG("STKM (%zu bytes, TEK %u of %s) to spcd%s", req->stkm.size(), req->tek_id,
            req->content_id.c_str(), req->retry ? ", sent again" : "");
    client_->ProcessStkmAsync(
        req->stkm, req->base_cid,
        options_.record ? spc::client::Purpose::kRecord : spc::client::Purpose::kPlay,
        [this, req](spc::client::TekResult result) { OnAnswer(*req, std::move(result)); });
  }

  // Runs on the client's thread.
  void OnAnswer(const Request& req, spc::client::TekResult result) {
    const bool unavailable = result.error == spc::client::Error::kUnavailable;
    bool went_down = false, came_back = false;
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(req.key);
      if (stopping_) return;
      if (unavailable) {
        went_down = available_;
        available_ = false;
        KeepLocked(std::make_shared<Request>(req));
        EnsureProbeTimerLocked();
      } else {
        std::erase_if(kept_, [&](const RequestPtr& k) { return k->key == req.key; });
        came_back = !available_;
        available_ = true;
        if (came_back && !kept_.empty()) {
          // Sent from this source's thread: see the class comment.
          g_main_context_invoke(ctx_, ResendKept, this);
        }
      }
    }
    if (went_down) listener_->OnAvailability(false, result.message);
    if (came_back) listener_->OnAvailability(true, "answered again");

    if (result.ok()) {
      OpenedStkm opened;
      opened.content_id = result.content_id;
      opened.current = ToBcastTek(result.current, result);
      if (result.next) opened.next = ToBcastTek(*result.next, result);
      listener_->OnOpened(opened);
      OPENSSL_cleanse(&opened.current, sizeof(opened.current));
      if (opened.next) OPENSSL_cleanse(&*opened.next, sizeof(*opened.next));
      return;
    }
    if (unavailable && req.retry) return;
    StkmRejection rejection;
    rejection.reason = ReasonOf(result.error);
    rejection.content_id = req.content_id;
    rejection.tek_id = req.tek_id;
    rejection.detail = result.message;
    if (!result.error_name.empty()) rejection.detail += " (" + result.error_name + ")";
    listener_->OnRejected(rejection);
  }

  void KeepLocked(RequestPtr req) {
    std::erase_if(kept_, [&](const RequestPtr& k) { return k->key == req->key; });
    req->retry = true;
    kept_.push_front(std::move(req));
    if (kept_.size() > kKeptStkms) kept_.pop_back();
  }

  void EnsureProbeTimerLocked() {
    if (probe_timer_) return;
    probe_timer_ = true;
    GSource* timer = g_timeout_source_new(kProbeIntervalMs);
    g_source_set_callback(timer, ProbeTick, this, nullptr);
    g_source_attach(timer, ctx_);
    g_source_unref(timer);
  }

  // The newest kept STKM not in flight, marked in flight; null when there is none.
  RequestPtr TakeProbeLocked() {
    for (const RequestPtr& k : kept_) {
      if (in_flight_.count(k->key) == 0) {
        in_flight_.insert(k->key);
        return k;
      }
    }
    return nullptr;
  }

  static gboolean ProbeTick(gpointer data) {
    auto* self = static_cast<SpcdTekSource*>(data);
    RequestPtr probe;
    {
      std::lock_guard lock(self->mu_);
      if (self->stopping_ || self->available_) {
        self->probe_timer_ = false;
        return G_SOURCE_REMOVE;
      }
      probe = self->TakeProbeLocked();
    }
    if (probe) self->Send(std::move(probe));
    return G_SOURCE_CONTINUE;
  }

  static gboolean ResendKept(gpointer data) {
    auto* self = static_cast<SpcdTekSource*>(data);
    std::vector<RequestPtr> resend;
    {
      std::lock_guard lock(self->mu_);
      if (self->stopping_ || !self->available_) return G_SOURCE_REMOVE;
      for (const RequestPtr& k : self->kept_) {
        if (self->in_flight_.insert(k->key).second) resend.push_back(k);
      }
      self->kept_.clear();
    }
    GST_DEBUG("spcd answers again: sending %zu kept STKMs", resend.size());
    for (RequestPtr& r : resend) self->Send(std::move(r));
    return G_SOURCE_REMOVE;
  }

  static void OnNameAppeared(GDBusConnection*, const gchar* name, const gchar* owner,
                             gpointer data) {
    auto* self = static_cast<SpcdTekSource*>(data);
    RequestPtr probe;
    bool came_back = false;
    {
      std::lock_guard lock(self->mu_);
      if (self->stopping_ || self->available_) return;
      GST_DEBUG("%s owned by %s again", name, owner);
      // With STKMs waiting, spcd counts as back once it answers one of them.
      probe = self->TakeProbeLocked();
      if (!probe && self->kept_.empty()) {
        self->available_ = true;
        came_back = true;
      }
    }
    if (came_back) self->listener_->OnAvailability(true, std::string(name) + " owned again");
    if (probe) self->Send(std::move(probe));
  }

  static void OnWatchReleased(gpointer data) {
    static_cast<SpcdTekSource*>(data)->watch_released_ = true;
  }

  static void OnNameVanished(GDBusConnection* conn, const gchar* name, gpointer data) {
    auto* self = static_cast<SpcdTekSource*>(data);
    {
      std::lock_guard lock(self->mu_);
      if (self->stopping_ || !self->available_) return;
      self->available_ = false;
      self->EnsureProbeTimerLocked();
    }
    self->listener_->OnAvailability(
        false, conn == nullptr ? "lost the bus connection"
                               : std::string(name) + " has no owner (spcd stopped or crashed)");
  }

  const SpcdSourceOptions options_;
  TekSourceListener* const listener_;

  std::mutex mu_;
  bool stopping_ = false;
  bool available_ = true;
  bool probe_timer_ = false;
  std::set<std::string> in_flight_;
  std::deque<RequestPtr> kept_;  // newest first

  GMainContext* ctx_ = nullptr;
  GMainLoop* loop_ = nullptr;
  GDBusConnection* conn_ = nullptr;
  guint watch_id_ = 0;
  bool watch_released_ = false;  // set and read on the context's owner only
  std::thread thread_;

  std::unique_ptr<spc::client::Client> client_;
};

}  // namespace

spc::Result<std::unique_ptr<TekSource>, std::string> MakeKeyFileTekSource(
    const std::string& path, TekSourceListener* listener) {
  auto table = spc::LoadKeyFile(path);
  if (!table) {
    const spc::ParseError& err = table.error();
    std::string text = err.message;
    if (!err.field.empty()) text += " (group [" + err.field + "]";
    if (!err.field.empty() && err.offset != 0) text += ", line " + std::to_string(err.offset);
    if (!err.field.empty()) text += ")";
    return text;
  }
  return std::unique_ptr<TekSource>(
      std::make_unique<KeyFileTekSource>(path, std::move(table.value()), listener));
}

spc::Result<std::unique_ptr<TekSource>, std::string> MakeSpcdTekSource(
    const SpcdSourceOptions& options, TekSourceListener* listener) {
  spc::client::Options client_options;
  switch (options.bus) {
    case SpcdSourceOptions::Bus::kSystem:
      client_options.bus = spc::client::Bus::kSystem;
      break;
    case SpcdSourceOptions::Bus::kSession:
      client_options.bus = spc::client::Bus::kSession;
      break;
    case SpcdSourceOptions::Bus::kAddress:
      client_options.bus = spc::client::Bus::kAddress;
      break;
  }
  client_options.address = options.address;
  client_options.bus_name = options.bus_name;
  client_options.timeout_ms = options.timeout_ms;
  client_options.auto_start = options.auto_start;
  // The repeats stkmparse lets through (one per repeat-timeout) are answered in this process.
  client_options.answer_cache_ms = spc::client::kDefaultAnswerCacheMs;
  std::string error;
  auto client = spc::client::Client::Connect(client_options, &error);
  if (!client) return error;
  // Blocking, but on the state-change thread: the element must not reach PAUSED without keys.
  spc::client::StatusInfo status;
  spc::client::CallStatus st = client->Status(&status);
  if (!st.ok() && st.error == spc::client::Error::kUnavailable) {
    return st.message.empty() ? std::string("no answer") : st.message;
  }
  GST_INFO("spcd %s answers on %s as %s: %u rights", status.version.c_str(),
           DescribeBus(options).c_str(), options.bus_name.c_str(), status.rights);
  auto source = std::make_unique<SpcdTekSource>(options, listener, std::move(client));
  if (!source->StartWatch(&error)) return error;
  return std::unique_ptr<TekSource>(std::move(source));
}

}  // namespace bcast

namespace {

// Warnings for rejected STKMs: the first few, then one in this many (the counters count all).
constexpr guint kWarnFirst = 5;
constexpr guint kWarnEvery = 100;
bool ShouldWarn(guint count) { return count <= kWarnFirst || count % kWarnEvery == 0; }

// TEK IDs this element has announced, to post "openbcast-tek" once per new ID. A ring rather than
// a set so that the 16-bit ID space may wrap on a long-running stream.
constexpr std::size_t kLearnedIds = 64;

constexpr char kDefaultBusName[] = "org.openbcast.SPC1";
constexpr guint kDefaultTimeoutMs = 10000;

}  // namespace

typedef enum {
  GST_TEK_DEC_BUS_SYSTEM,
  GST_TEK_DEC_BUS_SESSION,
  GST_TEK_DEC_BUS_ADDRESS,
} GstTekDecBus;

typedef enum {
  GST_TEK_DEC_PURPOSE_PLAY,
  GST_TEK_DEC_PURPOSE_RECORD,
} GstTekDecPurpose;

static GType gst_tek_dec_bus_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_TEK_DEC_BUS_SYSTEM, "The system bus", "system"},
      {GST_TEK_DEC_BUS_SESSION, "The session bus", "session"},
      {GST_TEK_DEC_BUS_ADDRESS, "The bus at bus-address", "address"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    g_once_init_leave(&type, g_enum_register_static("GstTekDecBus", values));
  }
  return type;
}

static GType gst_tek_dec_purpose_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_TEK_DEC_PURPOSE_PLAY, "Play the service", "play"},
      {GST_TEK_DEC_PURPOSE_RECORD, "Record the service (needs the record permission)", "record"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    g_once_init_leave(&type, g_enum_register_static("GstTekDecPurpose", values));
  }
  return type;
}

namespace {

// Hands the source's answers to the element (any thread).
class ElementListener final : public bcast::TekSourceListener {
 public:
  explicit ElementListener(GstTekDec* self) : self_(self) {}
  void OnOpened(bcast::OpenedStkm& keys) override;
  void OnRejected(const bcast::StkmRejection& rejection) override;
  void OnAvailability(bool available, const std::string& detail) override;
  void OnCardChanged(bool present, const std::string& reader, std::int64_t held_until) override;
  // origin: "stkm" (the key stream), "held" or "fetch" (TekFetcher).
  void OnOpenedFrom(bcast::OpenedStkm& keys, const char* origin);

 private:
  GstTekDec* self_;
};

struct StreamState {
  std::unique_ptr<bcast::TekSource> source;
  std::string source_name;  // source->Describe()
  // GstBaseSink calls prepare a second time for the buffer it prerolls on; the reference keeps
  // the address from being reused by a different buffer meanwhile.
  GstBuffer* last_buffer = nullptr;
  // Object lock (answers may arrive on the spcd client's thread).
  std::array<guint16, kLearnedIds> learned{};
  std::size_t n_learned = 0;
  std::size_t next_learned = 0;

  bool Learned(guint16 id) const {
    return std::find(learned.begin(), learned.begin() + n_learned, id) !=
           learned.begin() + n_learned;
  }
  void Learn(guint16 id) {
    learned[next_learned] = id;
    next_learned = (next_learned + 1) % kLearnedIds;
    n_learned = std::min(n_learned + 1, kLearnedIds);
  }
  StreamState() = default;
  StreamState(const StreamState&) = delete;
  StreamState& operator=(const StreamState&) = delete;
  ~StreamState() { Clear(); }

  // Held TEKs and STKM fetching (spcd mode; tek_fetch.h). Object lock for the pointer.
  std::shared_ptr<bcast::TekFetcher> fetcher;
  bcast::TekFetcher::Counters fetch_last;  // object lock: the counters of the last fetcher
  bool tek_ready = false;                  // object lock: bcast-tek-ready posted

  // The fetcher and the source first: their threads may still deliver answers until gone.
  void Clear() {
    std::shared_ptr<bcast::TekFetcher> f = std::move(fetcher);
    f.reset();
    source.reset();
    tek_ready = false;
    source_name.clear();
    gst_clear_buffer(&last_buffer);
    n_learned = next_learned = 0;
  }
};

}  // namespace

struct _GstTekDec {
  GstBaseSink parent;

  // Object lock.
  gchar* sek_file;
  gchar* base_cid;       // property
  gchar* caps_base_cid;  // from the sink caps
  GstTekDecBus bus;
  gchar* bus_address;
  gchar* bus_name;
  GstTekDecPurpose purpose;
  gboolean auto_start;
  guint timeout_ms;
  BcastKeyring* keyring;
  guint teks;
  guint opened;
  guint bad_mac;
  guint no_rights;
  guint malformed;
  guint replay;
  guint expired;
  guint not_permitted;
  guint failed;
  guint unavailable;
  gboolean connected;
  guint fetch_after_ms;
  gchar* key_domain;
  gboolean ask_held;

  // Smartcard Profile (a=bcast-profile:smartcard): MIKEY MTK messages go to spcd's ProcessMtk.
  gchar* profile;
  gchar* bsf_url;
  gchar* bsm_url;

  // C++ members, constructed in init and destroyed in finalize.
  std::string bus_label;     // object lock: "system", "session" or the address, for messages
  ElementListener listener;  // the key source's answers
  StreamState state;         // streaming thread (and start/stop)
};

enum {
  PROP_0,
  PROP_SEK_FILE,
  PROP_BASE_CID,
  PROP_BUS,
  PROP_BUS_ADDRESS,
  PROP_BUS_NAME,
  PROP_PURPOSE,
  PROP_AUTO_START,
  PROP_TIMEOUT,
  PROP_TEKS,
  PROP_OPENED,
  PROP_BAD_MAC,
  PROP_NO_RIGHTS,
  PROP_MALFORMED,
  PROP_REPLAY,
  PROP_EXPIRED,
  PROP_NOT_PERMITTED,
  PROP_FAILED,
  PROP_UNAVAILABLE,
  PROP_CONNECTED,
  PROP_FETCH_AFTER,
  PROP_KEY_DOMAIN,
  PROP_ASK_HELD,
  PROP_FETCH_REQUESTS,
  PROP_FETCHED_ACCEPTED,
  PROP_FETCHED_REFUSED,
  PROP_FETCH_ERRORS,
  PROP_HELD_TEKS,
  PROP_KEY_STREAM_RETURNS,
  PROP_FETCHING,
  PROP_PROFILE,
  PROP_BSF_URL,
  PROP_BSM_URL,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("application/x-bcast-stkm"));

G_DEFINE_TYPE_WITH_CODE(GstTekDec, gst_tek_dec, GST_TYPE_BASE_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_tek_dec_debug, "tekdec", 0,
                                                "OMA BCAST STKM to TEK decoder"))
GST_ELEMENT_REGISTER_DEFINE(tekdec, "tekdec", GST_RANK_NONE, GST_TYPE_TEK_DEC)

static void gst_tek_dec_set_property(GObject* object, guint prop_id, const GValue* value,
                                     GParamSpec* pspec) {
  GstTekDec* self = GST_TEK_DEC(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_SEK_FILE:
      g_free(self->sek_file);
      self->sek_file = g_value_dup_string(value);
      break;
    case PROP_BASE_CID:
      g_free(self->base_cid);
      self->base_cid = g_value_dup_string(value);
      break;
    case PROP_BUS:
      self->bus = static_cast<GstTekDecBus>(g_value_get_enum(value));
      break;
    case PROP_BUS_ADDRESS:
      g_free(self->bus_address);
      self->bus_address = g_value_dup_string(value);
      break;
    case PROP_BUS_NAME:
      g_free(self->bus_name);
      self->bus_name = g_value_dup_string(value);
      break;
    case PROP_PURPOSE:
      self->purpose = static_cast<GstTekDecPurpose>(g_value_get_enum(value));
      break;
    case PROP_AUTO_START:
      self->auto_start = g_value_get_boolean(value);
      break;
    case PROP_TIMEOUT:
      self->timeout_ms = g_value_get_uint(value);
      break;
    case PROP_FETCH_AFTER:
      self->fetch_after_ms = g_value_get_uint(value);
      break;
    case PROP_KEY_DOMAIN:
      g_free(self->key_domain);
      self->key_domain = g_value_dup_string(value);
      break;
    case PROP_ASK_HELD:
      self->ask_held = g_value_get_boolean(value);
      break;
    case PROP_PROFILE:
      g_free(self->profile);
      self->profile = g_value_dup_string(value);
      break;
    case PROP_BSF_URL:
      g_free(self->bsf_url);
      self->bsf_url = g_value_dup_string(value);
      break;
    case PROP_BSM_URL:
      g_free(self->bsm_url);
      self->bsm_url = g_value_dup_string(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_tek_dec_get_property(GObject* object, guint prop_id, GValue* value,
                                     GParamSpec* pspec) {
  GstTekDec* self = GST_TEK_DEC(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_SEK_FILE:
      g_value_set_string(value, self->sek_file);
      break;
    case PROP_BASE_CID:
      g_value_set_string(value, self->base_cid);
      break;
    case PROP_BUS:
      g_value_set_enum(value, self->bus);
      break;
    case PROP_BUS_ADDRESS:
      g_value_set_string(value, self->bus_address);
      break;
    case PROP_BUS_NAME:
      g_value_set_string(value, self->bus_name);
      break;
    case PROP_PURPOSE:
      g_value_set_enum(value, self->purpose);
      break;
    case PROP_AUTO_START:
      g_value_set_boolean(value, self->auto_start);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint(value, self->timeout_ms);
      break;
    case PROP_TEKS:
      g_value_set_uint(value, self->teks);
      break;
    case PROP_OPENED:
      g_value_set_uint(value, self->opened);
      break;
    case PROP_BAD_MAC:
      g_value_set_uint(value, self->bad_mac);
      break;
    case PROP_NO_RIGHTS:
      g_value_set_uint(value, self->no_rights);
      break;
    case PROP_MALFORMED:
      g_value_set_uint(value, self->malformed);
      break;
    case PROP_REPLAY:
      g_value_set_uint(value, self->replay);
      break;
    case PROP_EXPIRED:
      g_value_set_uint(value, self->expired);
      break;
    case PROP_NOT_PERMITTED:
      g_value_set_uint(value, self->not_permitted);
      break;
    case PROP_FAILED:
      g_value_set_uint(value, self->failed);
      break;
    case PROP_UNAVAILABLE:
      g_value_set_uint(value, self->unavailable);
      break;
    case PROP_CONNECTED:
      g_value_set_boolean(value, self->connected);
      break;
    case PROP_FETCH_AFTER:
      g_value_set_uint(value, self->fetch_after_ms);
      break;
    case PROP_KEY_DOMAIN:
      g_value_set_string(value, self->key_domain);
      break;
    case PROP_ASK_HELD:
      g_value_set_boolean(value, self->ask_held);
      break;
    case PROP_FETCH_REQUESTS:
    case PROP_FETCHED_ACCEPTED:
    case PROP_FETCHED_REFUSED:
    case PROP_FETCH_ERRORS:
    case PROP_HELD_TEKS:
    case PROP_KEY_STREAM_RETURNS:
    case PROP_FETCHING: {
      const bcast::TekFetcher::Counters c =
          self->state.fetcher ? self->state.fetcher->counters() : self->state.fetch_last;
      if (prop_id == PROP_FETCHING) {
        g_value_set_boolean(value, c.fetching);
      } else {
        g_value_set_uint(value, prop_id == PROP_FETCH_REQUESTS     ? c.fetch_requests
                                : prop_id == PROP_FETCHED_ACCEPTED ? c.fetched_accepted
                                : prop_id == PROP_FETCHED_REFUSED  ? c.fetched_refused
                                : prop_id == PROP_FETCH_ERRORS     ? c.fetch_errors
                                : prop_id == PROP_HELD_TEKS        ? c.held_teks
                                                                   : c.key_stream_returns);
      }
      break;
    }
    case PROP_PROFILE:
      g_value_set_string(value, self->profile);
      break;
    case PROP_BSF_URL:
      g_value_set_string(value, self->bsf_url);
      break;
    case PROP_BSM_URL:
      g_value_set_string(value, self->bsm_url);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_tek_dec_finalize(GObject* object) {
  GstTekDec* self = GST_TEK_DEC(object);
  // The source first: it may call the listener until it is gone.
  self->state.~StreamState();
  self->listener.~ElementListener();
  self->bus_label.~basic_string();
  g_free(self->sek_file);
  g_free(self->base_cid);
  g_free(self->caps_base_cid);
  g_free(self->bus_address);
  g_free(self->bus_name);
  g_free(self->profile);
  g_free(self->bsf_url);
  g_free(self->bsm_url);
  g_free(self->key_domain);
  g_clear_object(&self->keyring);
  G_OBJECT_CLASS(gst_tek_dec_parent_class)->finalize(object);
}

static void gst_tek_dec_set_context(GstElement* element, GstContext* context) {
  GstTekDec* self = GST_TEK_DEC(element);
  if (BcastKeyring* keyring = bcast_keyring_from_context(context)) {
    GST_DEBUG_OBJECT(self, "keyring %p set", keyring);
    GST_OBJECT_LOCK(self);
    std::swap(self->keyring, keyring);
    GST_OBJECT_UNLOCK(self);
    g_clear_object(&keyring);
  }
  GST_ELEMENT_CLASS(gst_tek_dec_parent_class)->set_context(element, context);
}

static GstStateChangeReturn gst_tek_dec_change_state(GstElement* element,
                                                     GstStateChange transition) {
  GstTekDec* self = GST_TEK_DEC(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    BcastKeyring* keyring = bcast_keyring_obtain(element);
    GST_OBJECT_LOCK(self);
    std::swap(self->keyring, keyring);
    GST_OBJECT_UNLOCK(self);
    g_clear_object(&keyring);
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_tek_dec_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    BcastKeyring* keyring = nullptr;
    GST_OBJECT_LOCK(self);
    std::swap(self->keyring, keyring);
    GST_OBJECT_UNLOCK(self);
    g_clear_object(&keyring);
  }
  return ret;
}

static void post_spcd_message(GstTekDec* self, bool available, const std::string& detail) {
  GST_OBJECT_LOCK(self);
  std::string bus = self->bus_label;
  std::string name = self->bus_name != nullptr ? self->bus_name : kDefaultBusName;
  GST_OBJECT_UNLOCK(self);
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(
          GST_OBJECT(self),
          gst_structure_new("openbcast-spcd", "available", G_TYPE_BOOLEAN, available, "bus",
                            G_TYPE_STRING, bus.c_str(), "bus-name", G_TYPE_STRING, name.c_str(),
                            "detail", G_TYPE_STRING, detail.c_str(), nullptr)));
}

// The one place that picks the key source: the key file when sek-file is set, else spcd.
static std::unique_ptr<bcast::TekSource> make_tek_source(GstTekDec* self) {
  GST_OBJECT_LOCK(self);
  std::string sek_file = self->sek_file != nullptr ? self->sek_file : "";
  bcast::SpcdSourceOptions options;
  options.address = self->bus_address != nullptr ? self->bus_address : "";
  // An address wins over `bus`, as base-cid wins over the caps.
  options.bus = !options.address.empty()               ? bcast::SpcdSourceOptions::Bus::kAddress
                : self->bus == GST_TEK_DEC_BUS_SESSION ? bcast::SpcdSourceOptions::Bus::kSession
                : self->bus == GST_TEK_DEC_BUS_ADDRESS ? bcast::SpcdSourceOptions::Bus::kAddress
                                                       : bcast::SpcdSourceOptions::Bus::kSystem;
  if (self->bus_name != nullptr && *self->bus_name != '\0') options.bus_name = self->bus_name;
  options.timeout_ms = static_cast<int>(std::min<guint>(self->timeout_ms, G_MAXINT));
  options.auto_start = self->auto_start != FALSE;
  options.record = self->purpose == GST_TEK_DEC_PURPOSE_RECORD;
  self->bus_label = options.bus == bcast::SpcdSourceOptions::Bus::kSystem    ? "system"
                    : options.bus == bcast::SpcdSourceOptions::Bus::kSession ? "session"
                                                                             : options.address;
  GST_OBJECT_UNLOCK(self);

  if (!sek_file.empty()) {
    auto source = bcast::MakeKeyFileTekSource(sek_file, &self->listener);
    if (!source) {
      GST_ELEMENT_ERROR(
          self, RESOURCE, OPEN_READ,
          ("Could not load key file \"%s\": %s", sek_file.c_str(), source.error().c_str()),
          (nullptr));
      return nullptr;
    }
    return std::move(source.value());
  }

  GST_OBJECT_LOCK(self);
  const bool smartcard = g_strcmp0(self->profile, "smartcard") == 0;
  bcast::SmartcardServiceInfo service;
  service.bsf_url = self->bsf_url != nullptr ? self->bsf_url : "";
  service.bsm_url = self->bsm_url != nullptr ? self->bsm_url : "";
  service.key_domain = self->key_domain != nullptr ? self->key_domain : "";
  GST_OBJECT_UNLOCK(self);
  if (smartcard) {
    auto source = bcast::MakeSmartcardTekSource(options, service, &self->listener);
    if (!source) {
      GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                        ("spcd's smartcard backend not reachable on %s: %s",
                         bcast::DescribeBus(options).c_str(), source.error().c_str()),
                        ("a Smartcard Profile service needs spcd --smartcard"));
      return nullptr;
    }
    GST_OBJECT_LOCK(self);
    self->connected = TRUE;
    GST_OBJECT_UNLOCK(self);
    post_spcd_message(self, true, "answers (smartcard)");
    return std::move(source.value());
  }

  const std::string bus = bcast::DescribeBus(options);
  if (options.bus == bcast::SpcdSourceOptions::Bus::kAddress && options.address.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("bus is \"address\" but bus-address is not set; set it or sek-file"),
                      (nullptr));
    return nullptr;
  }
  auto source = bcast::MakeSpcdTekSource(options, &self->listener);
  if (!source) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("spcd not reachable on %s as %s: %s; start spcd or set sek-file",
                       bus.c_str(), options.bus_name.c_str(), source.error().c_str()),
                      ("tekdec takes the TEKs from spcd unless the sek-file property names a key "
                       "file"));
    return nullptr;
  }
  GST_OBJECT_LOCK(self);
  self->connected = TRUE;
  GST_OBJECT_UNLOCK(self);
  post_spcd_message(self, true, "answers");
  return std::move(source.value());
}

// The stream's base CID: the property, the caps, or (before any STKM came) what stkmparse would
// put on its caps (a caps query works without data flowing).
static std::string stream_base_cid(GstTekDec* self) {
  GST_OBJECT_LOCK(self);
  std::string cid = self->base_cid != nullptr        ? self->base_cid
                    : self->caps_base_cid != nullptr ? self->caps_base_cid
                                                     : "";
  GST_OBJECT_UNLOCK(self);
  if (!cid.empty()) return cid;
  GstCaps* caps = gst_pad_peer_query_caps(GST_BASE_SINK_PAD(self), nullptr);
  if (caps == nullptr) return cid;
  for (guint i = 0; i < gst_caps_get_size(caps) && cid.empty(); ++i) {
    const gchar* c = gst_structure_get_string(gst_caps_get_structure(caps, i), "base-cid");
    if (c != nullptr) cid = c;
  }
  gst_caps_unref(caps);
  return cid;
}

// spcd mode: held TEKs at start and STKM fetching while the key stream is silent (tek_fetch.h).
static void start_tek_fetcher(GstTekDec* self) {
  GST_OBJECT_LOCK(self);
  const bool key_file = self->sek_file != nullptr && *self->sek_file != '\0';
  bcast::TekFetcher::Options o;
  o.client.address = self->bus_address != nullptr ? self->bus_address : "";
  o.client.bus = !o.client.address.empty()              ? spc::client::Bus::kAddress
                 : self->bus == GST_TEK_DEC_BUS_SESSION ? spc::client::Bus::kSession
                                                        : spc::client::Bus::kSystem;
  if (self->bus_name != nullptr) o.client.bus_name = self->bus_name;
  o.client.auto_start = self->auto_start != FALSE;
  o.client.timeout_ms = static_cast<int>(std::min<guint>(self->timeout_ms, G_MAXINT));
  o.record = self->purpose == GST_TEK_DEC_PURPOSE_RECORD;
  o.ask_held = self->ask_held != FALSE;
  o.fetch_after_ms = self->fetch_after_ms;
  o.key_domain = self->key_domain != nullptr ? self->key_domain : "";
  GST_OBJECT_UNLOCK(self);
  if (key_file || (!o.ask_held && o.fetch_after_ms == 0)) return;
  std::string error;
  auto fetcher = bcast::TekFetcher::Start(
      std::move(o), [self] { return stream_base_cid(self); },
      [self](bcast::OpenedStkm& keys, const char* origin) {
        self->listener.OnOpenedFrom(keys, origin);
      },
      &error);
  if (!fetcher) {
    GST_WARNING_OBJECT(self, "no held TEKs or STKM fetching: %s", error.c_str());
    return;
  }
  GST_OBJECT_LOCK(self);
  self->state.fetcher = std::move(fetcher);
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_tek_dec_start(GstBaseSink* sink) {
  GstTekDec* self = GST_TEK_DEC(sink);
  self->state.Clear();
  GST_OBJECT_LOCK(self);
  self->teks = self->opened = self->bad_mac = self->no_rights = self->malformed = 0;
  self->replay = self->expired = self->not_permitted = self->failed = self->unavailable = 0;
  self->connected = FALSE;
  GST_OBJECT_UNLOCK(self);
  std::unique_ptr<bcast::TekSource> source = make_tek_source(self);
  if (!source) return FALSE;
  std::string name = source->Describe();
  GST_INFO_OBJECT(self, "TEKs from %s", name.c_str());
  // spcd's name watch may already report: the listener reads the name under the object lock.
  GST_OBJECT_LOCK(self);
  self->state.source_name = std::move(name);
  GST_OBJECT_UNLOCK(self);
  self->state.source = std::move(source);
  start_tek_fetcher(self);
  return TRUE;
}

static gboolean gst_tek_dec_stop(GstBaseSink* sink) {
  GstTekDec* self = GST_TEK_DEC(sink);
  GST_OBJECT_LOCK(self);
  std::shared_ptr<bcast::TekFetcher> fetcher = std::move(self->state.fetcher);
  if (fetcher) self->state.fetch_last = fetcher->counters();
  GST_OBJECT_UNLOCK(self);
  fetcher.reset();
  self->state.Clear();
  GST_OBJECT_LOCK(self);
  self->connected = FALSE;
  GST_OBJECT_UNLOCK(self);
  return TRUE;
}

static gboolean gst_tek_dec_set_caps(GstBaseSink* sink, GstCaps* caps) {
  GstTekDec* self = GST_TEK_DEC(sink);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const gchar* cid = gst_structure_get_string(s, "base-cid");
  GST_OBJECT_LOCK(self);
  g_free(self->caps_base_cid);
  self->caps_base_cid = g_strdup(cid);
  GST_OBJECT_UNLOCK(self);
  GST_DEBUG_OBJECT(self, "base CID from caps: %s", GST_STR_NULL(cid));
  return TRUE;
}

static gboolean gst_tek_dec_query(GstBaseSink* sink, GstQuery* query) {
  if (bcast_keyring_handle_context_query(GST_ELEMENT(sink), query)) return TRUE;
  return GST_BASE_SINK_CLASS(gst_tek_dec_parent_class)->query(sink, query);
}

static void post_tek_message(GstTekDec* self, const bcast::OpenedStkm& opened) {
  GstStructure* s = gst_structure_new(
      "openbcast-tek", "tek-id", G_TYPE_UINT, static_cast<guint>(opened.current.id), "has-next",
      G_TYPE_BOOLEAN, opened.next.has_value(), "next-tek-id", G_TYPE_UINT,
      opened.next ? static_cast<guint>(opened.next->id) : 0u, "content-id", G_TYPE_STRING,
      opened.content_id.c_str(), "protocol", G_TYPE_UINT,
      static_cast<guint>(opened.current.protocol), "lifetime", G_TYPE_UINT,
      static_cast<guint>(opened.current.lifetime_s), "authenticated", G_TYPE_BOOLEAN,
      opened.current.authenticated, nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

void ElementListener::OnOpened(bcast::OpenedStkm& keys) { OnOpenedFrom(keys, "stkm"); }

void ElementListener::OnOpenedFrom(bcast::OpenedStkm& keys, const char* origin) {
  GstTekDec* self = self_;
  const bool from_stream = std::strcmp(origin, "stkm") == 0;
  if (from_stream) {
    GST_OBJECT_LOCK(self);
    std::shared_ptr<bcast::TekFetcher> fetcher = self->state.fetcher;
    GST_OBJECT_UNLOCK(self);
    if (fetcher) fetcher->OnKeyStreamTek();
  }
  GST_OBJECT_LOCK(self);
  BcastKeyring* keyring =
      self->keyring != nullptr ? BCAST_KEYRING(g_object_ref(self->keyring)) : nullptr;
  GST_OBJECT_UNLOCK(self);
  if (keyring != nullptr) {
    bcast_keyring_add(keyring, &keys.current);
    if (keys.next) bcast_keyring_add(keyring, &*keys.next);
    g_object_unref(keyring);
  } else {
    GST_WARNING_OBJECT(self, "no keyring (element not brought to READY?)");
  }
  guint learned = 0;
  GST_OBJECT_LOCK(self);
  if (!self->state.Learned(keys.current.id)) {
    self->state.Learn(keys.current.id);
    learned++;
  }
  if (keys.next && !self->state.Learned(keys.next->id)) {
    self->state.Learn(keys.next->id);
    learned++;
  }
  self->teks += learned;
  if (from_stream) ++self->opened;
  const bool first_ready = !self->state.tek_ready;
  self->state.tek_ready = true;
  GST_OBJECT_UNLOCK(self);
  if (first_ready) {
    const std::string cid = stream_base_cid(self);
    GST_INFO_OBJECT(self, "first TEK usable: %u of %s (%s)", keys.current.id, cid.c_str(), origin);
    gst_element_post_message(
        GST_ELEMENT(self),
        gst_message_new_element(
            GST_OBJECT(self),
            gst_structure_new("bcast-tek-ready", "base-cid", G_TYPE_STRING, cid.c_str(), "tek-id",
                              G_TYPE_UINT, static_cast<guint>(keys.current.id), "source",
                              G_TYPE_STRING, origin, nullptr)));
  }
  GST_LOG_OBJECT(self, "STKM for %s: TEK %u, next %s %u, %u new", keys.content_id.c_str(),
                 keys.current.id, keys.next ? "yes" : "no", keys.next ? keys.next->id : 0, learned);
  if (learned > 0) {
    GST_INFO_OBJECT(self, "new TEK for %s: id %u, next %s %u, protocol %u, lifetime %u s",
                    keys.content_id.c_str(), keys.current.id, keys.next ? "yes" : "no",
                    keys.next ? keys.next->id : 0, keys.current.protocol, keys.current.lifetime_s);
    post_tek_message(self, keys);
  }
}

void ElementListener::OnRejected(const bcast::StkmRejection& rejection) {
  GstTekDec* self = self_;
  guint count = 0;
  GST_OBJECT_LOCK(self);
  switch (rejection.reason) {
    case bcast::StkmRejectReason::kMalformed:
      count = ++self->malformed;
      break;
    case bcast::StkmRejectReason::kNoRights:
      count = ++self->no_rights;
      break;
    case bcast::StkmRejectReason::kBadMac:
      count = ++self->bad_mac;
      break;
    case bcast::StkmRejectReason::kReplay:
      count = ++self->replay;
      break;
    case bcast::StkmRejectReason::kExpired:
      count = ++self->expired;
      break;
    case bcast::StkmRejectReason::kNotPermitted:
      count = ++self->not_permitted;
      break;
    case bcast::StkmRejectReason::kInvalidArgs:
    case bcast::StkmRejectReason::kFailed:
      count = ++self->failed;
      break;
    case bcast::StkmRejectReason::kUnavailable:
      count = ++self->unavailable;
      break;
  }
  const std::string source = self->state.source_name;
  GST_OBJECT_UNLOCK(self);

  const char* reason = bcast::StkmRejectReasonName(rejection.reason);
  const char* cid = rejection.content_id.c_str();
  GST_DEBUG_OBJECT(self, "STKM rejected (%s, %u so far): %s", reason, count,
                   rejection.detail.c_str());
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(GST_OBJECT(self),
                              gst_structure_new("openbcast-stkm-rejected", "reason", G_TYPE_STRING,
                                                reason, "content-id", G_TYPE_STRING, cid, "detail",
                                                G_TYPE_STRING, rejection.detail.c_str(), nullptr)));
  if (!ShouldWarn(count)) return;

  const char* detail = rejection.detail.c_str();
  switch (rejection.reason) {
    case bcast::StkmRejectReason::kMalformed:
      GST_ELEMENT_WARNING(self, STREAM, DECODE, ("Malformed STKM rejected: %s", detail),
                          ("%u malformed STKMs so far", count));
      break;
    case bcast::StkmRejectReason::kNoRights:
      GST_ELEMENT_WARNING(
          self, STREAM, DECRYPT_NOKEY,
          ("No rights for %s: %s has no key for this content ID; acquire the rights for it", cid,
           source.c_str()),
          ("%s; %u STKMs without rights so far", detail, count));
      break;
    case bcast::StkmRejectReason::kBadMac:
      GST_ELEMENT_WARNING(
          self, STREAM, DECRYPT,
          ("STKM for %s failed its MAC check (forged, corrupted or wrong SAK/PAK); TEK %u not used",
           cid, rejection.tek_id),
          ("%s; %u STKMs with a bad MAC so far", detail, count));
      break;
    case bcast::StkmRejectReason::kReplay:
      GST_ELEMENT_WARNING(
          self, STREAM, DECRYPT,
          ("STKM for %s refused as a replay (older than one already accepted); TEK %u not used",
           cid, rejection.tek_id),
          ("%s; %u replayed STKMs so far", detail, count));
      break;
    case bcast::StkmRejectReason::kExpired:
      GST_ELEMENT_WARNING(self, STREAM, DECRYPT_NOKEY,
                          ("The rights for %s have expired: renew them", cid),
                          ("%s; %u STKMs with expired rights so far", detail, count));
      break;
    case bcast::StkmRejectReason::kNotPermitted:
      GST_ELEMENT_WARNING(self, STREAM, DECRYPT_NOKEY,
                          ("The rights for %s do not permit this use: %s", cid, detail),
                          ("%u STKMs not permitted so far", count));
      break;
    case bcast::StkmRejectReason::kInvalidArgs:
    case bcast::StkmRejectReason::kFailed:
      GST_ELEMENT_WARNING(self, STREAM, DECRYPT,
                          ("%s could not process the STKM for %s: %s", source.c_str(), cid, detail),
                          ("%u STKMs failed so far", count));
      break;
    case bcast::StkmRejectReason::kUnavailable:
      // OnAvailability warns once per outage.
      break;
  }
}

void ElementListener::OnAvailability(bool available, const std::string& detail) {
  GstTekDec* self = self_;
  GST_OBJECT_LOCK(self);
  self->connected = available;
  const std::string source = self->state.source_name;
  GST_OBJECT_UNLOCK(self);
  if (available) {
    GST_ELEMENT_INFO(self, RESOURCE, READ, ("%s answers again", source.c_str()),
                     ("%s", detail.c_str()));
  } else {
    GST_ELEMENT_WARNING(self, RESOURCE, READ,
                        ("%s went away: playing on with the TEKs held; STKMs are sent again when "
                         "it is back",
                         source.c_str()),
                        ("%s", detail.c_str()));
  }
  post_spcd_message(self, available, detail);
}

// openbcast-smartcard: present (boolean), reader (string), held-until (int64, seconds since 1970
// when the TEKs held are expected to run out, 0 unknown).
void ElementListener::OnCardChanged(bool present, const std::string& reader,
                                    std::int64_t held_until) {
  GstTekDec* self = self_;
  if (present) {
    GST_ELEMENT_INFO(self, RESOURCE, READ, ("smartcard inserted (%s)", reader.c_str()), (nullptr));
  } else {
    GST_ELEMENT_WARNING(self, RESOURCE, READ,
                        ("smartcard removed (%s): playing on with the TEKs held", reader.c_str()),
                        ("held-until %" G_GINT64_FORMAT, static_cast<gint64>(held_until)));
  }
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(
          GST_OBJECT(self),
          gst_structure_new("openbcast-smartcard", "present", G_TYPE_BOOLEAN, present, "reader",
                            G_TYPE_STRING, reader.c_str(), "held-until", G_TYPE_INT64,
                            static_cast<gint64>(held_until), nullptr)));
}

static GstFlowReturn gst_tek_dec_process(GstTekDec* self, GstBuffer* buffer) {
  if (!self->state.source) return GST_FLOW_FLUSHING;
  if (buffer == self->state.last_buffer) return GST_FLOW_OK;
  gst_buffer_replace(&self->state.last_buffer, buffer);

  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Could not map the STKM buffer"), (nullptr));
    return GST_FLOW_ERROR;
  }
  GST_OBJECT_LOCK(self);
  std::string base_cid = self->base_cid != nullptr        ? self->base_cid
                         : self->caps_base_cid != nullptr ? self->caps_base_cid
                                                          : "";
  GST_OBJECT_UNLOCK(self);

  bcast::SubmitResult submitted =
      self->state.source->Submit(std::span<const std::uint8_t>(map.data, map.size), base_cid);
  gst_buffer_unmap(buffer, &map);
  switch (submitted) {
    case bcast::SubmitResult::kSubmitted:
      break;
    case bcast::SubmitResult::kInFlight:
      GST_LOG_OBJECT(self, "the same STKM is already being processed");
      break;
    case bcast::SubmitResult::kDropped: {
      GST_OBJECT_LOCK(self);
      const guint count = ++self->unavailable;
      GST_OBJECT_UNLOCK(self);
      GST_DEBUG_OBJECT(self, "STKM not sent (%s away or busy); %u so far",
                       self->state.source_name.c_str(), count);
      break;
    }
  }
  return GST_FLOW_OK;
}

// Keys are taken in prepare, before the sink waits for preroll or the clock, so that the media
// branch has its TEK as early as possible (even while this sink is blocked in PAUSED).
static GstFlowReturn gst_tek_dec_prepare(GstBaseSink* sink, GstBuffer* buffer) {
  return gst_tek_dec_process(GST_TEK_DEC(sink), buffer);
}

static GstFlowReturn gst_tek_dec_prepare_list(GstBaseSink* sink, GstBufferList* list) {
  GstFlowReturn ret = GST_FLOW_OK;
  for (guint i = 0; i < gst_buffer_list_length(list) && ret == GST_FLOW_OK; i++) {
    ret = gst_tek_dec_process(GST_TEK_DEC(sink), gst_buffer_list_get(list, i));
  }
  return ret;
}

static GstFlowReturn gst_tek_dec_render(GstBaseSink*, GstBuffer*) { return GST_FLOW_OK; }

// After a flush the next usable TEK is announced again (bcast-tek-ready).
static gboolean gst_tek_dec_event(GstBaseSink* sink, GstEvent* event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP) {
    GstTekDec* self = GST_TEK_DEC(sink);
    GST_OBJECT_LOCK(self);
    self->state.tek_ready = false;
    GST_OBJECT_UNLOCK(self);
  }
  return GST_BASE_SINK_CLASS(gst_tek_dec_parent_class)->event(sink, event);
}

static void install_counter(GObjectClass* gobject_class, guint prop_id, const char* name,
                            const char* nick, const char* blurb) {
  g_object_class_install_property(
      gobject_class, prop_id,
      g_param_spec_uint(name, nick, blurb, 0, G_MAXUINT, 0,
                        static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
}

static void gst_tek_dec_class_init(GstTekDecClass* klass) {
  spc::KeepOpensslStateUntilExit();  // the streaming threads may outlive the host's main
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass* sink_class = GST_BASE_SINK_CLASS(klass);

  gobject_class->set_property = gst_tek_dec_set_property;
  gobject_class->get_property = gst_tek_dec_get_property;
  gobject_class->finalize = gst_tek_dec_finalize;

  const auto ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);

  /**
   * GstTekDec:sek-file:
   *
   * Path of the key file (GKeyFile syntax of stkm.md, one group per content ID with
   * key-domain, sek/sak or pek/pak). When set, the TEKs come from this file and spcd is not used.
   * Read when the element goes to PAUSED.
   */
  g_object_class_install_property(
      gobject_class, PROP_SEK_FILE,
      g_param_spec_string("sek-file", "SEK file",
                          "Key file with the SEK/SAK (PEK/PAK) per content ID (stkm.md format); "
                          "when set, spcd is not used",
                          nullptr, ready));
  /**
   * GstTekDec:base-cid:
   *
   * The service's base CID; overrides the `base-cid` caps field. The content ID of an STKM is
   * this followed by its CID extension as 8 lowercase hex digits.
   */
  g_object_class_install_property(
      gobject_class, PROP_BASE_CID,
      g_param_spec_string("base-cid", "Base CID",
                          "Base content ID of the service (overrides the base-cid caps field)",
                          nullptr,
                          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                   GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstTekDec:bus:
   *
   * The D-Bus bus spcd is on (without #GstTekDec:sek-file). #GstTekDec:bus-address, when set,
   * wins.
   */
  g_object_class_install_property(
      gobject_class, PROP_BUS,
      g_param_spec_enum("bus", "Bus", "D-Bus bus of spcd (bus-address, when set, wins)",
                        gst_tek_dec_bus_get_type(), GST_TEK_DEC_BUS_SYSTEM, ready));
  /**
   * GstTekDec:bus-address:
   *
   * D-Bus address of a bus of its own (tests, sandboxes), e.g. `unix:path=/run/x/bus`.
   */
  g_object_class_install_property(
      gobject_class, PROP_BUS_ADDRESS,
      g_param_spec_string("bus-address", "Bus address",
                          "D-Bus address of spcd's bus (overrides bus)", nullptr, ready));
  /**
   * GstTekDec:bus-name:
   *
   * Well-known D-Bus name of spcd.
   */
  g_object_class_install_property(
      gobject_class, PROP_BUS_NAME,
      g_param_spec_string("bus-name", "Bus name", "Well-known D-Bus name of spcd", kDefaultBusName,
                          ready));
  /**
   * GstTekDec:purpose:
   *
   * What the keys are for; spcd checks the rights' permissions for it ("record" needs the record
   * permission and an STKM that allows recording).
   */
  g_object_class_install_property(
      gobject_class, PROP_PURPOSE,
      g_param_spec_enum("purpose", "Purpose", "Use of the TEKs, checked by spcd",
                        gst_tek_dec_purpose_get_type(), GST_TEK_DEC_PURPOSE_PLAY, ready));
  /**
   * GstTekDec:auto-start:
   *
   * Let the bus start spcd by D-Bus activation when it is not running.
   */
  g_object_class_install_property(
      gobject_class, PROP_AUTO_START,
      g_param_spec_boolean("auto-start", "Auto start", "Let the bus start spcd by D-Bus activation",
                           TRUE, ready));
  /**
   * GstTekDec:timeout:
   *
   * Longest wait for one answer of spcd, in milliseconds.
   */
  g_object_class_install_property(
      gobject_class, PROP_TIMEOUT,
      g_param_spec_uint("timeout", "Timeout", "Longest wait for an answer of spcd (ms)", 1,
                        G_MAXINT, kDefaultTimeoutMs, ready));
  /**
   * GstTekDec:teks:
   *
   * Distinct TEK IDs learned (current and next TEKs).
   */
  install_counter(gobject_class, PROP_TEKS, "teks", "TEKs", "Distinct TEK IDs learned from STKMs");
  /**
   * GstTekDec:opened:
   *
   * STKMs of the key stream answered with TEKs, repeats included (whether spcd or the client
   * library's answer cache answered them).
   */
  install_counter(gobject_class, PROP_OPENED, "opened", "Opened",
                  "STKMs answered with TEKs, repeats included");
  /**
   * GstTekDec:bad-mac:
   *
   * STKMs rejected because their MAC did not verify.
   */
  install_counter(gobject_class, PROP_BAD_MAC, "bad-mac", "Bad MAC",
                  "STKMs rejected for a MAC mismatch");
  /**
   * GstTekDec:no-rights:
   *
   * STKMs rejected because no long-term key is held for their content ID.
   */
  install_counter(gobject_class, PROP_NO_RIGHTS, "no-rights", "No rights",
                  "STKMs rejected for lack of rights");
  /**
   * GstTekDec:malformed:
   *
   * STKMs rejected because their structure is invalid.
   */
  install_counter(gobject_class, PROP_MALFORMED, "malformed", "Malformed",
                  "Malformed STKMs rejected");
  /**
   * GstTekDec:replay:
   *
   * STKMs spcd refused as replays (timestamp older than one already accepted).
   */
  install_counter(gobject_class, PROP_REPLAY, "replay", "Replay", "STKMs refused as replays");
  /**
   * GstTekDec:expired:
   *
   * STKMs spcd refused because the rights have expired.
   */
  install_counter(gobject_class, PROP_EXPIRED, "expired", "Expired",
                  "STKMs refused for expired rights");
  /**
   * GstTekDec:not-permitted:
   *
   * STKMs spcd refused because the rights do not permit the purpose (or parental rating).
   */
  install_counter(gobject_class, PROP_NOT_PERMITTED, "not-permitted", "Not permitted",
                  "STKMs refused because the rights do not permit the use");
  /**
   * GstTekDec:failed:
   *
   * STKMs spcd could not process for another reason (Failed, InvalidArgs).
   */
  install_counter(gobject_class, PROP_FAILED, "failed", "Failed",
                  "STKMs spcd failed to process for another reason");
  /**
   * GstTekDec:unavailable:
   *
   * STKMs not answered because spcd was away: dropped while it was away (and kept to be sent
   * again when it is back) or whose call failed.
   */
  install_counter(gobject_class, PROP_UNAVAILABLE, "unavailable", "Unavailable",
                  "STKMs not answered because spcd was not reachable");
  /**
   * GstTekDec:connected:
   *
   * TRUE while spcd answers (always FALSE in key-file mode).
   */
  g_object_class_install_property(
      gobject_class, PROP_CONNECTED,
      g_param_spec_boolean("connected", "Connected", "spcd answers", FALSE,
                           static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  /**
   * GstTekDec:fetch-after:
   *
   * spcd mode: when the key stream brought no valid STKM for this many ms (since start or the
   * last one), ask spcd to fetch the service's STKMs over the interaction channel (FetchStkm) and
   * take the TEKs it then holds; again every fetch-after ms while the key stream stays silent,
   * with backoff after failures. 0: never.
   */
  g_object_class_install_property(
      gobject_class, PROP_FETCH_AFTER,
      g_param_spec_uint("fetch-after", "Fetch after",
                        "ms without a valid STKM from the key stream before spcd fetches the "
                        "STKMs over the interaction channel (0: never)",
                        0, G_MAXUINT, 2000, ready));
  /**
   * GstTekDec:key-domain:
   *
   * Key domain (hex) for FetchStkm; unset: the one spcd knows from the service's SDP.
   */
  g_object_class_install_property(
      gobject_class, PROP_KEY_DOMAIN,
      g_param_spec_string("key-domain", "Key domain",
                          "Key domain ID (hex) for STKM fetching; unset: from the SDP spcd knows",
                          nullptr, ready));
  /**
   * GstTekDec:ask-held:
   *
   * spcd mode: at start, take the TEKs spcd already holds for the service (HeldTeks), so that a
   * channel change finds its key before the first STKM.
   */
  g_object_class_install_property(
      gobject_class, PROP_ASK_HELD,
      g_param_spec_boolean("ask-held", "Ask held",
                           "At start, take the TEKs spcd holds for the service (HeldTeks)", TRUE,
                           ready));
  install_counter(gobject_class, PROP_FETCH_REQUESTS, "fetch-requests", "Fetch requests",
                  "FetchStkm calls made because the key stream was silent");
  install_counter(gobject_class, PROP_FETCHED_ACCEPTED, "fetched-accepted", "Fetched accepted",
                  "Fetched STKMs spcd accepted");
  install_counter(gobject_class, PROP_FETCHED_REFUSED, "fetched-refused", "Fetched refused",
                  "Fetches whose STKMs spcd refused (bad MAC, replay, malformed...)");
  install_counter(gobject_class, PROP_FETCH_ERRORS, "fetch-errors", "Fetch errors",
                  "Fetches that failed on the interaction channel (or 404/204)");
  install_counter(gobject_class, PROP_HELD_TEKS, "held-teks", "Held TEKs",
                  "TEKs taken from spcd's HeldTeks (held at start and after fetches)");
  install_counter(gobject_class, PROP_KEY_STREAM_RETURNS, "key-stream-returns",
                  "Key stream returns", "Times a valid STKM from the key stream ended fetching");
  g_object_class_install_property(
      gobject_class, PROP_FETCHING,
      g_param_spec_boolean("fetching", "Fetching",
                           "TEKs come from STKM fetching (the key stream is silent)", FALSE,
                           static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  const auto string_prop = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                    GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      gobject_class, PROP_PROFILE,
      g_param_spec_string("profile", "Profile",
                          "Service protection profile: \"smartcard\" (a=bcast-profile:smartcard: "
                          "each key-stream datagram is a MIKEY MTK message for spcd's ProcessMtk "
                          "and the card), else the DRM Profile",
                          nullptr, string_prop));
  g_object_class_install_property(
      gobject_class, PROP_BSF_URL,
      g_param_spec_string("bsf-url", "BSF URL",
                          "Smartcard Profile: the BSF for GBA bootstrapping (a=bcast-bsf-url)",
                          nullptr, string_prop));
  g_object_class_install_property(
      gobject_class, PROP_BSM_URL,
      g_param_spec_string("bsm-url", "BSM URL",
                          "Smartcard Profile: the BSM base URL for MSK requests (a=bcast-bsm-url)",
                          nullptr, string_prop));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(
      element_class, "OMA BCAST TEK decoder", "Sink/Decryptor",
      "Obtains traffic encryption keys from Short Term Key Messages (through the SP-C daemon "
      "spcd, or a key file) and shares them with the pipeline's decryptors through the "
      "openbcast.keyring context",
      "openbcast");

  element_class->set_context = GST_DEBUG_FUNCPTR(gst_tek_dec_set_context);
  element_class->change_state = GST_DEBUG_FUNCPTR(gst_tek_dec_change_state);

  sink_class->start = GST_DEBUG_FUNCPTR(gst_tek_dec_start);
  sink_class->stop = GST_DEBUG_FUNCPTR(gst_tek_dec_stop);
  sink_class->set_caps = GST_DEBUG_FUNCPTR(gst_tek_dec_set_caps);
  sink_class->query = GST_DEBUG_FUNCPTR(gst_tek_dec_query);
  sink_class->prepare = GST_DEBUG_FUNCPTR(gst_tek_dec_prepare);
  sink_class->prepare_list = GST_DEBUG_FUNCPTR(gst_tek_dec_prepare_list);
  sink_class->render = GST_DEBUG_FUNCPTR(gst_tek_dec_render);
  sink_class->event = GST_DEBUG_FUNCPTR(gst_tek_dec_event);

  gst_type_mark_as_plugin_api(gst_tek_dec_bus_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(gst_tek_dec_purpose_get_type(), static_cast<GstPluginAPIFlags>(0));
}

static void gst_tek_dec_init(GstTekDec* self) {
  // GObject memory is raw: the C++ members are made here and destroyed in finalize.
  new (&self->bus_label) std::string("system");
  new (&self->listener) ElementListener(self);
  new (&self->state) StreamState();
  self->bus = GST_TEK_DEC_BUS_SYSTEM;
  self->bus_name = g_strdup(kDefaultBusName);
  self->purpose = GST_TEK_DEC_PURPOSE_PLAY;
  self->auto_start = TRUE;
  self->timeout_ms = kDefaultTimeoutMs;
  self->fetch_after_ms = 2000;
  self->ask_held = TRUE;
  GstBaseSink* sink = GST_BASE_SINK(self);
  // Keys are wanted on arrival, not at a buffer's running time; the STKM is not kept around.
  gst_base_sink_set_sync(sink, FALSE);
  gst_base_sink_set_last_sample_enabled(sink, FALSE);
  gst_base_sink_set_qos_enabled(sink, FALSE);
}
