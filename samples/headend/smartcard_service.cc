#include "samples/headend/smartcard_service.h"

#include <glib-unix.h>

#include "spc/libspc/crypto.h"
#include "spc/libspc/hex.h"

namespace headend {

namespace sc = spc::smartcard;

const char* MtkFaultName(MtkFault fault) {
  switch (fault) {
    case MtkFault::kReplay:
      return "replay";
    case MtkFault::kBadMac:
      return "bad-mac";
    case MtkFault::kNewMsk:
      return "new-msk";
  }
  return "?";
}

std::unique_ptr<SmartcardService> SmartcardService::Create(const SmartcardOptions& options,
                                                           const MikeyKeyStream::Config& config,
                                                           std::string* error) {
  auto s = std::make_unique<SmartcardService>(Token{});
  s->options_ = options;
  s->keys_ = std::make_unique<MikeyKeyStream>(config);

  BsfServerOptions bo;
  bo.bind = options.http_bind;
  bo.port = options.bsf_port;
  bo.name = options.bsf_name;
  bo.key_lifetime = std::chrono::seconds(options.bootstrap_lifetime_s);
  s->bsf_ = BsfServer::Create(bo, error);
  if (!s->bsf_) return nullptr;
  if (!options.subscribers_file.empty()) {
    auto n = s->bsf_->bsf().LoadSubscribers(options.subscribers_file);
    if (!n) {
      *error = "--subscribers " + options.subscribers_file + ": " + n.error().field + ": " +
               n.error().message;
      return nullptr;
    }
  }
  for (const std::string& text : options.subscribers) {
    SubscriberSpec spec;
    if (!ParseSubscriberSpec(text, &spec, error)) return nullptr;
    sc::Subscriber sub;
    if (!spc::HexDecodeInto(spec.k_hex, sub.k) || !spc::HexDecodeInto(spec.opc_hex, sub.opc)) {
      *error = "--subscriber: K and OPc must be 32 hex digits each";
      return nullptr;
    }
    sub.sqn = spec.sqn;
    s->bsf_->bsf().AddSubscriber(spec.impi, sub);
    spc::Cleanse(sub.k);
    spc::Cleanse(sub.opc);
  }

  BsmServerOptions mo;
  mo.bind = options.http_bind;
  mo.port = options.bsm_port;
  mo.naf_fqdn = options.naf_fqdn;
  mo.key_domain = config.key_domain;
  mo.permissions = static_cast<std::uint8_t>(options.msk_permissions);
  MikeyKeyStream* keys = s->keys_.get();
  s->bsm_ = BsmServer::Create(
      mo, s->bsf_.get(), [keys](std::uint32_t id) { return keys->FindMsk(id); }, error);
  if (!s->bsm_) return nullptr;
  return s;
}

SmartcardService::~SmartcardService() {
  for (auto& c : callbacks_) {
    if (c->id != 0) g_source_remove(c->id);
  }
}

std::string SmartcardService::AddSdpAttributes(std::string_view sdp) const {
  const std::string lines = "a=bcast-profile:smartcard\r\na=bcast-bsf-url:" + bsf_->url() +
                            "\r\na=bcast-bsm-url:" + bsm_->url() + "\r\n";
  std::string out(sdp);
  std::size_t m = out.starts_with("m=") ? 0 : out.find("\nm=");
  if (m == std::string::npos) return out + lines;
  if (m != 0) ++m;
  // Keep the line ending style of the text around it.
  const bool crlf = out.find("\r\n") != std::string::npos;
  std::string insert = lines;
  if (!crlf) {
    std::string lf;
    for (char c : insert) {
      if (c != '\r') lf.push_back(c);
    }
    insert = lf;
  }
  out.insert(m, insert);
  return out;
}

gboolean SmartcardService::Fire(gpointer data) {
  auto* c = static_cast<Callback*>(data);
  if (c->once) c->id = 0;
  c->fn();
  return c->once ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

void SmartcardService::AddOneShot(unsigned seconds, std::function<void()> fn) {
  auto c = std::make_unique<Callback>();
  c->owner = this;
  c->fn = std::move(fn);
  c->once = true;
  c->id = g_timeout_add_seconds(seconds, &SmartcardService::Fire, c.get());
  callbacks_.push_back(std::move(c));
}

void SmartcardService::AddPeriodic(unsigned seconds, std::function<void()> fn) {
  auto c = std::make_unique<Callback>();
  c->owner = this;
  c->fn = std::move(fn);
  c->id = g_timeout_add_seconds(seconds, &SmartcardService::Fire, c.get());
  callbacks_.push_back(std::move(c));
}

void SmartcardService::AddSignal(int signum, std::function<void()> fn) {
  auto c = std::make_unique<Callback>();
  c->owner = this;
  c->fn = std::move(fn);
  c->id = g_unix_signal_add(signum, &SmartcardService::Fire, c.get());
  callbacks_.push_back(std::move(c));
}

}  // namespace headend
