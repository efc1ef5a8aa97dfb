#include "samples/headend/bsm_server.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "spc/libspc/crypto.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/smartcard/digest_aka.h"
#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/msk_request.h"

namespace headend {

namespace sc = spc::smartcard;

namespace {

constexpr char kRealmPrefix[] = "3GPP-bootstrapping@";
constexpr std::int64_t kNonceLifetimeUs = 300 * G_USEC_PER_SEC;
constexpr std::size_t kMaxNonces = 256;
constexpr std::size_t kMaxRegisteredBtids = 4096;

// "host", "host:port" or "[v6]:port" → host.
std::string HostOf(std::string_view hostport) {
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    return std::string(hostport.substr(1, close == std::string_view::npos ? 0 : close - 1));
  }
  const auto colon = hostport.rfind(':');
  return std::string(colon == std::string_view::npos ? hostport : hostport.substr(0, colon));
}

std::string MskIdHex(std::uint32_t id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", id);
  return buf;
}

}  // namespace

std::unique_ptr<BsmServer> BsmServer::Create(const BsmServerOptions& options, BsfServer* bsf,
                                             MskLookup msk_of, std::string* error) {
  auto s = std::make_unique<BsmServer>(Token{});
  s->options_ = options;
  s->bsf_ = bsf;
  s->msk_of_ = std::move(msk_of);
  // MSK message counters must rise above every counter the card accepted under this MUK, also
  // across head-end restarts: start from the time.
  s->counter_ = static_cast<std::uint32_t>(std::time(nullptr));
  std::uint16_t port = 0;
  s->server_ =
      ListenHttp("BSM", options.bind, options.port, &BsmServer::OnRequest, s.get(), &port, error);
  if (s->server_ == nullptr) return nullptr;
  s->url_ = HttpBase(options.bind, port);
  s->url_host_ = options.bind;
  return s;
}

BsmServer::~BsmServer() {
  if (server_) {
    soup_server_disconnect(server_);
    g_object_unref(server_);
  }
}

bool BsmServer::Registered(const std::string& btid, const std::string& service_id) const {
  auto it = registered_.find(btid);
  return it != registered_.end() && it->second.contains(service_id);
}

void BsmServer::Event(const std::string& line) {
  if (on_event) {
    on_event(line);
    return;
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void BsmServer::OnRequest(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*,
                          gpointer self) {
  static_cast<BsmServer*>(self)->Handle(msg);
}

void BsmServer::Refuse(SoupServerMessage* msg, guint status, const std::string& reason) {
  ++counters_.refused;
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY, reason.data(),
                                   reason.size());
  Event("bsm refused status=" + std::to_string(status) + " " + reason);
}

void BsmServer::Challenge(SoupServerMessage* msg, const std::string& fqdn, bool stale) {
  const std::int64_t now = g_get_monotonic_time();
  std::erase_if(nonces_, [now](const auto& n) { return n.second <= now; });
  while (nonces_.size() >= kMaxNonces) nonces_.erase(nonces_.begin());
  std::array<std::uint8_t, 16> raw{};
  spc::RandomBytes(raw);
  gchar* b64 = g_base64_encode(raw.data(), raw.size());
  const std::string nonce = b64;
  g_free(b64);
  nonces_[nonce] = now + kNonceLifetimeUs;
  std::map<std::string, std::string> p = {
      {"realm", kRealmPrefix + fqdn}, {"nonce", nonce}, {"algorithm", "MD5"}, {"qop", "auth-int"}};
  if (stale) p["stale"] = "true";
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                               sc::FormatDigestHeader(p).c_str());
  soup_server_message_set_status(msg, SOUP_STATUS_UNAUTHORIZED, nullptr);
  ++counters_.challenges;
  Event(std::string("bsm challenge naf=") + fqdn + (stale ? " stale" : ""));
}

