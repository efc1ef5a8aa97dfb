// bcast-player [options] SERVICE.sdp
#include <gst/gst.h>

#include <cstdio>
#include <string>

#include "player/player.h"

#ifndef BCAST_PLUGIN_BUILD_DIR
#define BCAST_PLUGIN_BUILD_DIR ""
#endif

namespace {

// Run from the build tree, the plugin is not installed yet: fall back to the one built beside it.
void EnsurePlugin() {
  GstRegistry* registry = gst_registry_get();
  g_autoptr(GstPlugin) plugin = gst_registry_find_plugin(registry, "bcastprotect");
  if (plugin != nullptr) return;
  const std::string dir = BCAST_PLUGIN_BUILD_DIR;
  if (!dir.empty() && g_file_test(dir.c_str(), G_FILE_TEST_IS_DIR)) {
    gst_registry_scan_path(registry, dir.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  gchar* key_file = nullptr;
  gchar* bus_address = nullptr;
  gboolean session_bus = FALSE;
  gchar* report = nullptr;
  gchar* checksums = nullptr;
  gboolean headless = FALSE;
  gboolean quiet = FALSE;
  gdouble duration = 0;
  GOptionEntry entries[] = {
      {"key-file", 'k', 0, G_OPTION_ARG_FILENAME, &key_file,
       "Take the long-term keys from this SEK/SAK key file (GKeyFile, one group per content ID) "
       "instead of spcd",
       "FILE"},
      {"session-bus", 0, 0, G_OPTION_ARG_NONE, &session_bus,
       "Ask spcd on the session bus (default: the system bus)", nullptr},
      {"bus-address", 0, 0, G_OPTION_ARG_STRING, &bus_address,
       "Ask spcd on the D-Bus bus at ADDR (tests, private buses)", "ADDR"},
      {"headless", 0, 0, G_OPTION_ARG_NONE, &headless, "No window and no sound device", nullptr},
      {"duration", 'd', 0, G_OPTION_ARG_DOUBLE, &duration,
       "Stop after SECONDS of playing (default: until stopped)", "SECONDS"},
      {"report", 'r', 0, G_OPTION_ARG_FILENAME, &report, "Write a JSON report to FILE", "FILE"},
      {"frame-checksums", 0, 0, G_OPTION_ARG_FILENAME, &checksums,
       "Write '<stream> <index> <sha1>' for every decoded frame/buffer to FILE", "FILE"},
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print only warnings, errors and the summary",
       nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr},
  };
  g_autoptr(GOptionContext) context = g_option_context_new("SERVICE.sdp");
  g_option_context_set_summary(context,
                               "Plays an OMA BCAST protected service (SRTP or ISMACryp media, "
                               "TEKs from STKMs) described by a session description. The TEKs "
                               "come from the SP-C daemon spcd (org.openbcast.SPC1 on the system "
                               "bus) unless --key-file is given.");
  g_option_context_add_main_entries(context, entries, nullptr);
  g_option_context_add_group(context, gst_init_get_option_group());
  g_autoptr(GError) error = nullptr;
  if (!g_option_context_parse(context, &argc, &argv, &error)) {
    std::fprintf(stderr, "bcast-player: %s\n", error->message);
    return 1;
  }
  if (key_file != nullptr && (session_bus || bus_address != nullptr)) {
    std::fprintf(stderr,
                 "bcast-player: --key-file and --session-bus/--bus-address exclude each "
                 "other (keys come from the file or from spcd)\n");
    return 1;
  }
  if (session_bus && bus_address != nullptr) {
    std::fprintf(stderr, "bcast-player: --session-bus and --bus-address exclude each other\n");
    return 1;
  }
  if (argc != 2) {
    g_autofree gchar* help = g_option_context_get_help(context, TRUE, nullptr);
    std::fprintf(stderr, "%s", help);
    return 1;
  }
  gst_init(nullptr, nullptr);
  EnsurePlugin();
  setvbuf(stdout, nullptr, _IOLBF, 0);

  player::Options options;
  options.sdp_path = argv[1];
  options.key_file = key_file ? key_file : "";
  if (bus_address != nullptr && *bus_address != '\0') {
    options.bus = player::SpcdBus::kAddress;
    options.bus_address = bus_address;
  } else if (session_bus) {
    options.bus = player::SpcdBus::kSession;
  }
  options.report_path = report ? report : "";
  options.checksums_path = checksums ? checksums : "";
  options.headless = headless;
  options.quiet = quiet;
  options.duration_s = duration;
  g_free(key_file);
  g_free(bus_address);
  g_free(report);
  g_free(checksums);
  const int status = player::Run(options);
  gst_deinit();
  return status;
}
