#include "spc/daemon/smartcard_backend.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "spc/libspc/crypto.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/smartcard/digest_aka.h"
#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/gba_ub.h"
#include "spc/libspc/smartcard/msk_request.h"
#include "spc/libspc/smartcard/usim.h"

namespace spc::daemon {

using smartcard::ApduTransport;
using smartcard::KeyDomainId;
using smartcard::MtkResult;
using smartcard::Usim;
using smartcard::UsimError;
using smartcard::UsimFailure;

namespace {

constexpr int kMaxBootstrapRounds = 3;  // initial request, answer, one resynchronisation

std::string Host(const std::string& url) {
  g_autoptr(GUri) uri = g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr);
  return uri && g_uri_get_host(uri) ? g_uri_get_host(uri) : "";
}

std::string PathOf(const std::string& url) {
  g_autoptr(GUri) uri = g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr);
  std::string p = uri ? g_uri_get_path(uri) : "";
  if (p.empty()) p = "/";
  if (uri && g_uri_get_query(uri)) p += std::string("?") + g_uri_get_query(uri);
  return p;
}

std::string DomainHex(const KeyDomainId& d) { return HexEncode(d); }

std::string CardError(const UsimFailure& f) {
  std::string m = f.message;
  if (f.code == UsimError::kMalformedResponse) {
    m += " (" + f.detail.field + " at byte " + std::to_string(f.detail.offset) + ")";
  }
  return m;
}

// The refusal of a card operation, by status word.
SmartcardFailure FromUsim(const UsimFailure& f, const std::string& what) {
  switch (f.code) {
    case UsimError::kTransport:
      return {"NoCard", what + ": the card left: " + f.message};
    case UsimError::kMalformedResponse:
      return {"CardMalformedResponse", what + ": " + CardError(f)};
    case UsimError::kBadMac:
      return {"CardBadMac", what + ": the card refused the MAC (98 62)"};
    case UsimError::kReplay:
      return {"CardReplay", what + ": the card refused a replayed or old message (98 65)"};
    case UsimError::kKeyNotFound:
      return {"MskUnknown", what + ": the card holds no such key (6A 88)"};
    case UsimError::kNoMemory:
      return {"CardNoMemory",
              what + ": no room on the card (" + smartcard::StatusWordName(f.sw) + ")"};
    case UsimError::kRefused:
      break;
  }
  char sw[8];
  std::snprintf(sw, sizeof sw, "%04X", f.sw);
  return {"CardRefused",
          what + ": the card answered " + sw + " (" + smartcard::StatusWordName(f.sw) + ")"};
}

// Cleansed on destruction: Ks_ext_NAF while an MSK request is in flight.
struct SecretBytes {
  std::vector<std::uint8_t> bytes;
  ~SecretBytes() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

}  // namespace

MtkAnswer::~MtkAnswer() {
  OPENSSL_cleanse(tek.data(), tek.size());
  OPENSSL_cleanse(salt.data(), salt.size());
}

Result<SmartcardService, std::string> ParseSmartcardService(
    const std::map<std::string, std::string>& dict) {
  SmartcardService s;
  for (const auto& [k, v] : dict) {
    if (k == "bsf-url") {
      s.bsf_url = v;
    } else if (k == "bsm-url") {
      s.bsm_url = v;
    } else if (k == "key-domain") {
      KeyDomainId d{};
      if (!HexDecodeInto(v, d)) return "key-domain must be 6 hex digits, not \"" + v + "\"";
      s.key_domain = d;
    } else if (k == "tek-lifetime") {
      gchar* end = nullptr;
      const guint64 n = g_ascii_strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n > 65535)
        return std::string("tek-lifetime must be 0..65535 s");
      s.tek_lifetime = static_cast<std::uint16_t>(n);
    }
    // Other keys are ignored so that newer clients can say more.
  }
  for (const std::string* u : {&s.bsf_url, &s.bsm_url}) {
    if (!u->empty() && Host(*u).empty()) return "not an http(s) URL: \"" + *u + "\"";
  }
  return s;
}