void BsmServer::Handle(SoupServerMessage* msg) {
  ++counters_.requests;
  GUri* uri = soup_server_message_get_uri(msg);
  const std::string path = g_uri_get_path(uri);
  const bool registration = path == sc::kRegisterPath;
  if (path != sc::kMskRequestPath && !registration) {
    Refuse(msg, SOUP_STATUS_NOT_FOUND, "no such resource " + path);
    return;
  }
  if (g_strcmp0(soup_server_message_get_method(msg), "POST") != 0) {
    Refuse(msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
           registration ? "registrations are POSTed" : "MSK requests are POSTed");
    return;
  }
  SoupMessageHeaders* headers = soup_server_message_get_request_headers(msg);
  const char* host_header = soup_message_headers_get_one(headers, "Host");
  const std::string host = host_header != nullptr ? HostOf(host_header) : url_host_;
  const std::string challenge_fqdn = !options_.naf_fqdn.empty() ? options_.naf_fqdn : host;

  const char* authorization = soup_message_headers_get_one(headers, "Authorization");
  if (authorization == nullptr) {
    Challenge(msg, challenge_fqdn, false);
    return;
  }
  auto params = sc::ParseDigestParams(authorization);
  if (!params) {
    Refuse(msg, SOUP_STATUS_BAD_REQUEST, "malformed Authorization: " + params.error().message);
    return;
  }
  auto get = [&](const char* k) -> std::string {
    auto it = params->find(k);
    return it == params->end() ? std::string() : it->second;
  };
  const std::string nonce = get("nonce");
  auto issued = nonces_.find(nonce);
  if (issued == nonces_.end() || issued->second <= g_get_monotonic_time()) {
    Challenge(msg, challenge_fqdn, true);
    return;
  }
  const std::string btid = get("username");
  const std::string realm = get("realm");
  std::string request_uri = path;
  if (const char* q = g_uri_get_query(uri)) request_uri += std::string("?") + q;
  if (get("uri") != request_uri) {
    Refuse(msg, SOUP_STATUS_BAD_REQUEST, "digest uri " + get("uri") + " is not " + request_uri);
    return;
  }
  SoupMessageBody* body = soup_server_message_get_request_body(msg);
  const std::string entity(body->data != nullptr ? body->data : "",
                           static_cast<std::size_t>(body->length));

  // The FQDN the terminal derived its NAF keys for.
  std::vector<std::string> candidates;
  if (!options_.naf_fqdn.empty()) {
    candidates.push_back(options_.naf_fqdn);
  } else {
    for (const std::string& c :
         {realm.starts_with(kRealmPrefix) ? realm.substr(sizeof kRealmPrefix - 1) : std::string(),
          host, url_host_}) {
      if (!c.empty() && std::find(candidates.begin(), candidates.end(), c) == candidates.end()) {
        candidates.push_back(c);
      }
    }
  }
  const auto now = std::chrono::system_clock::now();
  std::optional<sc::NafKeys> keys;
  std::string fqdn;
  for (const std::string& c : candidates) {
    auto k = bsf_->bsf().GetNafKeys(btid, sc::GbaNafId(c), now);
    if (!k) {
      // The terminal must bootstrap again (TS 33.220 §4.5.3).
      Refuse(msg, SOUP_STATUS_FORBIDDEN,
             std::string(sc::BsfErrorName(k.error().code)) + ": " + k.error().message);
      return;
    }
    const std::string password = sc::GbaNafDigestPassword(k->ks_ext_naf);
    const std::string expected = sc::DigestResponse(
        btid,
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(password.data()),
                                      password.size()),
        realm, soup_server_message_get_method(msg), request_uri, nonce, get("nc"), get("cnonce"),
        get("qop"), entity);
    const std::string response = get("response");
    if (spc::ConstantTimeEqual(
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(expected.data()),
                                          expected.size()),
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(response.data()),
                                          response.size()))) {
      keys.emplace(std::move(*k));
      fqdn = c;
      break;
    }
  }
  if (!keys) {
    Refuse(msg, SOUP_STATUS_FORBIDDEN, "bad-response: digest does not verify for B-TID " + btid);
    return;
  }
  // Each nonce authenticates one request.
  nonces_.erase(nonce);

  if (registration) return HandleRegister(msg, headers, btid, keys->impi, entity);
  if (!services_.empty()) {
    auto it = registered_.find(btid);
    const bool any = it != registered_.end() &&
                     std::any_of(it->second.begin(), it->second.end(),
                                 [this](const std::string& id) { return services_.contains(id); });
    if (!any) {
      Refuse(msg, SOUP_STATUS_FORBIDDEN,
             "not-registered: B-TID " + btid +
                 " registered to no MBMS user service of key domain " +
                 spc::HexEncode(options_.key_domain) + " (POST " + sc::kRegisterPath + " first)");
      return;
    }
  }

  const char* type = soup_message_headers_get_content_type(headers, nullptr);
  if (type == nullptr || g_ascii_strcasecmp(type, sc::kMskRequestContentType) != 0) {
    Refuse(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
           std::string("content type ") + (type ? type : "(none)") + " is not " +
               sc::kMskRequestContentType);
    return;
  }
  auto request = sc::ParseMskRequest(entity);
  if (!request) {
    Refuse(msg, SOUP_STATUS_BAD_REQUEST,
           "malformed mskRequest: " + request.error().field + " at offset " +
               std::to_string(request.error().offset) + ": " + request.error().message);
    return;
  }
  if (request->key_domain != options_.key_domain) {
    Refuse(msg, SOUP_STATUS_NOT_FOUND,
           "key domain " + spc::HexEncode(request->key_domain) + " is not " +
               spc::HexEncode(options_.key_domain));
    return;
  }
  std::vector<std::vector<std::uint8_t>> messages;
  std::string sent, missing;
  for (std::uint32_t id : request->msk_ids) {
    const MskEntry* msk = msk_of_ ? msk_of_(id) : nullptr;
    if (msk == nullptr) {
      missing += (missing.empty() ? "" : ",") + MskIdHex(id);
      continue;
    }
    sc::BcastLtkmExt ext;
    ext.permissions = options_.permissions;
    messages.push_back(sc::MakeMikeyMskMessage(options_.key_domain, id, ++counter_, msk->key,
                                               keys->ks_int_naf, fqdn, btid, ext, false));
    sent += (sent.empty() ? "" : ",") + MskIdHex(id);
  }
  if (messages.empty()) {
    Refuse(msg, SOUP_STATUS_NOT_FOUND, "no such MSK " + missing);
    return;
  }
  const std::vector<std::uint8_t> bundle = sc::WriteMikeyBundle(messages);
  counters_.msk_messages += messages.size();
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  soup_server_message_set_response(msg, sc::kMikeyBundleContentType, SOUP_MEMORY_COPY,
                                   reinterpret_cast<const char*>(bundle.data()), bundle.size());
  Event("bsm msk-sent impi=" + keys->impi + " naf=" + fqdn + " msk=" + sent +
        (missing.empty() ? "" : " unknown=" + missing));
}

