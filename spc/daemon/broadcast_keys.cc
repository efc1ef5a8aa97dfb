#include "spc/daemon/broadcast_keys.h"

#include <glib.h>
#include <glib/gstdio.h>

#include <algorithm>
#include <utility>

#include "spc/libspc/hex.h"

namespace spc::daemon {
namespace {

constexpr std::size_t kMaxPending = 64;

std::string ReadFile(const std::string& path, std::string* error) {
  gchar* data = nullptr;
  gsize n = 0;
  g_autoptr(GError) e = nullptr;
  if (!g_file_get_contents(path.c_str(), &data, &n, &e)) {
    *error = e->message;
    return {};
  }
  std::string out(data, n);
  g_free(data);
  return out;
}

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

bool WriteFile(const std::string& path, const std::string& data, int mode, std::string* error) {
  g_autoptr(GError) e = nullptr;
  // Atomic replace with the final mode from the first byte.
  if (!g_file_set_contents_full(path.c_str(), data.data(), static_cast<gssize>(data.size()),
                                G_FILE_SET_CONTENTS_CONSISTENT, mode, &e)) {
    *error = e->message;
    return false;
  }
  return true;
}

std::string Hex(const Sha1Digest& d) { return HexEncode(d); }

RegistrationMaterial ToMaterial(const store::Registration& reg) {
  RegistrationMaterial m;
  HexDecodeInto(reg.context.ri_id, m.ri_id);
  HexDecodeInto(reg.context.device_id, m.device_id);
  m.timestamp = static_cast<std::uint64_t>(reg.context.timestamp);
  m.not_after = static_cast<std::uint64_t>(reg.context.not_after);
  m.k_mac.Assign(std::span<const std::uint8_t, 16>(reg.k_mac));
  m.k_dev.Assign(std::span<const std::uint8_t, 16>(reg.k_dev));
  for (const auto& g : reg.groups) {
    GroupKey k;
    k.group_id = g.group_id;
    k.key_generation = g.key_generation;
    k.key.Assign(std::span<const std::uint8_t, 16>(g.key));
    m.groups.push_back(std::move(k));
  }
  m.ri_certificates = reg.context.certificates;
  return m;
}

store::Registration FromMaterial(const RegistrationMaterial& m) {
  store::Registration reg;
  reg.context.ri_id = Hex(m.ri_id);
  reg.context.source = "bcro";
  reg.context.certificates = m.ri_certificates;
  reg.context.device_id = Hex(m.device_id);
  reg.context.timestamp = static_cast<std::int64_t>(m.timestamp);
  reg.context.not_after = static_cast<std::int64_t>(m.not_after);
  reg.context.status = "registered";
  reg.has_device_keys = true;
  std::copy(m.k_mac.span().begin(), m.k_mac.span().end(), reg.k_mac.begin());
  std::copy(m.k_dev.span().begin(), m.k_dev.span().end(), reg.k_dev.begin());
  for (const GroupKey& g : m.groups) {
    store::StoredGroupKey k;
    k.group_id = g.group_id;
    k.key_generation = g.key_generation;
    std::copy(g.key.span().begin(), g.key.span().end(), k.key.begin());
    reg.groups.push_back(k);
  }
  return reg;
}

std::string Describe(const LtkmFailure& f) {
  if (f.code == LtkmError::kMalformed) {
    return f.parse.message + " (field " + f.parse.field + ", offset " +
           std::to_string(f.parse.offset) + ")";
  }
  return f.message;
}

}  // namespace

std::unique_ptr<DeviceIdentity> LoadDeviceIdentity(const std::string& state_dir,
                                                   const std::string& cert_file,
                                                   const std::string& key_file,
                                                   const std::string& anchors_file,
                                                   std::string* error) {
  error->clear();
  const std::string cert_path = state_dir + "/device.pem";
  const std::string key_path = state_dir + "/device.key";
  const std::string anchors_path = state_dir + "/trust-anchors.pem";
  if (cert_file.empty() != key_file.empty()) {
    *error = "--device-cert and --device-key go together";
    return nullptr;
  }
  if (!cert_file.empty()) {
    std::string e;
    std::string cert = ReadFile(cert_file, &e);
    if (!e.empty()) return *error = "device certificate: " + e, nullptr;
    std::string key = ReadFile(key_file, &e);
    if (!e.empty()) return *error = "device key: " + e, nullptr;
    auto c = LoadCertificate(Bytes(cert));
    auto k = LoadPrivateKey(Bytes(key));
    OPENSSL_cleanse(key.data(), key.size());
    if (!c) return *error = cert_file + ": " + c.error().message, nullptr;
    if (!k) return *error = key_file + ": " + k.error().message, nullptr;
    if (!KeyMatchesCertificate(c->get(), k->get())) {
      *error = key_file + " is not the key of " + cert_file;
      return nullptr;
    }
    g_mkdir_with_parents(state_dir.c_str(), 0700);
    // Stored in our own form (PEM of what was parsed), whatever the input was.
    std::string key_pem = ReadFile(key_file, &e);
    if (!WriteFile(key_path, key_pem, 0600, &e) ||
        !WriteFile(cert_path, CertificatePem(c->get()), 0644, &e)) {
      OPENSSL_cleanse(key_pem.data(), key_pem.size());
      *error = "state folder " + state_dir + ": " + e;
      return nullptr;
    }
    OPENSSL_cleanse(key_pem.data(), key_pem.size());
  }
  if (!anchors_file.empty()) {
    std::string e;
    std::string anchors = ReadFile(anchors_file, &e);
    if (!e.empty()) return *error = "trust anchors: " + e, nullptr;
    auto list = LoadCertificates(Bytes(anchors));
    if (!list || list->empty()) {
      *error = anchors_file + ": no certificate";
      return nullptr;
    }
    std::string pem;
    for (const auto& c : *list) pem += CertificatePem(c.get());
    g_mkdir_with_parents(state_dir.c_str(), 0700);
    if (!WriteFile(anchors_path, pem, 0644, &e)) {
      *error = "state folder " + state_dir + ": " + e;
      return nullptr;
    }
  }
  if (!g_file_test(cert_path.c_str(), G_FILE_TEST_EXISTS) &&
      !g_file_test(key_path.c_str(), G_FILE_TEST_EXISTS)) {
    return nullptr;  // not provisioned: no error
  }
  auto id = std::make_unique<DeviceIdentity>();
  auto c = LoadCertificateFile(cert_path);
  if (!c) return *error = c.error().message, nullptr;
  auto k = LoadPrivateKeyFile(key_path);
  if (!k) return *error = k.error().message, nullptr;
  if (!KeyMatchesCertificate(c->get(), k->get())) {
    *error = key_path + " is not the key of " + cert_path;
    return nullptr;
  }
  auto anchors = LoadCertificatesFile(anchors_path);
  if (!anchors || anchors->empty()) {
    *error = "no trust anchors (" + anchors_path + "; give --trust-anchors)";
    return nullptr;
  }
  id->certificate = std::move(*c);
  id->private_key = std::move(*k);
  id->anchor_certificates = std::move(*anchors);
  id->anchors = MakeTrustStore(id->anchor_certificates);
  id->device_id = SpkiSha1(id->certificate.get());
  return id;
}

BroadcastKeys::BroadcastKeys(store::KeyStore& store, const DeviceIdentity* identity)
    : store_(store), identity_(identity) {}

BroadcastKeys::~BroadcastKeys() = default;

LtkmOutcome BroadcastKeys::Ignore(std::map<std::string, std::uint64_t>& counter, std::string reason,
                                  std::string message) {
  ++counter[reason];
  LtkmOutcome o;
  o.reason = std::move(reason);
  o.message = std::move(message);
  return o;
}

LtkmOutcome BroadcastKeys::ProcessDrr(std::span<const std::uint8_t> message, std::time_t now) {
  ++counters_.drrs_received;
  auto& ignored = counters_.drrs_ignored;
  auto parsed = ParseDrr(message);
  if (!parsed) {
    const ParseError& e = parsed.error();
    return Ignore(ignored, "malformed",
                  "device_registration_response: " + e.message + " (field " + e.field +
                      ", offset " + std::to_string(e.offset) + ")");
  }
  if (identity_ == nullptr) {
    return Ignore(ignored, "no-device-identity", "spcd has no device key pair");
  }
  const DeviceRegistrationResponse& drr = *parsed;
  if (drr.device_id != identity_->device_id) {
    return Ignore(ignored, "other-device", "for device " + Hex(drr.device_id));
  }
  const Sha1Digest digest = Sha1(message);
  if (done_.count(digest)) return Ignore(ignored, "repeat", "already processed");
  const std::string ri = Hex(drr.ri_id);
  store::StoreError err;
  auto held = store_.FindRegistration(ri, &err);
  if (held && static_cast<std::int64_t>(drr.timestamp) < held->context.timestamp) {
    return Ignore(ignored, "older-response",
                  "timestamp " + std::to_string(drr.timestamp) + " is older than the " +
                      held->context.status + " registration with RI " + ri + " (" +
                      std::to_string(held->context.timestamp) + ")");
  }
  if (held && static_cast<std::int64_t>(drr.timestamp) == held->context.timestamp) {
    done_.insert(digest);
    return Ignore(ignored, "repeat", "registration with RI " + ri + " of this timestamp held");
  }
  auto verified =
      VerifyDrr(message, drr, identity_->anchors.get(), identity_->private_key.get(), now);
  if (!verified) {
    const LtkmFailure& f = verified.error();
    if (f.code == LtkmError::kDeviceRevoked || f.code == LtkmError::kUnknownDevice) {
      // Verified (chain and signature hold): the RI says this device is out.
      const char* status = f.code == LtkmError::kDeviceRevoked ? "revoked" : "unknown-device";
      if (!held) {
        store::Registration reg;
        reg.context.ri_id = ri;
        reg.context.source = "bcro";
        reg.context.device_id = Hex(drr.device_id);
        reg.context.timestamp = static_cast<std::int64_t>(drr.timestamp);
        reg.context.status = status;
        reg.context.certificates = drr.certificates;
        if (!store_.PutRegistration(reg, &err)) {
          return Ignore(ignored, "store-failed", err.message);
        }
      }
      std::vector<std::string> removed;
      if (!store_.WithdrawRegistration(ri, status, static_cast<std::int64_t>(drr.timestamp),
                                       &removed, &err)) {
        return Ignore(ignored, "store-failed", err.message);
      }
      ++counters_.drrs_accepted;
      ++counters_.registrations_withdrawn;
      done_.clear();  // withdrawn keys: earlier BCROs no longer count as installed
      done_.insert(digest);
      pending_.clear();
      LtkmOutcome o;
      o.accepted = true;
      o.reason = "withdrawn";
      o.message = "registration with RI " + ri + " " + status + " (timestamp " +
                  std::to_string(drr.timestamp) + "); " + std::to_string(removed.size()) +
                  " rights removed";
      o.content_ids = std::move(removed);
      if (on_rights_changed && !o.content_ids.empty()) on_rights_changed(o.content_ids);
      return o;
    }
    return Ignore(ignored, std::string(LtkmErrorName(f.code)), Describe(f));
  }
  store::Registration reg = FromMaterial(*verified);
  if (!store_.PutRegistration(reg, &err)) return Ignore(ignored, "store-failed", err.message);
  ++counters_.drrs_accepted;
  done_.insert(digest);
  LtkmOutcome o;
  o.accepted = true;
  o.reason = "accepted";
  std::string groups;
  for (const auto& g : verified->groups) {
    groups += (groups.empty() ? "" : ", ") + std::to_string(g.group_id) + "/" +
              std::to_string(g.key_generation);
  }
  o.message = "registration with RI " + ri + " (timestamp " + std::to_string(drr.timestamp) +
              (held ? ", replaces " + std::to_string(held->context.timestamp) : "") +
              "), groups/generations [" + groups + "]";
  RetryPending(now);
  return o;
}

void BroadcastKeys::RetryPending(std::time_t now) {
  std::deque<std::vector<std::uint8_t>> retry;
  retry.swap(pending_);
  // Retries are not new receptions: only what they install is counted.
  const auto ignored = counters_.bcros_ignored;
  for (const auto& m : retry) {
    // Not a new reception: keep the received count honest.
    --counters_.bcros_received;
    LtkmOutcome o = ProcessBcro(m, now);
    if (o.accepted) g_message("BCRO (retried after registration): %s", o.message.c_str());
  }
  counters_.bcros_ignored = ignored;
}

LtkmOutcome BroadcastKeys::ProcessBcro(std::span<const std::uint8_t> message, std::time_t now) {
  ++counters_.bcros_received;
  auto& ignored = counters_.bcros_ignored;
  auto parsed = ParseBcro(message);
  if (!parsed) {
    const ParseError& e = parsed.error();
    return Ignore(
        ignored, "malformed",
        "BCRO: " + e.message + " (field " + e.field + ", offset " + std::to_string(e.offset) + ")");
  }
  if (identity_ == nullptr) {
    return Ignore(ignored, "no-device-identity", "spcd has no device key pair");
  }
  const Bcro& b = *parsed;
  const Sha1Digest digest = Sha1(message);
  if (done_.count(digest)) return Ignore(ignored, "repeat", "BCRO " + b.ro_id + " installed");
  const std::string ri = Hex(b.ri_id);
  store::StoreError err;
  auto held = store_.FindRegistration(ri, &err);
  std::optional<RegistrationMaterial> material;
  if (held && held->context.status == "registered" && held->has_device_keys) {
    material = ToMaterial(*held);
  }
  auto opened = OpenBcro(message, b, material ? &*material : nullptr, identity_->device_id);
  if (!opened) {
    const LtkmFailure& f = opened.error();
    const bool group = b.address_mode == static_cast<std::uint8_t>(BcroAddressMode::kGroup);
    const bool for_want_of_keys =
        f.code == LtkmError::kUnknownRi ||
        (group && (f.code == LtkmError::kUnknownGeneration || f.code == LtkmError::kOtherGroup));
    if (for_want_of_keys) {
      if (std::find(pending_.begin(), pending_.end(),
                    std::vector<std::uint8_t>(message.begin(), message.end())) == pending_.end()) {
        pending_.emplace_back(message.begin(), message.end());
        if (pending_.size() > kMaxPending) pending_.pop_front();
      }
    }
    std::string text = Describe(f);
    if (f.code == LtkmError::kUnknownRi && held && held->context.status != "registered") {
      text += " (registration " + held->context.status + ")";
    }
    return Ignore(ignored, std::string(LtkmErrorName(f.code)), "BCRO " + b.ro_id + ": " + text);
  }
  LtkmEntry& e = *opened;
  if (e.not_after != 0 && static_cast<std::uint64_t>(now) > e.not_after) {
    return Ignore(
        ignored, "expired",
        "BCRO " + b.ro_id + " for " + e.content_id + " ended at " + std::to_string(e.not_after));
  }
  store::Rights r;
  r.content_id = e.content_id;
  r.key = e.key;
  r.key.key_domain_id = e.key_domain_id;
  r.not_before = static_cast<std::int64_t>(e.not_before);
  r.not_after = static_cast<std::int64_t>(e.not_after);
  r.play = (e.permissions & kPermissionPlay) != 0;
  r.record = (e.permissions & kPermissionRecord) != 0;
  r.source = "bcro";
  r.ro_id = e.ro_id;
  r.issuer = ri;
  r.ro_timestamp = static_cast<std::int64_t>(e.timestamp);
  store::InstallOutcome outcome{};
  if (!store_.InstallLtkm(r, &outcome, &err)) return Ignore(ignored, "store-failed", err.message);
  if (outcome == store::InstallOutcome::kReplay) {
    return Ignore(ignored, "replayed-ro-id",
                  "BCRO " + b.ro_id + " of timestamp " + std::to_string(b.timestamp) +
                      ": this RO ID was installed with a newer timestamp");
  }
  done_.insert(digest);
  if (outcome == store::InstallOutcome::kRepeat) {
    return Ignore(ignored, "repeat", "BCRO " + b.ro_id + " already installed");
  }
  ++counters_.bcros_installed;
  LtkmOutcome o;
  o.accepted = true;
  o.reason = "installed";
  char domain[16];
  g_snprintf(domain, sizeof domain, "%06x", e.key_domain_id);
  o.message = "BCRO " + b.ro_id + " installed rights for " + e.content_id + " (key domain " +
              domain + ", " +
              (b.address_mode == 0 ? "device"
                                   : "group " + std::to_string(b.group_id) + " generation " +
                                         std::to_string(b.key_generation)) +
              ")";
  o.content_ids = {e.content_id};
  if (on_rights_changed) on_rights_changed(o.content_ids);
  return o;
}

Result<unsigned, std::string> BroadcastKeys::AddService(const channels::SessionDescription& sd) {
  unsigned n = 0;
  for (const channels::LtkmStream& ls : sd.ltkm_streams) {
    ++n;
    const std::string key = std::string(channels::LtkmStreamFormat(ls.kind)) + "|" + ls.address +
                            "|" + std::to_string(ls.port);
    if (endpoints_.count(key)) continue;
    const channels::LtkmStreamKind kind = ls.kind;
    auto id = receiver_.Listen(ls.address, ls.port, [this, kind](std::span<const std::uint8_t> d) {
      const std::time_t now = static_cast<std::time_t>(g_get_real_time() / G_USEC_PER_SEC);
      LtkmOutcome o;
      if (kind == channels::LtkmStreamKind::kRegistration) {
        o = ProcessDrr(d, now);
        if (o.accepted) {
          g_message("device_registration_response %s: %s", o.reason.c_str(), o.message.c_str());
        } else if (o.reason != "repeat" && o.reason != "other-device") {
          g_message("device_registration_response ignored (%s): %s", o.reason.c_str(),
                    o.message.c_str());
        }
      } else if (kind == channels::LtkmStreamKind::kBcro) {
        o = ProcessBcro(d, now);
        if (o.accepted) {
          g_message("%s", o.message.c_str());
        } else if (o.reason != "repeat") {
          g_debug("BCRO ignored (%s): %s", o.reason.c_str(), o.message.c_str());
        }
      } else {
        ++counters_.triggers_received;
        if (on_trigger) on_trigger(d);
      }
    });
    if (!id) {
      return std::string(channels::LtkmStreamFormat(ls.kind)) + " stream " + ls.address + ":" +
             std::to_string(ls.port) + ": " + id.error();
    }
    endpoints_.insert(key);
    g_message("listening to the %s stream at %s:%u",
              std::string(channels::LtkmStreamFormat(ls.kind)).c_str(), ls.address.c_str(),
              ls.port);
  }
  if (n == 0) return std::string("the session description has no registration or BCRO stream");
  ++services_;
  return n;
}

std::string BroadcastKeys::WithdrawalNote() const {
  store::StoreError err;
  std::string note;
  for (const auto& c : store_.ListRiContexts(&err)) {
    if (c.source != "bcro" || c.status == "registered") continue;
    if (!note.empty()) note += "; ";
    note += "registration with RI " + c.ri_id + " " + c.status +
            " by a device_registration_response of " + std::to_string(c.timestamp);
  }
  return note;
}

}  // namespace spc::daemon
