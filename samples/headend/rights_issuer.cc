#include "samples/headend/rights_issuer.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <utility>

#include "spc/libspc/crypto.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/roap/messages.h"

namespace headend {
namespace {

namespace roap = spc::roap;

constexpr char kPath[] = "/roap";

std::int64_t Now() { return g_get_real_time() / G_USEC_PER_SEC; }

// A certificate over `key`'s public half: self-signed when `issuer` is null, else signed by
// `issuer_key`. The RI's fault modes need a certificate of its own key that is expired or that
// chains to nothing the terminal trusts.
spc::X509Ptr MakeCertificate(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key,
                             long not_before_offset, long not_after_offset) {
  spc::X509Ptr cert(X509_new());
  if (!cert) return nullptr;
  X509_set_version(cert.get(), 2);
  std::uint8_t serial[12];
  spc::RandomBytes(serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), not_before_offset);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after_offset);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("openbcast test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const char* ext : {"basicConstraints=critical,CA:FALSE",
                          "keyUsage=critical,digitalSignature,keyEncipherment"}) {
    const std::string e(ext);
    const auto eq = e.find('=');
    X509_EXTENSION* x =
        X509V3_EXT_conf(nullptr, &ctx, e.substr(0, eq).c_str(), e.substr(eq + 1).c_str());
    if (x) {
      X509_add_ext(cert.get(), x, -1);
      X509_EXTENSION_free(x);
    }
  }
  if (X509_sign(cert.get(), issuer ? issuer_key : key, EVP_sha256()) == 0) return nullptr;
  return cert;
}

// Replaces the content of the signature element of `message` (roResponse: the one after the last
// protectedRO) by a fresh RSA-PSS signature of `prefix` ‖ the message without it: a tampered but
// validly signed message, so that the terminal's next check is the one under test.
std::string Resign(EVP_PKEY* key, const std::string& prefix, std::string message,
                   bool ro_response) {
  std::size_t from = 0;
  if (ro_response) {
    const std::size_t last = message.rfind("</roap:protectedRO>");
    if (last != std::string::npos) from = last;
  }
  const std::size_t open = message.find("<signature>", from);
  const std::size_t close = message.find("</signature>", open);
  if (open == std::string::npos || close == std::string::npos) return message;
  message.erase(open + 11, close - open - 11);
  auto cut = roap::CutSignature(message, ro_response);
  if (!cut) return message;
  auto sig = roap::SignBytes(key, prefix + *cut);
  if (!sig) return message;
  return roap::InsertSignature(message, *sig);
}

// Flips one character inside the base64 of the first element starting `tag` after `from`.
void FlipBase64(std::string& message, const std::string& tag, std::size_t from = 0) {
  // The start tag may carry attributes (ds:SignatureValue declares its namespace).
  const std::size_t pos = message.find(tag, from);
  if (pos == std::string::npos) return;
  const std::size_t gt = message.find('>', pos);
  if (gt == std::string::npos) return;
  const std::size_t i = gt + 1 + 4;
  if (i < message.size()) message[i] = message[i] == 'A' ? 'B' : 'A';
}

spc::Result<spc::X509Ptr, std::string> LoadCert(const std::string& path) {
  auto c = spc::LoadCertificateFile(path);
  if (!c) return c.error().message;
  return std::move(*c);
}

spc::Result<spc::EvpPkeyPtr, std::string> LoadKey(const std::string& path) {
  auto k = spc::LoadPrivateKeyFile(path);
  if (!k) return k.error().message;
  return std::move(*k);
}

}  // namespace