void BsmServer::HandleRegister(SoupServerMessage* msg, SoupMessageHeaders* headers,
                               const std::string& btid, const std::string& impi,
                               const std::string& entity) {
  const char* type = soup_message_headers_get_content_type(headers, nullptr);
  if (type == nullptr || g_ascii_strcasecmp(type, sc::kRegisterContentType) != 0) {
    Refuse(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE,
           std::string("content type ") + (type ? type : "(none)") + " is not " +
               sc::kRegisterContentType);
    return;
  }
  auto ids = sc::ParseRegisterRequest(entity);
  if (!ids) {
    Refuse(msg, SOUP_STATUS_BAD_REQUEST,
           "malformed mbmsRegister: " + ids.error().field + " at offset " +
               std::to_string(ids.error().offset) + ": " + ids.error().message);
    return;
  }
  if (!registered_.contains(btid) && registered_.size() >= kMaxRegisteredBtids) {
    // Full: forget the B-TIDs the BSF no longer knows first, then any.
    const auto now = std::chrono::system_clock::now();
    std::erase_if(registered_, [&](const auto& r) {
      return !bsf_->bsf().GetNafKeys(r.first, sc::GbaNafId(url_host_), now);
    });
    while (registered_.size() >= kMaxRegisteredBtids) registered_.erase(registered_.begin());
  }
  std::set<std::string>& mine = registered_[btid];
  std::vector<sc::RegistrationResult> results;
  std::string ok, unknown;
  for (const std::string& id : *ids) {
    const bool known = services_.empty() || services_.contains(id);
    results.push_back({id, known ? sc::RegistrationStatus::kOk : sc::RegistrationStatus::kUnknown});
    std::string& list = known ? ok : unknown;
    list += (list.empty() ? "" : ",") + id;
    if (known) mine.insert(id);
  }
  if (mine.empty()) registered_.erase(btid);
  ++counters_.registrations;
  const std::string body = sc::WriteRegisterResponse(results);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  soup_server_message_set_response(msg, sc::kRegisterResponseContentType, SOUP_MEMORY_COPY,
                                   body.data(), body.size());
  Event("bsm registered btid=" + btid + " impi=" + impi + " services=" + ok +
        (unknown.empty() ? "" : " unknown=" + unknown));
}

}  // namespace headend
