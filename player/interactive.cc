#include "player/interactive.h"

#include <glib-unix.h>
#include <glib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "channels/session_description.h"
#include "player/channel_list.h"
#include "player/recording.h"
#include "player/zap_log.h"

namespace player {
namespace {

// Raw keys without echo while the player runs; the terminal is put back however it ends.
class RawTerminal {
 public:
  RawTerminal() {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

std::string ChannelName(const std::string& path) {
  std::string text;
  if (IsRecordingFile(path)) {
    auto reader = RecordingReader::Open(path);
    if (reader) text = reader.value()->sdp_text();
  } else {
    g_autofree gchar* contents = nullptr;
    if (g_file_get_contents(path.c_str(), &contents, nullptr, nullptr)) text = contents;
  }
  std::string name;
  if (auto sd = channels::ParseSessionDescription(text)) name = sd->session_name;
  g_autofree gchar* base = g_path_get_basename(path.c_str());
  if (name.empty()) name = base;
  if (IsRecordingFile(path)) name += " [recording]";
  return name;
}

std::string Label(const std::string& kind) {
  if (kind == "not-registered") return "NOT REGISTERED";
  if (kind == "no-rights") return "NO RIGHTS";
  if (kind == "expired") return "RIGHTS EXPIRED";
  if (kind == "parental") return "PARENTAL BLOCK";
  if (kind == "network-silent") return "NO SIGNAL";
  if (kind == "network-back") return "SIGNAL";
  if (kind == "bad-keys") return "KEY ERROR";
  if (kind == "not-permitted") return "NOT PERMITTED";
  if (kind.rfind("record", 0) == 0) return "RECORDING";
  if (kind == "unlocked") return "UNLOCKED";
  if (kind == "eos") return "END";
  if (kind == "warning") return "warning";
  return "ERROR";
}

class Ui {
 public:
  explicit Ui(const InteractiveOptions& options) : options_(options) {
    for (const auto& c : options_.channels) names_.push_back(ChannelName(c));
    // A pipe or a file gets plain lines; only a terminal gets the redrawn status line.
    plain_ = !isatty(STDOUT_FILENO);
    scripted_ = options_.script.changes > 0;
  }

  int Run() {
    RawTerminal raw;
    loop_.reset(g_main_loop_new(nullptr, FALSE));
    start_us_ = g_get_monotonic_time();
    if (options_.base.key_file.empty()) {
      // spcd keeps the neighbours' TEKs ready when it knows the list and the channel watched.
      std::vector<std::string> texts;
      for (const auto& c : options_.channels) texts.push_back(SdpText(c));
      publisher_ = std::make_unique<ChannelListPublisher>(options_.base, std::move(texts),
                                                          [this](const std::string& text) {
                                                            notices_.push_back(text);
                                                            Line("-- " + text);
                                                          });
    }
    PrintHeader();
    Zap(0);
    const guint input = g_unix_fd_add(STDIN_FILENO, G_IO_IN, &Ui::OnInput, this);
    const guint status = g_timeout_add(500, &Ui::OnStatus, this);
    const guint sigint = g_unix_signal_add(SIGINT, &Ui::OnQuitSignal, this);
    const guint sigterm = g_unix_signal_add(SIGTERM, &Ui::OnQuitSignal, this);
    g_main_loop_run(loop_.get());
    if (!input_closed_) g_source_remove(input);
    g_source_remove(status);
    g_source_remove(sigint);
    g_source_remove(sigterm);
    ClearTimers();
    StopSession();
    int result = 0;
    if (scripted_) result = FinishScript();
    if (!options_.report_path.empty()) {
      const std::string json = ZapReportToJson(options_.channels, changes_, KeySource(), notices_);
      g_autoptr(GError) err = nullptr;
      if (!g_file_set_contents(options_.report_path.c_str(), json.data(),
                               static_cast<gssize>(json.size()), &err)) {
        std::fprintf(stderr, "bcast-player: error: %s\n", err ? err->message : "report");
        result = 1;
      }
    }
    Line("bye");
    return result;
  }

 private:
  struct LoopDeleter {
    void operator()(GMainLoop* l) const { g_main_loop_unref(l); }
  };

  void Out(const std::string& text) {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  }
  // A message line above the status line (which is then drawn again).
  void Line(const std::string& text) {
    Out((plain_ ? "" : "\r\033[K") + text + "\n");
    status_drawn_ = false;
  }

  static std::string SdpText(const std::string& path) {
    // A recording is no broadcast to prefetch from: its entry stays empty.
    if (IsRecordingFile(path)) return "";
    g_autofree gchar* contents = nullptr;
    gsize length = 0;
    if (!g_file_get_contents(path.c_str(), &contents, &length, nullptr)) return "";
    return std::string(contents, length);
  }

  std::string KeySource() const {
    if (!options_.base.key_file.empty()) return "key file " + options_.base.key_file;
    switch (options_.base.bus) {
      case SpcdBus::kSystem:
        return "spcd on the system bus";
      case SpcdBus::kSession:
        return "spcd on the session bus";
      case SpcdBus::kAddress:
        return "spcd on the bus at " + options_.base.bus_address;
    }
    return "spcd";
  }

  gint64 SinceStartMs(gint64 us) const { return (us - start_us_) / 1000; }

  // --- channel changes: measurement and the scripted driver ---------------------------------

  void OnFirstFrame(std::size_t record, bool video, gint64 us) {
    if (!video || record >= changes_.size()) return;
    ZapChange& c = changes_[record];
    if (c.ttff_ms >= 0) return;
    c.ttff_ms = (us - zap_us_[record]) / 1000;
    c.error.clear();
    if (scripted_ || plain_) Line(ZapLine(c));
    if (record + 1 == changes_.size()) FrameArrived();
  }

  void OnTekReady(std::size_t record, const TekReady& ready) {
    if (record >= changes_.size()) return;
    ZapChange& c = changes_[record];
    if (!c.tek_source.empty()) return;  // the first usable TEK decides
    c.tek_source = ready.source;
    c.tek_id = ready.tek_id;
    c.tek_ready_ms = (ready.monotonic_us - zap_us_[record]) / 1000;
  }

  void ClearTimers() {
    for (guint* id : {&next_zap_source_, &timeout_source_}) {
      if (*id != 0) g_source_remove(*id);
      *id = 0;
    }
  }

  void ScheduleNext(double seconds) {
    if (next_zap_source_ != 0) g_source_remove(next_zap_source_);
    next_zap_source_ =
        g_timeout_add(static_cast<guint>(std::max(0.0, seconds) * 1000), &Ui::OnScriptedZap, this);
  }

  // The current channel decoded its first frame (or gave up): the script goes on.
  void FrameArrived() {
    if (!scripted_) return;
    if (timeout_source_ != 0) g_source_remove(timeout_source_);
    timeout_source_ = 0;
    if (done_changes_ >= options_.script.changes) {
      g_main_loop_quit(loop_.get());
      return;
    }
    const bool first = changes_.size() == 1;
    if (options_.script.on_first_frame) {
      ScheduleNext(first && options_.script.warmup_s >= 0 ? options_.script.warmup_s
                                                          : options_.script.dwell_s);
    } else if (first && options_.script.every_s > 0) {
      // The periods count from the first channel's first frame (just after a key frame) on one
      // fixed grid, so the changes fall on the same phases of the services' GOPs in every run
      // (runs compare change by change) and the time a change takes does not shift the next.
      const double wait =
          options_.script.warmup_s >= 0 ? options_.script.warmup_s : options_.script.every_s;
      script_epoch_us_ = g_get_monotonic_time() + static_cast<gint64>(wait * G_USEC_PER_SEC);
      ScheduleNext(wait);
    }
  }

  static gboolean OnScriptedZap(gpointer data) {
    auto* self = static_cast<Ui*>(data);
    self->next_zap_source_ = 0;
    self->Zap((self->current_ + 1) % self->names_.size());
    return G_SOURCE_REMOVE;
  }

  static gboolean OnFrameTimeout(gpointer data) {
    auto* self = static_cast<Ui*>(data);
    self->timeout_source_ = 0;
    ZapChange& c = self->changes_.back();
    if (c.ttff_ms < 0) {
      c.error = "no video frame within " +
                std::to_string(static_cast<int>(self->options_.script.frame_timeout_s)) + " s";
      self->Line(ZapLine(c));
      self->FrameArrived();
    }
    return G_SOURCE_REMOVE;
  }

  // Scripted run over: summary line; exit status 0 when every change decoded a frame, 2 if not.
  int FinishScript() {
    const ZapStats st = ComputeZapStats(changes_);
    auto ms = [](const std::optional<double>& v) {
      if (!v) return std::string("-");
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.0f", *v);
      return std::string(buf);
    };
    Line("zap-summary changes=" + std::to_string(st.changes) + " with_frame=" +
         std::to_string(st.with_frame) + " protected=" + std::to_string(st.protected_changes) +
         " prefetched=" + std::to_string(st.prefetched) +
         " median_ttff_ms=" + ms(st.median_ttff_ms) + " p90_ttff_ms=" + ms(st.p90_ttff_ms));
    return st.changes == static_cast<std::size_t>(options_.script.changes) &&
                   st.with_frame == st.changes
               ? 0
               : 2;
  }

  void PrintHeader() {
    Line("bcast-player: " + std::to_string(names_.size()) + " channel" +
         (names_.size() == 1 ? "" : "s") +
         "  [1-9] channel  [n/p or arrows] next/previous  [r] record  [u] unlock (PIN)  [l] list  "
         "[h] help  [q] quit");
    ListChannels();
  }

  void ListChannels() {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      Line((i == current_ && session_ ? "> " : "  ") + std::to_string(i + 1) + "  " + names_[i] +
           "  (" + options_.channels[i] + ")");
    }
  }

  void Help() {
    Line("keys: 1-9 go to channel N; n, +, right/down arrow: next; p, -, left/up arrow: previous;");
    Line(
        "      r: start/stop recording (when the service allows it); u: enter the PIN to unlock a");
    Line("      parental block; l: channel list; q: quit. Status: TEK in use, next key change,");
    Line("      rights, frames, decrypt failures, lost packets, bitrate.");
  }

  void StopSession() {
    if (!session_) return;
    if (options_.keyring_reuse) {
      if (auto keyring = session_->KeyringContext()) keyrings_[current_] = keyring;
    }
    Report report = session_->Stop();
    session_.reset();
    Line("left " + names_[current_] + ": " + Session::SummaryLine(report).substr(9));
  }

  void Zap(std::size_t index) {
    if (index >= options_.channels.size()) return;
    // The change is timed from the command, before the old service is torn down.
    const gint64 zap_us = g_get_monotonic_time();
    const bool change = session_ != nullptr || !changes_.empty();
    const std::size_t from = current_;
    if (change && scripted_ && changes_.back().ttff_ms < 0 && changes_.back().error.empty()) {
      changes_.back().error = "no video frame before the next change";
      Line(ZapLine(changes_.back()));
    }
    ClearTimers();
    StopSession();
    current_ = index;
    pin_mode_ = false;
    ZapChange record;
    record.index = changes_.size();
    record.from = change ? from + 1 : 0;
    record.from_name = change ? names_[from] : "";
    record.to = index + 1;
    record.to_name = names_[index];
    record.at_ms = SinceStartMs(zap_us);
    changes_.push_back(record);
    zap_us_.push_back(zap_us);
    if (change) ++done_changes_;
    const std::size_t rec = changes_.size() - 1;
    if (publisher_) publisher_->Publish(static_cast<int>(index));
    Options o = options_.base;
    o.sdp_path = options_.channels[index];
    o.interactive = true;
    o.quiet = true;
    o.parental_max_age = options_.parental.max_age;
    o.parental_unlocked = false;  // a PIN unlocks one programme on one channel
    if (options_.keyring_reuse) {
      auto kept = keyrings_.find(index);
      if (kept != keyrings_.end()) {
        o.keyring = kept->second;
        changes_[rec].keyring_reused = true;
      }
    }
    Line("channel " + std::to_string(index + 1) + ": " + names_[index]);
    Hooks hooks;
    hooks.on_first_frame = [this, rec](const std::string&, bool video, gint64 us) {
      OnFirstFrame(rec, video, us);
    };
    hooks.on_tek_ready = [this, rec](const TekReady& ready) { OnTekReady(rec, ready); };
    hooks.on_notice = [this](const Notice& n) {
      // "!!" marks what stops the viewer from watching; "--" is information.
      const bool info = n.kind == "record-started" || n.kind == "record-stopped" ||
                        n.kind == "unlocked" || n.kind == "network-back" || n.kind == "eos";
      Line((n.kind == "warning" ? "   " : info ? "-- " : "!! ") + Label(n.kind) + ": " + n.text);
    };
    hooks.on_end = [this] {
      Line("-- " + names_[current_] + " stopped: zap to another channel or press q");
    };
    session_ = std::make_unique<Session>(o, hooks);
    if (!session_->Start()) {
      Line("-- " + names_[index] + " could not start (see above)");
    }
    changes_[rec].protected_service = session_->protected_service();
    if (scripted_) {
      if (options_.script.every_s > 0 && rec > 0 && done_changes_ < options_.script.changes) {
        // Change `rec` was due at epoch + (rec - 1) periods: the next one a period later.
        const gint64 due =
            script_epoch_us_ + static_cast<gint64>(static_cast<double>(rec) *
                                                   options_.script.every_s * G_USEC_PER_SEC);
        ScheduleNext(static_cast<double>(due - g_get_monotonic_time()) / G_USEC_PER_SEC);
      }
      timeout_source_ = g_timeout_add(static_cast<guint>(options_.script.frame_timeout_s * 1000),
                                      &Ui::OnFrameTimeout, this);
    }
    DrawStatus();
  }

  static std::string Bytes(guint64 b) {
    char text[32];
    if (b >= 1024 * 1024) {
      std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(b) / (1024.0 * 1024.0));
    } else {
      std::snprintf(text, sizeof text, "%.0f kB", static_cast<double>(b) / 1024.0);
    }
    return text;
  }

