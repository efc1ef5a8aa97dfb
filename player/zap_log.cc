#include "player/zap_log.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace player {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

std::string Number(gint64 v) { return v < 0 ? "null" : std::to_string(v); }

std::string Number(const std::optional<double>& v) {
  if (!v) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", *v);
  return buf;
}

std::string ChangeJson(const ZapChange& c) {
  std::string j = "{\"n\": " + std::to_string(c.index);
  j += ", \"from\": " + (c.from == 0 ? std::string("null") : std::to_string(c.from));
  j += ", \"to\": " + std::to_string(c.to);
  j += ", \"from_name\": " + (c.from == 0 ? std::string("null") : Quote(c.from_name));
  j += ", \"to_name\": " + Quote(c.to_name);
  j += ", \"at_ms\": " + Number(c.at_ms);
  j += ", \"ttff_ms\": " + Number(c.ttff_ms);
  j += ", \"protected\": " + std::string(c.protected_service ? "true" : "false");
  j += ", \"prefetched\": " + std::string(c.prefetched() ? "true" : "false");
  j += ", \"tek_source\": " + (c.tek_source.empty() ? std::string("null") : Quote(c.tek_source));
  j += ", \"tek_id\": " + (c.tek_source.empty() ? std::string("null") : std::to_string(c.tek_id));
  j += ", \"tek_ready_ms\": " + Number(c.tek_ready_ms);
  j += ", \"keyring_reused\": " + std::string(c.keyring_reused ? "true" : "false");
  j += ", \"error\": " + (c.error.empty() ? std::string("null") : Quote(c.error));
  return j + "}";
}

}  // namespace

bool ListChannelDir(const std::string& dir, std::vector<std::string>* paths, std::string* error) {
  g_autoptr(GError) err = nullptr;
  g_autoptr(GDir) d = g_dir_open(dir.c_str(), 0, &err);
  if (d == nullptr) {
    *error = "--channels " + dir + ": " + (err ? err->message : "cannot read the folder");
    return false;
  }
  std::vector<std::string> names;
  while (const gchar* name = g_dir_read_name(d)) {
    if (g_str_has_suffix(name, ".sdp")) names.emplace_back(name);
  }
  if (names.empty()) {
    *error = "--channels " + dir + ": no .sdp file in the folder";
    return false;
  }
  std::sort(names.begin(), names.end());
  paths->clear();
  for (const auto& n : names) {
    g_autofree gchar* p = g_build_filename(dir.c_str(), n.c_str(), nullptr);
    paths->emplace_back(p);
  }
  return true;
}

std::optional<double> Percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

ZapStats ComputeZapStats(const std::vector<ZapChange>& changes) {
  ZapStats s;
  std::vector<double> ttff, tek;
  for (const auto& c : changes) {
    if (c.index == 0) continue;
    ++s.changes;
    if (c.protected_service) ++s.protected_changes;
    if (c.prefetched()) ++s.prefetched;
    if (c.ttff_ms >= 0) {
      ++s.with_frame;
      ttff.push_back(static_cast<double>(c.ttff_ms));
    }
    if (c.tek_ready_ms >= 0) tek.push_back(static_cast<double>(c.tek_ready_ms));
  }
  s.median_ttff_ms = Percentile(ttff, 50);
  s.p90_ttff_ms = Percentile(ttff, 90);
  s.min_ttff_ms = Percentile(ttff, 0);
  s.max_ttff_ms = Percentile(ttff, 100);
  if (!ttff.empty()) {
    double sum = 0;
    for (double v : ttff) sum += v;
    s.mean_ttff_ms = sum / static_cast<double>(ttff.size());
  }
  s.median_tek_ready_ms = Percentile(tek, 50);
  return s;
}

std::string ZapReportToJson(const std::vector<std::string>& channels,
                            const std::vector<ZapChange>& changes, const std::string& key_source,
                            const std::vector<std::string>& notices) {
  const ZapStats s = ComputeZapStats(changes);
  std::string j = "{\n  \"channels\": [";
  for (std::size_t i = 0; i < channels.size(); ++i) j += (i ? ", " : "") + Quote(channels[i]);
  j += "],\n  \"key_source\": " + Quote(key_source) + ",\n";
  j += "  \"initial\": ";
  const ZapChange* initial = nullptr;
  for (const auto& c : changes) {
    if (c.index == 0) initial = &c;
  }
  j += initial ? ChangeJson(*initial) : std::string("null");
  j += ",\n  \"changes\": [";
  bool first = true;
  for (const auto& c : changes) {
    if (c.index == 0) continue;
    j += std::string(first ? "\n" : ",\n") + "    " + ChangeJson(c);
    first = false;
  }
  j += first ? "],\n" : "\n  ],\n";
  j += "  \"summary\": {\"changes\": " + std::to_string(s.changes) +
       ", \"with_frame\": " + std::to_string(s.with_frame) +
       ", \"protected_changes\": " + std::to_string(s.protected_changes) +
       ", \"prefetched\": " + std::to_string(s.prefetched) +
       ", \"median_ttff_ms\": " + Number(s.median_ttff_ms) +
       ", \"p90_ttff_ms\": " + Number(s.p90_ttff_ms) +
       ", \"mean_ttff_ms\": " + Number(s.mean_ttff_ms) +
       ", \"min_ttff_ms\": " + Number(s.min_ttff_ms) +
       ", \"max_ttff_ms\": " + Number(s.max_ttff_ms) +
       ", \"median_tek_ready_ms\": " + Number(s.median_tek_ready_ms) + "},\n";
  j += "  \"notices\": [";
  for (std::size_t i = 0; i < notices.size(); ++i) j += (i ? ", " : "") + Quote(notices[i]);
  j += "]\n}\n";
  return j;
}

std::string ZapLine(const ZapChange& c) {
  std::string line = "zap n=" + std::to_string(c.index) + " from=" + std::to_string(c.from) +
                     " to=" + std::to_string(c.to) + " ttff_ms=" + std::to_string(c.ttff_ms) +
                     " protected=" + (c.protected_service ? "1" : "0") +
                     " prefetched=" + (c.prefetched() ? "1" : "0") +
                     " tek_source=" + (c.tek_source.empty() ? "-" : c.tek_source) +
                     " tek_ready_ms=" + std::to_string(c.tek_ready_ms);
  if (!c.error.empty()) line += " error=\"" + c.error + "\"";
  return line;
}

}  // namespace player
