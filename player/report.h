// The JSON report of a bcast-player run (--report), for conformance runs and the end-to-end tests.
#pragma once

#include <glib.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace player {

struct StreamReport {
  std::string name;
  guint64 frames = 0;
  gint64 first_frame_ms = -1;
  std::string protection = "clear";  // "srtp", "ismacryp" or "clear"
  bool srtp = false;
  std::vector<std::pair<std::string, guint64>> srtp_stats;      // in bcastsrtpdec's order
  std::vector<std::pair<std::string, guint64>> ismacryp_stats;  // ismacrypdec's, then "lost"
  std::vector<guint> tek_ids_in_use;                            // TEKs this stream used, in order
};

struct TekReadyReport {
  std::string base_cid;
  guint tek_id = 0;
  std::string source;  // "held" (prefetched by spcd), "stkm", "fetch"
  gint64 ms = -1;      // since the start
};

struct Report {
  std::string service;
  std::string sdp;
  gint64 duration_ms = 0;
  std::vector<StreamReport> streams;
  std::string key_source;        // "spcd on the system bus", "key file PATH" or "none"
  guint64 decrypt_failures = 0;  // SRTP packets lost (auth-failures + replays + dropped-held +
                                 // unknown-mki that could not be held) + ISMACryp AUs dropped
  std::map<std::string, guint64> decrypt_failures_by_reason;  // "srtp-…", "ismacryp-dropped-…"
  guint64 tek_changes = 0;  // changes of the TEK in use after the first one
  std::vector<guint> tek_ids_in_use;
  guint64 teks_received = 0;
  gint64 time_to_first_frame_ms = -1;  // first decoded video frame (-1: none)
  gint64 time_to_first_key_ms = -1;
  std::map<std::string, guint64> stkm_rejected;    // bad-mac, no-rights, malformed, replay, ...
  std::vector<std::string> no_rights_content_ids;  // content IDs of STKMs without rights
  guint64 spcd_outages = 0;                        // times spcd went away while playing
  // Smartcard Profile: card removals while playing, the card's last state ("present",
  // "removed", "" without a CardChanged) and, at the last removal, when the held keys were
  // expected to run out (seconds since 1970, 0 unknown).
  guint64 smartcard_removals = 0;
  std::string smartcard_state;
  gint64 smartcard_held_until = 0;
  guint64 stkm_accepted = 0;
  guint64 stkm_repeats = 0;
  std::vector<TekReadyReport> tek_ready;  // tekdec's bcast-tek-ready, one per key stream
  std::vector<std::string> errors;
};

std::string ReportToJson(const Report& report);
bool WriteReport(const Report& report, const std::string& path, std::string* error);

}  // namespace player