  std::string StatusText() {
    std::string t = "[" + std::to_string(current_ + 1) + "/" + std::to_string(names_.size()) + " " +
                    names_[current_] + "] ";
    if (!session_) return t + "stopped";
    const Status s = session_->GetStatus();
    if (s.tek_id >= 0) {
      t += "TEK " + std::to_string(s.tek_id);
      if (s.next_tek_id >= 0) t += " next " + std::to_string(s.next_tek_id);
      if (s.next_key_in_s >= 0) {
        t += " in " + std::to_string(s.next_key_in_s) + "s";
      } else if (s.tek_lifetime_s >= 0) {
        t += " (lifetime " + std::to_string(s.tek_lifetime_s) + "s)";
      }
    } else {
      t += "TEK -";
    }
    t += " | rights " + (s.rights.empty() ? std::string("?") : s.rights);
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.0f kbit/s", s.kbps);
    t += " | frames " + std::to_string(s.frames) + " | decrypt-fail " +
         std::to_string(s.decrypt_failures) + " lost " + std::to_string(s.lost_packets) + " | " +
         rate;
    if (s.recording) t += " | REC " + Bytes(s.recorded_bytes);
    if (!changes_.empty() && changes_.back().index > 0) {
      const ZapChange& z = changes_.back();
      if (z.ttff_ms >= 0) {
        t += " | zap " + std::to_string(z.ttff_ms) + " ms";
        if (!z.protected_service) {
          t += " (clear)";
        } else if (z.prefetched()) {
          t += " (TEK prefetched)";
        } else if (!z.tek_source.empty()) {
          t += " (TEK from " + z.tek_source + ")";
        }
      } else {
        t += " | zap ...";
      }
    }
    if (!s.playing) t += " | stopped";
    if (!s.problem.empty()) t += " | ! " + Label(s.problem);
    return t;
  }