GOptionGroup* MakeRoapOptionGroup(RoapRiOptions* o) {
  // GOption writes into these when it parses; they belong to the group (its user data).
  struct Storage {
    gchar* pki_dir = nullptr;
    gchar* bind = nullptr;
    gchar* misbehave = nullptr;
    gchar* trigger_dir = nullptr;
    gint port = -1;
    gint slow_ms = -1;
    gint trigger_port = -1;
    gint rights_days = -1;
    RoapRiOptions* options = nullptr;
  };
  auto* s = g_new0(Storage, 1);
  s->port = -1;
  s->slow_ms = -1;
  s->trigger_port = -1;
  s->rights_days = -1;
  s->options = o;
  // g_option_group_add_entries copies the array (not the strings, which are literals).
  GOptionEntry entries[] = {
      {"pki-dir", 0, 0, G_OPTION_ARG_FILENAME, &s->pki_dir,
       "run the ROAP Rights Issuer with the test PKI in DIR (scripts/make-test-pki.sh DIR)", "DIR"},
      {"ri-bind", 0, 0, G_OPTION_ARG_STRING, &s->bind, "address of the RI (default 127.0.0.1)",
       "ADDR"},
      {"ri-port", 0, 0, G_OPTION_ARG_INT, &s->port, "TCP port of the RI (default 0: any free)",
       "PORT"},
      {"ri-misbehave", 0, 0, G_OPTION_ARG_STRING, &s->misbehave,
       "fault injection of the RI (see rights_issuer.h): none, bad-signature, wrong-session-id, "
       "expired-cert, untrusted-cert, revoked-cert, ocsp-other-nonce, no-ocsp, wrong-nonce, "
       "ro-other-device, ro-bad-mac, status:<Status>, http-503, slow, truncated, "
       "wrong-content-type",
       "MODE"},
      {"ri-slow-ms", 0, 0, G_OPTION_ARG_INT, &s->slow_ms, "delay of --ri-misbehave slow", "MS"},
      {"trigger-dir", 0, 0, G_OPTION_ARG_FILENAME, &s->trigger_dir,
       "also write every ROAP trigger to DIR/trigger-N.xml", "DIR"},
      {"trigger-port", 0, 0, G_OPTION_ARG_INT, &s->trigger_port,
       "UDP port of the ROAP trigger stream (to --dest; 0: none)", "PORT"},
      {"rights-days", 0, 0, G_OPTION_ARG_INT, &s->rights_days, "validity of the ROs (default 30)",
       "DAYS"},
      {},
  };
  GOptionGroup* group =
      g_option_group_new("roap", "ROAP Rights Issuer (terminals with an interaction channel):",
                         "Show the ROAP Rights Issuer options", s, [](gpointer p) {
                           auto* st = static_cast<Storage*>(p);
                           g_free(st->pki_dir);
                           g_free(st->bind);
                           g_free(st->misbehave);
                           g_free(st->trigger_dir);
                           g_free(st);
                         });
  g_option_group_add_entries(group, entries);
  g_option_group_set_parse_hooks(
      group, nullptr, [](GOptionContext*, GOptionGroup*, gpointer p, GError** error) -> gboolean {
        auto* st = static_cast<Storage*>(p);
        RoapRiOptions* o = st->options;
        if (st->pki_dir) o->pki_dir = st->pki_dir;
        if (st->bind) o->bind = st->bind;
        if (st->misbehave) o->misbehave = st->misbehave;
        if (st->trigger_dir) o->trigger_dir = st->trigger_dir;
        if (st->port >= 0) o->port = st->port;
        if (st->slow_ms >= 0) o->slow_ms = static_cast<unsigned>(st->slow_ms);
        if (st->rights_days >= 0) o->rights_days = static_cast<unsigned>(st->rights_days);
        if (st->trigger_port >= 0) o->trigger_port = static_cast<std::uint16_t>(st->trigger_port);
        if (st->port > 65535 || st->trigger_port > 65535) {
          g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                              "--ri-port / --trigger-port must be 0-65535");
          return FALSE;
        }
        return TRUE;
      });
  return group;
}

