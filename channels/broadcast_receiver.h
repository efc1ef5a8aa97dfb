// Broadcast channel receive (architecture.md, libchannels): UDP datagrams of the registration,
// BCRO, trigger (and key) streams, unicast or multicast, on a GMainContext. No GStreamer: spcd
// uses it. One socket per (address, port); any number of listeners at once.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "spc/libspc/result.h"

namespace channels {

class BroadcastReceiver {
 public:
  // Called on the receiver's main context for every datagram.
  using Handler = std::function<void(std::span<const std::uint8_t> datagram)>;

  // Sources are attached to `context` (nullptr: the thread-default context at construction).
  explicit BroadcastReceiver(GMainContext* context = nullptr);
  ~BroadcastReceiver();
  BroadcastReceiver(const BroadcastReceiver&) = delete;
  BroadcastReceiver& operator=(const BroadcastReceiver&) = delete;

  // Receives the datagrams sent to address:port. A multicast address (IPv4 224/4, IPv6 ff00::/8)
  // is joined on the default interface, the socket bound to the wildcard address with address
  // reuse (other receivers of the group may run on the machine); a unicast address is bound as
  // given (port 0: any free port, see LocalPort). Returns a listener ID, or an error message
  // naming the address and the system error.
  spc::Result<int, std::string> Listen(const std::string& address, std::uint16_t port,
                                       Handler handler);
  // Stops one listener; its socket closes (and leaves its group) with its last listener.
  void Stop(int listener);

  // The port a listener's socket is bound to (0 when unknown).
  std::uint16_t LocalPort(int listener) const;

  std::uint64_t datagrams() const { return datagrams_; }
  std::uint64_t receive_errors() const { return receive_errors_; }

  // Largest datagram accepted; longer ones are truncated by the kernel and dropped here.
  static constexpr std::size_t kMaxDatagram = 65535;

 private:
  struct Endpoint;
  void OnReadable(Endpoint& endpoint);
  static gboolean OnSocket(GSocket* socket, GIOCondition condition, gpointer self);

  GMainContext* context_ = nullptr;
  int next_id_ = 1;
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_;  // "address|port" → socket
  std::map<int, std::string> listeners_;                        // listener → endpoint key
  std::uint64_t datagrams_ = 0;
  std::uint64_t receive_errors_ = 0;
};

}  // namespace channels
