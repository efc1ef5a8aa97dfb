#include "samples/headend/ltkm_carousel.h"

#include <glib.h>
#include <libsoup/soup.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <utility>

#include "spc/libspc/hex.h"
#include "spc/libspc/ltkm/bcro.h"

namespace headend {
namespace {

void Event(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::uint64_t Now() { return static_cast<std::uint64_t>(std::time(nullptr)); }

spc::Key128 RandomKey() {
  spc::Key128 k{};
  if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) std::abort();
  return k;
}

struct LtkmOptionStorage {
  gchar* ri_key = nullptr;
  gchar* ri_cert = nullptr;
  gchar** device_certs = nullptr;
  gint registration_port = 4358;
  gint bcro_port = channels::kDefaultBcroPort;
  gint repetition_ms = 1000;
  gint group = 1;
  gint sek_period = 0;
  gint sek_lead = 3;
  gchar* revoke_device = nullptr;
  gint revoke_at = 0;
  gint http_port = -1;
  LtkmOptions* out = nullptr;
};

gboolean CopyLtkmOptions(GOptionContext*, GOptionGroup*, gpointer data, GError** error) {
  auto* s = static_cast<LtkmOptionStorage*>(data);
  LtkmOptions* o = s->out;
  if (s->ri_key) o->ri_key_file = s->ri_key;
  if (s->ri_cert) o->ri_cert_file = s->ri_cert;
  for (gchar** p = s->device_certs; p && *p; ++p) o->device_cert_files.emplace_back(*p);
  if (s->revoke_device) o->revoke_device_file = s->revoke_device;
  auto bad = [&](const char* what) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s", what);
    return FALSE;
  };
  if (s->registration_port < 1 || s->registration_port > 65535) {
    return bad("--registration-port: 1..65535");
  }
  if (s->bcro_port < 1 || s->bcro_port > 65535) return bad("--bcro-port: 1..65535");
  if (s->repetition_ms < 10 || s->repetition_ms > 600000) {
    return bad("--ltkm-repetition: 10..600000 ms");
  }
  if (s->group < 0) return bad("--broadcast-group: 0..2^31-1");
  if (s->sek_period < 0 || s->sek_lead < 0 || s->revoke_at < 0) {
    return bad("--sek-period, --sek-lead, --revoke-at: seconds >= 0");
  }
  if (s->http_port < -1 || s->http_port > 65535) return bad("--http-port: -1 (off), 0..65535");
  o->registration_port = static_cast<std::uint16_t>(s->registration_port);
  o->bcro_port = static_cast<std::uint16_t>(s->bcro_port);
  o->repetition_ms = static_cast<unsigned>(s->repetition_ms);
  o->group_id = static_cast<std::uint32_t>(s->group);
  o->sek_period_s = static_cast<unsigned>(s->sek_period);
  o->sek_lead_s = static_cast<unsigned>(s->sek_lead);
  o->revoke_at_s = static_cast<unsigned>(s->revoke_at);
  o->http_port = s->http_port;
  return TRUE;
}

}  // namespace