std::unique_ptr<RightsIssuer> RightsIssuer::Create(const RoapRiOptions& options,
                                                   std::string* error) {
  auto ri = std::make_unique<RightsIssuer>(Token{});
  ri->options_ = options;
  const std::string& dir = options.pki_dir;
  auto root = LoadCert(dir + "/root.pem");
  auto root_key = LoadKey(dir + "/root.key");
  auto ri_cert = LoadCert(dir + "/ri.pem");
  auto ri_key = LoadKey(dir + "/ri.key");
  auto ocsp_cert = LoadCert(dir + "/ocsp.pem");
  auto ocsp_key = LoadKey(dir + "/ocsp.key");
  for (const std::string* e :
       {root ? nullptr : &root.error(), root_key ? nullptr : &root_key.error(),
        ri_cert ? nullptr : &ri_cert.error(), ri_key ? nullptr : &ri_key.error(),
        ocsp_cert ? nullptr : &ocsp_cert.error(), ocsp_key ? nullptr : &ocsp_key.error()}) {
    if (e) {
      *error = "test PKI in " + dir + " (make it with scripts/make-test-pki.sh " + dir + "): " + *e;
      return nullptr;
    }
  }
  ri->root_ = std::move(*root);
  ri->ocsp_cert_ = std::move(*ocsp_cert);
  ri->ocsp_key_ = std::move(*ocsp_key);
  {
    std::vector<spc::X509Ptr> anchors;
    anchors.push_back(spc::ShareCertificate(ri->root_.get()));
    ri->device_anchors_ = spc::MakeTrustStore(anchors);
  }
  // The other device of ro-other-device: a key nobody holds.
  ri->other_device_key_.reset(EVP_RSA_gen(2048));

  // Listen first: the RI URL goes into the registrationResponse.
  ri->server_ = soup_server_new("server-header", "openbcast-headend-ri", nullptr);
  soup_server_add_handler(ri->server_, kPath, &RightsIssuer::OnRequest, ri.get(), nullptr);
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(options.bind.c_str());
  if (!addr) {
    *error = "--ri-bind " + options.bind + " is not an IP address";
    return nullptr;
  }
  g_autoptr(GSocketAddress) sa =
      g_inet_socket_address_new(addr, static_cast<guint16>(options.port));
  GError* gerr = nullptr;
  if (!soup_server_listen(ri->server_, sa, static_cast<SoupServerListenOptions>(0), &gerr)) {
    *error = "RI cannot listen on " + options.bind + ":" + std::to_string(options.port) + ": " +
             gerr->message;
    g_error_free(gerr);
    return nullptr;
  }
  GSList* listeners = soup_server_get_listeners(ri->server_);
  if (listeners) {
    g_autoptr(GSocketAddress) local =
        g_socket_get_local_address(G_SOCKET(listeners->data), nullptr);
    if (local) ri->port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
  }
  g_slist_free(listeners);
  const bool v6 = g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6;
  ri->url_ = "http://" + (v6 ? "[" + options.bind + "]" : options.bind) + ":" +
             std::to_string(ri->port_) + kPath;

  auto make = [&](spc::X509Ptr cert, spc::roap::RiCredentials* out) -> bool {
    std::vector<spc::X509Ptr> chain;
    chain.push_back(std::move(cert));
    auto c = roap::MakeRiCredentials(spc::ShareKey(ri_key->get()), std::move(chain), ri->url_);
    if (!c) {
      *error = "RI credentials: " + roap::ErrorName(c.error());
      return false;
    }
    *out = std::move(*c);
    return true;
  };
  if (!make(std::move(*ri_cert), &ri->ri_)) return nullptr;
  auto expired =
      MakeCertificate(ri_key->get(), "openbcast test Rights Issuer (expired)", ri->root_.get(),
                      root_key->get(), -2L * 365 * 86400, -365L * 86400);
  auto untrusted = MakeCertificate(ri_key->get(), "openbcast test Rights Issuer (self-signed)",
                                   nullptr, nullptr, -3600, 365L * 86400);
  if (!expired || !untrusted) {
    *error = "cannot make the RI's fault-injection certificates";
    return nullptr;
  }
  if (!make(std::move(expired), &ri->ri_expired_)) return nullptr;
  if (!make(std::move(untrusted), &ri->ri_untrusted_)) return nullptr;
  if (!ri->SetMisbehaviour(options.misbehave.empty() ? "none" : options.misbehave, error)) {
    return nullptr;
  }
  return ri;
}

