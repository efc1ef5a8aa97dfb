#include "player/conformance.h"

#include <glib.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "spc/libspc/json_writer.h"

namespace player {
namespace {

struct PlannedService {
  std::string name;
  std::string sdp;
  double duration_s = 10;
  std::string key_file;
  guint64 min_frames = 1;
  guint64 max_decrypt_failures = 0;
  guint64 min_keys = 1;
  gint64 max_first_frame_ms = 0;
};

struct Outcome {
  PlannedService plan;
  Report report;
  bool passed = false;
  std::vector<std::string> failures;
  std::vector<std::string> notices;  // what the viewer would have been told
};

bool LoadPlan(const std::string& path, std::vector<PlannedService>* out, std::string* error) {
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) err = nullptr;
  if (!g_key_file_load_from_file(kf, path.c_str(), G_KEY_FILE_NONE, &err)) {
    *error = path + ": " + err->message;
    return false;
  }
  g_autofree gchar* dir = g_path_get_dirname(path.c_str());
  gsize n = 0;
  g_auto(GStrv) groups = g_key_file_get_groups(kf, &n);
  for (gsize i = 0; i < n; ++i) {
    const std::string group = groups[i];
    if (group.rfind("service ", 0) != 0) {
      *error = path + ": group [" + group + "]: expected [service NAME]";
      return false;
    }
    PlannedService s;
    s.name = group.substr(8);
    g_autofree gchar* sdp = g_key_file_get_string(kf, groups[i], "sdp", nullptr);
    if (sdp == nullptr) {
      *error = path + ": [" + group + "] has no sdp=";
      return false;
    }
    auto in_dir = [&](const char* name) {
      g_autofree gchar* path = g_build_filename(dir, name, nullptr);
      return std::string(path);
    };
    s.sdp = g_path_is_absolute(sdp) ? std::string(sdp) : in_dir(sdp);
    g_autofree gchar* keys = g_key_file_get_string(kf, groups[i], "key-file", nullptr);
    if (keys != nullptr) {
      s.key_file = g_path_is_absolute(keys) ? std::string(keys) : in_dir(keys);
    }
    auto number = [&](const char* key, double low, double high, double fallback,
                      double* value) -> bool {
      if (!g_key_file_has_key(kf, groups[i], key, nullptr)) {
        *value = fallback;
        return true;
      }
      g_autoptr(GError) e = nullptr;
      const double v = g_key_file_get_double(kf, groups[i], key, &e);
      if (e != nullptr || v < low || v > high) {
        *error = path + ": [" + group + "] " + key + " must be a number in " +
                 std::to_string(static_cast<long long>(low)) + ".." +
                 std::to_string(static_cast<long long>(high));
        return false;
      }
      *value = v;
      return true;
    };
    double v = 0;
    if (!number("duration", 0.5, 86400, 10, &v)) return false;
    s.duration_s = v;
    if (!number("min-frames", 0, 1e9, 1, &v)) return false;
    s.min_frames = static_cast<guint64>(v);
    if (!number("max-decrypt-failures", 0, 1e12, 0, &v)) return false;
    s.max_decrypt_failures = static_cast<guint64>(v);
    if (!number("min-keys", 0, 1e6, 1, &v)) return false;
    s.min_keys = static_cast<guint64>(v);
    if (!number("max-first-frame-ms", 0, 1e9, 0, &v)) return false;
    s.max_first_frame_ms = static_cast<gint64>(v);
    out->push_back(std::move(s));
  }
  if (out->empty()) {
    *error = path + ": no [service NAME] group";
    return false;
  }
  return true;
}

void Judge(Outcome& o) {
  const Report& r = o.report;
  const bool protected_service = r.key_source != "none";
  for (const auto& e : r.errors) o.failures.push_back("error: " + e);
  for (const auto& s : r.streams) {
    if (s.frames < o.plan.min_frames) {
      o.failures.push_back(s.name + ": " + std::to_string(s.frames) + " frames decoded, at least " +
                           std::to_string(o.plan.min_frames) + " required");
    }
  }
  if (protected_service && r.teks_received < o.plan.min_keys) {
    std::string why = "keys: " + std::to_string(r.teks_received) + " TEKs obtained, at least " +
                      std::to_string(o.plan.min_keys) + " required";
    std::string causes;
    for (const auto& [reason, count] : r.stkm_rejected) {
      if (count == 0) continue;
      causes += (causes.empty() ? "" : ", ") + std::to_string(count) + " STKMs rejected: " + reason;
    }
    if (!causes.empty()) why += " (" + causes + ")";
    o.failures.push_back(why);
  }
  // Packets held for a TEK that had not arrived yet and then dropped are the join (or a key that
  // never came, which the keys criterion catches): they are reported, not judged here.
  guint64 failures = 0;
  std::string reasons;
  for (const auto& [reason, count] : r.decrypt_failures_by_reason) {
    if (count == 0 || reason == "srtp-dropped-held") continue;
    failures += count;
    reasons += (reasons.empty() ? "" : ", ") + reason + "=" + std::to_string(count);
  }
  if (failures > o.plan.max_decrypt_failures) {
    o.failures.push_back("decrypt failures: " + std::to_string(failures) + ", at most " +
                         std::to_string(o.plan.max_decrypt_failures) + " allowed (" + reasons +
                         ")");
  }
  if (o.plan.max_first_frame_ms > 0 &&
      (r.time_to_first_frame_ms < 0 || r.time_to_first_frame_ms > o.plan.max_first_frame_ms)) {
    o.failures.push_back("first video frame after " + std::to_string(r.time_to_first_frame_ms) +
                         " ms, at most " + std::to_string(o.plan.max_first_frame_ms) +
                         " ms allowed");
  }
  o.passed = o.failures.empty();
}

Outcome RunOne(const PlannedService& plan, const Options& base) {
  Outcome o;
  o.plan = plan;
  Options options = base;
  options.sdp_path = plan.sdp;
  options.duration_s = plan.duration_s;
  options.quiet = true;
  options.headless = true;
  options.report_path.clear();
  options.record_path.clear();
  if (!plan.key_file.empty()) options.key_file = plan.key_file;
  g_autoptr(GMainLoop) loop = g_main_loop_new(nullptr, FALSE);
  Hooks hooks;
  hooks.on_end = [&] { g_main_loop_quit(loop); };
  hooks.on_notice = [&](const Notice& n) {
    if (n.kind != "warning") o.notices.push_back(n.kind + ": " + n.text);
  };
  {
    Session session(options, hooks);
    if (session.Start() && !session.ended()) g_main_loop_run(loop);
    o.report = session.Stop();
  }
  Judge(o);
  return o;
}

std::string Join(const std::vector<guint>& ids) {
  std::string out;
  for (guint id : ids) out += (out.empty() ? "" : " ") + std::to_string(id);
  return out.empty() ? "-" : out;
}

std::string HumanReport(const std::string& plan, const std::vector<Outcome>& outcomes) {
  std::string t = "bcast-player conformance report\nplan: " + plan + "\n\n";
  std::size_t passed = 0;
  for (const auto& o : outcomes) {
    const Report& r = o.report;
    if (o.passed) ++passed;
    t += (o.passed ? "PASS  " : "FAIL  ") + o.plan.name + "  (" + o.plan.sdp + ", " +
         std::to_string(static_cast<int>(o.plan.duration_s)) + " s)\n";
    t += "      service: " + r.service + "; keys from " + r.key_source + "\n";
    t += "      keys seen (TEK IDs): " + Join(r.tek_ids_in_use) + "; TEKs obtained " +
         std::to_string(r.teks_received) + "; first key after " +
         std::to_string(r.time_to_first_key_ms) + " ms\n";
    for (const auto& s : r.streams) {
      t += "      " + s.name + " (" + s.protection + "): " + std::to_string(s.frames) +
           " frames decoded, first after " + std::to_string(s.first_frame_ms) + " ms\n";
    }
    auto held = r.decrypt_failures_by_reason.find("srtp-dropped-held");
    const guint64 held_count = held == r.decrypt_failures_by_reason.end() ? 0 : held->second;
    t += "      decrypt failures: " + std::to_string(r.decrypt_failures - held_count) +
         "; packets dropped waiting for a TEK: " + std::to_string(held_count);
    std::string rejected;
    for (const auto& [reason, count] : r.stkm_rejected) {
      if (count != 0) rejected += " " + reason + "=" + std::to_string(count);
    }
    t += "; STKMs rejected:" + (rejected.empty() ? std::string(" none") : rejected) + "\n";
    for (const auto& n : o.notices) t += "      notice " + n + "\n";
    for (const auto& f : o.failures) t += "      FAILED: " + f + "\n";
  }
  t += "\n" + std::to_string(passed) + " passed, " + std::to_string(outcomes.size() - passed) +
       " failed\n";
  return t;
}

std::string JsonReport(const std::string& plan, const std::vector<Outcome>& outcomes) {
  bool all = true;
  for (const auto& o : outcomes) all = all && o.passed;
  std::string j = "{\"plan\":" + spc::JsonQuote(plan) + ",\"passed\":" + (all ? "true" : "false") +
                  ",\"services\":[";
  bool first = true;
  for (const auto& o : outcomes) {
    const Report& r = o.report;
    if (!first) j += ",";
    first = false;
    spc::JsonWriter w;
    w.BeginObject()
        .Member("name", o.plan.name)
        .Member("sdp", o.plan.sdp)
        .Member("duration_s", static_cast<std::int64_t>(o.plan.duration_s))
        .Member("passed", o.passed);
    w.Key("failures").BeginArray();
    for (const auto& f : o.failures) w.String(f);
    w.EndArray();
    w.Key("keys_seen").BeginArray();
    for (guint id : r.tek_ids_in_use) w.Uint(id);
    w.EndArray();
    w.Member("teks_received", r.teks_received);
    w.Key("frames_decoded").BeginObject();
    for (const auto& s : r.streams) w.Member(s.name, s.frames);
    w.EndObject();
    w.Key("first_frame_ms").BeginObject();
    for (const auto& s : r.streams) w.Member(s.name, s.first_frame_ms);
    w.EndObject();
    w.Member("time_to_first_frame_ms", r.time_to_first_frame_ms);
    auto held = r.decrypt_failures_by_reason.find("srtp-dropped-held");
    const guint64 held_count = held == r.decrypt_failures_by_reason.end() ? 0 : held->second;
    w.Member("decrypt_failures", r.decrypt_failures - held_count);
    w.Member("dropped_waiting_for_tek", held_count);
    w.Key("stkm_rejected").BeginObject();
    for (const auto& [reason, count] : r.stkm_rejected) w.Member(reason, count);
    w.EndObject();
    w.Key("errors").BeginArray();
    for (const auto& e : r.errors) w.String(e);
    w.EndArray();
    w.Key("notices").BeginArray();
    for (const auto& n : o.notices) w.String(n);
    w.EndArray();
    w.EndObject();
    std::string obj = w.Take();
    // The player's own report, as --report writes it, goes in whole.
    obj.pop_back();
    std::string player = ReportToJson(r);
    while (!player.empty() && (player.back() == '\n' || player.back() == ' ')) player.pop_back();
    j += obj + ",\"player_report\":" + player + "}";
  }
  return j + "]}\n";
}

}  // namespace

