#include "channels/broadcast_receiver.h"

#include <utility>
#include <vector>

namespace channels {

struct BroadcastReceiver::Endpoint {
  BroadcastReceiver* owner = nullptr;
  std::string key;
  GSocket* socket = nullptr;
  GSource* source = nullptr;
  GInetAddress* group = nullptr;  // joined multicast group, null for unicast
  std::map<int, Handler> handlers;
  std::vector<std::uint8_t> buffer;

  ~Endpoint() {
    if (source) {
      g_source_destroy(source);
      g_source_unref(source);
    }
    if (socket) {
      if (group) g_socket_leave_multicast_group(socket, group, FALSE, nullptr, nullptr);
      g_socket_close(socket, nullptr);
      g_object_unref(socket);
    }
    if (group) g_object_unref(group);
  }
};

BroadcastReceiver::BroadcastReceiver(GMainContext* context)
    : context_(context ? g_main_context_ref(context) : g_main_context_ref_thread_default()) {}

BroadcastReceiver::~BroadcastReceiver() {
  endpoints_.clear();
  g_main_context_unref(context_);
}

spc::Result<int, std::string> BroadcastReceiver::Listen(const std::string& address,
                                                        std::uint16_t port, Handler handler) {
  const std::string key = address + "|" + std::to_string(port);
  auto it = endpoints_.find(key);
  if (it == endpoints_.end() || port == 0) {
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address.c_str());
    if (inet == nullptr) return std::string("not an IP address: '" + address + "'");
    const bool multicast = g_inet_address_get_is_multicast(inet);
    g_autoptr(GError) error = nullptr;
    auto ep = std::make_unique<Endpoint>();
    ep->owner = this;
    ep->key = key;
    ep->buffer.resize(kMaxDatagram + 1);
    ep->socket = g_socket_new(g_inet_address_get_family(inet), G_SOCKET_TYPE_DATAGRAM,
                              G_SOCKET_PROTOCOL_UDP, &error);
    if (ep->socket == nullptr) return "socket for " + key + ": " + error->message;
    g_socket_set_blocking(ep->socket, FALSE);
    g_autoptr(GInetAddress) bind_inet =
        multicast ? g_inet_address_new_any(g_inet_address_get_family(inet))
                  : static_cast<GInetAddress*>(g_object_ref(inet));
    g_autoptr(GSocketAddress) bind_addr = g_inet_socket_address_new(bind_inet, port);
    if (!g_socket_bind(ep->socket, bind_addr, multicast, &error)) {
      return "bind " + address + ":" + std::to_string(port) + ": " + error->message;
    }
    if (multicast) {
      if (!g_socket_join_multicast_group(ep->socket, inet, FALSE, nullptr, &error)) {
        return "join " + address + ": " + error->message;
      }
      ep->group = static_cast<GInetAddress*>(g_object_ref(inet));
    }
    ep->source = g_socket_create_source(ep->socket, G_IO_IN, nullptr);
    g_source_set_callback(ep->source, G_SOURCE_FUNC(+OnSocket), ep.get(), nullptr);
    g_source_attach(ep->source, context_);
    if (port == 0) {
      // Each port-0 listener is its own socket: key it by the port the kernel chose.
      g_autoptr(GSocketAddress) local = g_socket_get_local_address(ep->socket, nullptr);
      ep->key = address + "|0|" + std::to_string(next_id_);
      if (local) {
        ep->key = address + "|" +
                  std::to_string(g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local)));
      }
    }
    it = endpoints_.emplace(ep->key, std::move(ep)).first;
  }
  const int id = next_id_++;
  it->second->handlers.emplace(id, std::move(handler));
  listeners_.emplace(id, it->first);
  return id;
}

void BroadcastReceiver::Stop(int listener) {
  auto l = listeners_.find(listener);
  if (l == listeners_.end()) return;
  auto it = endpoints_.find(l->second);
  listeners_.erase(l);
  if (it == endpoints_.end()) return;
  it->second->handlers.erase(listener);
  if (it->second->handlers.empty()) endpoints_.erase(it);
}

std::uint16_t BroadcastReceiver::LocalPort(int listener) const {
  auto l = listeners_.find(listener);
  if (l == listeners_.end()) return 0;
  auto it = endpoints_.find(l->second);
  if (it == endpoints_.end()) return 0;
  g_autoptr(GSocketAddress) local = g_socket_get_local_address(it->second->socket, nullptr);
  return local ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local)) : 0;
}

gboolean BroadcastReceiver::OnSocket(GSocket*, GIOCondition, gpointer data) {
  auto* ep = static_cast<Endpoint*>(data);
  ep->owner->OnReadable(*ep);
  return G_SOURCE_CONTINUE;
}

void BroadcastReceiver::OnReadable(Endpoint& ep) {
  // Drain what is queued, but bounded: one busy stream must not starve the main loop.
  for (int i = 0; i < 64; ++i) {
    g_autoptr(GError) error = nullptr;
    gssize n = g_socket_receive(ep.socket, reinterpret_cast<gchar*>(ep.buffer.data()),
                                ep.buffer.size(), nullptr, &error);
    if (n < 0) {
      if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) ++receive_errors_;
      return;
    }
    if (static_cast<std::size_t>(n) > kMaxDatagram) {
      ++receive_errors_;
      continue;
    }
    ++datagrams_;
    // A copy: a handler may Stop() the endpoint that owns the buffer.
    const std::vector<std::uint8_t> datagram(ep.buffer.begin(), ep.buffer.begin() + n);
    // A handler may Stop() listeners (even this endpoint): call a snapshot, check liveness.
    std::vector<int> ids;
    for (const auto& [id, h] : ep.handlers) ids.push_back(id);
    const std::string key = ep.key;
    for (int id : ids) {
      auto e = endpoints_.find(key);
      if (e == endpoints_.end()) return;
      auto h = e->second->handlers.find(id);
      if (h == e->second->handlers.end()) continue;
      Handler copy = h->second;
      copy(datagram);
    }
    if (endpoints_.find(key) == endpoints_.end()) return;
  }
}

}  // namespace channels
