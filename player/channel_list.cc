#include "player/channel_list.h"

#include <string>
#include <utility>
#include <vector>

namespace player {

namespace {
constexpr char kBusName[] = "org.openbcast.SPC1";
constexpr char kObjectPath[] = "/org/openbcast/SPC1";
constexpr char kInterface[] = "org.openbcast.SPC1";
}  // namespace

ChannelListPublisher::ChannelListPublisher(const Options& options,
                                           std::vector<std::string> sdp_texts,
                                           std::function<void(const std::string&)> notice)
    : options_(options), sdps_(std::move(sdp_texts)), notice_(std::move(notice)) {
  cancellable_.reset(g_cancellable_new());
  g_autoptr(GError) err = nullptr;
  GDBusConnection* c = nullptr;
  switch (options_.bus) {
    case SpcdBus::kSystem:
      c = g_bus_get_sync(G_BUS_TYPE_SYSTEM, nullptr, &err);
      break;
    case SpcdBus::kSession:
      c = g_bus_get_sync(G_BUS_TYPE_SESSION, nullptr, &err);
      break;
    case SpcdBus::kAddress:
      c = g_dbus_connection_new_for_address_sync(
          options_.bus_address.c_str(),
          static_cast<GDBusConnectionFlags>(G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION),
          nullptr, nullptr, &err);
      break;
  }
  connection_.reset(c);
  if (!connection_) {
    disabled_ = true;
    if (notice_) {
      notice_(std::string("cannot tell spcd the channel list (") + (err ? err->message : "no bus") +
              "): channel changes wait for each key stream");
    }
  }
}

ChannelListPublisher::~ChannelListPublisher() {
  // A reply still on its way finds the cancelled state and leaves `this` alone.
  g_cancellable_cancel(cancellable_.get());
}

void ChannelListPublisher::Publish(int current) {
  if (disabled_ || !connection_) return;
  GVariantBuilder list;
  g_variant_builder_init(&list, G_VARIANT_TYPE("as"));
  for (const auto& sdp : sdps_) g_variant_builder_add(&list, "s", sdp.c_str());
  g_dbus_connection_call(connection_.get(), kBusName, kObjectPath, kInterface, "SetChannelList",
                         g_variant_new("(asi)", &list, current), nullptr,
                         G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, cancellable_.get(),
                         &ChannelListPublisher::OnReply, this);
}

void ChannelListPublisher::OnReply(GObject* source, GAsyncResult* result, gpointer data) {
  g_autoptr(GError) err = nullptr;
  g_autoptr(GVariant) reply =
      g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &err);
  if (reply != nullptr) return;
  // Cancelled: the publisher is gone, `data` must not be touched.
  if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) return;
  auto* self = static_cast<ChannelListPublisher*>(data);
  if (self->disabled_) return;
  std::string text;
  if (g_error_matches(err, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD)) {
    // An spcd from before prefetching: ask no more, zapping works on without it.
    self->disabled_ = true;
    text =
        "spcd does not know SetChannelList (an older spcd): channel changes wait for each "
        "service's key stream, no TEK is prefetched";
  } else {
    g_autofree gchar* remote = g_dbus_error_get_remote_error(err);
    if (remote != nullptr) g_dbus_error_strip_remote_error(err);
    text = std::string("spcd did not take the channel list (") + (remote ? remote : "error") +
           ": " + err->message + "): TEKs may not be prefetched";
  }
  if (self->notice_) self->notice_(text);
}

}  // namespace player
