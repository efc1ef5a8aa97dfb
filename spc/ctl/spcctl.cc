// spcctl: command line client of spcd.
//
//   spcctl [--session | --bus-address ADDR] [--json] COMMAND [ARGS]
//     status                         counters and settings of spcd
//     list-rights                    the rights in the key store (never key bytes)
//     import-keys FILE               import a key file (stkm.md + not-before/not-after/play/record)
//     process-stkm FILE [--base-cid CID] [--record]
//                                    send one binary STKM; prints TEK ID, lifetime, protocol and a
//                                    fingerprint (first 8 bytes of SHA-256) of the TEK, never the
//                                    TEK
//     set-parental-rating AGE        highest minimum age allowed (255 = no limit)
//     device-data [--der|--pem] [-o FILE]
//                                    the device certificate for the BSM (out-of-band device data;
//                                    PEM by default, to stdout or FILE); --json: device ID too
//     add-service SDP                listen to the registration/BCRO streams of a service
//     register URL                   ROAP 4-pass registration with the Rights Issuer at URL
//     acquire CID...                 ROAP 2-pass acquisition of the rights of these content IDs
//     handle-trigger FILE            a ROAP trigger (or 1-pass roResponse) received out of band
//     fetch-stkm BASECID KEYDOMAINHEX
//                                    fetch the service's STKMs over the interaction channel
//                                    (KEYDOMAINHEX "" = from its SDP); prints STKMs accepted and
//                                    TEK IDs
//     held-teks BASECID [--record]   TEK IDs spcd holds for the service (fingerprints, never TEKs)
//     set-channel-list CURRENT SDP...
//                                    the channel list for key prefetch (CURRENT: index, -1 none)
//
// Exit status: 0 done, 1 refused by spcd (named error), 2 usage or file error, 3 spcd unreachable.
#include <glib.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "spc/client/spc_client.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/json_writer.h"

namespace {

using spc::client::CallStatus;
using spc::client::Client;
using spc::client::Error;

gboolean g_json = FALSE;

int Fail(const CallStatus& st) {
  if (g_json) {
    spc::JsonWriter w;
    w.BeginObject()
        .Member("error", spc::client::ErrorString(st.error))
        .Member("error_name", st.error_name)
        .Member("message", st.message)
        .EndObject();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::fprintf(stderr, "spcctl: %s: %s\n",
                 st.error_name.empty() ? spc::client::ErrorString(st.error) : st.error_name.c_str(),
                 st.message.c_str());
  }
  return st.error == Error::kUnavailable ? 3 : 1;
}

std::string Time(std::int64_t t) {
  if (t == 0) return "-";
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);
  if (!dt) return std::to_string(t);
  g_autofree gchar* s = g_date_time_format_iso8601(dt);
  return s;
}

// Identifies a TEK in logs and bug reports without revealing it.
std::string Fingerprint(std::span<const std::uint8_t> key) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(key.data(), key.size(), md, &n, EVP_sha256(), nullptr);
  return "sha256:" + spc::HexEncode(std::span<const std::uint8_t>(md, 8));
}

bool ReadFile(const char* path, std::string* out) {
  g_autofree gchar* data = nullptr;
  gsize len = 0;
  g_autoptr(GError) err = nullptr;
  if (!g_file_get_contents(path, &data, &len, &err)) {
    std::fprintf(stderr, "spcctl: %s\n", err->message);
    return false;
  }
  out->assign(data, len);
  return true;
}