struct SmartcardBackend::MtkJob {
  std::vector<std::uint8_t> message;
  smartcard::MikeyMessage parsed;
  SmartcardService service;
  MtkDone done;
  bool retried = false;
};

SmartcardBackend::SmartcardBackend(SmartcardOptions options, GMainContext* context)
    : options_(std::move(options)),
      context_(context ? context : g_main_context_get_thread_default()),
      alive_(std::make_shared<std::atomic<bool>>(true)) {
  if (!context_) context_ = g_main_context_default();
  http_ = std::make_unique<channels::InteractionChannel>(options_.http, context_);
  worker_ = std::make_unique<CardWorker>(context_);
  watcher_ = std::make_unique<CardWatcher>(
      options_.reader_filter, context_,
      [this](bool present, const std::string& reader) { OnCardEvent(present, reader); });
}

SmartcardBackend::~SmartcardBackend() {
  alive_->store(false);
  watcher_.reset();
  worker_.reset();
  http_.reset();
}

std::vector<std::string> SmartcardBackend::MskIds() const {
  std::vector<std::string> out;
  for (const auto& [domain, id] : card_msks_) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", id);
    out.push_back(domain + ":" + buf);
  }
  return out;
}

void SmartcardBackend::OnCardEvent(bool present, const std::string& reader) {
  watched_present_ = present;
  if (!present) {
    worker_->Disconnect();
    const bool was = present_;
    present_ = false;
    ++card_generation_;
    btid_.clear();
    card_msks_.clear();
    g_message("smartcard removed from %s", reader.c_str());
    if (was && on_card_changed) on_card_changed(false, reader);
    return;
  }
  worker_->Connect(reader, [this, reader](std::string error) {
    if (!watched_present_) {
      worker_->Disconnect();
      return;
    }
    if (!error.empty()) {
      g_warning("smartcard in %s: cannot connect: %s", reader.c_str(), error.c_str());
      return;
    }
    present_ = true;
    reader_ = reader;
    ++card_generation_;
    btid_.clear();
    card_msks_.clear();
    g_message("smartcard inserted in %s", reader.c_str());
    if (on_card_changed) on_card_changed(true, reader);
    RefreshAfterInsertion();
  });
}

void SmartcardBackend::RefreshAfterInsertion() {
  bool any = false;
  for (const auto& [bsm, service] : services_) {
    std::map<std::string, std::vector<std::uint32_t>> by_domain;
    for (const auto& [domain, id] : wanted_msks_[bsm]) by_domain[domain].push_back(id);
    for (auto& [domain, ids] : by_domain) {
      KeyDomainId d{};
      if (!HexDecodeInto(domain, d)) continue;
      any = true;
      RequestMsks(service, d, ids, [bsm = bsm](std::optional<SmartcardFailure> f) {
        if (f) {
          g_message("smartcard: MSK refresh from %s after insertion failed: %s: %s", bsm.c_str(),
                    f->name.c_str(), f->message.c_str());
        } else {
          g_message("smartcard: MSKs from %s loaded after insertion", bsm.c_str());
        }
      });
    }
  }
  if (!any && !options_.default_bsf_url.empty()) {
    EnsureBootstrap(options_.default_bsf_url, [](std::optional<SmartcardFailure> f) {
      if (f) g_message("smartcard: bootstrapping failed: %s", f->message.c_str());
    });
  }
}

SmartcardFailure SmartcardBackend::Count(SmartcardFailure f) {
  ++counters_.refusals[f.name];
  return f;
}