GOptionGroup* MakeLtkmOptionGroup(LtkmOptions* options) {
  // Lives as long as the process: the option group keeps pointers into it.
  static LtkmOptionStorage storage;
  storage.out = options;
  static GOptionEntry entries[] = {
      {"ri-key", 0, 0, G_OPTION_ARG_FILENAME, &storage.ri_key,
       "RI private key: enables the broadcast LTKM carousel", "FILE"},
      {"ri-cert", 0, 0, G_OPTION_ARG_FILENAME, &storage.ri_cert,
       "RI certificate chain (PEM, leaf first)", "FILE"},
      {"device-cert", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &storage.device_certs,
       "device data: a device certificate to register over broadcast (repeat)", "FILE"},
      {"registration-port", 0, 0, G_OPTION_ARG_INT, &storage.registration_port,
       "registration stream UDP port (4358)", "PORT"},
      {"bcro-port", 0, 0, G_OPTION_ARG_INT, &storage.bcro_port,
       "BCRO stream UDP port (4359, IANA omabcastltkm)", "PORT"},
      {"ltkm-repetition", 0, 0, G_OPTION_ARG_INT, &storage.repetition_ms,
       "ms between two carousel cycles (1000)", "MS"},
      {"broadcast-group", 0, 0, G_OPTION_ARG_INT, &storage.group, "broadcast group ID (1)", "ID"},
      {"sek-period", 0, 0, G_OPTION_ARG_INT, &storage.sek_period,
       "a new SEK every S seconds (0: never)", "S"},
      {"sek-lead", 0, 0, G_OPTION_ARG_INT, &storage.sek_lead,
       "BCROs of a new SEK are broadcast S seconds before its use (3)", "S"},
      {"revoke-device", 0, 0, G_OPTION_ARG_FILENAME, &storage.revoke_device,
       "certificate of a device to revoke (re-keys the group without it)", "FILE"},
      {"revoke-at", 0, 0, G_OPTION_ARG_INT, &storage.revoke_at,
       "seconds after start for --revoke-device (0: at once)", "S"},
      {"http-port", 0, 0, G_OPTION_ARG_INT, &storage.http_port,
       "POST /device-data server on 127.0.0.1 (-1: none, 0: any port)", "PORT"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr},
  };
  GOptionGroup* group =
      g_option_group_new("ltkm", "Broadcast key delivery (broadcast-only terminals):",
                         "Show the broadcast LTKM carousel options", &storage, nullptr);
  g_option_group_add_entries(group, entries);
  g_option_group_set_parse_hooks(group, nullptr, CopyLtkmOptions);
  return group;
}

bool CheckLtkmOptions(const LtkmOptions& o, std::string* error) {
  const bool any = !o.ri_cert_file.empty() || !o.device_cert_files.empty() ||
                   !o.revoke_device_file.empty() || o.http_port >= 0 || o.sek_period_s > 0;
  if (!o.enabled()) {
    if (any) *error = "the broadcast LTKM options need --ri-key and --ri-cert";
    return !any;
  }
  if (o.ri_cert_file.empty()) {
    *error = "--ri-key needs --ri-cert";
    return false;
  }
  if (o.registration_port == o.bcro_port) {
    *error = "--registration-port and --bcro-port must differ";
    return false;
  }
  return true;
}

struct LtkmCarousel::Impl {
  struct Device {
    spc::X509Ptr certificate;
    spc::EvpPkeyPtr public_key;
    spc::Sha1Digest id{};
    spc::Key128 k_mac{};
    spc::Key128 k_dev{};
    std::uint64_t timestamp = 0;
    bool revoked = false;
    std::vector<std::uint8_t> drr;
    std::uint64_t repetitions = 0;
    std::uint16_t generation = 0;
    ~Device() {
      spc::Cleanse(k_mac);
      spc::Cleanse(k_dev);
    }
  };
  struct BcroOut {
    std::string ro_id;
    std::string content_id;
    std::uint16_t generation = 0;
    std::vector<std::uint8_t> bytes;
    std::uint64_t repetitions = 0;
  };

  LtkmOptions options;
  std::string dest;
  std::string base_cid;
  SekSwitch on_switch;
  spc::EvpPkeyPtr ri_key;
  std::vector<spc::X509Ptr> ri_chain;
  std::vector<std::vector<std::uint8_t>> ri_chain_der;

  spc::LongTermKey sek{};  // in use
  std::uint32_t cid_extension = 0;
  bool switch_pending = false;
  spc::LongTermKey next_sek{};
  std::uint32_t next_extension = 0;
  std::vector<spc::Sha1Digest> revoke_at_switch;

  std::uint16_t generation = 1;
  spc::Key128 group_key{};
  std::vector<std::unique_ptr<Device>> devices;
  std::vector<BcroOut> bcros;