int CmdDeviceData(Client& c, bool der, const char* out_path) {
  std::vector<std::uint8_t> cert;
  std::string device_id;
  CallStatus st = c.DeviceData(&cert, &device_id);
  if (!st.ok()) return Fail(st);
  std::string data;
  if (der) {
    data.assign(cert.begin(), cert.end());
  } else {
    g_autofree gchar* b64 = g_base64_encode(cert.data(), cert.size());
    data = "-----BEGIN CERTIFICATE-----\n";
    for (std::size_t i = 0, n = std::strlen(b64); i < n; i += 64) {
      data.append(b64 + i, std::min<std::size_t>(64, n - i));
      data += "\n";
    }
    data += "-----END CERTIFICATE-----\n";
  }
  if (out_path) {
    g_autoptr(GError) err = nullptr;
    if (!g_file_set_contents(out_path, data.data(), static_cast<gssize>(data.size()), &err)) {
      std::fprintf(stderr, "spcctl: %s\n", err->message);
      return 2;
    }
  }
  if (g_json) {
    spc::JsonWriter w;
    w.BeginObject().Member("device_id", device_id).Member("bytes", cert.size());
    if (out_path) w.Member("file", out_path);
    w.EndObject();
    std::printf("%s\n", w.str().c_str());
  } else if (!out_path) {
    std::fwrite(data.data(), 1, data.size(), stdout);
  } else {
    std::fprintf(stderr, "device %s: certificate written to %s\n", device_id.c_str(), out_path);
  }
  return 0;
}

int CmdAddService(Client& c, const char* sdp) {
  std::uint32_t n = 0;
  // A path is resolved here: spcd's working folder is not ours.
  g_autofree gchar* abs =
      g_str_has_prefix(sdp, "v=") ? g_strdup(sdp) : g_canonicalize_filename(sdp, nullptr);
  CallStatus st = c.AddBroadcastService(abs, &n);
  if (!st.ok()) return Fail(st);
  std::printf("%u broadcast LTKM stream(s)\n", n);
  return 0;
}

int CmdStatus(Client& c) {
  spc::client::StatusInfo s;
  CallStatus st = c.Status(&s);
  if (!st.ok()) return Fail(st);
  if (g_json) {
    spc::JsonWriter w;
    w.BeginObject()
        .Member("version", s.version)
        .Member("key_store", s.key_store)
        .Member("schema_version", s.schema_version)
        .Member("rights", s.rights)
        .Member("parental_rating", static_cast<unsigned>(s.parental_rating))
        .Member("replay_tolerance", s.replay_tolerance)
        .Member("stkms_processed", s.stkms_processed)
        .Member("stkms_cached", s.stkms_cached)
        .Member("stkms_rejected", s.stkms_rejected)
        .Member("stkms_bad_mac", s.stkms_bad_mac)
        .Member("uptime", s.uptime)
        .Member("roap_state", s.roap_state)
        .Member("roap_ri_id", s.roap_ri_id)
        .Member("roap_ri_url", s.roap_ri_url)
        .Member("roap_acquisitions", s.roap_acquisitions)
        .Member("roap_failures", s.roap_failures)
        .Member("roap_last_error", s.roap_last_error)
        .Member("auto_acquire", s.auto_acquire)
        .Member("interaction_requests", s.interaction_requests)
        .Member("smartcard", s.smartcard)
        .Member("card_present", s.card_present)
        .Member("card_reader", s.card_reader)
        .Member("card_btid", s.card_btid)
        .Member("card_mtks", s.card_mtks)
        .EndObject();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("spcd %s\n", s.version.c_str());
    std::printf("key store:        %s (schema %u)\n", s.key_store.c_str(), s.schema_version);
    std::printf("rights:           %u\n", s.rights);
    std::printf("parental rating:  %s\n",
                s.parental_rating == 255 ? "no limit" : std::to_string(s.parental_rating).c_str());
    std::printf("replay tolerance: %u s\n", s.replay_tolerance);
    std::printf("STKMs:            %llu processed, %llu from cache, %llu rejected (%llu bad MAC)\n",
                static_cast<unsigned long long>(s.stkms_processed),
                static_cast<unsigned long long>(s.stkms_cached),
                static_cast<unsigned long long>(s.stkms_rejected),
                static_cast<unsigned long long>(s.stkms_bad_mac));
    std::printf("uptime:           %llu s\n", static_cast<unsigned long long>(s.uptime));
    if (!s.roap_state.empty()) {
      std::printf("ROAP:             %s%s%s%s%s\n", s.roap_state.c_str(),
                  s.roap_ri_id.empty() ? "" : ", RI ", s.roap_ri_id.c_str(),
                  s.roap_ri_url.empty() ? "" : " at ", s.roap_ri_url.c_str());
      std::printf(
          "                  %llu acquisitions, %llu failures, %llu HTTP requests, "
          "automatic acquisition %s\n",
          static_cast<unsigned long long>(s.roap_acquisitions),
          static_cast<unsigned long long>(s.roap_failures),
          static_cast<unsigned long long>(s.interaction_requests), s.auto_acquire ? "on" : "off");
      if (!s.roap_last_error.empty()) {
        std::printf("  last error:     %s\n", s.roap_last_error.c_str());
      }
    }
    if (s.smartcard) {
      std::string msks, refusals;
      for (const auto& m : s.card_msks) msks += (msks.empty() ? "" : " ") + m;
      for (const auto& [name, n] : s.card_refusals) {
        refusals += (refusals.empty() ? "" : ", ") + name + " " + std::to_string(n);
      }
      std::printf("smartcard:        %s%s, B-TID %s, %llu TEKs, MSKs %s\n",
                  s.card_present ? "present in " : "absent", s.card_reader.c_str(),
                  s.card_btid.empty() ? "-" : s.card_btid.c_str(),
                  static_cast<unsigned long long>(s.card_mtks), msks.empty() ? "-" : msks.c_str());
      if (!refusals.empty()) std::printf("  refusals:       %s\n", refusals.c_str());
    }
  }
  return 0;
}

