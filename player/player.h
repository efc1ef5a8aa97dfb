// bcast-player: plays one protected service from its session description in one GStreamer pipeline
// (key branches: udpsrc ! stkmparse ! tekdec; media branches: udpsrc ! queue ! bcastsrtpdec !
// depayloader ! parser ! decoder ! sink for SRTP, udpsrc ! queue ! ismacrypdec ! parser ! decoder
// ! sink for ISMACryp), prints key and decrypt events and writes a JSON report.
#pragma once

#include <string>

namespace player {

// Where tekdec gets the TEKs: spcd (the default; long-term keys stay in the daemon) or a key file.
enum class SpcdBus { kSystem, kSession, kAddress };

struct Options {
  std::string sdp_path;
  std::string key_file;  // SEK/SAK key file for tekdec (sek-file); "" = TEKs from spcd
  SpcdBus bus = SpcdBus::kSystem;
  std::string bus_address;     // with SpcdBus::kAddress
  std::string report_path;     // JSON report, "" for none
  std::string checksums_path;  // one line per decoded frame/buffer, "" for none
  bool headless = false;       // never open a window or a sound device
  bool quiet = false;          // only warnings, errors and the summary
  double duration_s = 0;       // stop after this long in PLAYING; 0: until EOS or a signal
};

// Exit status: 0 played without error, 1 pipeline or setup error, 2 ran but decoded nothing.
int Run(const Options& options);

}  // namespace player
