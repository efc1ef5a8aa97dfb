// Conformance mode (bcast-player --conformance PLAN): plays a list of services one after the
// other, each for its planned duration, and judges each from the player's report. Writes a JSON
// report (--report FILE) and a human report (--text-report FILE, else stdout). Exit status 0 when
// every service passed, 1 when any failed, 2 when the plan itself is wrong.
//
// The plan is a GKeyFile, one group per service, run in file order:
//
//   [service news]
//   sdp=news.sdp              session description (relative paths: from the plan's folder)
//   duration=8                seconds to play (default 10)
//   key-file=keys.ini         optional: this service's keys from a key file, not spcd
//   min-frames=1              each stream must decode at least this many frames (default 1)
//   max-decrypt-failures=0    SRTP packets / ISMACryp AUs lost to decryption (default 0; SRTP
//                             packets dropped while waiting for a TEK are reported apart)
//   min-keys=1                TEKs obtained, on protected services (default 1)
//   max-first-frame-ms=0      first video frame within this time (0: not checked)
#pragma once

#include <string>

#include "player/player.h"

namespace player {

struct ConformanceOptions {
  std::string plan_path;
  std::string json_path;  // "" = no JSON report
  std::string text_path;  // "" = human report on stdout
  Options base;           // key source, bus, headless... shared by every service
};

int RunConformance(const ConformanceOptions& options);

}  // namespace player
