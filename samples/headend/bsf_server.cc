#include "samples/headend/bsf_server.h"

#include <cstdio>

#include "spc/libspc/smartcard/digest_aka.h"

namespace headend {

namespace sc = spc::smartcard;

namespace {

// TS 24.109 §4.4.3: the BootstrappingInfo body.
constexpr char kBootstrappingInfoType[] = "application/vnd.3gpp.bsf+xml";

std::string RequestUri(SoupServerMessage* msg) {
  GUri* uri = soup_server_message_get_uri(msg);
  std::string out = g_uri_get_path(uri);
  if (const char* q = g_uri_get_query(uri)) out += std::string("?") + q;
  return out;
}

}  // namespace

SoupServer* ListenHttp(const std::string& what, const std::string& bind, int port,
                       SoupServerCallback handler, gpointer self, std::uint16_t* port_out,
                       std::string* error) {
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(bind.c_str());
  if (!addr) {
    *error = what + ": " + bind + " is not an IP address";
    return nullptr;
  }
  SoupServer* server = soup_server_new("server-header", "openbcast-headend", nullptr);
  soup_server_add_handler(server, nullptr, handler, self, nullptr);
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(addr, static_cast<guint16>(port));
  GError* gerr = nullptr;
  if (!soup_server_listen(server, sa, static_cast<SoupServerListenOptions>(0), &gerr)) {
    *error = what + " cannot listen on " + bind + ":" + std::to_string(port) + ": " + gerr->message;
    g_error_free(gerr);
    g_object_unref(server);
    return nullptr;
  }
  *port_out = 0;
  GSList* listeners = soup_server_get_listeners(server);
  if (listeners) {
    g_autoptr(GSocketAddress) local =
        g_socket_get_local_address(G_SOCKET(listeners->data), nullptr);
    if (local) *port_out = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
  }
  g_slist_free(listeners);
  return server;
}

std::string HttpBase(const std::string& bind, std::uint16_t port) {
  const bool v6 = bind.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + bind + "]" : bind) + ":" + std::to_string(port);
}

std::unique_ptr<BsfServer> BsfServer::Create(const BsfServerOptions& options, std::string* error) {
  auto s = std::make_unique<BsfServer>(Token{});
  s->options_ = options;
  s->bsf_ = std::make_unique<sc::Bsf>(options.name, options.key_lifetime);
  std::uint16_t port = 0;
  s->server_ =
      ListenHttp("BSF", options.bind, options.port, &BsfServer::OnRequest, s.get(), &port, error);
  if (s->server_ == nullptr) return nullptr;
  s->url_ = HttpBase(options.bind, port) + sc::kUbUri;
  return s;
}

BsfServer::~BsfServer() {
  if (server_) {
    soup_server_disconnect(server_);
    g_object_unref(server_);
  }
}

void BsfServer::Event(const std::string& line) {
  if (on_event) {
    on_event(line);
    return;
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void BsfServer::OnRequest(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*,
                          gpointer self) {
  static_cast<BsfServer*>(self)->Handle(msg);
}

void BsfServer::Refuse(SoupServerMessage* msg, guint status, const std::string& reason) {
  ++counters_.refused;
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY, reason.data(),
                                   reason.size());
  Event("bsf refused status=" + std::to_string(status) + " " + reason);
}

void BsfServer::Challenge(SoupServerMessage* msg, const std::string& impi) {
  auto challenge = bsf_->Challenge(impi);
  if (!challenge) {
    Refuse(
        msg, SOUP_STATUS_FORBIDDEN,
        std::string(sc::BsfErrorName(challenge.error().code)) + ": " + challenge.error().message);
    return;
  }
  ++counters_.challenges;
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                               challenge->c_str());
  soup_server_message_set_status(msg, SOUP_STATUS_UNAUTHORIZED, nullptr);
  Event("bsf challenge impi=" + impi);
}

void BsfServer::Handle(SoupServerMessage* msg) {
  ++counters_.requests;
  const char* method = soup_server_message_get_method(msg);
  SoupMessageHeaders* headers = soup_server_message_get_request_headers(msg);
  const char* authorization = soup_message_headers_get_one(headers, "Authorization");
  if (authorization == nullptr) {
    // Without a username there is nobody to challenge (TS 24.109 §4.4.3: the first request
    // names the IMPI).
    Refuse(msg, SOUP_STATUS_BAD_REQUEST, "malformed: no Authorization with the IMPI");
    return;
  }
  auto params = sc::ParseDigestParams(authorization);
  if (!params) {
    Refuse(msg, SOUP_STATUS_BAD_REQUEST, "malformed: Authorization: " + params.error().message);
    return;
  }
  const auto user = params->find("username");
  if (user == params->end() || user->second.empty()) {
    Refuse(msg, SOUP_STATUS_BAD_REQUEST, "malformed: Authorization without username");
    return;
  }
  const std::string impi = user->second;
  const auto nonce = params->find("nonce");
  if (nonce == params->end() || nonce->second.empty()) {
    Challenge(msg, impi);
    return;
  }
  SoupMessageBody* body = soup_server_message_get_request_body(msg);
  const std::string_view entity(body->data != nullptr ? body->data : "",
                                static_cast<std::size_t>(body->length));
  auto outcome = bsf_->Authenticate(authorization, method, RequestUri(msg), entity,
                                    std::chrono::system_clock::now());
  if (!outcome) {
    switch (outcome.error().code) {
      case sc::BsfError::kNoChallenge:
        // A stale or foreign nonce: start over with a fresh challenge.
        Challenge(msg, impi);
        return;
      case sc::BsfError::kMalformed:
        Refuse(msg, SOUP_STATUS_BAD_REQUEST, "malformed: " + outcome.error().message);
        return;
      default:
        Refuse(
            msg, SOUP_STATUS_FORBIDDEN,
            std::string(sc::BsfErrorName(outcome.error().code)) + ": " + outcome.error().message);
        return;
    }
  }
  if (outcome->resync) {
    ++counters_.resyncs;
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                                 outcome->www_authenticate.c_str());
    soup_server_message_set_status(msg, SOUP_STATUS_UNAUTHORIZED, nullptr);
    Event("bsf resync impi=" + impi);
    return;
  }
  ++counters_.bootstraps;
  const std::string xml = sc::WriteBootstrappingInfo(outcome->info);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  soup_server_message_set_response(msg, kBootstrappingInfoType, SOUP_MEMORY_COPY, xml.data(),
                                   xml.size());
  Event("bsf bootstrapped impi=" + impi + " btid=" + outcome->info.btid +
        " lifetime=" + outcome->info.lifetime);
}

}  // namespace headend
