// Interactive terminal mode of bcast-player: a channel list, zapping keys, a status line and a
// clear message, with what to do, for every failure. One Session per channel; zapping stops it and
// starts the next.
#pragma once

#include <string>
#include <vector>

#include "player/parental.h"
#include "player/player.h"

namespace player {

// Channel changes made by the player itself (tests, benchmarks): headless-friendly, no keyboard.
struct ZapScript {
  int changes = 0;              // changes to make (0: none, keyboard only)
  bool on_first_frame = false;  // next change dwell_s after the current channel's first frame
  double every_s = 0;           // or: a change every every_s seconds after the previous one
  double dwell_s = 0.5;
  double warmup_s = -1;         // on the first channel before the first change (-1: dwell_s)
  double frame_timeout_s = 10;  // a change without a frame by then counts as failed
};

struct InteractiveOptions {
  std::vector<std::string> channels;  // session descriptions or recordings
  Options base;                       // key source, bus, headless... for every channel
  std::string config_path;            // parental setting and PIN hash
  ParentalConfig parental;
  std::string record_dir = ".";
  ZapScript script;
  std::string report_path;    // JSON zap report ("" none)
  bool keyring_reuse = true;  // a channel gets its own keyring back when it is watched again
};

int RunInteractive(const InteractiveOptions& options);

}  // namespace player