  void DrawStatus() {
    if (plain_) return;
    std::string t;
    if (pin_mode_) {
      t = "Enter PIN (Enter to confirm, Esc to cancel): " + std::string(pin_.size(), '*');
    } else {
      t = StatusText();
    }
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && t.size() >= ws.ws_col) {
      t.resize(ws.ws_col - 1);  // one line: a wrapped status line could not be redrawn in place
    }
    Out("\r\033[K" + t);
    status_drawn_ = true;
  }

  void StartOrStopRecording() {
    if (!session_) return;
    if (session_->GetStatus().recording) {
      session_->StopRecording();
      return;
    }
    std::string name = names_[current_];
    for (char& c : name) {
      if (!g_ascii_isalnum(c) && c != '-' && c != '_') c = '_';
    }
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree gchar* stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
    g_autofree gchar* path = g_build_filename(options_.record_dir.c_str(),
                                              (name + "-" + stamp + ".bcrec").c_str(), nullptr);
    session_->StartRecording(path);
  }

  void PinKey(char c) {
    if (c == '\n' || c == '\r') {
      pin_mode_ = false;
      const gint64 now = g_get_monotonic_time();
      if (now < locked_until_us_) {
        Line("!! PIN: too many wrong PINs, try again in " +
             std::to_string((locked_until_us_ - now) / G_USEC_PER_SEC + 1) + " s");
      } else if (VerifyPin(pin_, options_.parental.pin_hash)) {
        wrong_pins_ = 0;
        if (session_) session_->UnlockParental();
      } else if (++wrong_pins_ >= 3) {
        wrong_pins_ = 0;
        locked_until_us_ = now + 30 * G_USEC_PER_SEC;
        Line("!! PIN: wrong PIN, 3 times: locked for 30 s");
      } else {
        Line("!! PIN: wrong PIN");
      }
      std::fill(pin_.begin(), pin_.end(), '\0');
      pin_.clear();
    } else if (c == 27) {
      pin_mode_ = false;
      pin_.clear();
      Line("-- PIN entry cancelled");
    } else if ((c == 127 || c == 8) && !pin_.empty()) {
      pin_.pop_back();
    } else if (g_ascii_isdigit(c) && pin_.size() < 12) {
      pin_ += c;
    }
    DrawStatus();
  }

