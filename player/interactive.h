// Interactive terminal mode of bcast-player: a channel list, zapping keys, a status line and a
// clear message, with what to do, for every failure. One Session per channel; zapping stops it and
// starts the next.
#pragma once

#include <string>
#include <vector>

#include "player/parental.h"
#include "player/player.h"

namespace player {

struct InteractiveOptions {
  std::vector<std::string> channels;  // session descriptions or recordings
  Options base;                       // key source, bus, headless... for every channel
  std::string config_path;            // parental setting and PIN hash
  ParentalConfig parental;
  std::string record_dir = ".";
};

int RunInteractive(const InteractiveOptions& options);

}  // namespace player
