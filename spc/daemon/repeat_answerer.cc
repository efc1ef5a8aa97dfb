#include "spc/daemon/repeat_answerer.h"

#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "spc/daemon/dbus_api.h"
#include "spc/daemon/secret_variant.h"

namespace spc::daemon {

struct RepeatAnswerer::State {
  struct Seen {
    std::vector<std::uint8_t> stkm;
    std::string base_cid;
    Answer answer;
  };

  StkmProcessor* processor;
  Answered on_answered;
  GMainContext* main_ctx;

  std::mutex mu;  // guards the members below; held by the filter while it uses the processor
  bool stopped = false;
  std::map<std::string, Seen> seen;  // request key → request, until Drain runs
  GSource* drain = nullptr;          // attached while `seen` is not empty
  std::uint64_t answered = 0;

  State(StkmProcessor* p, Answered a, GMainContext* ctx)
      : processor(p), on_answered(std::move(a)), main_ctx(ctx) {}
  ~State() { g_main_context_unref(main_ctx); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

namespace {

using StatePtr = std::shared_ptr<RepeatAnswerer::State>;

gboolean Drain(gpointer data) {
  auto* st = static_cast<RepeatAnswerer::State*>(data);
  std::map<std::string, RepeatAnswerer::State::Seen> seen;
  {
    std::lock_guard lock(st->mu);
    seen.swap(st->seen);
    g_source_unref(st->drain);
    st->drain = nullptr;
  }
  for (const auto& [key, s] : seen) st->on_answered(s.stkm, s.base_cid, s.answer);
  return G_SOURCE_REMOVE;
}

// True when `message` was answered here (and is dropped).
bool TryAnswer(RepeatAnswerer::State& st, GDBusConnection* conn, GDBusMessage* message) {
  if (g_dbus_message_get_message_type(message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL ||
      (g_dbus_message_get_flags(message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) != 0) {
    return false;
  }
  const gchar* member = g_dbus_message_get_member(message);
  const bool with_purpose = g_strcmp0(member, "ProcessStkmFor") == 0;
  if (!with_purpose && g_strcmp0(member, "ProcessStkm") != 0) return false;
  if (g_strcmp0(g_dbus_message_get_path(message), kObjectPath) != 0 ||
      g_strcmp0(g_dbus_message_get_interface(message), kInterface) != 0) {
    return false;
  }
  GVariant* body = g_dbus_message_get_body(message);
  if (body == nullptr ||
      !g_variant_is_of_type(body, G_VARIANT_TYPE(with_purpose ? "(ayss)" : "(ays)"))) {
    return false;  // the main loop answers with the error
  }
  g_autoptr(GVariant) stkm = g_variant_get_child_value(body, 0);
  gsize n = 0;
  const auto* bytes = static_cast<const std::uint8_t*>(g_variant_get_fixed_array(stkm, &n, 1));
  const gchar* base_cid = nullptr;
  g_variant_get_child(body, 1, "&s", &base_cid);
  Purpose purpose = Purpose::kPlay;
  if (with_purpose) {
    const gchar* name = nullptr;
    g_variant_get_child(body, 2, "&s", &name);
    if (g_strcmp0(name, "record") == 0) {
      purpose = Purpose::kRecord;
    } else if (g_strcmp0(name, "play") != 0) {
      return false;
    }
  }

  std::lock_guard lock(st.mu);
  if (st.stopped) return false;
  std::optional<Answer> answer =
      st.processor->AnswerRepeat({bytes, n}, base_cid, purpose, g_get_real_time() / G_USEC_PER_SEC);
  if (!answer) return false;
  g_autoptr(GDBusMessage) reply = g_dbus_message_new_method_reply(message);
  g_dbus_message_set_body(reply, ProcessStkmReply(*answer));
  g_autoptr(GError) err = nullptr;
  if (!g_dbus_connection_send_message(conn, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, nullptr, &err)) {
    // The connection is going away: nobody is left to answer.
    g_debug("repeat answer not sent: %s", err->message);
  }
  ++st.answered;
  std::string key = RequestKey({bytes, n}, base_cid, purpose);
  if (st.seen.find(key) == st.seen.end()) {
    st.seen.emplace(std::move(key),
                    RepeatAnswerer::State::Seen{std::vector<std::uint8_t>(bytes, bytes + n),
                                                base_cid, std::move(*answer)});
  }
  if (st.drain == nullptr) {
    st.drain = g_idle_source_new();
    g_source_set_callback(st.drain, Drain, &st, nullptr);
    g_source_attach(st.drain, st.main_ctx);
  }
  return true;
}

GDBusMessage* Filter(GDBusConnection* conn, GDBusMessage* message, gboolean incoming,
                     gpointer data) {
  if (!incoming) return message;
  auto& st = **static_cast<StatePtr*>(data);
  if (!TryAnswer(st, conn, message)) return message;
  g_object_unref(message);
  return nullptr;
}

void FreeHolder(gpointer data) { std::unique_ptr<StatePtr> holder(static_cast<StatePtr*>(data)); }

}  // namespace

GVariant* ProcessStkmReply(const Answer& a) {
  const TrafficKey zero{};
  const TrafficKey& next = a.next ? *a.next : zero;
  return g_variant_new("(q@ay@ayqybbq@ay@ays)", a.current.id,
                       SecretBytes(a.current.key.data(), a.current.key.size()),
                       SecretBytes(a.current.salt.data(), a.current.salt.size()), a.lifetime,
                       a.protocol, a.authenticated, a.next.has_value(), a.next ? a.next->id : 0,
                       SecretBytes(next.key.data(), next.key.size()),
                       SecretBytes(next.salt.data(), next.salt.size()), a.content_id.c_str());
}

RepeatAnswerer::RepeatAnswerer(GDBusConnection* conn, StkmProcessor& processor,
                               Answered on_answered)
    : conn_(G_DBUS_CONNECTION(g_object_ref(conn))),
      state_(std::make_shared<State>(&processor, std::move(on_answered),
                                     g_main_context_ref_thread_default())) {
  // The filter holds the state until GDBus says no run of it can start any more.
  filter_id_ = g_dbus_connection_add_filter(
      conn_, Filter, std::make_unique<StatePtr>(state_).release(), FreeHolder);
}

RepeatAnswerer::~RepeatAnswerer() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopped = true;
    state_->processor = nullptr;
    if (state_->drain != nullptr) {
      g_source_destroy(state_->drain);
      g_source_unref(state_->drain);
      state_->drain = nullptr;
    }
    state_->seen.clear();
  }
  g_dbus_connection_remove_filter(conn_, filter_id_);
  g_object_unref(conn_);
}

std::uint64_t RepeatAnswerer::answered() const {
  std::lock_guard lock(state_->mu);
  return state_->answered;
}

}  // namespace spc::daemon