int RunConformance(const ConformanceOptions& options) {
  std::vector<PlannedService> plan;
  std::string error;
  if (!LoadPlan(options.plan_path, &plan, &error)) {
    std::fprintf(stderr, "bcast-player: conformance plan: %s\n", error.c_str());
    return 2;
  }
  std::vector<Outcome> outcomes;
  for (const auto& service : plan) {
    std::fprintf(stderr, "conformance: %s (%s, %.0f s)...\n", service.name.c_str(),
                 service.sdp.c_str(), service.duration_s);
    outcomes.push_back(RunOne(service, options.base));
    std::fprintf(stderr, "conformance: %s %s\n", service.name.c_str(),
                 outcomes.back().passed ? "PASS" : "FAIL");
  }
  bool all = true;
  for (const auto& o : outcomes) all = all && o.passed;
  const std::string text = HumanReport(options.plan_path, outcomes);
  int status = all ? 0 : 1;
  if (options.text_path.empty()) {
    std::fputs(text.c_str(), stdout);
  } else {
    g_autoptr(GError) err = nullptr;
    if (!g_file_set_contents(options.text_path.c_str(), text.c_str(),
                             static_cast<gssize>(text.size()), &err)) {
      std::fprintf(stderr, "bcast-player: %s\n", err->message);
      status = 1;
    }
  }
  if (!options.json_path.empty()) {
    const std::string json = JsonReport(options.plan_path, outcomes);
    g_autoptr(GError) err = nullptr;
    if (!g_file_set_contents(options.json_path.c_str(), json.c_str(),
                             static_cast<gssize>(json.size()), &err)) {
      std::fprintf(stderr, "bcast-player: %s\n", err->message);
      status = 1;
    }
  }
  std::fprintf(stdout, "conformance: %s\n", all ? "PASS" : "FAIL");
  return status;
}

}  // namespace player