  std::unique_ptr<GSocket, void (*)(gpointer)> socket{nullptr, g_object_unref};
  std::unique_ptr<GSocketAddress, void (*)(gpointer)> registration_addr{nullptr, g_object_unref};
  std::unique_ptr<GSocketAddress, void (*)(gpointer)> bcro_addr{nullptr, g_object_unref};
  SoupServer* server = nullptr;
  std::vector<guint> sources;
  std::uint64_t last_timestamp = 0;
  std::optional<spc::Sha1Digest> revoke_id;  // --revoke-device

  ~Impl() {
    // One-shot sources may be gone already.
    for (guint id : sources) {
      if (GSource* src = g_main_context_find_source_by_id(nullptr, id)) g_source_destroy(src);
    }
    if (server) {
      soup_server_disconnect(server);
      g_object_unref(server);
    }
    spc::Cleanse(group_key);
    OPENSSL_cleanse(&sek, sizeof sek);
    OPENSSL_cleanse(&next_sek, sizeof next_sek);
  }

  // Registration timestamps strictly increase: a re-keying response must replace the one before
  // even within the same second.
  std::uint64_t NextTimestamp() {
    last_timestamp = std::max(Now(), last_timestamp + 1);
    return last_timestamp;
  }

  bool BuildDrr(Device& d, std::string* error) {
    spc::RegistrationMaterial m;
    m.timestamp = NextTimestamp();
    m.not_after = m.timestamp + std::uint64_t{options.registration_days} * 86400;
    m.k_mac.Assign(std::span<const std::uint8_t, 16>(d.k_mac));
    m.k_dev.Assign(std::span<const std::uint8_t, 16>(d.k_dev));
    m.ri_certificates = ri_chain_der;
    if (!d.revoked) {
      spc::GroupKey g;
      g.group_id = options.group_id;
      g.key_generation = generation;
      g.key.Assign(std::span<const std::uint8_t, 16>(group_key));
      m.groups.push_back(std::move(g));
    }
    auto drr =
        spc::WriteDrr(m, d.revoked ? spc::DrrStatus::kDeviceRevoked : spc::DrrStatus::kSuccess,
                      d.public_key.get(), ri_key.get());
    if (!drr) {
      *error = "device_registration_response: " + drr.error().message;
      return false;
    }
    d.drr = std::move(*drr);
    d.timestamp = m.timestamp;
    d.generation = generation;
    d.repetitions = 0;
    return true;
  }

  bool AddBcro(const spc::LongTermKey& key, std::uint32_t extension) {
    spc::Bcro b;
    b.address_mode = static_cast<std::uint8_t>(spc::BcroAddressMode::kGroup);
    b.group_id = options.group_id;
    b.key_generation = generation;
    char ro[64];
    g_snprintf(ro, sizeof ro, "bcro-%08x-g%u-n%u", extension, options.group_id, generation);
    b.ro_id = ro;
    b.timestamp = Now();
    b.key_domain_id = key.key_domain_id;
    b.content_id = spc::ContentId(base_cid, extension);
    b.permissions = spc::kPermissionPlay | spc::kPermissionRecord;
    auto bytes = spc::WriteBcro(b, key, std::span<const std::uint8_t, 16>(group_key), ri_key.get());
    if (!bytes) {
      std::fprintf(stderr, "bcast-headend: BCRO: %s\n", bytes.error().message.c_str());
      return false;
    }
    bcros.push_back(BcroOut{b.ro_id, b.content_id, generation, std::move(*bytes), 0});
    return true;
  }

  void Send(GSocketAddress* to, const std::vector<std::uint8_t>& bytes) {
    g_autoptr(GError) err = nullptr;
    // A broadcast does not care whether anyone listens: send errors are not fatal.
    g_socket_send_to(socket.get(), to, reinterpret_cast<const gchar*>(bytes.data()), bytes.size(),
                     nullptr, &err);
  }