int CmdListRights(Client& c) {
  std::vector<spc::client::RightsInfo> rights;
  CallStatus st = c.ListRights(&rights);
  if (!st.ok()) return Fail(st);
  if (g_json) {
    spc::JsonWriter w;
    w.BeginArray();
    for (const auto& r : rights) {
      char domain[16];
      g_snprintf(domain, sizeof domain, "%06x", r.key_domain_id);
      w.BeginObject()
          .Member("content_id", r.content_id)
          .Member("key_domain", domain)
          .Member("kind", r.kind)
          .Member("not_before", r.not_before)
          .Member("not_after", r.not_after)
          .Member("play", r.play)
          .Member("record", r.record)
          .Member("source", r.source)
          .EndObject();
    }
    w.EndArray();
    std::printf("%s\n", w.str().c_str());
  } else {
    if (rights.empty()) std::printf("no rights\n");
    for (const auto& r : rights) {
      std::printf("%s\n  key domain %06x, %s key, valid %s .. %s, %s%s, from %s\n",
                  r.content_id.c_str(), r.key_domain_id, r.kind.c_str(), Time(r.not_before).c_str(),
                  Time(r.not_after).c_str(), r.play ? "play" : "no play",
                  r.record ? " + record" : ", no record", r.source.c_str());
    }
  }
  return 0;
}

int CmdImportKeys(Client& c, const char* path) {
  std::string text;
  if (!ReadFile(path, &text)) return 2;
  std::uint32_t n = 0;
  CallStatus st = c.ImportKeys(text, &n);
  OPENSSL_cleanse(text.data(), text.size());
  if (!st.ok()) return Fail(st);
  if (g_json) {
    spc::JsonWriter w;
    w.BeginObject().Member("imported", n).EndObject();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("imported %u rights\n", n);
  }
  return 0;
}