  void Key(const std::string& key) {
    if (pin_mode_) {
      if (key.size() == 1) PinKey(key[0]);
      if (key == "\033") PinKey(27);
      return;
    }
    const std::size_t n = names_.size();
    if (key == "q" || key == "Q") {
      g_main_loop_quit(loop_.get());
    } else if (key == "n" || key == "+" || key == "\033[C" || key == "\033[B") {
      Zap((current_ + 1) % n);
    } else if (key == "p" || key == "-" || key == "\033[D" || key == "\033[A") {
      Zap((current_ + n - 1) % n);
    } else if (key.size() == 1 && key[0] >= '1' && key[0] <= '9') {
      const std::size_t i = static_cast<std::size_t>(key[0] - '1');
      if (i < n) {
        Zap(i);
      } else {
        Line("-- no channel " + key + " (" + std::to_string(n) + " channels)");
      }
    } else if (key == "r" || key == "R") {
      StartOrStopRecording();
    } else if (key == "u" || key == "U") {
      if (options_.parental.pin_hash.empty()) {
        Line(
            "!! PIN: no PIN is set on this terminal: set one with `bcast-player --set-pin` "
            "(config " +
            options_.config_path + ")");
      } else {
        pin_mode_ = true;
        pin_.clear();
      }
    } else if (key == "l" || key == "L") {
      ListChannels();
    } else if (key == "h" || key == "H" || key == "?") {
      Help();
    }
    DrawStatus();
  }