  void Cycle() {
    for (auto& d : devices) {
      if (d->drr.empty()) continue;
      Send(registration_addr.get(), d->drr);
      ++d->repetitions;
      Event("drr-sent device=" + spc::HexEncode(d->id) + " status=" +
            (d->revoked ? "revoked" : "ok") + " generation=" + std::to_string(d->generation) +
            " timestamp=" + std::to_string(d->timestamp) +
            " repetition=" + std::to_string(d->repetitions));
    }
    for (auto& b : bcros) {
      Send(bcro_addr.get(), b.bytes);
      ++b.repetitions;
      Event("bcro-sent ro=" + b.ro_id + " cid=" + b.content_id + " group=" +
            std::to_string(options.group_id) + " generation=" + std::to_string(b.generation) +
            " repetition=" + std::to_string(b.repetitions));
    }
  }

  void Switch() {
    if (!switch_pending) return;
    switch_pending = false;
    sek = next_sek;
    cid_extension = next_extension;
    OPENSSL_cleanse(&next_sek, sizeof next_sek);
    const std::string cid = spc::ContentId(base_cid, cid_extension);
    // Only the BCRO of the SEK in use stays on the carousel.
    std::erase_if(bcros, [&](const BcroOut& b) { return b.content_id != cid; });
    for (const auto& id : revoke_at_switch) {
      for (auto& d : devices) {
        if (d->id != id) continue;
        d->revoked = true;
        std::string error;
        if (!BuildDrr(*d, &error)) std::fprintf(stderr, "bcast-headend: %s\n", error.c_str());
      }
    }
    revoke_at_switch.clear();
    if (on_switch) on_switch(sek, cid_extension);
    Event("sek-switch cid=" + cid);
  }
};

LtkmCarousel::LtkmCarousel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LtkmCarousel::~LtkmCarousel() = default;

std::unique_ptr<LtkmCarousel> LtkmCarousel::Create(const LtkmOptions& options,
                                                   const std::string& dest,
                                                   const spc::LongTermKey& service_key,
                                                   const std::string& base_cid,
                                                   std::uint32_t cid_extension, SekSwitch on_switch,
                                                   std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->dest = dest;
  impl->base_cid = base_cid;
  impl->on_switch = std::move(on_switch);
  impl->sek = service_key;
  impl->cid_extension = cid_extension;
  auto key = spc::LoadPrivateKeyFile(options.ri_key_file);
  if (!key) return *error = "--ri-key: " + key.error().message, nullptr;
  auto chain = spc::LoadCertificatesFile(options.ri_cert_file);
  if (!chain || chain->empty()) {
    *error = "--ri-cert: " + (chain ? std::string("no certificate") : chain.error().message);
    return nullptr;
  }
  if (!spc::KeyMatchesCertificate((*chain)[0].get(), key->get())) {
    *error = "--ri-key is not the key of the first certificate of --ri-cert";
    return nullptr;
  }
  impl->ri_key = std::move(*key);
  impl->ri_chain = std::move(*chain);
  for (const auto& c : impl->ri_chain) impl->ri_chain_der.push_back(spc::CertificateDer(c.get()));
  impl->group_key = RandomKey();
  auto carousel = std::unique_ptr<LtkmCarousel>(new LtkmCarousel(std::move(impl)));
  for (const auto& file : options.device_cert_files) {
    gchar* data = nullptr;
    gsize n = 0;
    g_autoptr(GError) e = nullptr;
    if (!g_file_get_contents(file.c_str(), &data, &n, &e)) {
      *error = "--device-cert: " + std::string(e->message);
      return nullptr;
    }
    std::vector<std::uint8_t> bytes(data, data + n);
    g_free(data);
    if (!carousel->AddDevice(bytes, error)) {
      *error = "--device-cert " + file + ": " + *error;
      return nullptr;
    }
  }
  if (!carousel->impl_->AddBcro(service_key, cid_extension)) {
    *error = "cannot write the first BCRO";
    return nullptr;
  }
  return carousel;
}