RightsIssuer::~RightsIssuer() {
  for (guint t : timers_) g_source_remove(t);
  if (server_) {
    soup_server_disconnect(server_);
    g_object_unref(server_);
  }
  if (trigger_address_) g_object_unref(trigger_address_);
  if (trigger_socket_) g_object_unref(trigger_socket_);
  for (auto& [cid, g] : rights_) OPENSSL_cleanse(&g.key, sizeof g.key);
}

std::string RightsIssuer::ri_id_hex() const { return spc::HexEncode(ri_.ri_id); }

void RightsIssuer::Event(const std::string& line) {
  if (on_event) {
    on_event(line);
  } else {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
}

bool RightsIssuer::SetMisbehaviour(const std::string& mode, std::string* error) {
  static const std::map<std::string, Misbehaviour> kModes = {
      {"none", Misbehaviour::kNone},
      {"bad-signature", Misbehaviour::kBadSignature},
      {"wrong-session-id", Misbehaviour::kWrongSessionId},
      {"expired-cert", Misbehaviour::kExpiredCertificate},
      {"untrusted-cert", Misbehaviour::kUntrustedCertificate},
      {"revoked-cert", Misbehaviour::kRevokedCertificate},
      {"ocsp-other-nonce", Misbehaviour::kOcspOtherNonce},
      {"no-ocsp", Misbehaviour::kNoOcsp},
      {"wrong-nonce", Misbehaviour::kWrongNonce},
      {"ro-other-device", Misbehaviour::kRoForAnotherDevice},
      {"ro-bad-mac", Misbehaviour::kBadRoMac},
      {"http-503", Misbehaviour::kHttp503},
      {"slow", Misbehaviour::kSlow},
      {"truncated", Misbehaviour::kTruncated},
      {"wrong-content-type", Misbehaviour::kWrongContentType},
  };
  if (mode.starts_with("status:")) {
    auto s = roap::StatusFromName(mode.substr(7));
    if (!s || *s == roap::Status::kSuccess) {
      *error = "--ri-misbehave " + mode + ": not a non-Success ROAP status";
      return false;
    }
    misbehaviour_ = Misbehaviour::kStatus;
    misbehaviour_status_ = *s;
    return true;
  }
  auto it = kModes.find(mode);
  if (it == kModes.end()) {
    *error = "--ri-misbehave " + mode + ": unknown mode";
    return false;
  }
  misbehaviour_ = it->second;
  return true;
}

void RightsIssuer::SetRights(const std::string& content_id, const spc::LongTermKey& key) {
  Grant g;
  g.ro_id = "ro-" + std::to_string(Now()) + "-" + std::to_string(next_ro_++);
  g.key = key;
  g.not_before = Now() - 3600;
  g.not_after = Now() + static_cast<std::int64_t>(options_.rights_days) * 86400;
  auto it = rights_.find(content_id);
  if (it != rights_.end()) OPENSSL_cleanse(&it->second.key, sizeof it->second.key);
  rights_[content_id] = std::move(g);
}

void RightsIssuer::RemoveRights(const std::string& content_id) {
  auto it = rights_.find(content_id);
  if (it == rights_.end()) return;
  OPENSSL_cleanse(&it->second.key, sizeof it->second.key);
  rights_.erase(it);
}

std::vector<roap::RoGrant> RightsIssuer::Grants(const std::vector<std::string>& ro_ids,
                                                const std::vector<std::string>& content_ids) const {
  std::vector<roap::RoGrant> out;
  for (const auto& [cid, g] : rights_) {
    const bool by_cid = std::find(content_ids.begin(), content_ids.end(), cid) != content_ids.end();
    const bool by_ro = std::find(ro_ids.begin(), ro_ids.end(), g.ro_id) != ro_ids.end();
    if (!by_cid && !by_ro) continue;
    roap::RoGrant grant;
    grant.ro_id = g.ro_id;
    grant.rights.content_id = cid;
    grant.rights.key_domain_id = g.key.key_domain_id;
    grant.rights.play = true;
    grant.rights.record = true;
    grant.rights.not_before = g.not_before;
    grant.rights.not_after = g.not_after;
    grant.encryption_key.Assign(g.key.encryption_key);
    grant.authentication_key.Assign(g.key.authentication_key);
    out.push_back(std::move(grant));
  }
  return out;
}

void RightsIssuer::OnRequest(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*,
                             gpointer self) {
  static_cast<RightsIssuer*>(self)->Handle(msg);
}

void RightsIssuer::Reply(SoupServerMessage* msg, const std::string& body) {
  // kPduMediaType views a string literal: data() is NUL-terminated.
  const char* type =
      misbehaviour_ == Misbehaviour::kWrongContentType ? "text/html" : roap::kPduMediaType.data();
  if (misbehaviour_ == Misbehaviour::kTruncated) {
    // Announce the whole body, send half of it and close: a connection that broke mid-answer.
    GIOStream* io = soup_server_message_steal_connection(msg);
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: " + std::string(roap::kPduMediaType) +
                       "\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\nConnection: close\r\n\r\n" + body.substr(0, body.size() / 2);
    g_output_stream_write_all(g_io_stream_get_output_stream(io), head.data(), head.size(), nullptr,
                              nullptr, nullptr);
    g_io_stream_close(io, nullptr, nullptr);
    g_object_unref(io);
    return;
  }
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, body.data(), body.size());
}

