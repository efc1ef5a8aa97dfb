// bcast-player: plays one protected service from its session description in one GStreamer pipeline
// (key branches: udpsrc ! stkmparse ! tekdec; media branches: udpsrc ! queue ! bcastsrtpdec !
// depayloader ! parser ! decoder ! sink for SRTP, udpsrc ! queue ! ismacrypdec ! parser ! decoder
// ! sink for ISMACryp), prints key and decrypt events and writes a JSON report.
//
// A Session is one such playback on the caller's GLib main loop: the plain command line (Run), the
// interactive terminal (interactive.h, one Session per channel, a new one on every zap) and the
// conformance runner (conformance.h, one per planned service) all drive it.
#pragma once

#include <glib.h>
#include <gst/gst.h>

#include <functional>
#include <memory>
#include <string>

#include "player/report.h"

namespace player {

// Where tekdec gets the TEKs: spcd (the default; long-term keys stay in the daemon) or a key file.
enum class SpcdBus { kSystem, kSession, kAddress };

struct Options {
  std::string sdp_path;  // a session description, or a recording (recording.h) to play back
  std::string key_file;  // SEK/SAK key file for tekdec (sek-file); "" = TEKs from spcd
  SpcdBus bus = SpcdBus::kSystem;
  std::string bus_address;     // with SpcdBus::kAddress
  std::string report_path;     // JSON report, "" for none
  std::string checksums_path;  // one line per decoded frame/buffer, "" for none
  bool headless = false;       // never open a window or a sound device
  bool quiet = false;          // only warnings, errors and the summary
  double duration_s = 0;       // stop after this long in PLAYING; 0: until EOS or a signal
  std::string record_path;     // record the service from the start (if its STKMs allow it)
  // The terminal's parental setting (player config): the highest minimum age shown without the
  // PIN, 255 = no limit. `parental_unlocked`: the PIN was given (--pin) for this session.
  unsigned parental_max_age = 255;
  bool parental_unlocked = false;
  // Seconds without any datagram before the network counts as silent.
  double silence_timeout_s = 3;
  // Interactive terminal: warnings and errors go to the notice hook instead of stdout/stderr.
  bool interactive = false;
  // Zapping: the "openbcast.keyring" GstContext of an earlier session of the same service, set on
  // the new pipeline so the TEKs it still holds are usable at once (nullptr: a new keyring).
  std::shared_ptr<GstContext> keyring;
  // tekdec asks spcd for the TEKs it holds for the service at start (ask-held); false: every
  // start waits for the key stream (a cold baseline for zap measurements).
  bool ask_held_teks = true;
};

// tekdec's element message `bcast-tek-ready`: the first TEK usable for a key stream after start.
// `source`: "held" (prefetched: spcd held it before the pipeline's own key stream brought it),
// "stkm" (from the key stream), "fetch" (over the interaction channel).
struct TekReady {
  std::string base_cid;
  guint tek_id = 0;
  std::string source;
  gint64 monotonic_us = 0;  // g_get_monotonic_time() when the player saw it
};

// Something the viewer must know, with what to do about it. `kind`: "not-registered",
// "no-rights", "expired", "parental", "network-silent", "network-back", "spcd", "bad-keys",
// "not-permitted", "record-started", "record-stopped", "record-refused", "unlocked", "warning",
// "error", "eos".
struct Notice {
  std::string kind;
  std::string text;
};

// What the status line shows; every field is a snapshot taken on the main thread.
struct Status {
  std::string service;
  std::string content_id;
  bool playing = false;
  bool recording_file = false;  // playing back a recording
  gint64 tek_id = -1;           // TEK in use (-1: none yet)
  gint64 next_tek_id = -1;      // announced next TEK (-1: none)
  gint64 next_key_in_s = -1;    // estimated seconds to the next key change (-1: unknown)
  gint64 tek_lifetime_s = -1;
  std::string rights;  // "valid until 2030-01-01 00:00 UTC", "no time limit", "key file", ...
  guint64 frames = 0;
  guint64 decrypt_failures = 0;
  guint64 lost_packets = 0;  // RTP sequence gaps on the media streams
  double kbps = 0;           // media bitrate over the last status interval
  bool network_silent = false;
  gint64 parental_rating = -1;  // minimum age the STKM asks for (-1: none)
  bool parental_blocked = false;
  bool recording = false;
  std::string record_path;
  guint64 recorded_bytes = 0;
  std::string problem;  // the current blocking problem's short name ("" when none)
};

struct Hooks {
  std::function<void()> on_end;                  // EOS, error or duration reached (main thread)
  std::function<void(const Notice&)> on_notice;  // main thread
  // First decoded frame of a stream (`monotonic_us`: g_get_monotonic_time() in the streaming
  // thread, right after the decoder), delivered on the main thread.
  std::function<void(const std::string& stream, bool video, gint64 monotonic_us)> on_first_frame;
  std::function<void(const TekReady&)> on_tek_ready;  // main thread
};

class Player;

class Session {
 public:
  Session(const Options& options, Hooks hooks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Builds the pipeline and sets it to PLAYING on the thread-default main context. False when it
  // could not start (the reason is in the report's errors and was given to the hooks).
  bool Start();
  // Stops the pipeline (idempotent) and returns the report of the run.
  Report Stop();
  Status GetStatus();
  bool ended() const;
  // Recording while playing: the permission is checked (spcd ProcessStkmFor "record", or the
  // STKM's protection_after_reception with a key file) and the answer comes as a notice.
  void StartRecording(const std::string& path);
  void StopRecording();
  // The PIN was verified: show the blocked programme for the rest of this session.
  void UnlockParental();
  // The pipeline's keyring ("openbcast.keyring" GstContext), to hand to a later session of the
  // same service (Options::keyring); nullptr when the service has no key stream or none was made.
  std::shared_ptr<GstContext> KeyringContext();
  // The service has at least one key stream (known once Start() has built the pipeline).
  bool protected_service() const;
  // Exit status of a finished run: 0 played, 1 error, 2 nothing decoded.
  int ExitStatus(const Report& report) const;
  // One line: stream frames, decrypt failures, TEK changes... (the `summary:` line of Run).
  static std::string SummaryLine(const Report& report);

 private:
  std::unique_ptr<Player> impl_;
};

// Plain command line: plays until EOS, --duration or a signal. Exit status: 0 played without
// error, 1 pipeline or setup error, 2 ran but decoded nothing.
int Run(const Options& options);

}  // namespace player