void LtkmCarousel::Describe(channels::SessionDescription* sd, int ttl) const {
  for (auto [kind, port] :
       {std::pair{channels::LtkmStreamKind::kRegistration, impl_->options.registration_port},
        std::pair{channels::LtkmStreamKind::kBcro, impl_->options.bcro_port}}) {
    channels::LtkmStream ls;
    ls.kind = kind;
    ls.address = impl_->dest;
    ls.port = port;
    ls.ttl = ttl;
    sd->ltkm_streams.push_back(ls);
  }
}

bool LtkmCarousel::AddDevice(std::span<const std::uint8_t> cert_bytes, std::string* error) {
  auto cert = spc::LoadCertificate(cert_bytes);
  if (!cert) {
    *error = "not a certificate: " + cert.error().message;
    return false;
  }
  auto d = std::make_unique<Impl::Device>();
  d->id = spc::SpkiSha1(cert->get());
  for (const auto& known : impl_->devices) {
    if (known->id == d->id) return true;
  }
  d->public_key = spc::CertificatePublicKey(cert->get());
  if (spc::RsaModulusBytes(d->public_key.get()) == 0) {
    *error = "the device key is not RSA";
    return false;
  }
  d->certificate = std::move(*cert);
  d->k_mac = RandomKey();
  d->k_dev = RandomKey();
  if (!impl_->BuildDrr(*d, error)) return false;
  Event("device-added id=" + spc::HexEncode(d->id));
  impl_->devices.push_back(std::move(d));
  return true;
}

void LtkmCarousel::ChangeSek() {
  Impl& m = *impl_;
  if (m.switch_pending) return;  // one change at a time
  m.next_sek = m.sek;
  m.next_sek.encryption_key = RandomKey();
  m.next_sek.authentication_key = RandomKey();
  m.next_extension = m.cid_extension + 1;
  m.switch_pending = true;
  if (!m.AddBcro(m.next_sek, m.next_extension)) return;
  if (on_sek_announce) on_sek_announce(m.next_sek, m.next_extension);
  Event("sek-announce cid=" + spc::ContentId(m.base_cid, m.next_extension) +
        " switch-in=" + std::to_string(m.options.sek_lead_s));
  m.sources.push_back(g_timeout_add_seconds(
      m.options.sek_lead_s,
      +[](gpointer p) -> gboolean {
        static_cast<Impl*>(p)->Switch();
        return G_SOURCE_REMOVE;
      },
      &m));
}

bool LtkmCarousel::Revoke(const spc::Sha1Digest& device_id, std::string* error) {
  Impl& m = *impl_;
  auto it = std::find_if(m.devices.begin(), m.devices.end(),
                         [&](const auto& d) { return d->id == device_id; });
  if (it == m.devices.end()) {
    *error = "unknown device " + spc::HexEncode(device_id);
    return false;
  }
  if (m.switch_pending) {
    *error = "a SEK change is under way; revoke after it";
    return false;
  }
  // The group moves to a new generation whose key the revoked device never gets; the others get
  // it in new responses now, so they hold it before the new SEK's BCRO needs it.
  ++m.generation;
  spc::Cleanse(m.group_key);
  m.group_key = RandomKey();
  for (auto& d : m.devices) {
    if (d->id == device_id || d->revoked) continue;
    if (!m.BuildDrr(*d, error)) return false;
  }
  // BCROs of the old generation are of no use to anyone still in the group.
  m.bcros.clear();
  m.revoke_at_switch.push_back(device_id);
  Event("rekey generation=" + std::to_string(m.generation) +
        " group=" + std::to_string(m.options.group_id) + " without=" + spc::HexEncode(device_id));
  ChangeSek();
  return true;
}