void RightsIssuer::Handle(SoupServerMessage* msg) {
  ++counters_.requests;
  if (g_strcmp0(soup_server_message_get_method(msg), "POST") != 0) {
    soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
    return;
  }
  if (misbehaviour_ == Misbehaviour::kHttp503) {
    soup_server_message_set_status(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, nullptr);
    Event("roap refused http=503");
    return;
  }
  SoupMessageBody* body = soup_server_message_get_request_body(msg);
  const std::string pdu(body->data, static_cast<std::size_t>(body->length));
  const char* type =
      soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr);
  if (type == nullptr || roap::kPduMediaType != type) {
    soup_server_message_set_status(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, nullptr);
    return;
  }
  std::string type_name;
  std::string answer = Answer(pdu, &type_name);
  if (answer.empty()) {
    soup_server_message_set_status(msg, SOUP_STATUS_BAD_REQUEST, nullptr);
    return;
  }
  if (misbehaviour_ == Misbehaviour::kSlow) {
    // Hold the answer back beyond the terminal's timeout, then send it (to a closed connection).
    soup_server_message_pause(msg);
    struct Held {
      RightsIssuer* self;
      SoupServerMessage* msg;
      std::string answer;
      guint id = 0;
    };
    g_object_ref(msg);
    // Owned by the timer below (freed by its destroy notify).
    Held* held = std::make_unique<Held>(Held{this, msg, std::move(answer)}).release();
    held->id = g_timeout_add_full(
        G_PRIORITY_DEFAULT, options_.slow_ms,
        [](gpointer p) -> gboolean {
          auto* h = static_cast<Held*>(p);
          std::erase(h->self->timers_, h->id);
          h->self->Reply(h->msg, h->answer);
          soup_server_message_unpause(h->msg);
          return G_SOURCE_REMOVE;
        },
        held,
        [](gpointer p) {
          std::unique_ptr<Held> h(static_cast<Held*>(p));
          g_object_unref(h->msg);
        });
    timers_.push_back(held->id);
    return;
  }
  Reply(msg, answer);
}

