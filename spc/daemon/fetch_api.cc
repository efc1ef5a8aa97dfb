#include "spc/daemon/fetch_api.h"
#include "spc/daemon/secret_variant.h"

#include <cstring>
#include <vector>

namespace spc::daemon {
namespace {

void ReturnFailure(GDBusMethodInvocation* inv, const FetchFailure& f) {
  g_dbus_method_invocation_return_dbus_error(inv, f.dbus_name.c_str(), f.message.c_str());
}

gboolean OnFetchStkm(SpcSPC1* object, GDBusMethodInvocation* inv, const gchar* base_cid,
                     const gchar* key_domain, gpointer user_data) {
  auto* keys = static_cast<KeyPrefetch*>(user_data);
  g_object_ref(object);
  keys->Fetch(base_cid, key_domain, "fetch", [object, inv](Result<FetchOutcome, FetchFailure> r) {
    if (!r) {
      ReturnFailure(inv, r.error());
    } else {
      GVariant* ids = g_variant_new_fixed_array(G_VARIANT_TYPE_UINT16, r->tek_ids.data(),
                                                r->tek_ids.size(), sizeof(std::uint16_t));
      spc_spc1_complete_fetch_stkm(object, inv, r->accepted, ids);
    }
    g_object_unref(object);
  });
  return TRUE;
}

gboolean OnSetChannelList(SpcSPC1* object, GDBusMethodInvocation* inv, const gchar* const* sdps,
                          gint current, gpointer user_data) {
  auto* keys = static_cast<KeyPrefetch*>(user_data);
  std::vector<std::string> list;
  for (const gchar* const* s = sdps; s && *s; ++s) list.emplace_back(*s);
  auto r = keys->SetChannelList(list, current);
  if (!r) {
    ReturnFailure(inv, {std::string(kErrorPrefix) + "InvalidArgs", r.error()});
    return TRUE;
  }
  spc_spc1_complete_set_channel_list(object, inv);
  return TRUE;
}

gboolean OnHeldTeks(SpcSPC1* object, GDBusMethodInvocation* inv, const gchar* base_cid,
                    const gchar* purpose_name, gpointer user_data) {
  auto* keys = static_cast<KeyPrefetch*>(user_data);
  Purpose purpose;
  if (g_strcmp0(purpose_name, "play") == 0) {
    purpose = Purpose::kPlay;
  } else if (g_strcmp0(purpose_name, "record") == 0) {
    purpose = Purpose::kRecord;
  } else {
    ReturnFailure(
        inv, {std::string(kErrorPrefix) + "InvalidArgs",
              std::string("purpose must be \"play\" or \"record\", not \"") + purpose_name + "\""});
    return TRUE;
  }
  auto r = keys->Held(base_cid, purpose);
  if (!r) {
    ReturnFailure(inv, r.error());
    return TRUE;
  }
  GVariantBuilder b;
  g_variant_builder_init(&b, G_VARIANT_TYPE("a(qayayqy)"));
  for (const HeldTek& t : *r) {
    const auto protocol =
        static_cast<guchar>((t.protocol & 0x07) | (t.authenticated ? 0x80 : 0x00));
    g_variant_builder_add(&b, "(q@ay@ayqy)", t.id, SecretBytes(t.key.data(), t.key.size()),
                          SecretBytes(t.salt.data(), t.salt.size()), t.lifetime, protocol);
  }
  g_debug("HeldTeks %s (%s): %zu TEKs", base_cid, purpose_name, r->size());
  spc_spc1_complete_held_teks(object, inv, g_variant_builder_end(&b));
  return TRUE;
}

}  // namespace

GOptionGroup* MakeFetchOptionGroup(FetchOptions* o) {
  struct Storage {
    gchar* prefetch = nullptr;
    gchar* stkm_url = nullptr;
    gint fetch_after = -1;
    FetchOptions* options = nullptr;
  };
  auto* s = g_new0(Storage, 1);
  s->fetch_after = -1;
  s->options = o;
  GOptionEntry entries[] = {
      {"prefetch", 0, 0, G_OPTION_ARG_STRING, &s->prefetch,
       "TEKs kept for the channel list (SetChannelList): neighbours (±1, default), all, off",
       "MODE"},
      {"fetch-after", 0, 0, G_OPTION_ARG_INT, &s->fetch_after,
       "prefetch: fetch a service's STKMs when its key stream brought no valid STKM for MS "
       "(default 2000)",
       "MS"},
      {"stkm-url", 0, 0, G_OPTION_ARG_STRING, &s->stkm_url,
       "STKM fetch URL for services whose session description names none", "URL"},
      {},
  };
  GOptionGroup* group = g_option_group_new(
      "fetch", "STKM fetching and key prefetch:", "Show the STKM fetch options", s, [](gpointer p) {
        auto* st = static_cast<Storage*>(p);
        g_free(st->prefetch);
        g_free(st->stkm_url);
        g_free(st);
      });
  g_option_group_add_entries(group, entries);
  g_option_group_set_parse_hooks(
      group, nullptr, [](GOptionContext*, GOptionGroup*, gpointer p, GError**) -> gboolean {
        auto* st = static_cast<Storage*>(p);
        if (st->prefetch) st->options->prefetch = st->prefetch;
        if (st->stkm_url) st->options->stkm_url = st->stkm_url;
        if (st->fetch_after >= 0) st->options->fetch_after_ms = st->fetch_after;
        return TRUE;
      });
  return group;
}

std::unique_ptr<KeyPrefetch> MakeKeyPrefetch(StkmProcessor& processor, const FetchOptions& options,
                                             const channels::InteractionOptions& http,
                                             std::string* error) {
  auto mode = ParsePrefetchMode(options.prefetch);
  if (!mode) {
    *error = "--prefetch must be neighbours, all or off, not " + options.prefetch;
    return nullptr;
  }
  if (options.fetch_after_ms < 100) {
    *error = "--fetch-after must be >= 100 ms";
    return nullptr;
  }
  KeyPrefetch::Options o;
  o.mode = *mode;
  o.fetch_after_ms = static_cast<unsigned>(options.fetch_after_ms);
  o.default_stkm_url = options.stkm_url;
  o.http = http;
  return std::make_unique<KeyPrefetch>(processor, std::move(o));
}

void ConnectFetchApi(SpcSPC1* skeleton, KeyPrefetch* keys) {
  g_signal_connect(skeleton, "handle-fetch-stkm", G_CALLBACK(OnFetchStkm), keys);
  g_signal_connect(skeleton, "handle-set-channel-list", G_CALLBACK(OnSetChannelList), keys);
  g_signal_connect(skeleton, "handle-held-teks", G_CALLBACK(OnHeldTeks), keys);
  keys->on_teks_held = [skeleton](const std::string& base_cid, std::uint16_t tek_id,
                                  const std::string& source) {
    g_message("TEK %u of %s held (%s)", tek_id, base_cid.c_str(), source.c_str());
    spc_spc1_emit_teks_held(skeleton, base_cid.c_str(), tek_id, source.c_str());
  };
}

void AddFetchStatus(const KeyPrefetch* keys, GVariantBuilder* b) {
  if (keys == nullptr) return;
  const KeyPrefetch::Counters& c = keys->counters();
  const auto& http = keys->fetcher().http();
  auto t = [b](const char* name, std::uint64_t v) {
    g_variant_builder_add(b, "{sv}", name, g_variant_new_uint64(v));
  };
  t("fetch-requests", c.fetch_requests);
  t("fetch-stkms-accepted", c.fetched_accepted);
  t("fetch-stkms-refused", c.fetched_refused);
  t("fetch-errors", c.fetch_errors);
  t("fetch-http-attempts", http.attempts);
  t("fetch-http-retries", http.retries);
  g_variant_builder_add(b, "{sv}", "fetch-last-error", g_variant_new_string(c.last_error.c_str()));
  g_variant_builder_add(b, "{sv}", "prefetch-mode",
                        g_variant_new_string(PrefetchModeName(keys->options().mode)));
  g_variant_builder_add(b, "{sv}", "prefetch-fetch-after",
                        g_variant_new_uint32(keys->options().fetch_after_ms));
  g_variant_builder_add(b, "{sv}", "prefetch-watched", g_variant_new_uint32(keys->watched()));
  t("prefetch-datagrams", c.prefetch_datagrams);
  t("prefetch-stkms-accepted", c.prefetch_accepted);
  t("prefetch-stkms-refused", c.prefetch_refused);
  t("prefetch-fetches", c.prefetch_fetches);
  g_variant_builder_add(b, "{sv}", "held-services", g_variant_new_uint32(keys->held_services()));
  g_variant_builder_add(b, "{sv}", "channel-list", g_variant_new_uint32(keys->channels()));
  g_variant_builder_add(b, "{sv}", "channel-current", g_variant_new_int32(keys->current()));
}

}  // namespace spc::daemon
