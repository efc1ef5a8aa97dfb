// spcd: the SP-C daemon. Owns org.openbcast.SPC1 on the system bus (or the session bus / a given
// bus address for tests), keeps the long-term keys in the key store and answers STKMs with TEKs.
// Key bytes never reach a log line, and the process is not dumpable.
#include <gio/gio.h>
#include <glib-unix.h>
#include <openssl/crypto.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "channels/session_description.h"
#include "spc/daemon/broadcast_keys.h"
#include "spc/daemon/dbus_api.h"
#include "spc/daemon/fetch_api.h"
#include "spc/daemon/repeat_answerer.h"
#include "spc/daemon/rights_expiry.h"
#include "spc/daemon/roap_client.h"
#include "spc/daemon/secret_variant.h"
#include "spc/daemon/smartcard_backend.h"
#include "spc/daemon/spc-dbus-generated.h"
#include "spc/daemon/stkm_processor.h"
#include "spc/libspc/crypto.h"
#include "spc/libspc/hex.h"
#include "spc/store/key_import.h"
#include "spc/store/key_store.h"

namespace spc::daemon {
namespace {

constexpr char kVersion[] = "0.1.0";
constexpr char kSystemStorePath[] = "/var/lib/openbcast/spc.db";
constexpr std::int64_t kRightsMissingInterval = 60;  // s between two signals for one content ID

struct Daemon {
  GMainLoop* loop = nullptr;
  std::unique_ptr<store::KeyStore> store;
  std::unique_ptr<StkmProcessor> processor;
  SpcSPC1* skeleton = nullptr;
  int exit_code = 0;
  std::int64_t started = 0;
  std::map<std::string, std::int64_t> missing_signalled;
  // Broadcast-only key delivery (device_registration_response, BCRO).
  std::unique_ptr<DeviceIdentity> identity;
  std::unique_ptr<BroadcastKeys> broadcast;
  // Terminals with an interaction channel: ROAP registration and RO acquisition.
  std::unique_ptr<RoapClient> roap;
  // STKM fetching and key prefetch for zapping (fetch_api.h).
  std::unique_ptr<KeyPrefetch> keys;
  // Smartcard Profile (--smartcard): the card holds the long-term keys.
  std::unique_ptr<SmartcardBackend> smartcard;
  // RightsChanged when rights that answered an STKM run out (clients' answer caches).
  std::unique_ptr<RightsExpiry> expiry;
};

std::int64_t Now() { return g_get_real_time() / G_USEC_PER_SEC; }

void ReturnError(GDBusMethodInvocation* inv, Code code, const std::string& message) {
  g_dbus_method_invocation_return_error_literal(inv, SpcDaemonError(), static_cast<gint>(code),
                                                message.c_str());
}

gboolean HandleProcess(Daemon* d, SpcSPC1* object, GDBusMethodInvocation* inv, GVariant* stkm,
                       const gchar* base_cid, const gchar* purpose_name) {
  Purpose purpose;
  if (g_strcmp0(purpose_name, "play") == 0) {
    purpose = Purpose::kPlay;
  } else if (g_strcmp0(purpose_name, "record") == 0) {
    purpose = Purpose::kRecord;
  } else {
    ReturnError(
        inv, Code::kInvalidArgs,
        std::string("purpose must be \"play\" or \"record\", not \"") + purpose_name + "\"");
    return TRUE;
  }
  gsize n = 0;
  const auto* bytes = static_cast<const std::uint8_t*>(g_variant_get_fixed_array(stkm, &n, 1));
  auto result = d->processor->Process({bytes, n}, base_cid, purpose, Now());
  if (!result) {
    const Refusal& r = result.error();
    g_debug("STKM (%zu bytes, base CID %s, %s) refused: %s: %s", static_cast<std::size_t>(n),
            base_cid, purpose_name, ErrorName(r.code), r.message.c_str());
    if (r.code == Code::kNoRights && !r.content_id.empty()) {
      std::int64_t now = Now();
      auto& last = d->missing_signalled[r.content_id];
      if (last == 0 || now - last >= kRightsMissingInterval) {
        last = now;
        g_message("no rights for %s", r.content_id.c_str());
        spc_spc1_emit_rights_missing(object, r.content_id.c_str());
      }
      // Rate-limited inside: one acquisition at a time per content ID, a pause after a failure.
      if (d->roap) d->roap->OnRightsMissing(r.content_id);
    }
    if (r.code == Code::kNoRights && d->broadcast) {
      // A broadcast-only terminal whose registration was revoked says so with the refusal.
      std::string note = d->broadcast->WithdrawalNote();
      if (!note.empty()) {
        ReturnError(inv, r.code, r.message + "; " + note);
        return TRUE;
      }
    }
    ReturnError(inv, r.code, r.message);
    return TRUE;
  }
  const Answer& a = *result;
  if (d->keys) d->keys->Hold({bytes, n}, base_cid, a, "broadcast");
  if (d->expiry) d->expiry->Watch(a.content_id, a.rights_not_after);
  g_debug("STKM for %s (%s): TEK ID %u, lifetime %u s, protocol %u%s", a.content_id.c_str(),
          purpose_name, a.current.id, a.lifetime, a.protocol, a.next ? ", next TEK announced" : "");
  g_dbus_method_invocation_return_value(inv, ProcessStkmReply(a));
  return TRUE;
}

gboolean OnProcessStkm(SpcSPC1* object, GDBusMethodInvocation* inv, GVariant* stkm,
                       const gchar* base_cid, gpointer user_data) {
  return HandleProcess(static_cast<Daemon*>(user_data), object, inv, stkm, base_cid, "play");
}

gboolean OnProcessStkmFor(SpcSPC1* object, GDBusMethodInvocation* inv, GVariant* stkm,
                          const gchar* base_cid, const gchar* purpose, gpointer user_data) {
  return HandleProcess(static_cast<Daemon*>(user_data), object, inv, stkm, base_cid, purpose);
}

gboolean OnImportKeys(SpcSPC1* object, GDBusMethodInvocation* inv, const gchar* key_file,
                      gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  auto rights = store::ParseRightsFile(key_file);
  if (!rights) {
    const ParseError& e = rights.error();
    std::string msg = "key file: " + e.message;
    if (!e.field.empty()) msg += " (group [" + e.field + "]";
    if (!e.field.empty() && e.offset) msg += ", line " + std::to_string(e.offset);
    if (!e.field.empty()) msg += ")";
    g_message("ImportKeys refused: %s", msg.c_str());
    ReturnError(inv, Code::kInvalidKeyFile, msg);
    return TRUE;
  }
  store::StoreError err;
  if (!d->store->ImportRights(*rights, &err)) {
    g_warning("ImportKeys failed: %s", err.message.c_str());
    ReturnError(inv, Code::kFailed, "key store: " + err.message);
    return TRUE;
  }
  d->processor->InvalidateCache();
  g_autoptr(GPtrArray) ids = g_ptr_array_new();
  for (const auto& r : *rights) {
    g_message("imported rights for %s (key domain %06x, %s)", r.content_id.c_str(),
              r.key.key_domain_id, r.key.programme ? "programme" : "service");
    g_ptr_array_add(ids, const_cast<char*>(r.content_id.c_str()));
    d->missing_signalled.erase(r.content_id);
  }
  g_ptr_array_add(ids, nullptr);
  spc_spc1_complete_import_keys(object, inv, static_cast<guint>(rights->size()));
  spc_spc1_emit_rights_changed(object, reinterpret_cast<const gchar* const*>(ids->pdata));
  return TRUE;
}

void AddBroadcastStatus(Daemon* d, GVariantBuilder* b) {
  // A broadcast-only terminal makes no interaction-channel request: this stays 0 there.
  g_variant_builder_add(b, "{sv}", "interaction-requests",
                        g_variant_new_uint64(d->roap ? d->roap->channel().counters().requests : 0));
  g_variant_builder_add(
      b, "{sv}", "device-id",
      g_variant_new_string(d->identity ? HexEncode(d->identity->device_id).c_str() : ""));
  if (!d->broadcast) return;
  const BroadcastKeys::Counters& c = d->broadcast->counters();
  g_variant_builder_add(b, "{sv}", "broadcast-services",
                        g_variant_new_uint32(d->broadcast->services()));
  g_variant_builder_add(b, "{sv}", "broadcast-streams",
                        g_variant_new_uint32(static_cast<guint32>(d->broadcast->streams())));
  g_variant_builder_add(b, "{sv}", "broadcast-datagrams",
                        g_variant_new_uint64(d->broadcast->datagrams()));
  g_variant_builder_add(b, "{sv}", "drrs-received", g_variant_new_uint64(c.drrs_received));
  g_variant_builder_add(b, "{sv}", "drrs-accepted", g_variant_new_uint64(c.drrs_accepted));
  g_variant_builder_add(b, "{sv}", "registrations-withdrawn",
                        g_variant_new_uint64(c.registrations_withdrawn));
  g_variant_builder_add(b, "{sv}", "bcros-received", g_variant_new_uint64(c.bcros_received));
  g_variant_builder_add(b, "{sv}", "bcros-installed", g_variant_new_uint64(c.bcros_installed));
  g_variant_builder_add(b, "{sv}", "triggers-received", g_variant_new_uint64(c.triggers_received));
  GVariantBuilder ig;
  g_variant_builder_init(&ig, G_VARIANT_TYPE("a{st}"));
  for (const auto& [reason, n] : c.drrs_ignored) {
    g_variant_builder_add(&ig, "{st}", ("drr:" + reason).c_str(), static_cast<guint64>(n));
  }
  for (const auto& [reason, n] : c.bcros_ignored) {
    g_variant_builder_add(&ig, "{st}", ("bcro:" + reason).c_str(), static_cast<guint64>(n));
  }
  g_variant_builder_add(b, "{sv}", "ltkm-ignored", g_variant_builder_end(&ig));
}

gboolean OnAddBroadcastService(SpcSPC1* object, GDBusMethodInvocation* inv,
                               const gchar* description, gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  std::string_view text(description);
  auto sd = text.starts_with("v=") ? channels::ParseSessionDescription(text)
                                   : channels::LoadSessionDescription(description);
  if (!sd) {
    const ParseError& e = sd.error();
    ReturnError(inv, Code::kInvalidArgs,
                "session description: " + e.message + " (" + e.field + ", line " +
                    std::to_string(e.offset) + ")");
    return TRUE;
  }
  if (d->keys) d->keys->LearnService(*sd);
  auto added = d->broadcast->AddService(*sd);
  if (!added) {
    ReturnError(inv, Code::kInvalidArgs, added.error());
    return TRUE;
  }
  g_message("broadcast service \"%s\": %u LTKM streams", sd->session_name.c_str(), *added);
  spc_spc1_complete_add_broadcast_service(object, inv, *added);
  return TRUE;
}

gboolean OnDeviceData(SpcSPC1* object, GDBusMethodInvocation* inv, gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  if (!d->identity) {
    ReturnError(inv, Code::kFailed,
                "spcd has no device certificate (provision it with --device-cert/--device-key)");
    return TRUE;
  }
  // Public data only: the certificate. The private key never leaves spcd.
  std::vector<std::uint8_t> der = CertificateDer(d->identity->certificate.get());
  GVariant* cert = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, der.data(), der.size(), 1);
  spc_spc1_complete_device_data(object, inv, cert, HexEncode(d->identity->device_id).c_str());
  return TRUE;
}

gboolean OnListRiContexts(SpcSPC1* object, GDBusMethodInvocation* inv, gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  store::StoreError err;
  auto list = d->store->ListRiContexts(&err);
  if (!err.message.empty()) {
    ReturnError(inv, Code::kFailed, "key store: " + err.message);
    return TRUE;
  }
  GVariantBuilder b;
  g_variant_builder_init(&b, G_VARIANT_TYPE("a(sssxxs)"));
  for (const auto& c : list) {
    g_variant_builder_add(&b, "(sssxxs)", c.ri_id.c_str(), c.source.c_str(), c.status.c_str(),
                          static_cast<gint64>(c.timestamp), static_cast<gint64>(c.not_after),
                          c.url.c_str());
  }
  spc_spc1_complete_list_ri_contexts(object, inv, g_variant_builder_end(&b));
  return TRUE;
}

void AddRoapStatus(Daemon* d, GVariantBuilder* b) {
  if (!d->roap) return;
  const RoapClient::Counters& c = d->roap->counters();
  auto ri = d->roap->CurrentRi();
  g_variant_builder_add(b, "{sv}", "roap-state", g_variant_new_string(d->roap->state().c_str()));
  g_variant_builder_add(b, "{sv}", "roap-ri-id", g_variant_new_string(ri ? ri->ri_id.c_str() : ""));
  g_variant_builder_add(b, "{sv}", "roap-ri-url", g_variant_new_string(ri ? ri->url.c_str() : ""));
  g_variant_builder_add(b, "{sv}", "roap-registrations", g_variant_new_uint64(c.registrations));
  g_variant_builder_add(b, "{sv}", "roap-acquisitions", g_variant_new_uint64(c.acquisitions));
  g_variant_builder_add(b, "{sv}", "roap-ros-installed", g_variant_new_uint64(c.ros_installed));
  g_variant_builder_add(b, "{sv}", "roap-triggers", g_variant_new_uint64(c.triggers));
  g_variant_builder_add(b, "{sv}", "roap-failures", g_variant_new_uint64(c.failures));
  g_variant_builder_add(b, "{sv}", "roap-auto-acquisitions",
                        g_variant_new_uint64(c.auto_acquisitions));
  g_variant_builder_add(b, "{sv}", "roap-last-error", g_variant_new_string(c.last_error.c_str()));
  g_variant_builder_add(b, "{sv}", "auto-acquire",
                        g_variant_new_boolean(d->roap->options().auto_acquire));
}

void ReturnRoapError(GDBusMethodInvocation* inv, const RoapFailure& f) {
  g_dbus_method_invocation_return_dbus_error(inv, f.dbus_name.c_str(), f.message.c_str());
}

// The ROAP methods answer when the exchange with the RI is over; the main loop runs meanwhile.
gboolean OnRegister(SpcSPC1* object, GDBusMethodInvocation* inv, const gchar* ri_url,
                    gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  d->roap->Register(ri_url, [object, inv](Result<std::string, RoapFailure> r) {
    if (!r) return ReturnRoapError(inv, r.error());
    spc_spc1_complete_register(object, inv, r->c_str());
  });
  return TRUE;
}

gboolean OnAcquireRights(SpcSPC1* object, GDBusMethodInvocation* inv, const gchar* const* cids,
                         gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  std::vector<std::string> ids;
  for (const gchar* const* c = cids; c && *c; ++c) ids.emplace_back(*c);
  d->roap->Acquire(ids, {}, {}, [object, inv](Result<std::vector<std::string>, RoapFailure> r) {
    if (!r) return ReturnRoapError(inv, r.error());
    std::vector<const gchar*> v;
    for (const auto& id : *r) v.push_back(id.c_str());
    v.push_back(nullptr);
    spc_spc1_complete_acquire_rights(object, inv, v.data());
  });
  return TRUE;
}

gboolean OnHandleTrigger(SpcSPC1* object, GDBusMethodInvocation* inv, GVariant* trigger,
                         gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  gsize n = 0;
  const auto* bytes = static_cast<const std::uint8_t*>(g_variant_get_fixed_array(trigger, &n, 1));
  d->roap->HandleTrigger({bytes, n}, [object, inv](Result<std::string, RoapFailure> r) {
    if (!r) return ReturnRoapError(inv, r.error());
    spc_spc1_complete_handle_trigger(object, inv, r->c_str());
  });
  return TRUE;
}

void AddSmartcardStatus(Daemon* d, GVariantBuilder* b);

gboolean OnStatus(SpcSPC1* object, GDBusMethodInvocation* inv, gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  store::StoreError err;
  const Counters& c = d->processor->counters();
  GVariantBuilder b;
  g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add(&b, "{sv}", "version", g_variant_new_string(kVersion));
  g_variant_builder_add(&b, "{sv}", "key-store", g_variant_new_string(d->store->path().c_str()));
  g_variant_builder_add(&b, "{sv}", "schema-version",
                        g_variant_new_uint32(d->store->schema_version()));
  g_variant_builder_add(&b, "{sv}", "rights",
                        g_variant_new_uint32(static_cast<guint32>(d->store->CountRights(&err))));
  g_variant_builder_add(&b, "{sv}", "parental-rating",
                        g_variant_new_byte(d->processor->settings().parental_max_age));
  g_variant_builder_add(
      &b, "{sv}", "replay-tolerance",
      g_variant_new_uint32(static_cast<guint32>(d->processor->settings().replay_tolerance)));
  g_variant_builder_add(&b, "{sv}", "stkms-processed", g_variant_new_uint64(c.processed));
  g_variant_builder_add(&b, "{sv}", "stkms-cached", g_variant_new_uint64(c.cached));
  g_variant_builder_add(&b, "{sv}", "stkms-rejected", g_variant_new_uint64(c.rejected));
  g_variant_builder_add(&b, "{sv}", "stkms-bad-mac", g_variant_new_uint64(c.bad_mac));
  g_variant_builder_add(&b, "{sv}", "uptime",
                        g_variant_new_uint64(static_cast<guint64>(Now() - d->started)));
  AddBroadcastStatus(d, &b);
  AddRoapStatus(d, &b);
  AddFetchStatus(d->keys.get(), &b);
  AddSmartcardStatus(d, &b);
  spc_spc1_complete_status(object, inv, g_variant_builder_end(&b));
  return TRUE;
}

gboolean OnListRights(SpcSPC1* object, GDBusMethodInvocation* inv, gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  store::StoreError err;
  std::vector<store::Rights> rows = d->store->List(&err);
  if (!err.message.empty()) {
    ReturnError(inv, Code::kFailed, "key store: " + err.message);
    return TRUE;
  }
  GVariantBuilder b;
  g_variant_builder_init(&b, G_VARIANT_TYPE("a(susxxbbs)"));
  for (const auto& r : rows) {
    g_variant_builder_add(&b, "(susxxbbs)", r.content_id.c_str(), r.key.key_domain_id,
                          r.key.programme ? "programme" : "service",
                          static_cast<gint64>(r.not_before), static_cast<gint64>(r.not_after),
                          r.play, r.record, r.source.c_str());
  }
  spc_spc1_complete_list_rights(object, inv, g_variant_builder_end(&b));
  return TRUE;
}

gboolean OnSetParentalRating(SpcSPC1* object, GDBusMethodInvocation* inv, guchar max_age,
                             gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  d->processor->set_parental_max_age(max_age);
  g_message("parental rating setting: %u", max_age);
  spc_spc1_complete_set_parental_rating(object, inv);
  // Every answer a client keeps may change with the setting: an empty list names them all.
  const gchar* const none[] = {nullptr};
  spc_spc1_emit_rights_changed(object, none);
  return TRUE;
}

gboolean OnProcessMtk(SpcSPC1* object, GDBusMethodInvocation* inv, GVariant* message,
                      const gchar* base_cid, GVariant* service, gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  auto fail = [inv](const SmartcardFailure& f) {
    g_dbus_method_invocation_return_dbus_error(inv, f.dbus_name().c_str(), f.message.c_str());
  };
  if (!d->smartcard) {
    fail({"NotSmartcard", "spcd runs without --smartcard"});
    return TRUE;
  }
  std::map<std::string, std::string> dict;
  GVariantIter it;
  g_variant_iter_init(&it, service);
  const gchar* k = nullptr;
  const gchar* v = nullptr;
  while (g_variant_iter_next(&it, "{&s&s}", &k, &v)) dict[k] = v;
  auto svc = ParseSmartcardService(dict);
  if (!svc) {
    fail({"InvalidArgs", "service: " + svc.error()});
    return TRUE;
  }
  svc->service_id = base_cid;  // the MBMS user service registered to before MSK requests
  gsize n = 0;
  const auto* bytes = static_cast<const std::uint8_t*>(g_variant_get_fixed_array(message, &n, 1));
  g_debug("MTK message (%zu bytes) for %s", static_cast<std::size_t>(n), base_cid);
  d->smartcard->ProcessMtk(
      std::vector<std::uint8_t>(bytes, bytes + n), *svc,
      [object, inv, fail](Result<MtkAnswer, SmartcardFailure> r) {
        if (!r) return fail(r.error());
        const MtkAnswer& a = *r;
        GVariant* mki =
            g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, a.mki.data(), a.mki.size(), 1);
        spc_spc1_complete_process_mtk(object, inv, mki, SecretBytes(a.tek.data(), a.tek.size()),
                                      SecretBytes(a.salt.data(), a.salt.size()), a.msk_id, a.mtk_id,
                                      a.lifetime, a.protocol, a.authenticated);
      });
  return TRUE;
}