std::string RightsIssuer::Answer(const std::string& pdu, std::string* type_name) {
  auto type = roap::PduType(pdu);
  if (!type) {
    Event("roap refused malformed " + roap::ErrorName(type.error()));
    return {};
  }
  *type_name = *type;
  if (*type == "deviceHello") return OnDeviceHello(pdu);
  if (*type == "registrationRequest") return OnRegistrationRequest(pdu);
  if (*type == "roRequest") return OnRoRequest(pdu);
  Event("roap refused unknown-pdu " + *type);
  ++counters_.refused;
  return roap::RiRoErrorResponse(roap::Status::kUnknownRequest);
}

std::string RightsIssuer::OnDeviceHello(const std::string& pdu) {
  if (misbehaviour_ == Misbehaviour::kStatus) {
    roap::RiHello h;
    h.status = misbehaviour_status_;
    ++counters_.refused;
    Event("roap refused riHello status=" + std::string(roap::StatusName(misbehaviour_status_)));
    return roap::WriteRiHello(h);
  }
  // Sessions are short-lived: one registration at a time per device is plenty for a sample.
  if (sessions_.size() > 1000) sessions_.clear();
  std::string session_id = "s" + std::to_string(Now()) + "-" + std::to_string(next_session_++);
  auto out = roap::RiHandleDeviceHello(ri_, pdu, session_id);
  if (out.session) {
    sessions_[out.session->session_id] = std::move(*out.session);
  } else {
    ++counters_.refused;
    Event("roap refused deviceHello " + (out.error ? roap::ErrorName(*out.error) : ""));
  }
  return out.response;
}

std::string RightsIssuer::OnRegistrationRequest(const std::string& pdu) {
  auto req = roap::ParseRegistrationRequest(pdu);
  auto it = req ? sessions_.find(req->session_id) : sessions_.end();
  if (it == sessions_.end()) {
    roap::RegistrationResponse r;
    r.status = req ? roap::Status::kAbort : roap::Status::kMalformedRequest;
    r.session_id = req ? req->session_id : "";
    ++counters_.refused;
    Event("roap refused registrationRequest unknown-session");
    return roap::WriteRegistrationResponse(r);
  }
  const roap::RiCredentials& creds =
      misbehaviour_ == Misbehaviour::kExpiredCertificate     ? ri_expired_
      : misbehaviour_ == Misbehaviour::kUntrustedCertificate ? ri_untrusted_
                                                             : ri_;
  roap::RiRegistrationOptions ro;
  ro.ocsp_for_nonce = [this](std::span<const std::uint8_t> nonce) -> std::vector<roap::Bytes> {
    if (misbehaviour_ == Misbehaviour::kNoOcsp) return {};
    spc::OcspResponseSpec spec;
    spec.status = misbehaviour_ == Misbehaviour::kRevokedCertificate ? spc::OcspCertStatus::kRevoked
                                                                     : spc::OcspCertStatus::kGood;
    const std::time_t now = static_cast<std::time_t>(Now());
    spec.this_update = now - 60;
    spec.next_update = now + 3600;
    spec.revocation_time = now - 86400;
    spec.nonce.assign(nonce.begin(), nonce.end());
    if (misbehaviour_ == Misbehaviour::kOcspOtherNonce && !spec.nonce.empty()) spec.nonce[0] ^= 1;
    auto r = spc::MakeOcspResponse(ri_.chain[0].get(), root_.get(), ocsp_cert_.get(),
                                   ocsp_key_.get(), spec);
    if (!r) return {};
    return {std::move(*r)};
  };
  auto out =
      roap::RiHandleRegistrationRequest(creds, it->second, pdu, device_anchors_.get(), Now(), ro);
  sessions_.erase(it);
  if (!out.device) {
    ++counters_.refused;
    Event("roap refused registrationRequest " + (out.error ? roap::ErrorName(*out.error) : ""));
    return out.response;
  }
  const std::string device_hex = spc::HexEncode(out.device->device_id);
  devices_[out.device->device_id] = std::move(*out.device);
  ++counters_.registrations;
  Event("roap registered device=" + device_hex);
  std::string response = std::move(out.response);
  if (misbehaviour_ == Misbehaviour::kBadSignature) {
    FlipBase64(response, "<signature>");
  } else if (misbehaviour_ == Misbehaviour::kWrongSessionId) {
    const std::string from = "sessionId=\"" + req->session_id + "\"";
    const std::size_t pos = response.find(from);
    if (pos != std::string::npos) {
      response.replace(pos, from.size(), "sessionId=\"" + req->session_id + "x\"");
    }
    response = Resign(ri_.key.get(), pdu, response, false);
  }
  return response;
}

