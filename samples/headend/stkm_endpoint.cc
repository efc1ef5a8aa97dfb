#include "samples/headend/stkm_endpoint.h"

#include <glib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>

#include "spc/libspc/stkm.h"
#include "spc/libspc/stkm_fetch_response.h"

namespace headend {
namespace {

constexpr char kPath[] = "/stkm";

const std::set<std::string>& FaultModes() {
  static const std::set<std::string> modes = {
      "none",     "refused",   "slow",     "http-503",           "truncated", "forged",
      "replayed", "malformed", "bad-stkm", "wrong-content-type", "not-found", "no-key"};
  return modes;
}

// A hex query value (with or without leading zeros); false when it is not one.
bool ParseHex(const char* text, std::uint32_t* out) {
  if (text == nullptr || *text == '\0') return false;
  guint64 v = 0;
  if (!g_ascii_string_to_unsigned(text, 16, 0, 0xffffffffu, &v, nullptr)) return false;
  *out = static_cast<std::uint32_t>(v);
  return true;
}

}  // namespace

GOptionGroup* MakeStkmEndpointOptionGroup(StkmEndpointOptions* o) {
  struct Storage {
    gchar* bind = nullptr;
    gchar* fault = nullptr;
    gint port = -2;
    gint slow_ms = -1;
    gint replay_age = -1;
    gboolean key_stream_off = FALSE;
    gboolean control = FALSE;
    StkmEndpointOptions* options = nullptr;
  };
  auto* s = g_new0(Storage, 1);
  s->port = -2;
  s->slow_ms = -1;
  s->replay_age = -1;
  s->options = o;
  GOptionEntry entries[] = {
      {"stkm-port", 0, 0, G_OPTION_ARG_INT, &s->port,
       "serve the STKM fetch endpoint (interaction.md) on this TCP port (0: any free; default: "
       "no endpoint)",
       "PORT"},
      {"stkm-bind", 0, 0, G_OPTION_ARG_STRING, &s->bind,
       "address of the STKM fetch endpoint (default 127.0.0.1)", "ADDR"},
      {"stkm-fault", 0, 0, G_OPTION_ARG_STRING, &s->fault,
       "fault injection of the STKM fetch endpoint: none, refused, slow, http-503, truncated, "
       "forged, replayed, malformed, bad-stkm, wrong-content-type, not-found, no-key",
       "MODE"},
      {"stkm-slow-ms", 0, 0, G_OPTION_ARG_INT, &s->slow_ms, "delay of --stkm-fault slow (30000)",
       "MS"},
      {"stkm-replay-age", 0, 0, G_OPTION_ARG_INT, &s->replay_age,
       "age of the STKMs of --stkm-fault replayed (3600)", "S"},
      {"key-stream-off", 0, 0, G_OPTION_ARG_NONE, &s->key_stream_off,
       "start without sending the key stream (a \"key-stream on\" control line starts it)",
       nullptr},
      {"control-stdin", 0, 0, G_OPTION_ARG_NONE, &s->control,
       "read control lines on stdin: \"key-stream on|off\", \"stkm-fault MODE\"", nullptr},
      {},
  };
  GOptionGroup* group = g_option_group_new(
      "stkm", "STKM fetch endpoint and key stream control:", "Show the STKM fetch endpoint options",
      s, [](gpointer p) {
        auto* st = static_cast<Storage*>(p);
        g_free(st->bind);
        g_free(st->fault);
        g_free(st);
      });
  g_option_group_add_entries(group, entries);
  g_option_group_set_parse_hooks(
      group, nullptr, [](GOptionContext*, GOptionGroup*, gpointer p, GError** error) -> gboolean {
        auto* st = static_cast<Storage*>(p);
        StkmEndpointOptions* o = st->options;
        if (st->port != -2) {
          if (st->port < 0 || st->port > 65535) {
            g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                "--stkm-port must be 0-65535");
            return FALSE;
          }
          o->port = st->port;
        }
        if (st->bind) o->bind = st->bind;
        if (st->fault) o->fault = st->fault;
        if (st->slow_ms >= 0) o->slow_ms = static_cast<unsigned>(st->slow_ms);
        if (st->replay_age >= 0) o->replay_age_s = static_cast<unsigned>(st->replay_age);
        o->key_stream_off = st->key_stream_off;
        o->control_stdin = st->control;
        return TRUE;
      });
  return group;
}

bool CheckStkmEndpointOptions(const StkmEndpointOptions& o, std::string* error) {
  if (FaultModes().count(o.fault) == 0) {
    *error = "--stkm-fault: unknown mode " + o.fault;
    return false;
  }
  if (o.fault != "none" && !o.enabled()) {
    *error = "--stkm-fault needs --stkm-port";
    return false;
  }
  return true;
}