void AddSmartcardStatus(Daemon* d, GVariantBuilder* b) {
  g_variant_builder_add(b, "{sv}", "smartcard", g_variant_new_boolean(d->smartcard != nullptr));
  if (!d->smartcard) return;
  const SmartcardBackend& sc = *d->smartcard;
  const SmartcardBackend::Counters& c = sc.counters();
  g_variant_builder_add(b, "{sv}", "card-present", g_variant_new_boolean(sc.card_present()));
  g_variant_builder_add(b, "{sv}", "card-reader", g_variant_new_string(sc.reader().c_str()));
  g_variant_builder_add(b, "{sv}", "card-btid", g_variant_new_string(sc.btid().c_str()));
  GVariantBuilder ids;
  g_variant_builder_init(&ids, G_VARIANT_TYPE("as"));
  for (const auto& id : sc.MskIds()) g_variant_builder_add(&ids, "s", id.c_str());
  g_variant_builder_add(b, "{sv}", "card-msks", g_variant_builder_end(&ids));
  GVariantBuilder reg;
  g_variant_builder_init(&reg, G_VARIANT_TYPE("as"));
  for (const auto& id : sc.RegisteredServices()) g_variant_builder_add(&reg, "s", id.c_str());
  g_variant_builder_add(b, "{sv}", "card-registered", g_variant_builder_end(&reg));
  g_variant_builder_add(b, "{sv}", "card-mtks", g_variant_new_uint64(c.mtks));
  g_variant_builder_add(b, "{sv}", "card-bootstraps", g_variant_new_uint64(c.bootstraps));
  g_variant_builder_add(b, "{sv}", "card-msk-requests", g_variant_new_uint64(c.msk_requests));
  GVariantBuilder ref;
  g_variant_builder_init(&ref, G_VARIANT_TYPE("a{st}"));
  for (const auto& [name, n] : c.refusals) {
    g_variant_builder_add(&ref, "{st}", name.c_str(), static_cast<guint64>(n));
  }
  g_variant_builder_add(b, "{sv}", "card-refusals", g_variant_builder_end(&ref));
}