void SmartcardBackend::ProcessMtk(std::vector<std::uint8_t> message,
                                  const SmartcardService& service, MtkDone done) {
  auto job = std::make_shared<MtkJob>();
  job->message = std::move(message);
  job->service = service;
  job->done = std::move(done);
  auto fail_later = [this, job](SmartcardFailure f) {
    InvokeOn(context_, alive_, [this, job, f] { Finish(job, f); });
  };
  auto parsed = smartcard::ParseMikey(job->message);
  if (!parsed) {
    const ParseError& e = parsed.error();
    return fail_later({"MikeyMalformed", "MIKEY: " + e.message + " (" + e.field + " at byte " +
                                             std::to_string(e.offset) + ")"});
  }
  if (parsed->data_type != smartcard::kMikeyDataTypePsk ||
      parsed->key_id.type != smartcard::MikeyKeyIdType::kMtk) {
    return fail_later({"MikeyMalformed", "MIKEY: not an MTK message (data type " +
                                             std::to_string(parsed->data_type) + ", key ID type " +
                                             std::to_string(static_cast<int>(parsed->key_id.type)) +
                                             ") (EXT key ID at byte 10)"});
  }
  if (service.key_domain && *service.key_domain != parsed->key_id.key_domain) {
    return fail_later(
        {"MikeyMalformed", "MIKEY: key domain " + DomainHex(parsed->key_id.key_domain) +
                               " is not the service's " + DomainHex(*service.key_domain) +
                               " (EXT key ID.key_domain at byte 14)"});
  }
  job->parsed = std::move(*parsed);
  if (!service.bsm_url.empty()) {
    services_[service.bsm_url] = service;
    wanted_msks_[service.bsm_url].insert(
        {DomainHex(job->parsed.key_id.key_domain), job->parsed.key_id.msk_id});
  }
  TryMtk(job);
}

void SmartcardBackend::TryMtk(std::shared_ptr<MtkJob> job) {
  if (!present_) {
    return InvokeOn(context_, alive_, [this, job] {
      Finish(job,
             SmartcardFailure{"NoCard", "no smartcard in " +
                                            (options_.reader_filter.empty()
                                                 ? std::string("any reader")
                                                 : "reader \"" + options_.reader_filter + "\"")});
    });
  }
  const std::uint64_t gen = card_generation_;
  worker_->Run<Result<MtkResult, UsimFailure>>(
      [msg = job->message](const ApduTransport& t) {
        Usim usim(t);
        return usim.MtkGeneration(msg);
      },
      [this, job, gen](Result<MtkResult, UsimFailure> r) {
        if (!r) return MtkRefused(job, r.error());
        if (gen != card_generation_) {
          return Finish(job, SmartcardFailure{"NoCard", "the card changed during the exchange"});
        }
        const smartcard::MikeyKeyId& id = job->parsed.key_id;
        MtkAnswer a;
        a.msk_id = id.msk_id;
        a.mtk_id = id.mtk_id;
        a.mki = smartcard::SrtpMkiFor(id.msk_id, id.mtk_id);
        a.tek = r->mtk;
        a.salt = r->salt;
        a.lifetime = job->service.tek_lifetime;
        if (job->parsed.stkm_ext) {
          a.protocol = job->parsed.stkm_ext->traffic_protection_protocol;
          a.authenticated = job->parsed.stkm_ext->traffic_authentication_flag != 0;
        }
        ++counters_.mtks;
        card_msks_.insert({DomainHex(id.key_domain), id.msk_id});
        Finish(job, std::move(a));
      });
}

void SmartcardBackend::MtkRefused(std::shared_ptr<MtkJob> job, const UsimFailure& f) {
  if (f.code != UsimError::kKeyNotFound || job->retried) {
    SmartcardFailure sf = FromUsim(f, "MTK generation");
    if (f.code == UsimError::kKeyNotFound) sf.message += " even after the MSK request";
    return Finish(job, sf);
  }
  if (job->service.bsm_url.empty()) {
    return Finish(job,
                  SmartcardFailure{"MskUnknown", "the card lacks MSK " +
                                                     std::to_string(job->parsed.key_id.msk_id) +
                                                     " (6A 88) and the service names no bsm-url"});
  }
  job->retried = true;
  const smartcard::MikeyKeyId& id = job->parsed.key_id;
  auto retry = [this, job](std::optional<SmartcardFailure> f) {
    if (f) return Finish(job, *f);
    TryMtk(job);
  };
  const auto key = std::make_pair(id.key_domain, id.msk_id);
  auto pending = msk_waiters_.find(key);
  if (pending != msk_waiters_.end()) {
    pending->second.push_back(std::move(retry));
    return;
  }
  msk_waiters_[key].push_back(std::move(retry));
  g_message("smartcard: MSK %08x of key domain %s unknown to the card: requesting it", id.msk_id,
            DomainHex(id.key_domain).c_str());
  RequestMsks(job->service, id.key_domain, {id.msk_id},
              [this, key](std::optional<SmartcardFailure> f) {
                auto node = msk_waiters_.extract(key);
                if (node.empty()) return;
                for (auto& waiter : node.mapped()) waiter(f);
              });
}

