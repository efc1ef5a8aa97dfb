#include "player/report.h"

#include <cstdio>
#include <string>

namespace player {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string Number(gint64 v) { return v < 0 ? "null" : std::to_string(v); }

std::string Counters(const std::map<std::string, guint64>& counters) {
  std::string j = "{";
  bool first = true;
  for (const auto& [name, n] : counters) {
    j += (first ? "" : ", ") + Quote(name) + ": " + std::to_string(n);
    first = false;
  }
  return j + "}";
}

using Stats = std::vector<std::pair<std::string, guint64>>;

// {"stream": {"counter": n, ...}, ...} for the streams whose `stats` are not empty.
template <typename Get>
std::string StatsByStream(const Report& r, Get stats) {
  std::string j = "{";
  bool first = true;
  for (const auto& s : r.streams) {
    const Stats& values = stats(s);
    if (values.empty()) continue;
    j += std::string(first ? "\n" : ",\n") + "    " + Quote(s.name) + ": {";
    for (std::size_t i = 0; i < values.size(); ++i) {
      j += (i ? ", " : "") + Quote(values[i].first) + ": " + std::to_string(values[i].second);
    }
    j += "}";
    first = false;
  }
  return j + (first ? "}" : "\n  }");
}

}  // namespace

std::string ReportToJson(const Report& r) {
  std::string j = "{\n";
  j += "  \"service\": " + Quote(r.service) + ",\n";
  j += "  \"sdp\": " + Quote(r.sdp) + ",\n";
  j += "  \"duration_ms\": " + std::to_string(r.duration_ms) + ",\n";
  j += "  \"frames_decoded\": {";
  for (std::size_t i = 0; i < r.streams.size(); ++i) {
    j += (i ? ", " : "") + Quote(r.streams[i].name) + ": " + std::to_string(r.streams[i].frames);
  }
  j += "},\n";
  j += "  \"first_frame_ms\": {";
  for (std::size_t i = 0; i < r.streams.size(); ++i) {
    j += (i ? ", " : "") + Quote(r.streams[i].name) + ": " + Number(r.streams[i].first_frame_ms);
  }
  j += "},\n";
  j += "  \"key_source\": " + Quote(r.key_source) + ",\n";
  j += "  \"protection\": {";
  for (std::size_t i = 0; i < r.streams.size(); ++i) {
    j += (i ? ", " : "") + Quote(r.streams[i].name) + ": " + Quote(r.streams[i].protection);
  }
  j += "},\n";
  j += "  \"decrypt_failures\": " + std::to_string(r.decrypt_failures) + ",\n";
  j += "  \"decrypt_failures_by_reason\": " + Counters(r.decrypt_failures_by_reason) + ",\n";
  j += "  \"tek_changes\": " + std::to_string(r.tek_changes) + ",\n";
  j += "  \"tek_ids_in_use\": [";
  for (std::size_t i = 0; i < r.tek_ids_in_use.size(); ++i) {
    j += (i ? ", " : "") + std::to_string(r.tek_ids_in_use[i]);
  }
  j += "],\n";
  j += "  \"tek_ids_by_stream\": {";
  for (std::size_t i = 0; i < r.streams.size(); ++i) {
    j += (i ? ", " : "") + Quote(r.streams[i].name) + ": [";
    const auto& ids = r.streams[i].tek_ids_in_use;
    for (std::size_t k = 0; k < ids.size(); ++k) j += (k ? ", " : "") + std::to_string(ids[k]);
    j += "]";
  }
  j += "},\n";
  j += "  \"teks_received\": " + std::to_string(r.teks_received) + ",\n";
  j += "  \"time_to_first_frame_ms\": " + Number(r.time_to_first_frame_ms) + ",\n";
  j += "  \"time_to_first_key_ms\": " + Number(r.time_to_first_key_ms) + ",\n";
  j += "  \"stkm_accepted\": " + std::to_string(r.stkm_accepted) + ",\n";
  j += "  \"stkm_repeats\": " + std::to_string(r.stkm_repeats) + ",\n";
  j += "  \"stkm_rejected\": " + Counters(r.stkm_rejected) + ",\n";
  j += "  \"no_rights_content_ids\": [";
  for (std::size_t i = 0; i < r.no_rights_content_ids.size(); ++i) {
    j += (i ? ", " : "") + Quote(r.no_rights_content_ids[i]);
  }
  j += "],\n";
  j += "  \"spcd_outages\": " + std::to_string(r.spcd_outages) + ",\n";
  j += "  \"smartcard\": {\"removals\": " + std::to_string(r.smartcard_removals) +
       ", \"state\": " + Quote(r.smartcard_state) +
       ", \"held_until\": " + std::to_string(r.smartcard_held_until) + "},\n";
  j += "  \"srtp_stats\": " +
       StatsByStream(r, [](const StreamReport& s) -> const Stats& { return s.srtp_stats; }) + ",\n";
  j += "  \"ismacryp_stats\": " +
       StatsByStream(r, [](const StreamReport& s) -> const Stats& { return s.ismacryp_stats; }) +
       ",\n";
  j += "  \"tek_ready\": [";
  for (std::size_t i = 0; i < r.tek_ready.size(); ++i) {
    const auto& t = r.tek_ready[i];
    j += std::string(i ? ", " : "") + "{\"base_cid\": " + Quote(t.base_cid) +
         ", \"tek_id\": " + std::to_string(t.tek_id) + ", \"source\": " + Quote(t.source) +
         ", \"prefetched\": " + (t.source == "held" ? "true" : "false") +
         ", \"ms\": " + Number(t.ms) + "}";
  }
  j += "],\n";
  j += "  \"errors\": [";
  for (std::size_t i = 0; i < r.errors.size(); ++i) j += (i ? ", " : "") + Quote(r.errors[i]);
  j += "]\n}\n";
  return j;
}

bool WriteReport(const Report& report, const std::string& path, std::string* error) {
  const std::string json = ReportToJson(report);
  g_autoptr(GError) err = nullptr;
  // Written whole and renamed into place, so a reader never sees half a report.
  if (!g_file_set_contents(path.c_str(), json.data(), static_cast<gssize>(json.size()), &err)) {
    if (error) *error = err ? err->message : "cannot write report";
    return false;
  }
  return true;
}

}  // namespace player