int CmdProcessStkm(Client& c, const char* path, const char* base_cid, bool record) {
  std::string data;
  if (!ReadFile(path, &data)) return 2;
  auto bytes = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()),
                                             data.size());
  spc::client::TekResult r =
      c.ProcessStkm(bytes, base_cid ? base_cid : "",
                    record ? spc::client::Purpose::kRecord : spc::client::Purpose::kPlay);
  if (!r.ok()) return Fail(CallStatus{r.error, r.error_name, r.message});
  static const char* kProtocols[] = {"IPsec", "SRTP", "ISMACryp"};
  const char* proto = r.protocol < 3 ? kProtocols[r.protocol] : "reserved";
  if (g_json) {
    spc::JsonWriter w;
    w.BeginObject()
        .Member("content_id", r.content_id)
        .Member("tek_id", static_cast<unsigned>(r.current.id))
        .Member("tek_fingerprint", Fingerprint(r.current.key))
        .Member("lifetime", static_cast<unsigned>(r.lifetime))
        .Member("protocol", proto)
        .Member("authenticated", r.authenticated)
        .Member("has_next", r.next.has_value());
    if (r.next) {
      w.Member("next_tek_id", static_cast<unsigned>(r.next->id))
          .Member("next_tek_fingerprint", Fingerprint(r.next->key));
    }
    w.EndObject();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("content ID:     %s\n", r.content_id.c_str());
    std::printf("TEK ID:         %u (0x%04x)\n", r.current.id, r.current.id);
    std::printf("TEK:            %s\n", Fingerprint(r.current.key).c_str());
    std::printf("lifetime:       %u s\n", r.lifetime);
    std::printf("protocol:       %s%s\n", proto, r.authenticated ? ", authenticated" : "");
    if (r.next) {
      std::printf("next TEK ID:    %u (0x%04x)\n", r.next->id, r.next->id);
      std::printf("next TEK:       %s\n", Fingerprint(r.next->key).c_str());
    } else {
      std::printf("next TEK:       none\n");
    }
  }
  return 0;
}

int CmdRegister(Client& c, const char* url) {
  std::string ri_id;
  CallStatus st = c.Register(url, &ri_id);
  if (!st.ok()) return Fail(st);
  if (g_json) {
    spc::JsonWriter w;
    w.BeginObject().Member("ri_id", ri_id).Member("ri_url", std::string(url)).EndObject();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("registered with RI %s\n", ri_id.c_str());
  }
  return 0;
}

int CmdAcquire(Client& c, int n, char** cids) {
  std::vector<std::string> ids(cids, cids + n);
  std::vector<std::string> installed;
  CallStatus st = c.AcquireRights(ids, &installed);
  if (!st.ok()) return Fail(st);
  if (g_json) {
    std::string list;
    for (const auto& i : installed) list += (list.empty() ? "\"" : ",\"") + i + "\"";
    std::printf("{\"installed\":[%s]}\n", list.c_str());
  } else {
    for (const auto& i : installed) std::printf("installed rights for %s\n", i.c_str());
    if (installed.empty()) std::printf("nothing new installed (already held)\n");
  }
  return 0;
}

int CmdHandleTrigger(Client& c, const char* path) {
  g_autofree gchar* data = nullptr;
  gsize n = 0;
  g_autoptr(GError) err = nullptr;
  if (!g_file_get_contents(path, &data, &n, &err)) {
    std::fprintf(stderr, "spcctl: %s\n", err->message);
    return 2;
  }
  std::string outcome;
  CallStatus st = c.HandleTrigger({reinterpret_cast<const std::uint8_t*>(data), n}, &outcome);
  if (!st.ok()) return Fail(st);
  if (g_json) {
    spc::JsonWriter w;
    w.BeginObject().Member("outcome", outcome).EndObject();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("%s\n", outcome.c_str());
  }
  return 0;
}

int CmdSetParentalRating(Client& c, const char* age_text) {
  gchar* end = nullptr;
  guint64 age = g_ascii_strtoull(age_text, &end, 10);
  if (!*age_text || *end || age > 255) {
    std::fprintf(stderr, "spcctl: AGE must be 0-255\n");
    return 2;
  }
  CallStatus st = c.SetParentalRating(static_cast<std::uint8_t>(age));
  if (!st.ok()) return Fail(st);
  if (!g_json) std::printf("parental rating set to %u\n", static_cast<unsigned>(age));
  if (g_json) std::printf("{\"parental_rating\":%u}\n", static_cast<unsigned>(age));
  return 0;
}