void SmartcardBackend::Finish(std::shared_ptr<MtkJob> job, Result<MtkAnswer, SmartcardFailure> r) {
  if (!r) {
    Count(r.error());
    g_message("MTK message (%zu bytes) refused: %s: %s", job->message.size(),
              r.error().name.c_str(), r.error().message.c_str());
  }
  if (job->done) {
    MtkDone done = std::move(job->done);
    done(std::move(r));
  }
}

// ---- GBA_U bootstrapping ----

void SmartcardBackend::EnsureBootstrap(const std::string& bsf_url, Done done) {
  if (!btid_.empty() && std::chrono::system_clock::now() < btid_expiry_) return done(std::nullopt);
  if (bsf_url.empty()) {
    return done(SmartcardFailure{"BootstrapFailed",
                                 "no BSF known (the service's bsf-url, or spcd --smartcard-bsf)"});
  }
  bootstrap_waiters_.push_back(std::move(done));
  if (bootstrapping_) return;
  bootstrapping_ = true;
  ++counters_.bootstraps;
  g_message("smartcard: GBA_U bootstrapping with %s", bsf_url.c_str());
  BootstrapStep(bsf_url, smartcard::UbInitialAuthorization(options_.impi, Host(bsf_url)), 0);
}

void SmartcardBackend::BootstrapStep(const std::string& bsf_url, const std::string& authorization,
                                     int round) {
  channels::HttpRequest req;
  req.method = "GET";
  req.url = bsf_url;
  req.headers.push_back({"Authorization", authorization});
  req.pass_status = {401};
  const std::uint64_t gen = card_generation_;
  http_->Send(std::move(req), [this, bsf_url, round, gen](channels::InteractionChannel::Result r) {
    if (!r) {
      return BootstrapDone(SmartcardFailure{
          "BootstrapFailed", "BSF: " + std::string(channels::InteractionErrorName(r.error().code)) +
                                 ": " + r.error().message});
    }
    if (gen != card_generation_) {
      return BootstrapDone(SmartcardFailure{"NoCard", "the card changed during bootstrapping"});
    }
    if (r->status == 401) {
      if (round + 1 >= kMaxBootstrapRounds) {
        return BootstrapDone(
            SmartcardFailure{"BootstrapFailed", "BSF: still 401 after the card's answer"});
      }
      auto it = r->headers.find("www-authenticate");
      if (it == r->headers.end()) {
        return BootstrapDone(
            SmartcardFailure{"BootstrapFailed", "BSF: 401 without WWW-Authenticate"});
      }
      const std::string challenge = it->second;
      const std::string impi = options_.impi;
      const std::string uri = PathOf(bsf_url);
      worker_->Run<Result<smartcard::UbAnswer, smartcard::UbClientFailure>>(
          [challenge, impi, uri](const ApduTransport& t) {
            Usim usim(t);
            return smartcard::AnswerUbChallenge(usim, impi, challenge, "GET", uri, "");
          },
          [this, bsf_url, round](Result<smartcard::UbAnswer, smartcard::UbClientFailure> a) {
            if (!a) {
              const auto& e = a.error();
              if (e.card) {
                SmartcardFailure f = FromUsim(*e.card, "GBA bootstrapping");
                if (f.name != "NoCard") {
                  f = {"BootstrapFailed", "the card refused the BSF's challenge: " + f.message};
                }
                return BootstrapDone(f);
              }
              return BootstrapDone(
                  SmartcardFailure{"BootstrapFailed", "BSF challenge: " + e.message});
            }
            if (a->sync_failure) g_message("smartcard: SQN resynchronisation with the BSF");
            BootstrapStep(bsf_url, a->authorization, round + 1);
          });
      return;
    }
    if (round == 0) {
      return BootstrapDone(
          SmartcardFailure{"BootstrapFailed", "BSF answered without an AKA challenge"});
    }
    std::string text(r->body.begin(), r->body.end());
    auto info = smartcard::ParseBootstrappingInfo(text);
    if (!info) {
      return BootstrapDone(
          SmartcardFailure{"BootstrapFailed", "BSF: BootstrappingInfo: " + info.error().message +
                                                  " (" + info.error().field + " at byte " +
                                                  std::to_string(info.error().offset) + ")"});
    }
    btid_ = info->btid;
    btid_expiry_ = std::chrono::system_clock::now() + std::chrono::minutes(10);
    g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(info->lifetime.c_str(), nullptr);
    if (t) {
      btid_expiry_ =
          std::chrono::system_clock::time_point(std::chrono::seconds(g_date_time_to_unix(t)));
    }
    g_message("smartcard: bootstrapped, B-TID %s", btid_.c_str());
    BootstrapDone(std::nullopt);
  });
}

