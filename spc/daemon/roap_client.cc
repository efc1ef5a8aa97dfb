#include "spc/daemon/roap_client.h"

#include <glib.h>

#include <algorithm>
#include <utility>

#include "spc/libspc/hex.h"
#include "spc/libspc/roap/messages.h"

namespace spc::daemon {
namespace {

constexpr char kErrorPrefix[] = "org.openbcast.SPC1.Error.";

std::int64_t Now() { return g_get_real_time() / G_USEC_PER_SEC; }

RoapFailure MakeFailure(const std::string& name, std::string message) {
  return {name, kErrorPrefix + name, std::move(message)};
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// roap::RiContext of a stored ROAP registration (what RoAcquisition and the 1-pass check need).
std::optional<roap::RiContext> ToRoapContext(const store::RiContext& c) {
  roap::RiContext r;
  if (!HexDecodeInto(c.ri_id, r.ri_id)) return std::nullopt;
  r.ri_url = c.url;
  r.certificate_chain = c.certificates;
  r.registered_at = c.timestamp;
  r.certificate_not_after = c.not_after;
  return r;
}

}  // namespace

RoapFailure FailureFromRoap(const roap::Error& error) {
  std::string name;
  if (error.code == roap::ErrorCode::kStatusNotSuccess) {
    name = "Roap.Status." + std::string(roap::StatusName(error.status));
  } else {
    name = "Roap." + std::string(roap::ErrorCodeName(error.code));
  }
  std::string message = roap::ErrorName(error);
  if (!error.message.empty()) message += ": " + error.message;
  return MakeFailure(name, std::move(message));
}

RoapFailure FailureFromInteraction(const channels::InteractionError& error) {
  return MakeFailure(
      "Interaction." + std::string(channels::InteractionErrorName(error.code)),
      std::string(channels::InteractionErrorName(error.code)) + ": " + error.message);
}

RoapClient::RoapClient(store::KeyStore& store, const DeviceIdentity* identity, Options options)
    : store_(store), identity_(identity), options_(std::move(options)), channel_(options_.http) {
  if (identity_ == nullptr) return;
  std::vector<X509Ptr> chain;
  chain.push_back(ShareCertificate(identity_->certificate.get()));
  auto creds =
      roap::MakeDeviceCredentials(ShareKey(identity_->private_key.get()), std::move(chain));
  if (!creds) {
    g_warning("ROAP: device credentials unusable: %s", roap::ErrorName(creds.error()).c_str());
    return;
  }
  device_ = std::move(*creds);
  std::vector<X509Ptr> roots;
  for (const auto& a : identity_->anchor_certificates) roots.push_back(ShareCertificate(a.get()));
  anchors_ = roap::MakeTrustAnchors(std::move(roots));
}

RoapClient::~RoapClient() = default;

bool RoapClient::CheckIdentity(RoapFailure* failure) const {
  if (device_ && anchors_) return true;
  *failure = MakeFailure("Roap.NoDeviceIdentity",
                         "spcd has no device certificate and key (provision them with "
                         "--device-cert/--device-key/--trust-anchors)");
  return false;
}

void RoapClient::Fail(RoapFailure failure) {
  ++counters_.failures;
  counters_.last_error = failure.dbus_name + ": " + failure.message;
  g_message("ROAP: %s: %s", failure.name.c_str(), failure.message.c_str());
}

std::string RoapClient::state() const {
  if (!device_) return "no-device-identity";
  if (registering_ > 0) return "registering";
  return CurrentRi() ? "registered" : "unregistered";
}

std::optional<store::RiContext> RoapClient::CurrentRi() const {
  store::StoreError err;
  std::optional<store::RiContext> best;
  for (auto& c : store_.ListRiContexts(&err)) {
    if (c.source != "roap" || c.status != "registered") continue;
    if (!best || c.updated_at > best->updated_at) best = std::move(c);
  }
  return best;
}

std::optional<store::Registration> RoapClient::FindRoapRegistration(const std::string& ri_id_hex,
                                                                    RoapFailure* failure) const {
  std::string id = ri_id_hex;
  if (id.empty()) {
    auto current = CurrentRi();
    if (!current) {
      *failure = MakeFailure("Roap.NotRegistered",
                             "no Rights Issuer registration (register first: Register / spcctl "
                             "register URL)");
      return std::nullopt;
    }
    id = current->ri_id;
  }
  store::StoreError err;
  auto reg = store_.FindRegistration(id, &err);
  if (!err.message.empty()) {
    *failure = MakeFailure("Failed", "key store: " + err.message);
    return std::nullopt;
  }
  if (!reg || reg->context.source != "roap" || reg->context.status != "registered") {
    *failure = MakeFailure("Roap.NotRegistered", "not registered with RI " + id);
    return std::nullopt;
  }
  return reg;
}

void RoapClient::Post(const std::string& url, const std::string& pdu,
                      std::function<void(Result<std::string, RoapFailure>)> done) {
  channels::HttpRequest req;
  req.url = url;
  req.content_type = std::string(roap::kPduMediaType);
  req.body.assign(pdu.begin(), pdu.end());
  req.accept = {std::string(roap::kPduMediaType)};
  channel_.Send(std::move(req), [done = std::move(done)](channels::InteractionChannel::Result r) {
    if (!r) {
      done(FailureFromInteraction(r.error()));
      return;
    }
    done(std::string(r->body.begin(), r->body.end()));
  });
}

// ---- Registration ----------------------------------------------------------------------------

struct RoapClient::RegistrationOp {
  std::string url;
  std::unique_ptr<roap::RegistrationSession> session;
  Done<std::string> done;
};

void RoapClient::Register(const std::string& url, Done<std::string> done,
                          std::optional<std::string> trigger_nonce) {
  RoapFailure failure;
  if (!CheckIdentity(&failure)) {
    Fail(failure);
    done(failure);
    return;
  }
  if (!g_str_has_prefix(url.c_str(), "http://") && !g_str_has_prefix(url.c_str(), "https://")) {
    failure = MakeFailure("InvalidArgs", "RI URL \"" + url + "\" is not an http(s) URL");
    Fail(failure);
    done(failure);
    return;
  }
  auto op = std::make_shared<RegistrationOp>();
  op->url = url;
  op->done = std::move(done);
  roap::RegistrationSession::Options o;
  o.trigger_nonce = std::move(trigger_nonce);
  // First registration with an RI: the response must bring the RI chain and a fresh OCSP answer
  // (roap.md); a terminal that is registered already asks for the same (it is cheap and lets a
  // revoked RI certificate show).
  o.first_registration = true;
  op->session = std::make_unique<roap::RegistrationSession>(*device_, *anchors_, o);
  ++registering_;
  auto finish = [this, op](Result<std::string, RoapFailure> r) {
    --registering_;
    if (!r) Fail(r.error());
    op->done(std::move(r));
  };
  g_message("ROAP: registering with %s", url.c_str());
  Post(url, op->session->DeviceHello(), [this, op, finish](Result<std::string, RoapFailure> r1) {
    if (!r1) return finish(r1.error());
    auto hello = op->session->OnRiHello(*r1);
    if (!hello) return finish(FailureFromRoap(hello.error()));
    auto request = op->session->RegistrationRequest(Now());
    if (!request) return finish(FailureFromRoap(request.error()));
    Post(op->url, *request, [this, op, finish](Result<std::string, RoapFailure> r2) {
      if (!r2) return finish(r2.error());
      auto ctx = op->session->OnRegistrationResponse(*r2, Now());
      if (!ctx) return finish(FailureFromRoap(ctx.error()));
      // Every check passed: now, and only now, the store learns of the RI.
      store::Registration reg;
      reg.context.ri_id = HexEncode(ctx->ri_id);
      reg.context.source = "roap";
      reg.context.url = ctx->ri_url.empty() ? op->url : ctx->ri_url;
      reg.context.certificates = ctx->certificate_chain;
      reg.context.device_id = HexEncode(device_->device_id);
      reg.context.timestamp = ctx->registered_at;
      reg.context.not_after = ctx->certificate_not_after;
      reg.context.status = "registered";
      reg.context.ocsp_checked_at = ctx->ocsp_checked ? ctx->ocsp_produced_at : 0;
      store::StoreError err;
      if (!store_.PutRegistration(reg, &err)) {
        return finish(MakeFailure("Failed", "key store: " + err.message));
      }
      ++counters_.registrations;
      g_message("ROAP: registered with RI %s at %s", reg.context.ri_id.c_str(),
                reg.context.url.c_str());
      finish(reg.context.ri_id);
    });
  });
}

// ---- Acquisition -----------------------------------------------------------------------------

struct RoapClient::AcquisitionOp {
  roap::RiContext ri;
  std::string ri_id_hex;
  roap::RoAcquisition::Options options;  // for the one retry after registering again
  bool may_register_again = false;
  std::unique_ptr<roap::RoAcquisition> acquisition;
  Done<std::vector<std::string>> done;
};

Result<std::vector<std::string>, RoapFailure> RoapClient::Install(
    const std::vector<roap::LtkmEntry>& entries) {
  std::vector<store::Rights> rows;
  rows.reserve(entries.size());
  for (const roap::LtkmEntry& e : entries) {
    store::Rights& r = rows.emplace_back();
    r.content_id = e.content_id;
    r.key = roap::ToLongTermKey(e);
    r.not_before = e.not_before.value_or(0);
    r.not_after = e.not_after.value_or(0);
    r.play = e.play;
    r.record = e.record;
    r.source = "roap";
    r.ro_id = e.ro_id;
    r.issuer = HexEncode(e.ri_id);
    r.ro_timestamp = e.timestamp;
  }
  // One transaction for the whole response: a crash between two ROs must not leave half of it.
  std::vector<store::InstallOutcome> outcomes;
  store::StoreError err;
  if (!store_.InstallLtkms(rows, &outcomes, &err)) {
    return MakeFailure("Failed", "key store: " + err.message);
  }
  std::vector<std::string> installed;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const store::Rights& r = rows[i];
    if (outcomes[i] == store::InstallOutcome::kInstalled) {
      ++counters_.ros_installed;
      installed.push_back(r.content_id);
      g_message("ROAP: installed RO %s for %s (key domain %06x)", r.ro_id.c_str(),
                r.content_id.c_str(), r.key.key_domain_id);
    } else {
      g_message("ROAP: RO %s for %s already installed (%s)", r.ro_id.c_str(), r.content_id.c_str(),
                outcomes[i] == store::InstallOutcome::kRepeat ? "repeat" : "older than installed");
    }
  }
  if (!installed.empty() && on_rights_changed) on_rights_changed(installed);
  return installed;
}

void RoapClient::Acquire(std::vector<std::string> content_ids, std::vector<std::string> ro_ids,
                         std::string ri_id_hex, Done<std::vector<std::string>> done,
                         std::optional<std::string> trigger_nonce) {
  AcquireOnce(std::move(content_ids), std::move(ro_ids), std::move(ri_id_hex), std::move(done),
              std::move(trigger_nonce), true);
}

void RoapClient::AcquireOnce(std::vector<std::string> content_ids, std::vector<std::string> ro_ids,
                             std::string ri_id_hex, Done<std::vector<std::string>> done,
                             std::optional<std::string> trigger_nonce, bool may_register_again) {
  RoapFailure failure;
  if (!CheckIdentity(&failure)) {
    Fail(failure);
    done(failure);
    return;
  }
  if (content_ids.empty() && ro_ids.empty()) {
    failure = MakeFailure("InvalidArgs", "no content ID to acquire");
    Fail(failure);
    done(failure);
    return;
  }
  auto reg = FindRoapRegistration(ri_id_hex, &failure);
  auto ctx = reg ? ToRoapContext(reg->context) : std::nullopt;
  if (reg && !ctx) failure = MakeFailure("Failed", "stored RI ID is not hex");
  if (!ctx) {
    Fail(failure);
    done(failure);
    return;
  }
  auto op = std::make_shared<AcquisitionOp>();
  op->ri = std::move(*ctx);
  op->done = std::move(done);
  op->ri_id_hex = ri_id_hex.empty() ? HexEncode(op->ri.ri_id) : ri_id_hex;
  op->may_register_again = may_register_again;
  roap::RoAcquisition::Options o;
  o.content_ids = content_ids;
  o.ro_ids = ro_ids;
  o.trigger_nonce = trigger_nonce;
  op->options = o;
  op->acquisition = std::make_unique<roap::RoAcquisition>(*device_, op->ri, o);
  auto finish = [this, op](Result<std::vector<std::string>, RoapFailure> r) {
    if (!r) Fail(r.error());
    op->done(std::move(r));
  };
  auto request = op->acquisition->Request(Now());
  if (!request) return finish(FailureFromRoap(request.error()));
  g_message("ROAP: acquiring %s from %s", Join(content_ids).c_str(), op->ri.ri_url.c_str());
  Post(op->ri.ri_url, *request, [this, op, finish](Result<std::string, RoapFailure> r) {
    if (!r) return finish(r.error());
    // Signature, nonce, device and RI IDs, and every RO's digest, key and MAC are checked
    // before anything is installed.
    auto entries = op->acquisition->OnResponse(*r);
    if (!entries && op->may_register_again &&
        entries.error().code == roap::ErrorCode::kStatusNotSuccess &&
        entries.error().status == roap::Status::kNotRegistered) {
      // The RI no longer holds this device's registration (an RI restarted without its
      // registrations, or one that dropped it) while the store still holds the RI context:
      // register again at the stored URL, then ask once more. Nothing was written so far.
      g_message("ROAP: RI %s answered NotRegistered: registering again with %s",
                op->ri_id_hex.c_str(), op->ri.ri_url.c_str());
      const std::string url = op->ri.ri_url;
      return Register(url, [this, op](Result<std::string, RoapFailure> reg) {
        if (!reg) return op->done(std::move(reg.error()));
        AcquireOnce(op->options.content_ids, op->options.ro_ids, op->ri_id_hex, std::move(op->done),
                    op->options.trigger_nonce, false);
      });
    }
    if (!entries) return finish(FailureFromRoap(entries.error()));
    auto installed = Install(*entries);
    if (installed) ++counters_.acquisitions;
    finish(std::move(installed));
  });
}

// ---- Triggers, 1-pass, automatic acquisition --------------------------------------------------

void RoapClient::HandleTrigger(std::span<const std::uint8_t> bytes, Done<std::string> done) {
  ++counters_.triggers;
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  RoapFailure failure;
  if (!CheckIdentity(&failure)) {
    Fail(failure);
    done(failure);
    return;
  }
  auto type = roap::PduType(text);
  if (!type) {
    failure = FailureFromRoap(type.error());
    Fail(failure);
    done(failure);
    return;
  }
  if (*type == "roResponse") {
    // 1-pass: only from a registered RI, only for this device, no nonce.
    auto parsed = roap::ParseRoResponse(text);
    if (!parsed) {
      failure = FailureFromRoap(parsed.error());
    } else if (auto reg = FindRoapRegistration(HexEncode(parsed->ri_id), &failure)) {
      auto ctx = ToRoapContext(reg->context);
      auto entries = roap::OpenPushedRoResponse(text, *device_, *ctx);
      if (!entries) {
        failure = FailureFromRoap(entries.error());
      } else {
        auto installed = Install(*entries);
        if (!installed) {
          failure = installed.error();
        } else {
          ++counters_.acquisitions;
          done("installed " + Join(*installed));
          return;
        }
      }
    }
    Fail(failure);
    done(failure);
    return;
  }
  auto trigger = roap::ParseRoapTrigger(text);
  if (!trigger) {
    failure = FailureFromRoap(trigger.error());
    Fail(failure);
    done(failure);
    return;
  }
  // The trigger stream repeats each trigger; one nonce runs once.
  if (trigger->nonce) {
    if (!trigger_nonces_seen_.insert(*trigger->nonce).second) {
      done(std::string("repeat"));
      return;
    }
    if (trigger_nonces_seen_.size() > 256) trigger_nonces_seen_.erase(trigger_nonces_seen_.begin());
  }
  // A trigger whose exchange failed may run again (a later repetition, a re-sent trigger).
  if (trigger->nonce) {
    done = [this, nonce = *trigger->nonce, done](Result<std::string, RoapFailure> r) {
      if (!r) trigger_nonces_seen_.erase(nonce);
      done(std::move(r));
    };
  }
  const std::string ri_hex = HexEncode(trigger->ri_id);
  g_message("ROAP: trigger %s (%s) from RI %s", trigger->id.value_or("").c_str(),
            trigger->kind == roap::RoapTrigger::Kind::kRegistrationRequest ? "registration"
                                                                           : "acquisition",
            ri_hex.c_str());
  if (trigger->kind == roap::RoapTrigger::Kind::kRegistrationRequest) {
    Register(
        trigger->roap_url,
        [done](Result<std::string, RoapFailure> r) {
          if (!r) return done(r.error());
          done("registered " + *r);
        },
        trigger->nonce);
    return;
  }
  auto acquire = [this, t = *trigger, ri_hex, done]() {
    Acquire(
        t.content_ids, t.ro_ids, ri_hex,
        [done](Result<std::vector<std::string>, RoapFailure> r) {
          if (!r) return done(r.error());
          done("installed " + Join(*r));
        },
        t.nonce);
  };
  RoapFailure unused;
  if (FindRoapRegistration(ri_hex, &unused)) {
    acquire();
    return;
  }
  // An acquisition trigger from an RI the terminal is not registered with: register first.
  Register(trigger->roap_url, [acquire, done, ri_hex](Result<std::string, RoapFailure> r) {
    if (!r) return done(r.error());
    if (*r != ri_hex) {
      return done(MakeFailure(
          "Roap.WrongRiId", "trigger names RI " + ri_hex + " but its roapURL registered RI " + *r));
    }
    acquire();
  });
}

void RoapClient::OnRightsMissing(const std::string& content_id) {
  if (!options_.auto_acquire || !device_) return;
  if (auto_in_flight_.count(content_id)) return;
  auto failed = auto_failed_at_.find(content_id);
  if (failed != auto_failed_at_.end() && Now() - failed->second < options_.auto_retry_s) return;
  if (!CurrentRi()) return;  // no RI known: nothing to ask
  auto_in_flight_.insert(content_id);
  ++counters_.auto_acquisitions;
  g_message("ROAP: no rights for %s: acquiring them", content_id.c_str());
  Acquire({content_id}, {}, {},
          [this, content_id](Result<std::vector<std::string>, RoapFailure> r) {
            auto_in_flight_.erase(content_id);
            if (r) {
              auto_failed_at_.erase(content_id);
              return;
            }
            auto_failed_at_[content_id] = Now();
            if (on_failure) on_failure("acquire " + content_id, r.error());
          });
}

}  // namespace spc::daemon
