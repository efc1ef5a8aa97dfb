// bcast-player [options] SERVICE.sdp|RECORDING.bcrec...
//   plain:        plays one service (or a recording) until EOS, --duration or a signal
//   interactive:  --interactive, or a terminal on stdin and stdout: channel list, zapping, status
//   conformance:  --conformance PLAN: a list of services and durations, judged, with reports
#include <gst/gst.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "player/conformance.h"
#include "player/interactive.h"
#include "player/parental.h"
#include "player/player.h"
#include "player/zap_log.h"
#include "spc/libspc/crypto.h"

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

// --set-pin / --set-parental-rating: change the config and exit.
int Configure(const std::string& path, bool set_pin, gint set_age) {
  player::ParentalConfig config;
  std::string error;
  if (!player::LoadParentalConfig(path, &config, &error)) {
    std::fprintf(stderr, "bcast-player: %s\n", error.c_str());
    return 1;
  }
  if (set_age >= 0) {
    if (set_age > 255) {
      std::fprintf(stderr, "bcast-player: --set-parental-rating: 0..255 (255 = no limit)\n");
      return 1;
    }
    config.max_age = static_cast<unsigned>(set_age);
  }
  if (set_pin) {
    if (isatty(STDIN_FILENO)) std::fprintf(stderr, "New PIN (4-12 digits): ");
    std::string pin;
    std::getline(std::cin, pin);
    if (!player::ValidPin(pin)) {
      std::fprintf(stderr, "bcast-player: --set-pin: the PIN must be 4 to 12 digits\n");
      return 1;
    }
    config.pin_hash = player::HashPin(pin);
    std::fill(pin.begin(), pin.end(), '\0');
    if (config.pin_hash.empty()) {
      std::fprintf(stderr, "bcast-player: --set-pin: PBKDF2 failed\n");
      return 1;
    }
  }
  if (!player::SaveParentalConfig(path, config, &error)) {
    std::fprintf(stderr, "bcast-player: %s\n", error.c_str());
    return 1;
  }
  std::printf("config %s: parental max-age %u%s, PIN %s\n", path.c_str(), config.max_age,
              config.max_age == 255 ? " (no limit)" : "",
              config.pin_hash.empty() ? "not set" : "set");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spc::KeepOpensslStateUntilExit();  // before the plugin's streaming threads use OpenSSL
  // g_autofree: the early returns free the option strings too.
  g_autofree gchar* key_file = nullptr;
  g_autofree gchar* bus_address = nullptr;
  gboolean session_bus = FALSE;
  g_autofree gchar* report = nullptr;
  g_autofree gchar* checksums = nullptr;
  gboolean headless = FALSE;
  gboolean quiet = FALSE;
  gboolean interactive = FALSE;
  gdouble duration = 0;
  g_autofree gchar* record = nullptr;
  g_autofree gchar* record_dir = nullptr;
  g_autofree gchar* conformance = nullptr;
  g_autofree gchar* text_report = nullptr;
  g_autofree gchar* config = nullptr;
  g_autofree gchar* pin = nullptr;
  gboolean set_pin = FALSE;
  gint set_age = -1;
  gdouble silence = 3;
  g_autofree gchar* channels_dir = nullptr;
  gint zaps = 0;
  gint zap_on_first_frame = 0;
  gdouble zap_every = 0;
  gdouble zap_dwell = 0.5;
  gdouble zap_warmup = -1;
  gdouble zap_timeout = 10;
  gboolean no_keyring_reuse = FALSE;
  gboolean no_held_teks = FALSE;
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
      {"report", 'r', 0, G_OPTION_ARG_FILENAME, &report,
       "Write a JSON report to FILE (with --conformance: the conformance report)", "FILE"},
      {"frame-checksums", 0, 0, G_OPTION_ARG_FILENAME, &checksums,
       "Write '<stream> <index> <sha1>' for every decoded frame/buffer to FILE", "FILE"},
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print only warnings, errors and the summary",
       nullptr},
      {"interactive", 'i', 0, G_OPTION_ARG_NONE, &interactive,
       "Terminal mode: channel list, zapping keys, status line (default when stdin and stdout "
       "are a terminal)",
       nullptr},
      {"record", 0, 0, G_OPTION_ARG_FILENAME, &record,
       "Record the service to FILE while playing, kept encrypted (refused when its STKMs or "
       "rights forbid recording)",
       "FILE"},
      {"record-dir", 0, 0, G_OPTION_ARG_FILENAME, &record_dir,
       "Interactive mode: folder of the recordings (default: the current folder)", "DIR"},
      {"conformance", 0, 0, G_OPTION_ARG_FILENAME, &conformance,
       "Run the services of the conformance PLAN and judge them (exit status 1 on any failure)",
       "PLAN"},
      {"text-report", 0, 0, G_OPTION_ARG_FILENAME, &text_report,
       "With --conformance: write the human report to FILE (default: stdout)", "FILE"},
      {"config", 0, 0, G_OPTION_ARG_FILENAME, &config,
       "Player config with the parental setting and the PIN hash (default: "
       "$XDG_CONFIG_HOME/openbcast/player.ini)",
       "FILE"},
      {"pin", 0, 0, G_OPTION_ARG_STRING, &pin,
       "PIN that unlocks a programme above the parental setting for this run", "PIN"},
      {"set-pin", 0, 0, G_OPTION_ARG_NONE, &set_pin,
       "Read a new PIN (4-12 digits) from stdin, store its PBKDF2 hash in the config and exit",
       nullptr},
      {"set-parental-rating", 0, 0, G_OPTION_ARG_INT, &set_age,
       "Store the parental setting (highest minimum age shown without the PIN; 255 = no limit) "
       "in the config and exit",
       "AGE"},
      {"silence-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &silence,
       "Seconds without any datagram before the network is reported silent (3)", "SECONDS"},
      {"channels", 0, 0, G_OPTION_ARG_FILENAME, &channels_dir,
       "Channel list: the .sdp files of DIR sorted by name (before any SERVICE given too); "
       "runs interactively",
       "DIR"},
      {"zap-on-first-frame", 0, 0, G_OPTION_ARG_INT, &zap_on_first_frame,
       "Scripted zapping: make N channel changes (next channel, wrapping), each --zap-dwell "
       "seconds after the channel's first decoded frame, then exit (0: every change decoded a "
       "frame, 2: not)",
       "N"},
      {"zap-every", 0, 0, G_OPTION_ARG_DOUBLE, &zap_every,
       "Scripted zapping: change channel every SECONDS (with --zaps N)", "SECONDS"},
      {"zaps", 0, 0, G_OPTION_ARG_INT, &zaps, "Number of channel changes of --zap-every", "N"},
      {"zap-dwell", 0, 0, G_OPTION_ARG_DOUBLE, &zap_dwell,
       "Seconds on a channel after its first frame before the next change (0.5)", "SECONDS"},
      {"zap-warmup", 0, 0, G_OPTION_ARG_DOUBLE, &zap_warmup,
       "Seconds on the first channel, from its first frame, before the first change (default: "
       "the dwell or period)",
       "SECONDS"},
      {"zap-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &zap_timeout,
       "Seconds a change may take to its first frame before it counts as failed (10)", "SECONDS"},
      {"no-keyring-reuse", 0, 0, G_OPTION_ARG_NONE, &no_keyring_reuse,
       "Zapping: every channel change starts with an empty keyring (by default a channel gets "
       "back the TEKs it held when it was last watched)",
       nullptr},
      {"no-held-teks", 0, 0, G_OPTION_ARG_NONE, &no_held_teks,
       "Never take the TEKs spcd holds (prefetched or from an earlier visit) at start: wait for "
       "the service's key stream (a cold baseline for measurements)",
       nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr},
  };
  g_autoptr(GOptionContext) context = g_option_context_new("SERVICE.sdp|RECORDING.bcrec...");
  g_option_context_set_summary(
      context,
      "Plays an OMA BCAST protected service (SRTP or ISMACryp media, TEKs from STKMs) described by "
      "a session description, or a recording made with --record. The TEKs come from the SP-C "
      "daemon spcd (org.openbcast.SPC1 on the system bus) unless --key-file is given. With "
      "several services, a --channels folder, or on a terminal, it runs interactively: keys "
      "1-9/n/p zap, r records, u unlocks a parental block with the PIN, q quits; --report then "
      "writes the channel changes (time to first frame, prefetched TEK). --zap-on-first-frame "
      "or --zap-every zap by themselves (tests, benchmarks). See bcast-player(1).");
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
  const std::string config_path = config ? config : player::DefaultConfigPath();
  if (set_pin || set_age >= 0) {
    if (argc != 1 || conformance != nullptr) {
      std::fprintf(stderr, "bcast-player: --set-pin/--set-parental-rating take no service\n");
      return 1;
    }
    return Configure(config_path, set_pin, set_age);
  }
  if (silence <= 0) {
    std::fprintf(stderr, "bcast-player: --silence-timeout: seconds > 0\n");
    return 1;
  }
  const bool conformance_mode = conformance != nullptr;
  std::vector<std::string> channel_list;
  if (channels_dir != nullptr) {
    std::string list_error;
    if (conformance_mode) {
      std::fprintf(stderr, "bcast-player: --channels and --conformance exclude each other\n");
      return 1;
    }
    if (!player::ListChannelDir(channels_dir, &channel_list, &list_error)) {
      std::fprintf(stderr, "bcast-player: %s\n", list_error.c_str());
      return 1;
    }
  }
  for (int i = 1; i < argc; ++i) channel_list.push_back(argv[i]);
  if (zap_on_first_frame < 0 || zaps < 0 || zap_every < 0 || zap_dwell < 0 || zap_timeout <= 0) {
    std::fprintf(stderr, "bcast-player: --zap-*: counts and seconds must not be negative\n");
    return 1;
  }
  if (zap_on_first_frame > 0 && (zap_every > 0 || zaps > 0)) {
    std::fprintf(stderr,
                 "bcast-player: --zap-on-first-frame N and --zap-every/--zaps exclude each "
                 "other\n");
    return 1;
  }
  if ((zap_every > 0) != (zaps > 0)) {
    std::fprintf(stderr, "bcast-player: --zap-every SECONDS goes with --zaps N\n");
    return 1;
  }
  const bool scripted = zap_on_first_frame > 0 || zaps > 0;
  if (scripted && channel_list.size() < 2) {
    std::fprintf(stderr, "bcast-player: scripted zapping needs at least two channels\n");
    return 1;
  }
  if ((conformance_mode && argc != 1) || (!conformance_mode && channel_list.empty())) {
    g_autofree gchar* help = g_option_context_get_help(context, TRUE, nullptr);
    std::fprintf(stderr, "%s", help);
    return 1;
  }
  player::ParentalConfig parental;
  std::string config_error;
  if (!player::LoadParentalConfig(config_path, &parental, &config_error)) {
    std::fprintf(stderr, "bcast-player: %s\n", config_error.c_str());
    return 1;
  }
  bool unlocked = false;
  if (pin != nullptr) {
    if (parental.pin_hash.empty()) {
      std::fprintf(stderr, "bcast-player: --pin: no PIN is set in %s (bcast-player --set-pin)\n",
                   config_path.c_str());
      return 1;
    }
    if (!player::VerifyPin(pin, parental.pin_hash)) {
      std::fprintf(stderr, "bcast-player: --pin: wrong PIN\n");
      return 1;
    }
    unlocked = true;
  }
  const bool plain_run =
      duration > 0 || report != nullptr || checksums != nullptr || record != nullptr || quiet;
  const bool zapping = scripted || channels_dir != nullptr;
  const bool run_interactive =
      !conformance_mode && (interactive || zapping || channel_list.size() > 1 ||
                            (!plain_run && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)));
  if (run_interactive && (checksums != nullptr || record != nullptr)) {
    std::fprintf(stderr,
                 "bcast-player: --frame-checksums and --record are for one service "
                 "without --interactive (press r to record in interactive mode)\n");
    return 1;
  }
  gst_init(nullptr, nullptr);
  EnsurePlugin();
  setvbuf(stdout, nullptr, _IOLBF, 0);

  player::Options options;
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
  options.record_path = record ? record : "";
  options.parental_max_age = parental.max_age;
  options.parental_unlocked = unlocked;
  options.silence_timeout_s = silence;
  options.ask_held_teks = !no_held_teks;

  int status = 0;
  if (conformance_mode) {
    player::ConformanceOptions c;
    c.plan_path = conformance;
    c.json_path = options.report_path;
    c.text_path = text_report ? text_report : "";
    c.base = options;
    status = player::RunConformance(c);
  } else if (run_interactive) {
    player::InteractiveOptions io;
    io.channels = channel_list;
    io.base = options;
    io.report_path = options.report_path;
    io.base.report_path.clear();
    io.script.changes = zap_on_first_frame > 0 ? zap_on_first_frame : zaps;
    io.script.on_first_frame = zap_on_first_frame > 0;
    io.script.every_s = zap_every;
    io.script.dwell_s = zap_dwell;
    io.script.warmup_s = zap_warmup;
    io.script.frame_timeout_s = zap_timeout;
    io.keyring_reuse = !no_keyring_reuse;
    io.config_path = config_path;
    io.parental = parental;
    io.record_dir = record_dir ? record_dir : ".";
    status = player::RunInteractive(io);
  } else {
    if (channel_list.size() != 1) {
      std::fprintf(stderr, "bcast-player: one service at a time without --interactive\n");
      return 1;
    }
    options.sdp_path = channel_list.front();
    status = player::Run(options);
  }
  gst_deinit();
  return status;
}