namespace {

void OnDeviceData(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*, gpointer self) {
  auto* carousel = static_cast<LtkmCarousel*>(self);
  if (g_strcmp0(soup_server_message_get_method(msg), "POST") != 0) {
    soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
    return;
  }
  SoupMessageBody* body = soup_server_message_get_request_body(msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
  gsize n = 0;
  const auto* p = static_cast<const std::uint8_t*>(g_bytes_get_data(bytes, &n));
  std::string error;
  if (!carousel->AddDevice(std::span<const std::uint8_t>(p, n), &error)) {
    soup_server_message_set_status(msg, SOUP_STATUS_BAD_REQUEST, nullptr);
    soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY, error.data(),
                                     error.size());
    return;
  }
  soup_server_message_set_status(msg, SOUP_STATUS_ACCEPTED, nullptr);
}

}  // namespace

bool LtkmCarousel::Start(std::string* error) {
  Impl& m = *impl_;
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(m.dest.c_str());
  if (!addr) {
    *error = "bad --dest " + m.dest;
    return false;
  }
  g_autoptr(GError) e = nullptr;
  m.socket.reset(g_socket_new(g_inet_address_get_family(addr), G_SOCKET_TYPE_DATAGRAM,
                              G_SOCKET_PROTOCOL_UDP, &e));
  if (!m.socket) {
    *error = std::string("LTKM socket: ") + e->message;
    return false;
  }
  if (g_inet_address_get_is_multicast(addr)) g_socket_set_multicast_loopback(m.socket.get(), TRUE);
  m.registration_addr.reset(g_inet_socket_address_new(addr, m.options.registration_port));
  m.bcro_addr.reset(g_inet_socket_address_new(addr, m.options.bcro_port));
  std::string http = "off";
  if (m.options.http_port >= 0) {
    m.server = soup_server_new("server-header", "bcast-headend", nullptr);
    soup_server_add_handler(m.server, "/device-data", OnDeviceData, this, nullptr);
    if (!soup_server_listen_local(m.server, static_cast<guint>(m.options.http_port),
                                  SOUP_SERVER_LISTEN_IPV4_ONLY, &e)) {
      *error = std::string("HTTP server: ") + e->message;
      return false;
    }
    GSList* uris = soup_server_get_uris(m.server);
    if (uris) http = std::to_string(g_uri_get_port(static_cast<GUri*>(uris->data)));
    g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
  }
  m.sources.push_back(g_timeout_add(
      m.options.repetition_ms,
      +[](gpointer p) -> gboolean {
        static_cast<Impl*>(p)->Cycle();
        return G_SOURCE_CONTINUE;
      },
      &m));
  if (m.options.sek_period_s > 0) {
    m.sources.push_back(g_timeout_add_seconds(
        m.options.sek_period_s,
        +[](gpointer p) -> gboolean {
          static_cast<LtkmCarousel*>(p)->ChangeSek();
          return G_SOURCE_CONTINUE;
        },
        this));
  }
  if (!m.options.revoke_device_file.empty()) {
    auto cert = spc::LoadCertificateFile(m.options.revoke_device_file);
    if (!cert) {
      *error = "--revoke-device: " + cert.error().message;
      return false;
    }
    m.revoke_id = spc::SpkiSha1(cert->get());
    m.sources.push_back(g_timeout_add_seconds(
        m.options.revoke_at_s,
        +[](gpointer p) -> gboolean {
          auto* self = static_cast<LtkmCarousel*>(p);
          std::string err;
          if (!self->Revoke(*self->impl_->revoke_id, &err)) {
            std::fprintf(stderr, "bcast-headend: revoke: %s\n", err.c_str());
          }
          return G_SOURCE_REMOVE;
        },
        this));
  }
  Event("ltkm ready registration=" + std::to_string(m.options.registration_port) +
        " bcro=" + std::to_string(m.options.bcro_port) + " http=" + http);
  // The first cycle at once: a terminal need not wait a whole repetition period.
  m.Cycle();
  return true;
}

}  // namespace headend