  static gboolean OnInput(gint fd, GIOCondition, gpointer data) {
    auto* self = static_cast<Ui*>(data);
    char buf[64];
    const ssize_t got = read(fd, buf, sizeof buf);
    if (got <= 0) {
      // No keyboard (stdin closed): play on until a signal.
      self->input_closed_ = true;
      return G_SOURCE_REMOVE;
    }
    self->pending_.append(buf, static_cast<std::size_t>(got));
    while (!self->pending_.empty()) {
      std::string& p = self->pending_;
      std::size_t len = 1;
      if (p[0] == '\033' && p.size() >= 3 && p[1] == '[') len = 3;
      self->Key(p.substr(0, len));
      p.erase(0, len);
    }
    return G_SOURCE_CONTINUE;
  }

  static gboolean OnStatus(gpointer data) {
    static_cast<Ui*>(data)->DrawStatus();
    return G_SOURCE_CONTINUE;
  }

  static gboolean OnQuitSignal(gpointer data) {
    g_main_loop_quit(static_cast<Ui*>(data)->loop_.get());
    return G_SOURCE_CONTINUE;
  }

  const InteractiveOptions& options_;
  bool plain_ = false;
  bool scripted_ = false;
  gint64 start_us_ = 0;
  std::unique_ptr<ChannelListPublisher> publisher_;
  std::vector<ZapChange> changes_;  // [0] is the first tune-in
  std::vector<gint64> zap_us_;      // monotonic time of each change's command
  int done_changes_ = 0;
  gint64 script_epoch_us_ = 0;  // --zap-every: when the first change was due
  guint next_zap_source_ = 0, timeout_source_ = 0;
  std::map<std::size_t, std::shared_ptr<GstContext>> keyrings_;  // per channel index
  std::vector<std::string> notices_;
  std::vector<std::string> names_;
  std::unique_ptr<GMainLoop, LoopDeleter> loop_;
  std::unique_ptr<Session> session_;
  std::size_t current_ = 0;
  bool status_drawn_ = false;
  bool input_closed_ = false;
  std::string pending_;
  bool pin_mode_ = false;
  std::string pin_;
  int wrong_pins_ = 0;
  gint64 locked_until_us_ = 0;
};

}  // namespace

int RunInteractive(const InteractiveOptions& options) {
  if (options.channels.empty()) return 1;
  Ui ui(options);
  return ui.Run();
}

}  // namespace player