void SmartcardBackend::BootstrapDone(std::optional<SmartcardFailure> f) {
  bootstrapping_ = false;
  std::vector<Done> waiters;
  waiters.swap(bootstrap_waiters_);
  if (f) g_message("smartcard: bootstrapping failed: %s: %s", f->name.c_str(), f->message.c_str());
  for (auto& w : waiters) w(f);
}

// ---- MSK request ----

void SmartcardBackend::RequestMsks(const SmartcardService& service, KeyDomainId domain,
                                   std::vector<std::uint32_t> msk_ids, Done done) {
  ++counters_.msk_requests;
  const std::string bsf = service.bsf_url.empty() ? options_.default_bsf_url : service.bsf_url;
  EnsureBootstrap(bsf, [this, service, domain, msk_ids,
                        done = std::move(done)](std::optional<SmartcardFailure> f) {
    if (f) return done(f);
    RequestMsksWithBtid(service, domain, msk_ids, done);
  });
}

void SmartcardBackend::RequestMsksWithBtid(const SmartcardService& service, KeyDomainId domain,
                                           std::vector<std::uint32_t> msk_ids, Done done) {
  const std::vector<std::uint8_t> naf_id = smartcard::GbaNafId(Host(service.bsm_url));
  const std::string impi = options_.impi;
  worker_->Run<Result<std::vector<std::uint8_t>, UsimFailure>>(
      [naf_id, impi](const ApduTransport& t) {
        Usim usim(t);
        return usim.GbaNafDerivation(naf_id, impi);
      },
      [this, service, domain, msk_ids,
       done](Result<std::vector<std::uint8_t>, UsimFailure> ks_ext) {
        if (!ks_ext) {
          SmartcardFailure f = FromUsim(ks_ext.error(), "GBA NAF derivation");
          if (f.name != "NoCard") {
            btid_.clear();  // the card lost its bootstrapping: start again next time
            f = {"MskRequestFailed", f.message};
          }
          return done(f);
        }
        auto key = std::make_shared<SecretBytes>();
        key->bytes = std::move(*ks_ext);
        smartcard::MskRequest req;
        req.key_domain = domain;
        req.msk_ids = msk_ids;
        std::string base = service.bsm_url;
        while (!base.empty() && base.back() == '/') base.pop_back();
        auto post_msk_request = [this, key, done, url = base + smartcard::kMskRequestPath,
                                 body = smartcard::WriteMskRequest(req),
                                 registration =
                                     std::make_pair(service.bsm_url, service.service_id)] {
          PostGba(url, smartcard::kMskRequestContentType, smartcard::kMikeyBundleContentType, body,
                  key->bytes, "", 0, "MskRequestFailed",
                  [this, done, registration](Result<channels::HttpResponse, SmartcardFailure> r) {
                    // The BSM may have forgotten us (a restart): register again next time.
                    if (!r) registered_.erase(registration);
                    if (!r) return done(r.error());
                    LoadBundle(std::move(r->body), done);
                  });
        };
        if (service.service_id.empty() ||
            (registered_btid_ == btid_ &&
             registered_.contains({service.bsm_url, service.service_id}))) {
          return post_msk_request();
        }
        Register(service, key->bytes, [done, post_msk_request](std::optional<SmartcardFailure> f) {
          if (f) return done(f);
          post_msk_request();
        });
      });
}

