// Tells spcd the terminal's channel list and the channel watched (D-Bus SetChannelList on
// org.openbcast.SPC1), so that spcd keeps the TEKs of the neighbouring channels ready (prefetch)
// and a channel change does not wait for the new service's key stream.
#pragma once

#include <gio/gio.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "player/player.h"

namespace player {

class ChannelListPublisher {
 public:
  // `notice` gets one line when spcd cannot take the list (older spcd without the method, or not
  // reachable); zapping works on without prefetched keys.
  ChannelListPublisher(const Options& options, std::vector<std::string> sdp_texts,
                       std::function<void(const std::string&)> notice);
  ~ChannelListPublisher();
  ChannelListPublisher(const ChannelListPublisher&) = delete;
  ChannelListPublisher& operator=(const ChannelListPublisher&) = delete;

  // Sends the list with `current` (from 0) as the channel watched; never blocks the caller.
  void Publish(int current);

 private:
  static void OnReply(GObject* source, GAsyncResult* result, gpointer data);

  Options options_;
  std::vector<std::string> sdps_;
  std::function<void(const std::string&)> notice_;
  struct ObjectUnref {
    void operator()(gpointer object) const { g_object_unref(object); }
  };
  std::unique_ptr<GDBusConnection, ObjectUnref> connection_;
  std::unique_ptr<GCancellable, ObjectUnref> cancellable_;  // cancelled in the destructor
  bool disabled_ = false;  // spcd has no SetChannelList: stop asking
};

}  // namespace player