std::string RightsIssuer::OnRoRequest(const std::string& pdu) {
  if (misbehaviour_ == Misbehaviour::kStatus) {
    ++counters_.refused;
    Event("roap refused roRequest status=" + std::string(roap::StatusName(misbehaviour_status_)));
    return roap::RiRoErrorResponse(misbehaviour_status_);
  }
  auto verified = roap::RiVerifyRoRequest(ri_, pdu, [this](const roap::KeyId& id) {
    auto it = devices_.find(id);
    return it == devices_.end() ? nullptr : &it->second;
  });
  if (!verified) {
    ++counters_.refused;
    const roap::Status status = roap::StatusForError(verified.error());
    Event("roap refused roRequest " + roap::ErrorName(verified.error()) +
          " status=" + std::string(roap::StatusName(status)));
    return roap::RiRoErrorResponse(status);
  }
  const roap::RoRequest& req = verified->request;
  auto grants = Grants(req.ro_ids, req.content_ids);
  if (grants.empty()) {
    ++counters_.refused;
    Event("roap refused roRequest no-rights status=NotFound");
    return roap::RiRoErrorResponse(roap::Status::kNotFound);
  }
  roap::RegisteredDevice device;
  const roap::RegisteredDevice& registered = devices_.at(req.device_id);
  device.device_id = registered.device_id;
  device.public_key = spc::ShareKey(misbehaviour_ == Misbehaviour::kRoForAnotherDevice
                                        ? other_device_key_.get()
                                        : registered.public_key.get());
  std::optional<roap::Bytes> nonce = req.nonce;
  if (misbehaviour_ == Misbehaviour::kWrongNonce && !nonce->empty()) (*nonce)[0] ^= 1;
  auto response = roap::RiBuildRoResponse(ri_, device, nonce, grants, Now());
  if (!response) {
    ++counters_.refused;
    Event("roap refused roRequest " + roap::ErrorName(response.error()) + " status=UnknownError");
    return roap::RiRoErrorResponse(roap::Status::kUnknownError);
  }
  std::string out = std::move(*response);
  if (misbehaviour_ == Misbehaviour::kBadSignature) {
    FlipBase64(out, "<signature>", out.rfind("</roap:protectedRO>"));
  } else if (misbehaviour_ == Misbehaviour::kBadRoMac) {
    FlipBase64(out, "<ds:SignatureValue");
    out = Resign(ri_.key.get(), {}, out, true);
  }
  ++counters_.ro_responses;
  std::string cids;
  for (const auto& g : grants) cids += (cids.empty() ? "" : ",") + g.rights.content_id;
  Event("roap ro-sent device=" + spc::HexEncode(req.device_id) + " cids=" + cids +
        (req.trigger_nonce ? " trigger-nonce=" + *req.trigger_nonce : ""));
  return out;
}

void RightsIssuer::SetTriggerDestination(const std::string& address, std::uint16_t port) {
  if (trigger_address_) g_object_unref(trigger_address_);
  trigger_address_ = nullptr;
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(address.c_str());
  if (!addr || port == 0) return;
  trigger_address_ = g_inet_socket_address_new(addr, port);
  if (!trigger_socket_) {
    trigger_socket_ = g_socket_new(g_inet_address_get_family(addr), G_SOCKET_TYPE_DATAGRAM,
                                   G_SOCKET_PROTOCOL_UDP, nullptr);
    if (trigger_socket_ && g_inet_address_get_is_multicast(addr)) {
      g_socket_set_multicast_loopback(trigger_socket_, TRUE);
    }
  }
}

