#include "samples/headend/smartcard_options.h"

#include <algorithm>
#include <cctype>
#include <tuple>

namespace headend {
namespace {

bool IsHex32(const std::string& s) {
  return s.size() == 32 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

bool ParseNumber(const char* text, std::uint64_t max, std::uint64_t* out) {
  if (text == nullptr || *text == '\0' || *text == '-') return false;
  const bool hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  guint64 v = 0;
  if (!g_ascii_string_to_unsigned(hex ? text + 2 : text, hex ? 16 : 10, 0, max, &v, nullptr)) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

bool ParseSubscriberSpec(const std::string& text, SubscriberSpec* out, std::string* error) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string::npos ? colon : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const bool with_sqn = parts.size() >= 4 && !IsHex32(parts.back());
  const std::size_t fields = with_sqn ? 3 : 2;  // after the IMPI
  if (parts.size() < fields + 1) {
    *error = "--subscriber: IMPI:K:OPc[:SQN], not " + text;
    return false;
  }
  SubscriberSpec s;
  if (with_sqn && !ParseNumber(parts.back().c_str(), 0xFFFFFFFFFFFFull, &s.sqn)) {
    *error = "--subscriber: SQN is not a 48-bit number: " + parts.back();
    return false;
  }
  const std::size_t k = parts.size() - fields;
  s.k_hex = parts[k];
  s.opc_hex = parts[k + 1];
  if (!IsHex32(s.k_hex) || !IsHex32(s.opc_hex)) {
    *error = "--subscriber: K and OPc must be 32 hex digits each";
    return false;
  }
  for (std::size_t i = 0; i < k; ++i) s.impi += (i ? ":" : "") + parts[i];
  if (s.impi.empty()) {
    *error = "--subscriber: empty IMPI";
    return false;
  }
  *out = std::move(s);
  return true;
}

GOptionGroup* MakeSmartcardOptionGroup(SmartcardOptions* o) {
  // GOption writes into these when it parses; they belong to the group (its user data).
  struct Storage {
    gchar* profile = nullptr;
    gchar** subscribers = nullptr;
    gchar* subscribers_file = nullptr;
    gchar* bind = nullptr;
    gchar* bsf_name = nullptr;
    gchar* naf_fqdn = nullptr;
    gchar* msk_id = nullptr;
    gint bsf_port = -1;
    gint bsm_port = -1;
    gint lifetime = -1;
    gint msk_period = -1;
    gint permissions = -1;
    gint replay_at = -1;
    gint bad_mac_at = -1;
    gint new_msk_at = -1;
    SmartcardOptions* options = nullptr;
  };
  auto* s = g_new0(Storage, 1);
  for (gint* v : {&s->bsf_port, &s->bsm_port, &s->lifetime, &s->msk_period, &s->permissions,
                  &s->replay_at, &s->bad_mac_at, &s->new_msk_at}) {
    *v = -1;
  }
  s->options = o;
  GOptionEntry entries[] = {
      {"profile", 0, 0, G_OPTION_ARG_STRING, &s->profile,
       "drm (STKMs under a SEK, default) | smartcard (MIKEY MTK messages under an MSK, BSF + BSM)",
       "P"},
      {"subscriber", 0, 0, G_OPTION_ARG_STRING_ARRAY, &s->subscribers,
       "BSF subscriber IMPI:K:OPc[:SQN] (hex K/OPc, SQN of the last vector used; repeatable)",
       "SPEC"},
      {"subscribers", 0, 0, G_OPTION_ARG_FILENAME, &s->subscribers_file,
       "BSF subscriber file ([IMPI] k= opc=|op= sqn=; bcast-uicc --subscriber-file writes it)",
       "FILE"},
      {"sc-bind", 0, 0, G_OPTION_ARG_STRING, &s->bind, "address of the BSF and BSM (127.0.0.1)",
       "ADDR"},
      {"bsf-port", 0, 0, G_OPTION_ARG_INT, &s->bsf_port, "TCP port of the BSF (0: any free)",
       "PORT"},
      {"bsm-port", 0, 0, G_OPTION_ARG_INT, &s->bsm_port, "TCP port of the BSM (0: any free)",
       "PORT"},
      {"bsf-name", 0, 0, G_OPTION_ARG_STRING, &s->bsf_name,
       "BSF server name: Digest realm, B-TID domain (bsf.openbcast.test)", "NAME"},
      {"naf-fqdn", 0, 0, G_OPTION_ARG_STRING, &s->naf_fqdn,
       "the BSM's FQDN in NAF_Id (default: the host the terminal addressed)", "FQDN"},
      {"bootstrap-lifetime", 0, 0, G_OPTION_ARG_INT, &s->lifetime,
       "seconds a B-TID stays valid (3600)", "S"},
      {"msk-id", 0, 0, G_OPTION_ARG_STRING, &s->msk_id,
       "first MSK ID, 32 bits: key group (high 16) and MSK number (0x00010001)", "N"},
      {"msk-period", 0, 0, G_OPTION_ARG_INT, &s->msk_period,
       "re-keying: a new MSK every S seconds, used from the next MTK on (0: never)", "S"},
      {"msk-permissions", 0, 0, G_OPTION_ARG_INT, &s->permissions,
       "MSK permissions in the MSK messages: bit 0 play, bit 1 record (3)", "BITS"},
      {"replay-mtk-at", 0, 0, G_OPTION_ARG_INT, &s->replay_at,
       "fault: at S s resend an earlier MTK message (card: 98 65) (0: off; also SIGUSR1)", "S"},
      {},
  };
  GOptionEntry faults[] = {
      {"bad-mtk-mac-at", 0, 0, G_OPTION_ARG_INT, &s->bad_mac_at,
       "fault: at S s send an MTK message with a bad MAC (card: 98 62) (0: off; also SIGUSR2)",
       "S"},
      {"new-msk-at", 0, 0, G_OPTION_ARG_INT, &s->new_msk_at,
       "fault: at S s switch to a new MSK no terminal was given (card: 6A 88, terminal fetches it "
       "from the BSM) (0: off; also SIGHUP)",
       "S"},
      {},
  };
  GOptionGroup* group = g_option_group_new("smartcard", "Smartcard Profile (--profile smartcard):",
                                           "Show the Smartcard Profile options", s, [](gpointer p) {
                                             auto* st = static_cast<Storage*>(p);
                                             g_free(st->profile);
                                             g_strfreev(st->subscribers);
                                             g_free(st->subscribers_file);
                                             g_free(st->bind);
                                             g_free(st->bsf_name);
                                             g_free(st->naf_fqdn);
                                             g_free(st->msk_id);
                                             g_free(st);
                                           });
  g_option_group_add_entries(group, entries);
  g_option_group_add_entries(group, faults);
  g_option_group_set_parse_hooks(
      group, nullptr, [](GOptionContext*, GOptionGroup*, gpointer p, GError** error) -> gboolean {
        auto* st = static_cast<Storage*>(p);
        SmartcardOptions* o = st->options;
        auto fail = [&](const std::string& message) {
          g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, message.c_str());
          return FALSE;
        };
        if (st->profile != nullptr) {
          const std::string p = st->profile;
          if (p == "smartcard") {
            o->enabled = true;
          } else if (p != "drm") {
            return fail("--profile: drm or smartcard, not " + p);
          }
        }
        for (gchar** sub = st->subscribers; sub != nullptr && *sub != nullptr; ++sub) {
          o->subscribers.push_back(*sub);
        }
        if (st->subscribers_file) o->subscribers_file = st->subscribers_file;
        if (st->bind) o->http_bind = st->bind;
        if (st->bsf_name) o->bsf_name = st->bsf_name;
        if (st->naf_fqdn) o->naf_fqdn = st->naf_fqdn;
        for (auto [name, value, out] : {std::tuple{"--bsf-port", st->bsf_port, &o->bsf_port},
                                        std::tuple{"--bsm-port", st->bsm_port, &o->bsm_port}}) {
          if (value > 65535) return fail(std::string(name) + ": 0..65535");
          if (value >= 0) *out = value;
        }
        for (auto [name, value, out] :
             {std::tuple{"--bootstrap-lifetime", st->lifetime, &o->bootstrap_lifetime_s},
              std::tuple{"--msk-period", st->msk_period, &o->msk_period_s},
              std::tuple{"--replay-mtk-at", st->replay_at, &o->replay_mtk_at_s},
              std::tuple{"--bad-mtk-mac-at", st->bad_mac_at, &o->bad_mtk_mac_at_s},
              std::tuple{"--new-msk-at", st->new_msk_at, &o->new_msk_at_s}}) {
          if (value >= 0) *out = static_cast<unsigned>(value);
        }
        if (o->bootstrap_lifetime_s == 0) return fail("--bootstrap-lifetime: at least 1 s");
        if (st->permissions >= 0) {
          if (st->permissions > 3) return fail("--msk-permissions: 0..3");
          o->msk_permissions = static_cast<unsigned>(st->permissions);
        }
        if (st->msk_id != nullptr) {
          std::uint64_t v = 0;
          if (!ParseNumber(st->msk_id, 0xffffffffu, &v) || (v & 0xffff) == 0) {
            return fail("--msk-id: a 32-bit number whose low 16 bits are not 0");
          }
          o->msk_id = static_cast<std::uint32_t>(v);
        }
        for (const std::string& spec : o->subscribers) {
          SubscriberSpec parsed;
          std::string message;
          if (!ParseSubscriberSpec(spec, &parsed, &message)) return fail(message);
        }
        return TRUE;
      });
  return group;
}

}  // namespace headend