std::unique_ptr<StkmEndpoint> StkmEndpoint::Create(const StkmEndpointOptions& options,
                                                   std::string base_cid, Source source,
                                                   std::string* error) {
  auto e = std::make_unique<StkmEndpoint>();
  e->options_ = options;
  e->base_cid_ = std::move(base_cid);
  e->source_ = std::move(source);
  e->key_stream_on_ = !options.key_stream_off;
  if (!e->SetFault(options.fault, error)) return nullptr;
  if (options.enabled()) {
    e->port_ = static_cast<std::uint16_t>(options.port);
    if (!e->Listen(error)) return nullptr;
    // The port chosen once stays the endpoint's across "refused" periods.
    if (e->fault_ == "refused") {
      soup_server_disconnect(e->server_);
      g_clear_object(&e->server_);
    }
  }
  if (options.control_stdin) {
    e->stdin_ = g_io_channel_unix_new(0);
    e->stdin_watch_ = g_io_add_watch(e->stdin_, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP),
                                     &StkmEndpoint::OnStdin, e.get());
  }
  return e;
}

StkmEndpoint::~StkmEndpoint() {
  for (guint id : timers_) g_source_remove(id);
  if (stdin_watch_ != 0) g_source_remove(stdin_watch_);
  if (stdin_ != nullptr) g_io_channel_unref(stdin_);
  if (server_ != nullptr) {
    soup_server_disconnect(server_);
    g_object_unref(server_);
  }
}

bool StkmEndpoint::Listen(std::string* error) {
  server_ = soup_server_new("server-header", "openbcast-headend-stkm", nullptr);
  soup_server_add_handler(server_, kPath, &StkmEndpoint::OnRequest, this, nullptr);
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(options_.bind.c_str());
  if (!addr) {
    *error = "--stkm-bind " + options_.bind + " is not an IP address";
    return false;
  }
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(addr, port_);
  GError* gerr = nullptr;
  if (!soup_server_listen(server_, sa, static_cast<SoupServerListenOptions>(0), &gerr)) {
    *error = "STKM endpoint cannot listen on " + options_.bind + ":" + std::to_string(port_) +
             ": " + gerr->message;
    g_error_free(gerr);
    g_clear_object(&server_);
    return false;
  }
  GSList* listeners = soup_server_get_listeners(server_);
  if (listeners) {
    g_autoptr(GSocketAddress) local =
        g_socket_get_local_address(G_SOCKET(listeners->data), nullptr);
    if (local) port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
  }
  g_slist_free(listeners);
  const bool v6 = g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6;
  url_ = "http://" + (v6 ? "[" + options_.bind + "]" : options_.bind) + ":" +
         std::to_string(port_) + kPath;
  return true;
}

void StkmEndpoint::SetKeyStream(bool on) { key_stream_on_ = on; }

bool StkmEndpoint::SetFault(const std::string& mode, std::string* error) {
  if (FaultModes().count(mode) == 0) {
    *error = "unknown STKM endpoint fault mode " + mode;
    return false;
  }
  const bool was_refused = fault_ == "refused";
  fault_ = mode;
  if (!options_.enabled() || url_.empty()) return true;
  if (mode == "refused" && server_ != nullptr) {
    soup_server_disconnect(server_);
    g_clear_object(&server_);
  } else if (mode != "refused" && was_refused && server_ == nullptr) {
    if (!Listen(error)) return false;
  }
  return true;
}

void StkmEndpoint::Event(const std::string& line) {
  if (on_event) {
    on_event(line);
    return;
  }
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void StkmEndpoint::OnRequest(SoupServer*, SoupServerMessage* msg, const char*, GHashTable* query,
                             gpointer self) {
  static_cast<StkmEndpoint*>(self)->Handle(msg, query);
}

void StkmEndpoint::Answer(SoupServerMessage* msg, int status, const std::vector<std::uint8_t>& body,
                          const char* type) {
  Event("stkm-fetch n=" + std::to_string(requests_) + " status=" + std::to_string(status) +
        " fault=" + fault_);
  if (status == 200 && fault_ == "truncated") {
    // Announce the whole body, send half of it and close: a connection that broke mid-answer.
    GIOStream* io = soup_server_message_steal_connection(msg);
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: " + std::string(type) +
                       "\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\nConnection: close\r\n\r\n";
    head.append(reinterpret_cast<const char*>(body.data()), body.size() / 2);
    g_output_stream_write_all(g_io_stream_get_output_stream(io), head.data(), head.size(), nullptr,
                              nullptr, nullptr);
    g_io_stream_close(io, nullptr, nullptr);
    g_object_unref(io);
    return;
  }
  soup_server_message_set_status(msg, static_cast<guint>(status), nullptr);
  if (status == 200) {
    soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY,
                                     reinterpret_cast<const char*>(body.data()), body.size());
  }
}