std::string RightsIssuer::WriteTriggerFile(const std::string& trigger) {
  if (options_.trigger_dir.empty()) return {};
  g_mkdir_with_parents(options_.trigger_dir.c_str(), 0755);
  const std::string path =
      options_.trigger_dir + "/trigger-" + std::to_string(next_trigger_ - 1) + ".xml";
  // Written whole and renamed into place: whoever sees the file sees all of it.
  if (!g_file_set_contents(path.c_str(), trigger.data(), static_cast<gssize>(trigger.size()),
                           nullptr)) {
    return {};
  }
  return path;
}

std::string RightsIssuer::SendAcquisitionTrigger(const std::vector<std::string>& content_ids) {
  roap::RoapTrigger t;
  t.kind = roap::RoapTrigger::Kind::kRoAcquisition;
  t.id = "trigger-" + std::to_string(next_trigger_++);
  t.ri_id = ri_.ri_id;
  std::uint8_t nonce[12];
  spc::RandomBytes(nonce);
  t.nonce = spc::HexEncode(nonce);
  t.roap_url = url_;
  t.content_ids = content_ids;
  for (const auto& cid : content_ids) {
    auto it = rights_.find(cid);
    if (it != rights_.end()) t.ro_ids.push_back(it->second.ro_id);
  }
  std::string bytes = roap::WriteRoapTrigger(t);
  ++counters_.triggers;
  if (trigger_socket_ && trigger_address_) {
    // The trigger stream is broadcast: a lost datagram is a missed trigger, so each goes out
    // three times (the terminal runs a trigger's nonce once).
    for (int i = 0; i < 3; ++i) {
      g_socket_send_to(trigger_socket_, trigger_address_, bytes.data(), bytes.size(), nullptr,
                       nullptr);
    }
  }
  const std::string file = WriteTriggerFile(bytes);
  std::string cids;
  for (const auto& c : content_ids) cids += (cids.empty() ? "" : ",") + c;
  Event("roap trigger id=" + *t.id + " cids=" + cids + " nonce=" + *t.nonce +
        (file.empty() ? "" : " file=" + file));
  return bytes;
}

std::string RightsIssuer::MakeRegistrationTrigger() {
  roap::RoapTrigger t;
  t.kind = roap::RoapTrigger::Kind::kRegistrationRequest;
  t.id = "trigger-" + std::to_string(next_trigger_++);
  t.ri_id = ri_.ri_id;
  std::uint8_t nonce[12];
  spc::RandomBytes(nonce);
  t.nonce = spc::HexEncode(nonce);
  t.roap_url = url_;
  std::string bytes = roap::WriteRoapTrigger(t);
  WriteTriggerFile(bytes);
  return bytes;
}

std::string RightsIssuer::MakePushedRoResponse(const std::string& device_id_hex,
                                               const std::vector<std::string>& content_ids,
                                               std::string* error) {
  roap::KeyId id{};
  if (!spc::HexDecodeInto(device_id_hex, id)) {
    *error = "device ID " + device_id_hex + " is not 40 hex digits";
    return {};
  }
  auto it = devices_.find(id);
  if (it == devices_.end()) {
    *error = "device " + device_id_hex + " is not registered";
    return {};
  }
  auto grants = Grants({}, content_ids);
  if (grants.empty()) {
    *error = "no rights for the content IDs asked";
    return {};
  }
  auto r = roap::RiBuildRoResponse(ri_, it->second, std::nullopt, grants, Now());
  if (!r) {
    *error = roap::ErrorName(r.error());
    return {};
  }
  return std::move(*r);
}

}  // namespace headend