// --smartcard[=READER]: the option's optional value.
std::optional<std::string> g_smartcard_reader;

gboolean OnSmartcardOption(const gchar*, const gchar* value, gpointer, GError**) {
  g_smartcard_reader = value ? value : "";
  return TRUE;
}

void OnNameAcquired(GDBusConnection*, const gchar* name, gpointer) {
  g_message("owns %s; ready", name);
}

void OnNameLost(GDBusConnection* conn, const gchar* name, gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  g_warning("%s %s", conn ? "lost or could not own" : "no bus connection for", name);
  d->exit_code = 1;
  g_main_loop_quit(d->loop);
}

void OnClosed(GDBusConnection*, gboolean, GError* error, gpointer user_data) {
  auto* d = static_cast<Daemon*>(user_data);
  g_message("bus connection closed%s%s", error ? ": " : "", error ? error->message : "");
  g_main_loop_quit(d->loop);
}

gboolean OnSignal(gpointer user_data) {
  g_main_loop_quit(static_cast<Daemon*>(user_data)->loop);
  return G_SOURCE_CONTINUE;
}

int Run(int argc, char** argv) {
  // Key material lives in this process: no core dumps, no ptrace by other users.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  spc::KeepOpensslStateUntilExit();

  gboolean session = FALSE;
  gboolean replace = FALSE;
  gboolean version = FALSE;
  g_autofree gchar* bus_address = nullptr;
  g_autofree gchar* store_path = nullptr;
  gint parental = 255;
  gint tolerance = 60;
  g_autofree gchar* device_cert = nullptr;
  g_autofree gchar* device_key = nullptr;
  g_autofree gchar* trust_anchors = nullptr;
  g_auto(GStrv) services = nullptr;
  gboolean no_auto_acquire = FALSE;
  gint http_timeout = 10000;
  gint http_attempts = 4;
  gint http_backoff = 250;
  g_autofree gchar* smartcard_impi = nullptr;
  g_autofree gchar* smartcard_bsf = nullptr;
  GOptionEntry entries[] = {
      {"session", 0, 0, G_OPTION_ARG_NONE, &session, "Use the session bus", nullptr},
      {"bus-address", 0, 0, G_OPTION_ARG_STRING, &bus_address, "Use the bus at ADDR", "ADDR"},
      {"store", 0, 0, G_OPTION_ARG_FILENAME, &store_path,
       "Key store file (default /var/lib/openbcast/spc.db; with --session "
       "$XDG_DATA_HOME/openbcast/spc.db)",
       "PATH"},
      {"parental-rating", 0, 0, G_OPTION_ARG_INT, &parental,
       "Highest minimum age allowed (0-255, 255 = no limit)", "AGE"},
      {"replay-tolerance", 0, 0, G_OPTION_ARG_INT, &tolerance,
       "Seconds an STKM may be older than the newest accepted (default 60)", "S"},
      {"device-cert", 0, 0, G_OPTION_ARG_FILENAME, &device_cert,
       "Provision the device certificate (PEM/DER; kept in the store's folder)", "FILE"},
      {"device-key", 0, 0, G_OPTION_ARG_FILENAME, &device_key,
       "Provision the device private key (kept 0600 in the store's folder)", "FILE"},
      {"trust-anchors", 0, 0, G_OPTION_ARG_FILENAME, &trust_anchors,
       "Provision the trust anchors of the Rights Issuers (PEM bundle)", "FILE"},
      {"service", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &services,
       "Listen to the registration/BCRO/trigger streams of this session description (repeat)",
       "SDP"},
      {"no-auto-acquire", 0, 0, G_OPTION_ARG_NONE, &no_auto_acquire,
       "Do not acquire missing rights by ROAP when an STKM names them", nullptr},
      {"interaction-timeout", 0, 0, G_OPTION_ARG_INT, &http_timeout,
       "Interaction channel: timeout of one HTTP attempt (default 10000)", "MS"},
      {"interaction-attempts", 0, 0, G_OPTION_ARG_INT, &http_attempts,
       "Interaction channel: attempts per request on network errors and 5xx (default 4)", "N"},
      {"interaction-backoff", 0, 0, G_OPTION_ARG_INT, &http_backoff,
       "Interaction channel: first retry delay, doubled per retry, with jitter (default 250)",
       "MS"},
      {"smartcard", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK,
       reinterpret_cast<gpointer>(OnSmartcardOption),
       "Smartcard Profile: keys on the (U)SIM in the PC/SC reader whose name contains READER "
       "(default: any reader)",
       "[=READER]"},
      {"smartcard-impi", 0, 0, G_OPTION_ARG_STRING, &smartcard_impi,
       "Smartcard Profile: IMPI for GBA bootstrapping", "IMPI"},
      {"smartcard-bsf", 0, 0, G_OPTION_ARG_STRING, &smartcard_bsf,
       "Smartcard Profile: BSF URL used before a service names one", "URL"},
      {"replace", 0, 0, G_OPTION_ARG_NONE, &replace, "Replace a running spcd", nullptr},
      {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", nullptr},
      {},
  };
  g_autoptr(GOptionContext) octx = g_option_context_new("- OMA BCAST SP-C daemon");
  g_option_context_add_main_entries(octx, entries, nullptr);
  FetchOptions fetch_options;
  g_option_context_add_group(octx, MakeFetchOptionGroup(&fetch_options));
  g_autoptr(GError) error = nullptr;
  if (!g_option_context_parse(octx, &argc, &argv, &error)) {
    std::fprintf(stderr, "spcd: %s\n", error->message);
    return 2;
  }
  if (version) {
    std::printf("spcd %s\n", kVersion);
    return 0;
  }
  if (parental < 0 || parental > 255 || tolerance < 0) {
    std::fprintf(stderr, "spcd: --parental-rating must be 0-255, --replay-tolerance >= 0\n");
    return 2;
  }
  if (http_timeout < 1 || http_attempts < 1 || http_backoff < 0) {
    std::fprintf(stderr,
                 "spcd: --interaction-timeout and --interaction-attempts must be >= 1, "
                 "--interaction-backoff >= 0\n");
    return 2;
  }

  std::string path;
  if (store_path) {
    path = store_path;
  } else if (session || bus_address) {
    g_autofree gchar* dir = g_build_filename(g_get_user_data_dir(), "openbcast", nullptr);
    g_mkdir_with_parents(dir, 0700);
    g_autofree gchar* p = g_build_filename(dir, "spc.db", nullptr);
    path = p;
  } else {
    g_mkdir_with_parents("/var/lib/openbcast", 0700);
    path = kSystemStorePath;
  }

  Daemon d;
  d.started = Now();
  store::StoreError serr;
  d.store = store::KeyStore::Open(path, &serr);
  if (!d.store) {
    std::fprintf(stderr, "spcd: key store %s: %s\n", path.c_str(), serr.message.c_str());
    return 1;
  }
  Settings settings;
  settings.parental_max_age = static_cast<std::uint8_t>(parental);
  settings.replay_tolerance = tolerance;
  settings.defer_replay_writes = true;
  d.processor = std::make_unique<StkmProcessor>(*d.store, settings);
  {
    g_autofree gchar* state_dir = g_path_get_dirname(path.c_str());
    std::string ierr;
    d.identity =
        LoadDeviceIdentity(state_dir, device_cert ? device_cert : "", device_key ? device_key : "",
                           trust_anchors ? trust_anchors : "", &ierr);
    if (!ierr.empty()) {
      std::fprintf(stderr, "spcd: device identity: %s\n", ierr.c_str());
      return 1;
    }
    if (d.identity) {
      g_message("device ID %s", HexEncode(d.identity->device_id).c_str());
    }
  }
  d.expiry = std::make_unique<RightsExpiry>([&d](const std::vector<std::string>& ids) {
    std::vector<const gchar*> v;
    for (const auto& id : ids) v.push_back(id.c_str());
    v.push_back(nullptr);
    if (d.skeleton) spc_spc1_emit_rights_changed(d.skeleton, v.data());
  });
  d.broadcast = std::make_unique<BroadcastKeys>(*d.store, d.identity.get());
  d.broadcast->on_rights_changed = [&d](const std::vector<std::string>& ids) {
    d.processor->InvalidateCache();
    std::vector<const gchar*> v;
    for (const auto& id : ids) {
      d.missing_signalled.erase(id);
      v.push_back(id.c_str());
    }
    v.push_back(nullptr);
    if (d.skeleton) spc_spc1_emit_rights_changed(d.skeleton, v.data());
  };
  {
    RoapClient::Options ro;
    ro.auto_acquire = !no_auto_acquire;
    ro.http.timeout_ms = static_cast<unsigned>(http_timeout);
    ro.http.max_attempts = static_cast<unsigned>(http_attempts);
    ro.http.backoff_initial_ms = static_cast<unsigned>(http_backoff);
    ro.http.backoff_max_ms = std::max(8000u, ro.http.backoff_initial_ms);
    d.roap = std::make_unique<RoapClient>(*d.store, d.identity.get(), ro);
    d.roap->on_rights_changed = d.broadcast->on_rights_changed;
    d.roap->on_failure = [&d](const std::string& operation, const RoapFailure& f) {
      if (d.skeleton) {
        spc_spc1_emit_roap_failed(d.skeleton, operation.c_str(), f.dbus_name.c_str(),
                                  f.message.c_str());
      }
    };
    // Triggers from the broadcast trigger stream (each datagram one trigger).
    d.broadcast->on_trigger = [&d](std::span<const std::uint8_t> trigger) {
      d.roap->HandleTrigger(trigger, [&d](Result<std::string, RoapFailure> r) {
        if (r) {
          g_message("ROAP trigger: %s", r->c_str());
        } else if (d.roap->on_failure) {
          d.roap->on_failure("trigger", r.error());
        }
      });
    };
  }
  if (g_smartcard_reader) {
    SmartcardOptions so;
    so.reader_filter = *g_smartcard_reader;
    if (smartcard_impi) so.impi = smartcard_impi;
    if (smartcard_bsf) so.default_bsf_url = smartcard_bsf;
    so.http.timeout_ms = static_cast<unsigned>(http_timeout);
    so.http.max_attempts = static_cast<unsigned>(http_attempts);
    so.http.backoff_initial_ms = static_cast<unsigned>(http_backoff);
    so.http.backoff_max_ms = std::max(8000u, so.http.backoff_initial_ms);
    d.smartcard = std::make_unique<SmartcardBackend>(so);
    d.smartcard->on_card_changed = [&d](bool present, const std::string& reader) {
      if (d.skeleton) spc_spc1_emit_card_changed(d.skeleton, present, reader.c_str());
    };
    g_message("smartcard backend: reader %s, IMPI %s",
              so.reader_filter.empty() ? "(any)" : so.reader_filter.c_str(), so.impi.c_str());
  }
  {
    std::string ferr;
    d.keys = MakeKeyPrefetch(*d.processor, fetch_options, d.roap->options().http, &ferr);
    if (!d.keys) {
      std::fprintf(stderr, "spcd: %s\n", ferr.c_str());
      return 2;
    }
  }
  for (gchar** s = services; s && *s; ++s) {
    auto sd = channels::LoadSessionDescription(*s);
    if (!sd) {
      std::fprintf(stderr, "spcd: --service %s: %s (%s, line %zu)\n", *s,
                   sd.error().message.c_str(), sd.error().field.c_str(), sd.error().offset);
      return 1;
    }
    if (d.keys) d.keys->LearnService(*sd);
    auto added = d.broadcast->AddService(*sd);
    if (!added) {
      std::fprintf(stderr, "spcd: --service %s: %s\n", *s, added.error().c_str());
      return 1;
    }
  }
  SpcDaemonError();  // register the D-Bus error names before the first call

  g_autoptr(GDBusConnection) conn = nullptr;
  if (bus_address) {
    conn = g_dbus_connection_new_for_address_sync(
        bus_address,
        static_cast<GDBusConnectionFlags>(G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                          G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION),
        nullptr, nullptr, &error);
  } else {
    conn = g_bus_get_sync(session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, nullptr, &error);
  }
  if (!conn) {
    std::fprintf(stderr, "spcd: cannot connect to the bus: %s\n", error->message);
    return 1;
  }
  g_dbus_connection_set_exit_on_close(conn, FALSE);

  d.loop = g_main_loop_new(nullptr, FALSE);
  // Before the name is visible on the bus: whoever sees the name may already send SIGTERM.
  g_unix_signal_add(SIGTERM, OnSignal, &d);
  g_unix_signal_add(SIGINT, OnSignal, &d);
  g_autoptr(SpcSPC1) skeleton = spc_spc1_skeleton_new();
  d.skeleton = skeleton;
  g_signal_connect(skeleton, "handle-process-stkm", G_CALLBACK(OnProcessStkm), &d);
  g_signal_connect(skeleton, "handle-process-stkm-for", G_CALLBACK(OnProcessStkmFor), &d);
  g_signal_connect(skeleton, "handle-import-keys", G_CALLBACK(OnImportKeys), &d);
  g_signal_connect(skeleton, "handle-status", G_CALLBACK(OnStatus), &d);
  g_signal_connect(skeleton, "handle-list-rights", G_CALLBACK(OnListRights), &d);
  g_signal_connect(skeleton, "handle-set-parental-rating", G_CALLBACK(OnSetParentalRating), &d);
  g_signal_connect(skeleton, "handle-add-broadcast-service", G_CALLBACK(OnAddBroadcastService), &d);
  g_signal_connect(skeleton, "handle-device-data", G_CALLBACK(OnDeviceData), &d);
  g_signal_connect(skeleton, "handle-list-ri-contexts", G_CALLBACK(OnListRiContexts), &d);
  g_signal_connect(skeleton, "handle-register", G_CALLBACK(OnRegister), &d);
  g_signal_connect(skeleton, "handle-acquire-rights", G_CALLBACK(OnAcquireRights), &d);
  g_signal_connect(skeleton, "handle-handle-trigger", G_CALLBACK(OnHandleTrigger), &d);
  ConnectFetchApi(skeleton, d.keys.get());
  g_signal_connect(skeleton, "handle-process-mtk", G_CALLBACK(OnProcessMtk), &d);
  // Repeats answered on GDBus's worker thread (repeat_answerer.h); key prefetch still sees them.
  auto repeats = std::make_unique<RepeatAnswerer>(
      conn, *d.processor,
      [&d](std::span<const std::uint8_t> stkm, const std::string& base_cid, const Answer& a) {
        if (d.keys) d.keys->Hold(stkm, base_cid, a, "broadcast");
      });
  if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(skeleton), conn, kObjectPath,
                                        &error)) {
    std::fprintf(stderr, "spcd: cannot export %s: %s\n", kObjectPath, error->message);
    return 1;
  }
  g_signal_connect(conn, "closed", G_CALLBACK(OnClosed), &d);
  // A newer spcd started with --replace takes over (upgrade); this one then exits.
  int own_flags = G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT;
  if (replace) own_flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
  guint owner =
      g_bus_own_name_on_connection(conn, kBusName, static_cast<GBusNameOwnerFlags>(own_flags),
                                   OnNameAcquired, OnNameLost, &d, nullptr);
  g_message("spcd %s: key store %s (schema %d), parental rating %d, replay tolerance %d s",
            kVersion, path.c_str(), d.store->schema_version(), parental, tolerance);

  g_main_loop_run(d.loop);

  g_bus_unown_name(owner);
  g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(skeleton));
  repeats.reset();
  g_dbus_connection_flush_sync(conn, nullptr, nullptr);
  d.smartcard.reset();
  g_main_loop_unref(d.loop);
  d.keys.reset();
  d.roap.reset();
  d.broadcast.reset();
  d.expiry.reset();
  d.processor.reset();
  d.store.reset();
  return d.exit_code;
}

}  // namespace
}  // namespace spc::daemon

int main(int argc, char** argv) { return spc::daemon::Run(argc, argv); }