std::vector<std::string> SmartcardBackend::RegisteredServices() const {
  std::vector<std::string> out;
  if (btid_.empty() || registered_btid_ != btid_) return out;
  for (const auto& [bsm, id] : registered_) out.push_back(id);
  return out;
}

void SmartcardBackend::Register(const SmartcardService& service, std::vector<std::uint8_t> ks_ext,
                                Done done) {
  std::string base = service.bsm_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string btid = btid_;
  const std::string id = service.service_id;
  const std::string bsm = service.bsm_url;
  PostGba(
      base + smartcard::kRegisterPath, smartcard::kRegisterContentType,
      smartcard::kRegisterResponseContentType, smartcard::WriteRegisterRequest({id}),
      std::move(ks_ext), "", 0, "RegistrationFailed",
      [this, btid, id, bsm, done](Result<channels::HttpResponse, SmartcardFailure> r) {
        if (!r) return done(r.error());
        auto results =
            smartcard::ParseRegisterResponse(std::string(r->body.begin(), r->body.end()));
        if (!results) {
          const ParseError& e = results.error();
          return done(SmartcardFailure{"RegistrationFailed", "BSM answer: " + e.message + " (" +
                                                                 e.field + " at byte " +
                                                                 std::to_string(e.offset) + ")"});
        }
        auto it = std::find_if(
            results->begin(), results->end(),
            [&](const smartcard::RegistrationResult& x) { return x.service_id == id; });
        if (it == results->end()) {
          return done(SmartcardFailure{"RegistrationFailed",
                                       "the BSM's answer does not name service " + id});
        }
        if (it->status != smartcard::RegistrationStatus::kOk) {
          return done(SmartcardFailure{"RegistrationFailed",
                                       std::string("the BSM answered ") +
                                           smartcard::RegistrationStatusName(it->status) +
                                           " to the registration of service " + id});
        }
        if (registered_btid_ != btid) {
          registered_.clear();
          registered_btid_ = btid;
        }
        registered_.insert({bsm, id});
        ++counters_.registrations;
        g_message("smartcard: registered to MBMS user service %s at %s", id.c_str(), bsm.c_str());
        done(std::nullopt);
      });
}

