// bcast-player: plays one protected service from its session description in one GStreamer pipeline
// (key branch: udpsrc ! stkmparse ! tekdec; media branches: udpsrc ! queue ! bcastsrtpdec !
// depayloader ! parser ! decoder ! sink), prints key and decrypt events and writes a JSON report.
#pragma once

#include <string>

namespace player {

struct Options {
  std::string sdp_path;
  std::string key_file;        // SEK/SAK key file for tekdec (sek-file)
  std::string report_path;     // JSON report, "" for none
  std::string checksums_path;  // one line per decoded frame/buffer, "" for none
  bool headless = false;       // never open a window or a sound device
  bool quiet = false;          // only warnings, errors and the summary
  double duration_s = 0;       // stop after this long in PLAYING; 0: until EOS or a signal
};

// Exit status: 0 played without error, 1 pipeline or setup error, 2 ran but decoded nothing.
int Run(const Options& options);

}  // namespace player
