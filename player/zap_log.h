// Channel changes (zapping) of bcast-player: the channel list from a folder of session
// descriptions, and the record of each change (time from the zap command to the first decoded
// video frame, and where the first usable TEK came from) with its JSON form for --report.
// No GStreamer here: unit-tested on its own (tests/zap).
#pragma once

#include <glib.h>

#include <optional>
#include <string>
#include <vector>

namespace player {

// The .sdp files of `dir`, sorted by name (byte order), as paths. False with `error` set when the
// folder cannot be read or holds no .sdp file.
bool ListChannelDir(const std::string& dir, std::vector<std::string>* paths, std::string* error);

// One channel change. `index` 0 is the first tune-in at start (not a change); 1.. are changes.
struct ZapChange {
  std::size_t index = 0;
  std::size_t from = 0, to = 0;  // channel numbers from 1 (from = 0: the first tune-in)
  std::string from_name, to_name;
  gint64 at_ms = -1;               // zap command, ms since the run started
  gint64 ttff_ms = -1;             // zap command to the first decoded video frame (-1: none)
  gint64 tek_ready_ms = -1;        // zap command to the first usable TEK (tekdec's bcast-tek-ready)
  bool protected_service = false;  // the target has a key stream
  bool keyring_reused = false;     // the target got back its keyring of an earlier visit
  // tekdec's bcast-tek-ready `source` of the first TEK: "held" (prefetched by spcd), "stkm",
  // "fetch"; "" when no such message came (clear service, or a tekdec without it).
  std::string tek_source;
  guint tek_id = 0;
  bool prefetched() const { return tek_source == "held"; }
  std::string error;  // why no frame came ("" when one did)
};

struct ZapStats {
  std::size_t changes = 0;     // changes counted (the first tune-in is not one)
  std::size_t with_frame = 0;  // changes that decoded a frame
  std::size_t prefetched = 0;  // changes whose first TEK was prefetched
  std::size_t protected_changes = 0;
  std::optional<double> median_ttff_ms, p90_ttff_ms, mean_ttff_ms, min_ttff_ms, max_ttff_ms;
  std::optional<double> median_tek_ready_ms;
};

// Median and percentiles by linear interpolation between closest ranks (numpy's default), so the
// benchmark and the report agree. nullopt for an empty set.
std::optional<double> Percentile(std::vector<double> values, double p);

ZapStats ComputeZapStats(const std::vector<ZapChange>& changes);

// The zap report: {"channels": [...], "changes": [...], "initial": {...}, "summary": {...}}.
std::string ZapReportToJson(const std::vector<std::string>& channels,
                            const std::vector<ZapChange>& changes, const std::string& key_source,
                            const std::vector<std::string>& notices);

// One line for logs and scripted runs: "zap n=3 from=1 to=2 ttff_ms=412 prefetched=1
// tek_source=held tek_ready_ms=3".
std::string ZapLine(const ZapChange& change);

}  // namespace player