void SmartcardBackend::PostGba(const std::string& url, const std::string& content_type,
                               const std::string& accept, const std::string& body,
                               std::vector<std::uint8_t> ks_ext, const std::string& authorization,
                               int round, const std::string& failure_name, GbaDone done) {
  auto key = std::make_shared<SecretBytes>();
  key->bytes = std::move(ks_ext);
  channels::HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.content_type = content_type;
  req.body.assign(body.begin(), body.end());
  req.accept = {accept};
  req.pass_status = {401};
  if (!authorization.empty()) req.headers.push_back({"Authorization", authorization});
  http_->Send(std::move(req), [this, url, content_type, accept, body, key, round, failure_name,
                               done](channels::InteractionChannel::Result r) {
    auto fail = [&](std::string why) { done(SmartcardFailure{failure_name, "BSM: " + why}); };
    if (!r) {
      std::string why =
          std::string(channels::InteractionErrorName(r.error().code)) + ": " + r.error().message;
      if (r.error().http_status == 404 && failure_name == "MskRequestFailed") {
        why += " (the BSM holds none of these MSKs for us)";
      }
      if (r.error().http_status == 403) why += " (not bootstrapped or not registered)";
      return fail(why);
    }
    if (r->status != 401) return done(std::move(*r));
    if (round > 0) {
      btid_.clear();  // the BSM (through the BSF) no longer knows this B-TID
      return fail("401 to the GBA digest of B-TID (bootstrapping again next time)");
    }
    auto it = r->headers.find("www-authenticate");
    auto params =
        it == r->headers.end()
            ? Result<std::map<std::string, std::string>>(ParseError{"no WWW-Authenticate", "", 0})
            : smartcard::ParseDigestParams(it->second);
    if (!params) return fail("401 challenge: " + params.error().message);
    auto get = [&](const char* k) -> std::string {
      auto p = params->find(k);
      return p == params->end() ? std::string() : p->second;
    };
    const std::string offered = get("qop");
    const std::string qop = offered.find("auth-int") != std::string::npos ? "auth-int"
                            : offered.find("auth") != std::string::npos   ? "auth"
                                                                          : "";
    std::array<std::uint8_t, 8> cn{};
    RandomBytes(cn);
    const std::string cnonce = HexEncode(cn);
    const std::string nc = "00000001";
    std::string password = smartcard::GbaNafDigestPassword(key->bytes);
    const std::string uri = PathOf(url);
    std::map<std::string, std::string> a = {
        {"username", btid_}, {"realm", get("realm")}, {"nonce", get("nonce")}, {"uri", uri}};
    if (!get("opaque").empty()) a["opaque"] = get("opaque");
    if (!get("algorithm").empty()) a["algorithm"] = get("algorithm");
    if (!qop.empty()) {
      a["qop"] = qop;
      a["nc"] = nc;
      a["cnonce"] = cnonce;
    }
    a["response"] = smartcard::DigestResponse(
        btid_,
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(password.data()),
                                      password.size()),
        get("realm"), "POST", uri, get("nonce"), nc, cnonce, qop, body);
    OPENSSL_cleanse(password.data(), password.size());
    PostGba(url, content_type, accept, body, key->bytes, smartcard::FormatDigestHeader(a), 1,
            failure_name, done);
  });
}

void SmartcardBackend::LoadBundle(std::vector<std::uint8_t> body, Done done) {
  auto messages = smartcard::ParseMikeyBundle(body);
  if (!messages) {
    const ParseError& e = messages.error();
    return done(SmartcardFailure{"MskRequestFailed", "BSM answer: " + e.message + " (" + e.field +
                                                         " at byte " + std::to_string(e.offset) +
                                                         ")"});
  }
  using Outcome = std::vector<std::optional<UsimFailure>>;
  auto msgs = std::make_shared<std::vector<std::vector<std::uint8_t>>>(std::move(*messages));
  const std::uint64_t gen = card_generation_;
  worker_->Run<Outcome>(
      [msgs](const ApduTransport& t) {
        Usim usim(t);
        Outcome out;
        for (const auto& m : *msgs) {
          auto r = usim.MskUpdate(m);
          out.push_back(r ? std::nullopt : std::optional<UsimFailure>(r.error()));
        }
        return out;
      },
      [this, msgs, done, gen](Outcome out) {
        std::size_t accepted = 0;
        std::optional<SmartcardFailure> first;
        for (std::size_t i = 0; i < out.size(); ++i) {
          // 98 65: the card already holds this MSK message (or a newer one).
          const bool ok = !out[i] || out[i]->code == UsimError::kReplay;
          if (ok) {
            ++accepted;
            if (auto m = smartcard::ParseMikey((*msgs)[i]); m && gen == card_generation_) {
              card_msks_.insert({DomainHex(m->key_id.key_domain), m->key_id.msk_id});
            }
          } else if (!first) {
            first = FromUsim(*out[i], "MSK update");
          }
        }
        if (gen != card_generation_) {
          return done(SmartcardFailure{"NoCard", "the card changed during the MSK update"});
        }
        if (accepted == 0) {
          if (first && first->name == "NoCard") return done(first);
          return done(SmartcardFailure{
              "MskRequestFailed", "the card took none of the BSM's " + std::to_string(out.size()) +
                                      " MSK messages" +
                                      (first ? ": " + first->name + ": " + first->message : "")});
        }
        g_message("smartcard: %zu of %zu MSK messages loaded into the card", accepted, out.size());
        done(std::nullopt);
      });
}

}  // namespace spc::daemon