int CmdFetchStkm(Client& c, const char* base_cid, const char* key_domain) {
  std::uint32_t accepted = 0;
  std::vector<std::uint16_t> ids;
  CallStatus st = c.FetchStkm(base_cid, key_domain, &accepted, &ids);
  if (!st.ok()) return Fail(st);
  if (g_json) {
    spc::JsonWriter w;
    w.BeginObject().Member("accepted", static_cast<std::uint64_t>(accepted)).Key("tek_ids");
    w.BeginArray();
    for (auto id : ids) w.Uint(id);
    w.EndArray().EndObject();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::string list;
    for (auto id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
    std::printf("accepted %u STKM(s), TEK IDs %s\n", accepted, list.c_str());
  }
  return 0;
}

int CmdHeldTeks(Client& c, const char* base_cid, bool record) {
  std::vector<spc::client::HeldTekInfo> teks;
  CallStatus st = c.HeldTeks(
      base_cid, record ? spc::client::Purpose::kRecord : spc::client::Purpose::kPlay, &teks);
  if (!st.ok()) return Fail(st);
  if (g_json) {
    spc::JsonWriter w;
    w.BeginArray();
    for (const auto& t : teks) {
      w.BeginObject()
          .Member("tek_id", static_cast<std::uint64_t>(t.id))
          .Member("lifetime", static_cast<std::uint64_t>(t.lifetime))
          .Member("protocol", static_cast<std::uint64_t>(t.protocol))
          .Member("authenticated", t.authenticated)
          .Member("tek_fingerprint", Fingerprint(t.key))
          .EndObject();
    }
    w.EndArray();
    std::printf("%s\n", w.str().c_str());
  } else {
    for (const auto& t : teks) {
      std::printf("TEK %u lifetime %u s protocol %u%s %s\n", t.id, t.lifetime, t.protocol,
                  t.authenticated ? " authenticated" : "", Fingerprint(t.key).c_str());
    }
  }
  return 0;
}

int CmdSetChannelList(Client& c, int nargs, char** args) {
  gchar* end = nullptr;
  const gint64 current = g_ascii_strtoll(args[0], &end, 10);
  if (!*args[0] || *end || current < -1 || current > G_MAXINT) {
    std::fprintf(stderr, "spcctl: CURRENT must be an index (or -1)\n");
    return 2;
  }
  std::vector<std::string> sdps;
  for (int i = 1; i < nargs; ++i) {
    std::string text;
    if (!ReadFile(args[i], &text)) return 2;
    sdps.push_back(text);
  }
  CallStatus st = c.SetChannelList(sdps, static_cast<int>(current));
  if (!st.ok()) return Fail(st);
  if (g_json) {
    std::printf("{\"channels\":%zu,\"current\":%d}\n", sdps.size(), static_cast<int>(current));
  } else {
    std::printf("channel list of %zu services, watching %d\n", sdps.size(),
                static_cast<int>(current));
  }
  return 0;
}

int Run(int argc, char** argv) {
  gboolean session = FALSE;
  gboolean record = FALSE;
  g_autofree gchar* address = nullptr;
  g_autofree gchar* base_cid = nullptr;
  gboolean der = FALSE;
  gboolean pem = FALSE;
  g_autofree gchar* output = nullptr;
  GOptionEntry entries[] = {
      {"session", 0, 0, G_OPTION_ARG_NONE, &session, "Use the session bus", nullptr},
      {"bus-address", 0, 0, G_OPTION_ARG_STRING, &address, "Use the bus at ADDR", "ADDR"},
      {"json", 0, 0, G_OPTION_ARG_NONE, &g_json, "JSON output", nullptr},
      {"base-cid", 0, 0, G_OPTION_ARG_STRING, &base_cid,
       "process-stkm: the service's base CID (from the session description)", "CID"},
      {"record", 0, 0, G_OPTION_ARG_NONE, &record, "process-stkm: ask for recording", nullptr},
      {"der", 0, 0, G_OPTION_ARG_NONE, &der, "device-data: DER instead of PEM", nullptr},
      {"pem", 0, 0, G_OPTION_ARG_NONE, &pem, "device-data: PEM (the default)", nullptr},
      {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "device-data: write to FILE", "FILE"},
      {},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS] - control spcd");
  g_option_context_set_description(
      ctx,
      "Commands:\n"
      "  status\n"
      "  list-rights\n"
      "  import-keys FILE\n"
      "  process-stkm FILE [--base-cid CID] [--record]\n"
      "  set-parental-rating AGE\n"
      "  device-data [--der|--pem] [-o FILE]\n"
      "  add-service SDP\n"
      "  register URL\n"
      "  acquire CID...\n"
      "  handle-trigger FILE\n"
      "  fetch-stkm BASECID KEYDOMAINHEX\n"
      "  held-teks BASECID [--record]\n"
      "  set-channel-list CURRENT SDP...\n"
      "\nExit status: 0 done, 1 refused by spcd, 2 usage or file error, 3 spcd unreachable.\n");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
    std::fprintf(stderr, "spcctl: %s\n", err->message);
    return 2;
  }
  if (argc < 2) {
    g_autofree gchar* help = g_option_context_get_help(ctx, TRUE, nullptr);
    std::fprintf(stderr, "%s", help);
    return 2;
  }
  std::string cmd = argv[1];
  int nargs = argc - 2;
  struct Want {
    const char* name;
    int args;
  };
  static const Want kCommands[] = {{"status", 0},
                                   {"list-rights", 0},
                                   {"import-keys", 1},
                                   {"process-stkm", 1},
                                   {"set-parental-rating", 1},
                                   {"device-data", 0},
                                   {"add-service", 1},
                                   {"register", 1},
                                   {"acquire", -1},
                                   {"handle-trigger", 1},
                                   {"fetch-stkm", 2},
                                   {"held-teks", 1},
                                   {"set-channel-list", -1}};
  const Want* want = nullptr;
  for (const Want& w : kCommands) {
    if (cmd == w.name) want = &w;
  }
  if (!want) {
    std::fprintf(stderr, "spcctl: unknown command \"%s\" (see --help)\n", cmd.c_str());
    return 2;
  }
  if (want->args < 0 ? nargs < 1 : nargs != want->args) {
    if (want->args < 0) {
      std::fprintf(stderr, "spcctl: %s takes one or more arguments\n", want->name);
    } else {
      std::fprintf(stderr, "spcctl: %s takes %d argument(s)\n", want->name, want->args);
    }
    return 2;
  }

  spc::client::Options opts;
  if (address) {
    opts.bus = spc::client::Bus::kAddress;
    opts.address = address;
  } else if (session) {
    opts.bus = spc::client::Bus::kSession;
  }
  std::string error;
  auto client = Client::Connect(opts, &error);
  if (!client) {
    std::fprintf(stderr, "spcctl: %s\n", error.c_str());
    return 3;
  }
  if (cmd == "status") return CmdStatus(*client);
  if (cmd == "list-rights") return CmdListRights(*client);
  if (cmd == "import-keys") return CmdImportKeys(*client, argv[2]);
  if (cmd == "process-stkm") return CmdProcessStkm(*client, argv[2], base_cid, record);
  if (cmd == "device-data") {
    if (der && pem) {
      std::fprintf(stderr, "spcctl: --der and --pem exclude each other\n");
      return 2;
    }
    return CmdDeviceData(*client, der, output);
  }
  if (cmd == "add-service") return CmdAddService(*client, argv[2]);
  if (cmd == "register") return CmdRegister(*client, argv[2]);
  if (cmd == "acquire") return CmdAcquire(*client, nargs, argv + 2);
  if (cmd == "handle-trigger") return CmdHandleTrigger(*client, argv[2]);
  if (cmd == "fetch-stkm") return CmdFetchStkm(*client, argv[2], argv[3]);
  if (cmd == "held-teks") return CmdHeldTeks(*client, argv[2], record);
  if (cmd == "set-channel-list") return CmdSetChannelList(*client, nargs, argv + 2);
  return CmdSetParentalRating(*client, argv[2]);
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