void StkmEndpoint::Handle(SoupServerMessage* msg, GHashTable* query) {
  ++requests_;
  Event("stkm-request n=" + std::to_string(requests_) + " fault=" + fault_);
  if (g_strcmp0(soup_server_message_get_method(msg), "GET") != 0) {
    soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
    return;
  }
  if (fault_ == "http-503") return Answer(msg, 503, {}, nullptr);
  if (fault_ == "not-found") return Answer(msg, 404, {}, nullptr);
  if (fault_ == "no-key") return Answer(msg, 204, {}, nullptr);
  const char* basecid =
      query ? static_cast<const char*>(g_hash_table_lookup(query, "basecid")) : nullptr;
  const char* keydomain =
      query ? static_cast<const char*>(g_hash_table_lookup(query, "keydomain")) : nullptr;
  const char* cidext =
      query ? static_cast<const char*>(g_hash_table_lookup(query, "cidext")) : nullptr;
  std::uint32_t domain = 0, ext = 0;
  if (basecid == nullptr || !ParseHex(keydomain, &domain) ||
      (cidext != nullptr && !ParseHex(cidext, &ext))) {
    return Answer(msg, 400, {}, nullptr);
  }
  if (base_cid_ != basecid) return Answer(msg, 404, {}, nullptr);
  const auto now = static_cast<std::uint64_t>(g_get_real_time() / G_USEC_PER_SEC);
  const bool forged = fault_ == "forged";
  std::vector<std::vector<std::uint8_t>> stkms =
      source_(fault_ == "replayed" ? now - options_.replay_age_s : now, forged);
  if (stkms.empty()) return Answer(msg, 204, {}, nullptr);
  // Key domain and CID extension as the key stream says them now (a SEK change moves them).
  auto first = spc::ParseStkm(stkms.front());
  if (!first || first->key_domain_id != domain ||
      (cidext != nullptr && first->service_CID_extension != ext)) {
    return Answer(msg, 404, {}, nullptr);
  }
  std::vector<std::uint8_t> body;
  if (fault_ == "bad-stkm") {
    std::vector<std::uint8_t> junk(static_cast<std::size_t>(g_random_int_range(20, 120)));
    for (auto& b : junk) b = static_cast<std::uint8_t>(g_random_int());
    body = spc::WriteStkmFetchResponse({junk});
  } else {
    body = spc::WriteStkmFetchResponse(stkms);
  }
  if (fault_ == "malformed") {
    // The first length field announces one byte more than the body holds.
    const std::size_t n = body.size() - 1;
    body[0] = static_cast<std::uint8_t>(n >> 8);
    body[1] = static_cast<std::uint8_t>(n);
  }
  const char* type = fault_ == "wrong-content-type" ? "text/html" : spc::kStkmMediaType;
  if (fault_ != "slow") return Answer(msg, 200, body, type);
  // Hold the answer back beyond the terminal's timeout, then send it (to a closed connection).
  soup_server_message_pause(msg);
  struct Held {
    StkmEndpoint* self;
    SoupServerMessage* msg;
    std::vector<std::uint8_t> body;
    guint id = 0;
  };
  g_object_ref(msg);
  Held* held = std::make_unique<Held>(Held{this, msg, std::move(body)}).release();
  held->id = g_timeout_add_full(
      G_PRIORITY_DEFAULT, options_.slow_ms,
      [](gpointer p) -> gboolean {
        auto* h = static_cast<Held*>(p);
        std::erase(h->self->timers_, h->id);
        h->self->Answer(h->msg, 200, h->body, spc::kStkmMediaType);
        soup_server_message_unpause(h->msg);
        return G_SOURCE_REMOVE;
      },
      held,
      [](gpointer p) {
        std::unique_ptr<Held> h(static_cast<Held*>(p));
        g_object_unref(h->msg);
      });
  timers_.push_back(held->id);
}

void StkmEndpoint::OnControlLine(const std::string& line) {
  gchar** words = g_strsplit_set(line.c_str(), " \t", -1);
  std::vector<std::string> w;
  for (gchar** p = words; *p != nullptr; ++p) {
    if (**p != '\0') w.emplace_back(*p);
  }
  g_strfreev(words);
  if (w.empty()) return;
  std::string error;
  if (w.size() == 2 && w[0] == "key-stream" && (w[1] == "on" || w[1] == "off")) {
    SetKeyStream(w[1] == "on");
    Event("control key-stream=" + w[1]);
  } else if (w.size() == 2 && w[0] == "stkm-fault") {
    if (SetFault(w[1], &error)) {
      Event("control stkm-fault=" + w[1]);
    } else {
      Event("control error " + error);
    }
  } else {
    Event("control error unknown command: " + line);
  }
}

gboolean StkmEndpoint::OnStdin(GIOChannel* channel, GIOCondition condition, gpointer data) {
  auto* self = static_cast<StkmEndpoint*>(data);
  if ((condition & G_IO_IN) != 0) {
    gchar* line = nullptr;
    gsize len = 0;
    const GIOStatus st = g_io_channel_read_line(channel, &line, &len, nullptr, nullptr);
    if (st == G_IO_STATUS_NORMAL && line != nullptr) {
      std::string text(line, len);
      g_free(line);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      self->OnControlLine(text);
      return G_SOURCE_CONTINUE;
    }
    g_free(line);
    if (st == G_IO_STATUS_AGAIN) return G_SOURCE_CONTINUE;
  }
  // End of input: no more control; the head-end goes on.
  self->stdin_watch_ = 0;
  return G_SOURCE_REMOVE;
}

}  // namespace headend
