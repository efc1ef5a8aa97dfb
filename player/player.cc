#include "player/player.h"

#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gst/app/gstappsrc.h>

#include "channels/session_description.h"
#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
#include "gst-plugins/bcastprotect/service_caps.h"
#include "player/frame_hash.h"
#include "player/recording.h"
#include "player/report.h"
#include "spc/client/spc_client.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

namespace player {
namespace {

struct GstObjectDeleter {
  void operator()(gpointer obj) const { gst_object_unref(obj); }
};
using PipelinePtr = std::unique_ptr<GstElement, GstObjectDeleter>;
using BusPtr = std::unique_ptr<GstBus, GstObjectDeleter>;
struct MainLoopDeleter {
  void operator()(GMainLoop* loop) const { g_main_loop_unref(loop); }
};
struct StructureDeleter {
  void operator()(GstStructure* s) const { gst_structure_free(s); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

using Clock = std::chrono::steady_clock;

// Name of the player's own element message: the TEK (key indicator) an ISMACryp stream switched
// to, posted from the probe on ismacrypdec's sink pad (bcastsrtpdec posts openbcast-srtp-key).
constexpr char kIsmacrypKeyMessage[] = "bcast-player-ismacryp-key";
// The player's own element message: a stream's first decoded frame (posted by the pipeline).
constexpr char kFirstFrameMessage[] = "bcast-player-first-frame";
// tekdec's: the first TEK usable for its key stream after start, and where it came from.
constexpr char kTekReadyMessage[] = "bcast-tek-ready";
constexpr char kKeyringContextType[] = "openbcast.keyring";

// SRTP counters of bcastsrtpdec's "stats" structure that the report and the warnings use.
struct SrtpCounters {
  guint64 received = 0, decrypted = 0, auth_failures = 0, replays = 0, unknown_mki = 0, held = 0,
          dropped_held = 0, dropped_held_at_join = 0, roc = 0;
  // Packets that never reached the depayloader. A packet under a not-yet-known TEK is held
  // (counted in unknown-mki and held) and is only lost when it is dropped from the hold queue, or
  // when it could not be held at all. Held packets from before the first decrypted one whose TEK
  // never came are the join (that TEK's STKMs went by before), as ISMACryp's packets before the
  // first key.
  guint64 unknown_mki_dropped() const { return unknown_mki > held ? unknown_mki - held : 0; }
  guint64 held_lost() const {
    return dropped_held > dropped_held_at_join ? dropped_held - dropped_held_at_join : 0;
  }
  guint64 failures() const { return auth_failures + replays + unknown_mki_dropped() + held_lost(); }
};

// What each of ismacrypdec's drop reasons means, for the warnings.
const std::map<std::string, std::string>& IsmacrypDropReasons() {
  static const std::map<std::string, std::string> reasons = {
      {"dropped-headers-length", "AU-headers-length runs past the packet"},
      {"dropped-header-truncated", "an AU header runs past the header section"},
      {"dropped-au-size", "AU-size larger than the data"},
      {"dropped-unknown-key", "no TEK for the key indicator"},
      {"dropped-incomplete", "fragments missing"},
      {"dropped-crypto", "AES-128-CTR failed"},
      {"dropped-bso-unknown", "byte stream offset unknown after a loss (no IV in the packets)"},
  };
  return reasons;
}

guint64 StructureCounter(const GstStructure* s, const char* name) {
  const GValue* v = gst_structure_get_value(s, name);
  if (v == nullptr) return 0;
  GValue out = G_VALUE_INIT;
  g_value_init(&out, G_TYPE_UINT64);
  guint64 result = 0;
  if (g_value_type_transformable(G_VALUE_TYPE(v), G_TYPE_UINT64) && g_value_transform(v, &out)) {
    result = g_value_get_uint64(&out);
  }
  g_value_unset(&out);
  return result;
}

// Reads an integer property of any integer type (the elements' counters), nullopt when absent.
std::optional<guint64> IntegerProperty(GstElement* element, const char* name) {
  if (element == nullptr) return std::nullopt;
  GParamSpec* spec = g_object_class_find_property(G_OBJECT_GET_CLASS(element), name);
  if (spec == nullptr) return std::nullopt;
  GValue v = G_VALUE_INIT;
  g_value_init(&v, spec->value_type);
  g_object_get_property(G_OBJECT(element), name, &v);
  GValue out = G_VALUE_INIT;
  g_value_init(&out, G_TYPE_UINT64);
  std::optional<guint64> result;
  if (g_value_type_transformable(spec->value_type, G_TYPE_UINT64) && g_value_transform(&v, &out)) {
    result = g_value_get_uint64(&out);
  }
  g_value_unset(&out);
  g_value_unset(&v);
  return result;
}

// Sum of an integer property over several elements (one per key stream).
guint64 SumProperty(const std::vector<GstElement*>& elements, const char* name) {
  guint64 sum = 0;
  for (GstElement* e : elements) sum += IntegerProperty(e, name).value_or(0);
  return sum;
}

std::string ValueToString(const GValue* v) {
  if (G_VALUE_HOLDS_STRING(v)) return g_value_get_string(v) ? g_value_get_string(v) : "";
  g_autofree gchar* s = gst_value_serialize(v);
  return s ? s : "";
}

struct Stream {
  std::string name;  // "video", "audio", "video2"...
  channels::MediaStream media;
  bcast::StreamPlan plan;
  GstElement* srtpdec = nullptr;      // owned by the pipeline
  GstElement* ismacrypdec = nullptr;  // owned by the pipeline
  class PlayerImpl* player = nullptr;
  std::size_t media_index = 0;
  std::atomic<guint64> bytes{0};     // media datagram bytes received
  std::atomic<guint64> lost_seq{0};  // RTP sequence numbers never seen
  int last_seq = -1;                 // its source's streaming thread only
  std::atomic<guint64> frames{0};
  std::atomic<gint64> first_frame_ms{-1};
  SrtpCounters counters;  // last polled (main thread only)
  SrtpCounters warned;    // counters already reported in warnings (main thread only)
  std::vector<std::pair<std::string, guint64>> isma_stats;  // last polled, in ismacrypdec's order
  std::map<std::string, guint64> isma_warned;               // per drop reason, main thread only
  std::optional<guint> tek_in_use;
  std::vector<guint> tek_sequence;  // TEK IDs this stream used, in order (main thread only)
  // ISMACryp key-indicator probe (its streaming thread only). The fmtp is taken from the CAPS
  // event and the parse storage reused, so a packet costs one header parse and no allocation.
  std::optional<bcast::ismacryp::Fmtp> isma_fmtp;
  bcast::ismacryp::ParsedPayload isma_parsed;
  std::optional<std::uint64_t> isma_key;
  // ISMACryp video: nothing reaches the decoder before the first IDR access unit.
  std::atomic<bool> keyframe_seen{false};
  // The tekdec of this stream's key stream, and whether it put a TEK into the keyring yet.
  // ismacrypdec has no hold queue: packets from before the first TEK are the join, not failures,
  // and are counted here instead of reaching it. So are packets that come after the first TEK but
  // under an older one the terminal never saw (its media thread ran late behind the key thread
  // across a TEK change), up to the first packet under a TEK the key stream announced.
  GstElement* tekdec = nullptr;
  std::atomic<bool> have_key{false};
  std::atomic<bool> isma_keyed{false};
  std::mutex announced_mutex;
  std::vector<guint> announced_teks;  // TEK IDs tekdec announced, until isma_keyed
  std::atomic<guint64> packets_before_key{0};
  void Announce(guint id) {
    if (ismacrypdec == nullptr || isma_keyed.load()) return;
    std::lock_guard lock(announced_mutex);
    if (announced_teks.size() == 64) announced_teks.erase(announced_teks.begin());
    announced_teks.push_back(id);
  }
  bool Announced(std::uint64_t key) {
    std::lock_guard lock(announced_mutex);
    return std::ranges::find(announced_teks, static_cast<guint>(key & 0xffff)) !=
           announced_teks.end();
  }

  guint64 isma(const char* field) const {
    for (const auto& [name, value] : isma_stats) {
      if (name == field) return value;
    }
    return 0;
  }
  bool protected_stream() const { return srtpdec != nullptr || ismacrypdec != nullptr; }
};

// One key stream: what the player reads from its STKMs itself (recording permission with a key
// file, parental rating, the STKM a record check sends to spcd). Never key material: the STKM
// carries the TEK only encrypted under the SEK, which the player never holds in spcd mode.
struct KeyBranch {
  std::size_t index = 0;
  std::string base_cid;
  GstElement* src = nullptr;  // udpsrc, or appsrc when playing a recording
  std::mutex mutex;           // the fields below: streaming thread writes, main thread reads
  std::vector<std::uint8_t> last_stkm;
  int protection_after_reception = -1;
  int parental_rating = -1;
  std::string content_id;
  guint64 parsed = 0;
  class PlayerImpl* player = nullptr;
};

class PlayerImpl {
 public:
  PlayerImpl(const Options& options, Hooks hooks) : options_(options), hooks_(std::move(hooks)) {}
  ~PlayerImpl();
  PlayerImpl(const PlayerImpl&) = delete;
  PlayerImpl& operator=(const PlayerImpl&) = delete;

  int Run();
  bool Start();
  Report Stop();
  Status GetStatus();
  bool ended() const { return ended_; }
  void StartRecording(const std::string& path);
  void StopRecording();
  void UnlockParental();
  int ExitStatus(const Report& report) const;

  void OnDecoded(Stream& stream, GstPad* pad, GstBuffer* buffer);
  std::shared_ptr<GstContext> KeyringContext();
  bool protected_service() const { return !tekdecs_.empty(); }
  bool DropDecoded() const { return parental_blocked_.load(); }
  void OnKeyDatagram(KeyBranch& branch, GstBuffer* buffer);
  void OnMediaDatagram(Stream& stream, GstBuffer* buffer);

 private:
  bool Build();
  bool AddKeyBranch(const channels::KeyStream& key, std::size_t index);
  bool AddMediaBranch(Stream& stream);
  GstElement* MakeSource(const std::string& name, GstCaps* caps, const std::string& address,
                         guint16 port);
  GstElement* Make(const char* factory, const std::string& name);
  bool Fail(std::string message);
  void Event(const std::string& line);
  void Warn(const std::string& line);
  void Notify(const std::string& kind, const std::string& text);
  void NotifyOnce(const std::string& kind, const std::string& text);
  void Finish();
  bool ShouldWarn(const std::string& kind, guint64 count);
  static gboolean OnBusMessage(GstBus* bus, GstMessage* message, gpointer data);
  static GstBusSyncReply OnBusSync(GstBus* bus, GstMessage* message, gpointer data);
  void HandleElementMessage(GstMessage* message);
  void HandleRejection(const std::string& reason, const std::string& cid,
                       const std::string& detail);
  void HandleError(GstMessage* message);
  void KeyInUse(GstMessage* message, guint id);
  static gboolean OnPoll(gpointer data);
  void PollStats();
  void PollSrtp(Stream& stream);
  void PollIsmacryp(Stream& stream);
  void PollNetwork();
  void PollParental();
  void PollRecording();
  static gboolean OnDuration(gpointer data);
  static gboolean OnSignal(gpointer data);
  static gboolean OnProgress(gpointer data);
  Report MakeReport();
  gint64 ElapsedMs() const;
  void PrintSummary(const Report& report);
  bool FromSpcd() const { return options_.key_file.empty(); }
  std::string BusText() const;
  std::string StartSpcdHint() const;
  std::string NoRightsText(const std::string& content_id) const;
  bool IsTekdec(GstObject* object) const;
  spc::client::Client* SpcClient();
  std::string RightsText(const std::string& content_id);
  void StartFeeder();
  void StopFeeder();
  void Feed();
  bool CheckRecordPermission(std::string* reason, int* protection);

  Options options_;
  Hooks hooks_;
  bool ended_ = false;
  bool started_pipeline_ = false;
  bool stopped_ = false;
  bool start_failed_ = false;
  std::string nothing_decoded_;  // why a run that started decoded nothing
  gint64 started_us_ = 0;
  Report final_report_;
  channels::SessionDescription sd_;
  std::string sdp_text_;
  PipelinePtr pipeline_;
  std::unique_ptr<GMainLoop, MainLoopDeleter> loop_;  // Run() only
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::unique_ptr<KeyBranch>> key_branches_;
  std::vector<GstElement*> stkmparses_;  // one per key stream, owned by the pipeline
  std::vector<GstElement*> tekdecs_;
  std::vector<std::string> errors_;
  std::map<std::string, guint64> stkm_rejected_msgs_;  // reason → messages seen
  std::set<std::string> no_rights_cids_;               // content IDs spcd/the key file lacks
  guint64 teks_received_ = 0;
  std::set<guint> teks_in_use_;
  std::vector<guint> tek_sequence_;
  std::optional<Clock::time_point> started_;
  std::optional<gint64> first_key_ms_;
  std::vector<TekReadyReport> tek_ready_;  // main thread
  // The keyring context of this pipeline: the one given (Options::keyring) or the one tekdec made
  // (HAVE_CONTEXT, seen in the posting thread): the pipeline forgets its contexts at NULL.
  std::mutex keyring_mutex_;
  std::shared_ptr<GstContext> keyring_;
  std::mutex out_mutex_;  // stdout and the checksum file are written from streaming threads too
  std::unique_ptr<std::FILE, FileCloser> checksums_;
  bool have_display_ = false;
  bool have_sound_ = false;
  guint duration_source_ = 0;
  guint bus_watch_ = 0, poll_source_ = 0, progress_source_ = 0;
  struct Limiter {
    guint64 shown = 0;
    gint64 last_us = 0;
  };
  std::map<std::string, Limiter> limiters_;  // main thread only
  guint64 stkmparse_malformed_warned_ = 0;
  std::map<std::string, bool> spcd_available_;  // per tekdec name: last openbcast-spcd state
  guint64 spcd_outages_ = 0;
  // Smartcard Profile: removals seen, "present"/"removed" ("" before any CardChanged), and when
  // the held keys were expected to run out at the last removal.
  guint64 smartcard_removals_ = 0;
  std::string smartcard_state_;
  gint64 smartcard_held_until_ = 0;
  bool spcd_unreachable_ = false;
  std::set<std::string> notified_;  // NotifyOnce kinds (main thread)
  std::string problem_;             // the current blocking problem (status line)

  // Keys in use, for the status line (main thread).
  gint64 next_tek_id_ = -1;
  gint64 tek_lifetime_s_ = -1;
  gint64 key_since_ms_ = -1;
  gint64 key_period_ms_ = -1;
  std::string content_id_;
  std::string rights_text_;
  gint64 rights_checked_us_ = 0;
  std::unique_ptr<spc::client::Client> spc_client_;
  bool spc_client_failed_ = false;

  // Network (streaming threads write).
  std::atomic<gint64> last_data_us_{0};
  bool network_silent_ = false;
  guint64 status_bytes_ = 0;
  gint64 status_us_ = 0;
  double kbps_ = 0;

  // Parental control.
  std::atomic<bool> parental_blocked_{false};
  std::atomic<bool> parental_unlocked_{false};
  gint64 parental_rating_ = -1;
  std::optional<guint8> spcd_parental_restore_;
  bool spcd_parental_refused_ = false;

  // Recording (the writer is used from the streaming threads under record_mutex_).
  std::mutex record_mutex_;
  std::shared_ptr<RecordingWriter> recorder_;
  gint64 record_start_us_ = 0;
  std::string record_pending_;  // path waiting for the first STKM
  gint64 record_requested_us_ = 0;

  // Playback of a recording: appsrcs fed by a thread at the recorded pace.
  std::unique_ptr<RecordingReader> reader_;
  std::vector<GstElement*> key_appsrcs_;    // by key stream index
  std::vector<GstElement*> media_appsrcs_;  // by media index
  std::thread feeder_;
  std::mutex feeder_mutex_;
  std::condition_variable feeder_cv_;
  bool feeder_stop_ = false;
};

gint64 PlayerImpl::ElapsedMs() const {
  if (!started_) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *started_).count();
}

void PlayerImpl::Event(const std::string& line) {
  if (options_.quiet) return;
  std::lock_guard lock(out_mutex_);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

bool PlayerImpl::ShouldWarn(const std::string& kind, guint64 count) {
  // Faulty broadcasts repeat: the first few of each kind are shown, then one every 5 s with the
  // running count, so the output stays readable and nothing goes unreported.
  Limiter& l = limiters_[kind];
  const gint64 now = g_get_monotonic_time();
  ++l.shown;
  if (l.shown <= 3 || now - l.last_us >= 5 * G_USEC_PER_SEC) {
    l.last_us = now;
    return true;
  }
  (void)count;
  return false;
}

void PlayerImpl::Warn(const std::string& line) {
  if (options_.interactive) {
    Notify("warning", line);
    return;
  }
  std::lock_guard lock(out_mutex_);
  std::fprintf(stdout, "warning: %s\n", line.c_str());
  std::fflush(stdout);
}

bool PlayerImpl::Fail(std::string message) {
  if (options_.interactive) {
    Notify("error", message);
  } else {
    std::lock_guard lock(out_mutex_);
    std::fprintf(stderr, "bcast-player: error: %s\n", message.c_str());
    std::fflush(stderr);
  }
  errors_.push_back(std::move(message));
  return false;
}

// Notices are for the viewer (interactive) or the conformance report. On the plain command line
// the new kinds (those the warnings above do not already say) are printed as `notice KIND: TEXT`.
void PlayerImpl::Notify(const std::string& kind, const std::string& text) {
  if (hooks_.on_notice) {
    hooks_.on_notice(Notice{kind, text});
    return;
  }
  if (kind == "warning" || kind == "error") return;
  std::lock_guard lock(out_mutex_);
  std::fprintf(stdout, "notice %s: %s\n", kind.c_str(), text.c_str());
  std::fflush(stdout);
}

void PlayerImpl::NotifyOnce(const std::string& kind, const std::string& text) {
  if (!notified_.insert(kind).second) return;
  Notify(kind, text);
}

void PlayerImpl::Finish() {
  if (ended_) return;
  ended_ = true;
  if (loop_) g_main_loop_quit(loop_.get());
  // Stop() pops the last messages itself: the owner is stopping this session already.
  if (hooks_.on_end && !stopped_) hooks_.on_end();
}

std::string PlayerImpl::BusText() const {
  switch (options_.bus) {
    case SpcdBus::kSystem:
      return "the system bus";
    case SpcdBus::kSession:
      return "the session bus";
    case SpcdBus::kAddress:
      return "the bus at " + options_.bus_address;
  }
  return "?";
}

std::string PlayerImpl::StartSpcdHint() const {
  switch (options_.bus) {
    case SpcdBus::kSystem:
      return "start it as root with `systemctl start spcd` (openbcast installed), import the "
             "service's keys with `spcctl import-keys FILE`, or play from a key file with "
             "--key-file FILE";
    case SpcdBus::kSession:
      return "start it with `spcd --session`, import the service's keys with "
             "`spcctl --session import-keys FILE`, or play from a key file with --key-file FILE";
    case SpcdBus::kAddress:
      return "start it with `spcd --bus-address " + options_.bus_address +
             " --store PATH`, import the service's keys with `spcctl --bus-address " +
             options_.bus_address +
             " import-keys FILE`, or play from a key file with --key-file "
             "FILE";
  }
  return "";
}

std::string PlayerImpl::NoRightsText(const std::string& content_id) const {
  const std::string cid = content_id.empty() ? std::string("this service") : content_id;
  if (!FromSpcd()) {
    return "No rights for " + cid + ": the key file " + options_.key_file +
           " has no SEK/SAK for it; use the service's key file, or play with the keys of spcd "
           "(without --key-file)";
  }
  return "No rights for " + cid +
         ": import keys with `spcctl import-keys FILE` or acquire them from the service's Rights "
         "Issuer";
}

bool PlayerImpl::IsTekdec(GstObject* object) const {
  return std::find(tekdecs_.begin(), tekdecs_.end(), GST_ELEMENT_CAST(object)) != tekdecs_.end();
}

GstElement* PlayerImpl::Make(const char* factory, const std::string& name) {
  GstElement* e = gst_element_factory_make(factory, name.c_str());
  if (e == nullptr) {
    std::string hint;
    const std::string f = factory;
    if (f == "stkmparse" || f == "tekdec" || f == "bcastsrtpdec" || f == "ismacrypdec") {
      hint = " (the openbcast plugin bcastprotect: install it or set GST_PLUGIN_PATH)";
    } else if (f.rfind("avdec_", 0) == 0) {
      hint = " (gstreamer1.0-libav)";
    } else {
      hint = " (gstreamer1.0-plugins-base/-good)";
    }
    Fail(std::string("GStreamer element '") + factory + "' not found" + hint);
    return nullptr;
  }
  if (!gst_bin_add(GST_BIN(pipeline_.get()), e)) {
    Fail(std::string("cannot add ") + factory);
    return nullptr;
  }
  return e;
}

bool PlayerImpl::AddKeyBranch(const channels::KeyStream& key, std::size_t index) {
  // The first key stream's elements keep the plain names; the others are numbered.
  const std::string suffix = index == 0 ? "" : std::to_string(index + 1);
  g_autoptr(GstCaps) caps = gst_caps_new_empty_simple("application/x-bcast-stkm");
  GstElement* src = MakeSource("keysrc" + suffix, caps, key.address, key.port);
  // Smartcard Profile: the key datagrams are MIKEY MTK messages for the card (through spcd),
  // which stkmparse (STKMs) would drop.
  const bool smartcard = sd_.smartcard();
  GstElement* parse =
      Make(smartcard ? "identity" : "stkmparse", (smartcard ? "keypass" : "stkmparse") + suffix);
  GstElement* dec = Make("tekdec", "tekdec" + suffix);
  if (!src || !parse || !dec) return false;
  if (smartcard) {
    char domain[16];
    g_snprintf(domain, sizeof domain, "%06x", key.key_domain_id);
    g_object_set(dec, "profile", "smartcard", "bsf-url", sd_.bsf_url.c_str(), "bsm-url",
                 sd_.bsm_url.c_str(), "key-domain", domain, nullptr);
  } else {
    g_object_set(parse, "base-cid", key.base_cid.c_str(), nullptr);
  }
  // Known before the first STKM: tekdec can ask spcd for its held (prefetched) TEKs at once.
  if (!key.base_cid.empty() && g_object_class_find_property(G_OBJECT_GET_CLASS(dec), "base-cid")) {
    g_object_set(dec, "base-cid", key.base_cid.c_str(), nullptr);
  }
  if (!options_.ask_held_teks &&
      g_object_class_find_property(G_OBJECT_GET_CLASS(dec), "ask-held")) {
    g_object_set(dec, "ask-held", FALSE, nullptr);
  }
  // A recording plays back under the rights' record permission: spcd checks it again for every
  // recorded STKM.
  if (reader_) gst_util_set_object_arg(G_OBJECT(dec), "purpose", "record");
  auto branch = std::make_unique<KeyBranch>();
  branch->index = index;
  branch->base_cid = key.base_cid;
  branch->src = src;
  {
    g_autoptr(GstPad) pad = gst_element_get_static_pad(src, "src");
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
          auto* b = static_cast<KeyBranch*>(data);
          GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
          if (buffer != nullptr) b->player->OnKeyDatagram(*b, buffer);
          return GST_PAD_PROBE_OK;
        },
        branch.get(), nullptr);
  }
  branch->player = this;
  if (reader_) key_appsrcs_.push_back(src);
  key_branches_.push_back(std::move(branch));
  if (!FromSpcd()) {
    g_object_set(dec, "sek-file", options_.key_file.c_str(), nullptr);
  } else if (options_.bus == SpcdBus::kAddress) {
    g_object_set(dec, "bus-address", options_.bus_address.c_str(), nullptr);
    gst_util_set_object_arg(G_OBJECT(dec), "bus", "address");
  } else {
    gst_util_set_object_arg(G_OBJECT(dec), "bus",
                            options_.bus == SpcdBus::kSession ? "session" : "system");
  }
  if (!gst_element_link_many(src, parse, dec, nullptr)) {
    return Fail("cannot link the key stream branch udpsrc ! stkmparse ! tekdec");
  }
  if (!smartcard) stkmparses_.push_back(parse);
  tekdecs_.push_back(dec);
  return true;
}

GstPadProbeReturn OnDecodedProbe(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto* stream = static_cast<Stream*>(data);
  // A programme above the parental setting is decoded (the keys keep flowing) but never shown.
  if (stream->player->DropDecoded()) return GST_PAD_PROBE_DROP;
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buffer != nullptr) stream->player->OnDecoded(*stream, pad, buffer);
  return GST_PAD_PROBE_OK;
}

// ISMACryp video after h264parse: the decoder starts at the first IDR access unit, as
// rtph264depay wait-for-keyframe does for SRTP, so every frame shown is exact.
GstPadProbeReturn OnParsedVideoProbe(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* stream = static_cast<Stream*>(data);
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buffer == nullptr || stream->keyframe_seen.load()) return GST_PAD_PROBE_OK;
  if (GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT)) return GST_PAD_PROBE_DROP;
  stream->keyframe_seen = true;
  return GST_PAD_PROBE_OK;
}

// Reads the key indicator of the encrypted AUs with the ISMACryp library's own parser and posts
// kIsmacrypKeyMessage when it changes, so the player follows TEK changes of ISMACryp streams as
// it does with bcastsrtpdec's openbcast-srtp-key.
GstPadProbeReturn OnIsmacrypPacketProbe(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* stream = static_cast<Stream*>(data);
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (event == nullptr || GST_EVENT_TYPE(event) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
    GstCaps* caps = nullptr;
    gst_event_parse_caps(event, &caps);
    std::vector<std::pair<std::string, std::string>> params;
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    for (gint i = 0; i < gst_structure_n_fields(s); ++i) {
      const gchar* name = gst_structure_nth_field_name(s, i);
      params.emplace_back(name, ValueToString(gst_structure_get_value(s, name)));
    }
    auto fmtp = bcast::ismacryp::ParseFmtp(params);
    stream->isma_fmtp.reset();
    if (fmtp) stream->isma_fmtp = std::move(fmtp.value());
    return GST_PAD_PROBE_OK;
  }
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buffer == nullptr) return GST_PAD_PROBE_OK;
  if (!stream->have_key.load()) {
    stream->packets_before_key.fetch_add(1);
    return GST_PAD_PROBE_DROP;
  }
  if (!stream->isma_fmtp || stream->isma_fmtp->key_indicator_length == 0) return GST_PAD_PROBE_OK;
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) return GST_PAD_PROBE_OK;
  const auto* payload = static_cast<const std::uint8_t*>(gst_rtp_buffer_get_payload(&rtp));
  const std::span<const std::uint8_t> bytes(payload, gst_rtp_buffer_get_payload_len(&rtp));
  std::optional<std::uint64_t> key;
  bcast::ismacryp::ParsedPayload& parsed = stream->isma_parsed;
  if (!bcast::ismacryp::ParsePayloadInto(*stream->isma_fmtp, bytes, &parsed)) {
    for (const auto& h : parsed.headers) {
      if (h.encrypted && h.has_key_indicator) {
        key = bcast::ismacryp::KeyIndicatorValue(h.key_indicator);
        if (key) break;
      }
    }
  }
  gst_rtp_buffer_unmap(&rtp);
  if (!stream->isma_keyed.load()) {
    if (key && !stream->Announced(*key)) {
      stream->packets_before_key.fetch_add(1);
      return GST_PAD_PROBE_DROP;
    }
    stream->isma_keyed = true;
  }
  if (key && key != stream->isma_key && *key <= 0xffff) {
    stream->isma_key = key;
    GstElement* dec = stream->ismacrypdec;
    gst_element_post_message(
        dec, gst_message_new_element(GST_OBJECT(dec),
                                     gst_structure_new(kIsmacrypKeyMessage, "tek-id", G_TYPE_UINT,
                                                       static_cast<guint>(*key), nullptr)));
  }
  return GST_PAD_PROBE_OK;
}

void PlayerImpl::OnDecoded(Stream& stream, GstPad* pad, GstBuffer* buffer) {
  const guint64 index = stream.frames.fetch_add(1);
  if (index == 0) {
    const gint64 now_us = g_get_monotonic_time();
    const gint64 ms = ElapsedMs();
    stream.first_frame_ms = ms;
    Event("first-frame stream=" + stream.name + " ms=" + std::to_string(ms));
    // To the main thread with the time taken here, right after the decoder (zap measurements).
    gst_element_post_message(
        pipeline_.get(),
        gst_message_new_element(
            GST_OBJECT(pipeline_.get()),
            gst_structure_new(kFirstFrameMessage, "stream", G_TYPE_STRING, stream.name.c_str(),
                              "video", G_TYPE_BOOLEAN, stream.plan.video ? TRUE : FALSE,
                              "monotonic-us", G_TYPE_INT64, now_us, nullptr)));
  }
  if (!checksums_) return;
  std::optional<std::string> hash;
  if (stream.plan.video) {
    g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
    GstVideoInfo vinfo;
    if (caps != nullptr && gst_video_info_from_caps(&vinfo, caps))
      hash = HashVideoFrame(buffer, vinfo);
  } else {
    hash = HashBuffer(buffer);
  }
  std::lock_guard lock(out_mutex_);
  std::fprintf(checksums_.get(), "%s %" G_GUINT64_FORMAT " %s\n", stream.name.c_str(), index,
               hash ? hash->c_str() : "unmappable");
}

bool PlayerImpl::AddMediaBranch(Stream& stream) {
  const auto& m = stream.media;
  const auto& plan = stream.plan;
  const std::string& n = stream.name;
  g_autoptr(GstCaps) caps = gst_caps_from_string(plan.caps.c_str());
  if (caps == nullptr) return Fail("bad caps for " + n + ": " + plan.caps);
  GstElement* src = MakeSource(n + "-src", caps, m.address, m.port);
  // The socket reader must never wait for decryption or decoding, or the kernel drops datagrams.
  GstElement* queue = Make("queue", n + "-queue");
  GstElement* srtpdec = nullptr;
  if (!plan.decryptor.empty()) {
    srtpdec = Make(plan.decryptor.c_str(), n + "-srtpdec");
    if (!srtpdec) return false;
  }
  // For ISMACryp the depayloader is ismacrypdec: it decrypts and depayloads in one step.
  const bool isma = plan.protection == bcast::Protection::kIsmacryp;
  GstElement* depay = Make(plan.depayloader.c_str(), n + (isma ? "-ismacrypdec" : "-depay"));
  GstElement* parse = Make(plan.parser.c_str(), n + "-parse");
  GstElement* dec = Make(plan.decoder.c_str(), n + "-dec");
  if (!src || !queue || !depay || !parse || !dec) return false;

  g_object_set(queue, "max-size-buffers", 0u, "max-size-time", G_GUINT64_CONSTANT(0),
               "max-size-bytes", 64u * 1024 * 1024, nullptr);
  if (plan.video) {
    // Decode from the first IDR picture on, never concealed garbage: a terminal that joins
    // mid-GOP shows nothing until the next key frame, and every frame it shows is exact.
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(depay), "wait-for-keyframe")) {
      g_object_set(depay, "wait-for-keyframe", TRUE, nullptr);
    }
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(dec), "output-corrupt")) {
      g_object_set(dec, "output-corrupt", FALSE, nullptr);
    }
    if (isma) {
      // ismacrypdec puts the SDP's parameter sets before its first AU only, which the key frame
      // gate may drop: the parser repeats them before every IDR picture.
      g_object_set(parse, "config-interval", -1, nullptr);
      g_autoptr(GstPad) parsed = gst_element_get_static_pad(parse, "src");
      gst_pad_add_probe(parsed, GST_PAD_PROBE_TYPE_BUFFER, OnParsedVideoProbe, &stream, nullptr);
    }
  }

  std::vector<GstElement*> chain = {src, queue};
  if (srtpdec) chain.push_back(srtpdec);
  chain.insert(chain.end(), {depay, parse, dec});
  if (plan.video && have_display_) {
    GstElement* convert = Make("videoconvert", n + "-convert");
    GstElement* sink = Make("autovideosink", n + "-sink");
    if (!convert || !sink) return false;
    chain.insert(chain.end(), {convert, sink});
  } else if (!plan.video && have_sound_) {
    GstElement* convert = Make("audioconvert", n + "-convert");
    GstElement* resample = Make("audioresample", n + "-resample");
    GstElement* sink = Make("autoaudiosink", n + "-sink");
    if (!convert || !resample || !sink) return false;
    chain.insert(chain.end(), {convert, resample, sink});
  } else {
    GstElement* sink = Make("fakesink", n + "-sink");
    if (!sink) return false;
    g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
    chain.push_back(sink);
  }
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    if (!gst_element_link(chain[i], chain[i + 1])) {
      return Fail("cannot link " + std::string(GST_ELEMENT_NAME(chain[i])) + " to " +
                  GST_ELEMENT_NAME(chain[i + 1]));
    }
  }
  g_autoptr(GstPad) pad = gst_element_get_static_pad(dec, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, OnDecodedProbe, &stream, nullptr);
  g_autoptr(GstPad) srcpad = gst_element_get_static_pad(src, "src");
  gst_pad_add_probe(
      srcpad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
        auto* st = static_cast<Stream*>(data);
        GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
        if (buffer != nullptr) st->player->OnMediaDatagram(*st, buffer);
        return GST_PAD_PROBE_OK;
      },
      &stream, nullptr);
  if (reader_) {
    if (media_appsrcs_.size() <= stream.media_index) media_appsrcs_.resize(stream.media_index + 1);
    media_appsrcs_[stream.media_index] = src;
  }
  stream.srtpdec = srtpdec;
  if (isma) {
    stream.ismacrypdec = depay;
    g_autoptr(GstPad) sink = gst_element_get_static_pad(depay, "sink");
    gst_pad_add_probe(sink,
                      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER |
                                                   GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                      OnIsmacrypPacketProbe, &stream, nullptr);
  }
  return true;
}

bool SoundDevicePresent() {
  if (g_getenv("PULSE_SERVER") != nullptr) return true;
  const char* runtime = g_getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr) {
    g_autofree gchar* pulse = g_build_filename(runtime, "pulse", "native", nullptr);
    g_autofree gchar* pipewire = g_build_filename(runtime, "pipewire-0", nullptr);
    if (g_file_test(pulse, G_FILE_TEST_EXISTS) || g_file_test(pipewire, G_FILE_TEST_EXISTS)) {
      return true;
    }
  }
  return g_file_test("/dev/snd", G_FILE_TEST_IS_DIR);
}

bool PlayerImpl::Build() {
  if (IsRecordingFile(options_.sdp_path)) {
    auto reader = RecordingReader::Open(options_.sdp_path);
    if (!reader) {
      return Fail("recording " + options_.sdp_path + ": " + reader.error().message + " (" +
                  reader.error().field + ", offset " + std::to_string(reader.error().offset) + ")");
    }
    reader_ = std::move(reader.value());
    sdp_text_ = reader_->sdp_text();
    if (!options_.record_path.empty()) {
      return Fail("cannot record " + options_.sdp_path +
                  ": it is a recording already (copy the file instead)");
    }
  } else {
    g_autofree gchar* text = nullptr;
    gsize length = 0;
    if (g_file_get_contents(options_.sdp_path.c_str(), &text, &length, nullptr)) {
      sdp_text_.assign(text, length);
    }
  }
  auto sd = reader_ ? channels::ParseSessionDescription(sdp_text_)
                    : channels::LoadSessionDescription(options_.sdp_path);
  if (!sd) {
    return Fail((reader_ ? "the session description in the recording " : "session description ") +
                options_.sdp_path + ": " + sd.error().message + " (" + sd.error().field +
                ", line " + std::to_string(sd.error().offset) + ")");
  }
  sd_ = std::move(sd.value());
  if (sd_.media.empty()) return Fail("session description has no media stream");

  have_display_ = !options_.headless &&
                  (g_getenv("DISPLAY") != nullptr || g_getenv("WAYLAND_DISPLAY") != nullptr);
  have_sound_ = !options_.headless && SoundDevicePresent();

  pipeline_.reset(gst_pipeline_new("bcast-player"));
  gst_object_ref_sink(pipeline_.get());
  if (options_.keyring) {
    // Set before the elements are added: the bin hands its contexts to every child it gets.
    gst_element_set_context(pipeline_.get(), options_.keyring.get());
    std::lock_guard lock(keyring_mutex_);
    keyring_ = options_.keyring;
  }

  // Key streams that protected media name, in SDP order (mixed services have two).
  std::vector<const channels::KeyStream*> key_streams;
  std::map<std::string, int> counts;
  for (const auto& m : sd_.media) {
    auto plan = bcast::PlanForMedia(m);
    if (!plan) {
      return Fail("media " + m.media + " port " + std::to_string(m.port) + ": " +
                  plan.error().message + " (" + plan.error().field + ")");
    }
    auto stream = std::make_unique<Stream>();
    const int n = counts[m.media]++;
    stream->name = n == 0 ? m.media : m.media + std::to_string(n + 1);
    stream->media = m;
    stream->plan = std::move(plan.value());
    stream->player = this;
    stream->media_index = streams_.size();
    if (stream->plan.protected_stream()) {
      const channels::KeyStream* key = m.key_stream_id.empty() && !sd_.key_streams.empty()
                                           ? &sd_.key_streams.front()
                                           : sd_.FindKeyStream(m.key_stream_id);
      if (key == nullptr) {
        return Fail("media " + m.media + " port " + std::to_string(m.port) +
                    " is protected but its key stream (a=stkmstream:" + m.key_stream_id +
                    ", vnd.oma.bcast.stkm) is not in the session description");
      }
      if (std::find(key_streams.begin(), key_streams.end(), key) == key_streams.end()) {
        key_streams.push_back(key);
      }
    }
    streams_.push_back(std::move(stream));
  }
  if (!key_streams.empty() && !FromSpcd() &&
      !g_file_test(options_.key_file.c_str(), G_FILE_TEST_IS_REGULAR)) {
    return Fail("key file " + options_.key_file + " not found");
  }
  for (std::size_t i = 0; i < key_streams.size(); ++i) {
    if (!AddKeyBranch(*key_streams[i], i)) return false;
  }
  for (auto& stream : streams_) {
    if (stream->plan.protected_stream()) {
      const auto& id = stream->media.key_stream_id;
      for (std::size_t i = 0; i < key_streams.size(); ++i) {
        if (id.empty() ? i == 0 : key_streams[i]->id == id) stream->tekdec = tekdecs_[i];
      }
    }
    if (!AddMediaBranch(*stream)) return false;
  }
  if (!options_.checksums_path.empty()) {
    checksums_.reset(std::fopen(options_.checksums_path.c_str(), "w"));
    if (!checksums_) {
      return Fail("cannot write " + options_.checksums_path + ": " + std::strerror(errno));
    }
  }
  return true;
}

void PlayerImpl::KeyInUse(GstMessage* message, guint id) {
  for (auto& stream : streams_) {
    GstObject* src = GST_MESSAGE_SRC(message);
    if (src != GST_OBJECT(stream->srtpdec) && src != GST_OBJECT(stream->ismacrypdec)) continue;
    stream->tek_in_use = id;
    if (stream->tek_sequence.empty() || stream->tek_sequence.back() != id) {
      stream->tek_sequence.push_back(id);
    }
    if (teks_in_use_.insert(id).second) {
      tek_sequence_.push_back(id);
      const gint64 now = ElapsedMs();
      // The first TEK was joined mid-period: the period is known from the second change on.
      if (tek_sequence_.size() >= 3 && key_since_ms_ >= 0) key_period_ms_ = now - key_since_ms_;
      key_since_ms_ = now;
      Event("key tek_id=" + std::to_string(id) + " stream=" + stream->name +
            " ms=" + std::to_string(ElapsedMs()));
    }
  }
}

void PlayerImpl::HandleElementMessage(GstMessage* message) {
  const GstStructure* s = gst_message_get_structure(message);
  if (s == nullptr) return;
  const std::string name = gst_structure_get_name(s);
  if (name == "openbcast-tek") {
    guint id = 0, next = 0, lifetime = 0;
    gboolean has_next = FALSE;
    gst_structure_get_uint(s, "tek-id", &id);
    gst_structure_get_boolean(s, "has-next", &has_next);
    gst_structure_get_uint(s, "next-tek-id", &next);
    gst_structure_get_uint(s, "lifetime", &lifetime);
    const char* cid = gst_structure_get_string(s, "content-id");
    ++teks_received_;
    if (!first_key_ms_) first_key_ms_ = ElapsedMs();
    std::string line = "stkm tek_id=" + std::to_string(id);
    if (has_next) line += " next=" + std::to_string(next);
    line += " lifetime=" + std::to_string(lifetime);
    if (cid) line += std::string(" content_id=") + cid;
    line += " ms=" + std::to_string(ElapsedMs());
    Event(line);
    if (cid) content_id_ = cid;
    next_tek_id_ = has_next ? static_cast<gint64>(next) : -1;
    tek_lifetime_s_ = lifetime;
    // Keys flow again: whatever blocked them (rights, PIN, spcd) is solved.
    if (problem_ == "no-rights" || problem_ == "not-registered" || problem_ == "expired" ||
        problem_ == "bad-keys" || problem_ == "not-permitted" ||
        (problem_ == "parental" && !parental_blocked_.load())) {
      problem_.clear();
    }
  } else if (name == "openbcast-stkm-rejected") {
    const char* reason = gst_structure_get_string(s, "reason");
    const char* cid = gst_structure_get_string(s, "content-id");
    const char* detail = gst_structure_get_string(s, "detail");
    const std::string r = reason ? reason : "unknown";
    const guint64 n = ++stkm_rejected_msgs_[r];
    if (r == "no-rights" && cid != nullptr) no_rights_cids_.insert(cid);
    HandleRejection(r, cid ? cid : "", detail ? detail : "");
    // The interactive terminal says it once, with what to do, through HandleRejection.
    if (options_.interactive) return;
    if (!ShouldWarn("stkm-" + r, n)) return;
    std::string text;
    if (r == "bad-mac") {
      text = "STKM rejected: MAC check failed (forged or corrupted key message)";
    } else if (r == "no-rights") {
      Warn("STKM rejected: " + NoRightsText(cid ? cid : "") + " (" + std::to_string(n) +
           " so far)");
      return;
    } else if (r == "malformed") {
      text = "STKM rejected: malformed key message";
    } else if (r == "unavailable") {
      text = "STKM not processed yet: spcd is not answering on " + BusText() +
             " (kept and sent again when spcd is back)";
    } else {
      text = "STKM rejected: " + r;
    }
    if (cid && *cid) text += std::string(" for ") + cid;
    if (detail && *detail) text += std::string(": ") + detail;
    Warn(text + " (" + std::to_string(n) + " so far)");
  } else if (name == "openbcast-smartcard") {
    // Smartcard Profile: the card left or came back (spcd's CardChanged through tekdec).
    gboolean present = FALSE;
    gint64 held_until = 0;
    gst_structure_get_boolean(s, "present", &present);
    gst_structure_get_int64(s, "held-until", &held_until);
    const char* reader = gst_structure_get_string(s, "reader");
    std::string until = "the next key change";
    if (held_until > 0) {
      g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(held_until);
      g_autofree gchar* text = t ? g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ") : nullptr;
      if (text) until = text;
    }
    Event(std::string("smartcard present=") + (present ? "1" : "0") + " reader=\"" +
          (reader ? reader : "") + "\"" + (present ? "" : " held_until=" + until) +
          " ms=" + std::to_string(ElapsedMs()));
    if (!present) {
      ++smartcard_removals_;
      smartcard_state_ = "removed";
      smartcard_held_until_ = held_until;
      Warn("smartcard removed: playing on held keys until " + until +
           " (insert the card to go on)");
    } else if (smartcard_state_ == "removed") {
      smartcard_state_ = "present";
      Warn("smartcard back in " + std::string(reader ? reader : "the reader") +
           ": keys come from the card again");
    } else {
      smartcard_state_ = "present";
    }
  } else if (name == "openbcast-spcd") {
    gboolean available = FALSE;
    gst_structure_get_boolean(s, "available", &available);
    const char* detail = gst_structure_get_string(s, "detail");
    const std::string element = GST_OBJECT_NAME(GST_MESSAGE_SRC(message));
    auto previous = spcd_available_.find(element);
    const bool was_known = previous != spcd_available_.end();
    const bool was_available = was_known && previous->second;
    spcd_available_[element] = available;
    std::string line = std::string("spcd available=") + (available ? "1" : "0") +
                       " element=" + element + " ms=" + std::to_string(ElapsedMs());
    if (detail && *detail) line += std::string(" detail=\"") + detail + "\"";
    Event(line);
    if (!available && (was_available || !was_known)) {
      ++spcd_outages_;
      Warn("spcd went away from " + BusText() +
           ": playing on with the TEKs already received; new key messages wait until it is "
           "back (" +
           StartSpcdHint() + ")");
    }
  } else if (name == kFirstFrameMessage) {
    const char* stream = gst_structure_get_string(s, "stream");
    gboolean video = FALSE;
    gint64 us = 0;
    gst_structure_get_boolean(s, "video", &video);
    gst_structure_get_int64(s, "monotonic-us", &us);
    if (hooks_.on_first_frame) hooks_.on_first_frame(stream ? stream : "", video, us);
  } else if (name == kTekReadyMessage) {
    TekReady ready;
    ready.monotonic_us = g_get_monotonic_time();
    const char* cid = gst_structure_get_string(s, "base-cid");
    const char* source = gst_structure_get_string(s, "source");
    ready.base_cid = cid ? cid : "";
    ready.source = source ? source : "";
    if (!gst_structure_get_uint(s, "tek-id", &ready.tek_id)) {
      gint signed_id = 0;
      if (gst_structure_get_int(s, "tek-id", &signed_id))
        ready.tek_id = static_cast<guint>(signed_id);
    }
    const gint64 ms = ElapsedMs();
    tek_ready_.push_back(TekReadyReport{ready.base_cid, ready.tek_id, ready.source, ms});
    Event("tek-ready tek_id=" + std::to_string(ready.tek_id) + " source=" + ready.source +
          " prefetched=" + (ready.source == "held" ? "1" : "0") + " base_cid=" + ready.base_cid +
          " ms=" + std::to_string(ms));
    if (hooks_.on_tek_ready) hooks_.on_tek_ready(ready);
  } else if (name == "openbcast-srtp-key" || name == kIsmacrypKeyMessage) {
    guint id = 0;
    if (!gst_structure_get_uint(s, "tek-id", &id)) {
      gint signed_id = 0;
      if (!gst_structure_get_int(s, "tek-id", &signed_id)) return;
      id = static_cast<guint>(signed_id);
    }
    KeyInUse(message, id);
  }
}

void PlayerImpl::HandleError(GstMessage* message) {
  g_autoptr(GError) err = nullptr;
  g_autofree gchar* debug = nullptr;
  gst_message_parse_error(message, &err, &debug);
  GstObject* src = GST_MESSAGE_SRC(message);
  // After "spcd is not reachable", basesink's generic "Failed to start" of the same tekdec says
  // nothing more.
  if (IsTekdec(src) && spcd_unreachable_) return;
  if (IsTekdec(src) && FromSpcd() && err != nullptr &&
      g_error_matches(err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND)) {
    // tekdec could not reach spcd: say where it was looked for and how to start it. tekdec's
    // text ("spcd not reachable on BUS as NAME: REASON; start spcd or set sek-file") is cut to
    // its reason when it has that form, so bus and advice are not said twice.
    std::string reason = err->message;
    const std::string as = " as ";
    if (reason.rfind("spcd not reachable on ", 0) == 0) {
      const std::size_t name = reason.find(as);
      const std::size_t colon = name == std::string::npos ? name : reason.find(": ", name);
      if (colon != std::string::npos) reason = reason.substr(colon + 2);
      const std::string advice = "; start spcd or set sek-file";
      if (reason.size() > advice.size() &&
          reason.compare(reason.size() - advice.size(), advice.size(), advice) == 0) {
        reason.resize(reason.size() - advice.size());
      }
    }
    Fail("spcd (org.openbcast.SPC1) is not reachable on " + BusText() + ": " + reason + "; " +
         StartSpcdHint());
    spcd_unreachable_ = true;
    return;
  }
  std::string text = std::string(GST_OBJECT_NAME(src)) + ": " + (err ? err->message : "error");
  if (debug) text += std::string(" (") + debug + ")";
  Fail(text);
}

gboolean PlayerImpl::OnBusMessage(GstBus*, GstMessage* message, gpointer data) {
  auto* self = static_cast<PlayerImpl*>(data);
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR:
      self->HandleError(message);
      self->Finish();
      break;
    case GST_MESSAGE_WARNING: {
      g_autoptr(GError) err = nullptr;
      g_autofree gchar* debug = nullptr;
      gst_message_parse_warning(message, &err, &debug);
      self->Warn(std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(message))) + ": " +
                 (err ? err->message : "warning"));
      break;
    }
    case GST_MESSAGE_EOS:
      self->Event("eos");
      self->Finish();
      break;
    case GST_MESSAGE_ELEMENT:
      self->HandleElementMessage(message);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

// In the thread that posts: tekdec posts openbcast-tek right after it put the TEK into the keyring,
// so from here on the key branch's ISMACryp streams can be decrypted.
GstBusSyncReply PlayerImpl::OnBusSync(GstBus*, GstMessage* message, gpointer data) {
  auto* self = static_cast<PlayerImpl*>(data);
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_HAVE_CONTEXT) {
    GstContext* context = nullptr;
    gst_message_parse_have_context(message, &context);
    if (context != nullptr && gst_context_has_context_type(context, kKeyringContextType)) {
      std::lock_guard lock(self->keyring_mutex_);
      self->keyring_.reset(context, [](GstContext* c) { gst_context_unref(c); });
    } else if (context != nullptr) {
      gst_context_unref(context);
    }
    return GST_BUS_PASS;
  }
  if (GST_MESSAGE_TYPE(message) != GST_MESSAGE_ELEMENT) return GST_BUS_PASS;
  const GstStructure* s = gst_message_get_structure(message);
  if (s == nullptr || !gst_structure_has_name(s, "openbcast-tek")) return GST_BUS_PASS;
  guint id = 0, next = 0;
  gboolean has_next = FALSE;
  gst_structure_get_uint(s, "tek-id", &id);
  gst_structure_get_boolean(s, "has-next", &has_next);
  gst_structure_get_uint(s, "next-tek-id", &next);
  for (auto& stream : self->streams_) {
    if (GST_MESSAGE_SRC(message) != GST_OBJECT(stream->tekdec)) continue;
    stream->Announce(id);
    if (has_next) stream->Announce(next);
    stream->have_key = true;
  }
  return GST_BUS_PASS;
}

void PlayerImpl::PollSrtp(Stream& stream) {
  GstStructure* raw = nullptr;
  g_object_get(stream.srtpdec, "stats", &raw, nullptr);
  std::unique_ptr<GstStructure, StructureDeleter> stats(raw);
  if (!stats) return;
  SrtpCounters c;
  c.received = StructureCounter(stats.get(), "received");
  c.decrypted = StructureCounter(stats.get(), "decrypted");
  c.auth_failures = StructureCounter(stats.get(), "auth-failures");
  c.replays = StructureCounter(stats.get(), "replays");
  c.unknown_mki = StructureCounter(stats.get(), "unknown-mki");
  c.held = StructureCounter(stats.get(), "held");
  c.dropped_held = StructureCounter(stats.get(), "dropped-held");
  c.dropped_held_at_join = StructureCounter(stats.get(), "dropped-held-at-join");
  c.roc = StructureCounter(stats.get(), "roc");
  stream.counters = c;
  SrtpCounters& w = stream.warned;
  const std::string& n = stream.name;
  // Each kind is reported with the packets lost since it was last reported.
  auto report = [&](const char* kind, guint64 now, guint64& reported, const std::string& what) {
    if (now <= reported || !ShouldWarn(n + kind, now)) return;
    Warn(n + ": " + std::to_string(now - reported) + " " + what + " (total " + std::to_string(now) +
         ")");
    reported = now;
  };
  if (c.auth_failures > w.auth_failures && c.decrypted == 0) {
    if (ShouldWarn(n + "-no-decrypt", c.auth_failures)) {
      std::string text = n + ": " + std::to_string(c.auth_failures) +
                         " SRTP packets failed authentication and none decrypted: wrong TEK, or "
                         "unknown roll-over counter (ROC)";
      if (stream.plan.rcc_mode == 0) {
        text +=
            "; the stream carries no ROC (no RFC 4771 mode in a=SRTPAuthentication), so a "
            "terminal that joins after a sequence number wrap cannot decrypt it";
      }
      Warn(text);
      w.auth_failures = c.auth_failures;
    }
  } else {
    report("-auth", c.auth_failures, w.auth_failures,
           "SRTP packets failed authentication, dropped");
  }
  report("-replay", c.replays, w.replays, "replayed SRTP packets dropped");
  guint64 unknown_dropped = w.unknown_mki;  // the unknown-MKI losses last reported
  report("-mki", c.unknown_mki_dropped(), unknown_dropped,
         "SRTP packets under an unknown TEK (MKI) dropped");
  w.unknown_mki = unknown_dropped;
  guint64 held_reported = w.dropped_held;  // the hold-queue losses last reported
  report("-held", c.held_lost(), held_reported,
         "held SRTP packets dropped: their TEK never arrived");
  w.dropped_held = held_reported;
}

void PlayerImpl::PollIsmacryp(Stream& stream) {
  GstStructure* raw = nullptr;
  g_object_get(stream.ismacrypdec, "stats", &raw, nullptr);
  std::unique_ptr<GstStructure, StructureDeleter> stats(raw);
  if (!stats) return;
  std::vector<std::pair<std::string, guint64>> values;
  for (gint i = 0; i < gst_structure_n_fields(stats.get()); ++i) {
    const gchar* field = gst_structure_nth_field_name(stats.get(), i);
    values.emplace_back(field, StructureCounter(stats.get(), field));
  }
  stream.isma_stats = std::move(values);
  for (const auto& [field, count] : stream.isma_stats) {
    auto reason = IsmacrypDropReasons().find(field);
    if (reason == IsmacrypDropReasons().end()) continue;
    guint64& reported = stream.isma_warned[field];
    if (count <= reported || !ShouldWarn(stream.name + "-" + field, count)) continue;
    Warn(stream.name + ": " + std::to_string(count - reported) +
         " ISMACryp access units dropped (" + field.substr(std::strlen("dropped-")) + ": " +
         reason->second + ") (total " + std::to_string(count) + ")");
    reported = count;
  }
}

void PlayerImpl::PollStats() {
  const guint64 malformed = SumProperty(stkmparses_, "malformed");
  if (malformed > stkmparse_malformed_warned_ && ShouldWarn("stkmparse-malformed", malformed)) {
    Warn("STKM rejected: malformed key message: " +
         std::to_string(malformed - stkmparse_malformed_warned_) +
         " datagrams on the key stream are not STKMs (" + std::to_string(malformed) + " so far)");
    stkmparse_malformed_warned_ = malformed;
  }
  for (auto& stream : streams_) {
    if (stream->srtpdec != nullptr) PollSrtp(*stream);
    if (stream->ismacrypdec != nullptr) PollIsmacryp(*stream);
  }
}

gboolean PlayerImpl::OnPoll(gpointer data) {
  auto* self = static_cast<PlayerImpl*>(data);
  self->PollStats();
  self->PollNetwork();
  self->PollParental();
  self->PollRecording();
  return G_SOURCE_CONTINUE;
}

gboolean PlayerImpl::OnProgress(gpointer data) {
  auto* self = static_cast<PlayerImpl*>(data);
  std::string line = "progress ms=" + std::to_string(self->ElapsedMs());
  for (auto& stream : self->streams_) {
    line += " " + stream->name + "=" + std::to_string(stream->frames.load());
  }
  self->Event(line);
  return G_SOURCE_CONTINUE;
}

gboolean PlayerImpl::OnDuration(gpointer data) {
  auto* self = static_cast<PlayerImpl*>(data);
  self->Event("duration reached");
  self->duration_source_ = 0;
  self->Finish();
  return G_SOURCE_REMOVE;
}

gboolean PlayerImpl::OnSignal(gpointer data) {
  auto* self = static_cast<PlayerImpl*>(data);
  self->Event("stopping on signal");
  self->Finish();
  return G_SOURCE_CONTINUE;
}

const char* ProtectionName(bcast::Protection p) {
  switch (p) {
    case bcast::Protection::kSrtp:
      return "srtp";
    case bcast::Protection::kIsmacryp:
      return "ismacryp";
    case bcast::Protection::kClear:
      return "clear";
  }
  return "?";
}

Report PlayerImpl::MakeReport() {
  Report r;
  r.service = sd_.session_name;
  r.sdp = options_.sdp_path;
  r.duration_ms = ElapsedMs();
  if (tekdecs_.empty()) {
    r.key_source = "none";
  } else if (FromSpcd()) {
    r.key_source = "spcd on " + BusText();
  } else {
    r.key_source = "key file " + options_.key_file;
  }
  gint64 ttff = -1;
  for (auto& stream : streams_) {
    StreamReport s;
    s.name = stream->name;
    s.protection = ProtectionName(stream->plan.protection);
    s.frames = stream->frames.load();
    s.first_frame_ms = stream->first_frame_ms.load();
    s.srtp = stream->srtpdec != nullptr;
    s.tek_ids_in_use = stream->tek_sequence;
    if (s.srtp) {
      const SrtpCounters& c = stream->counters;
      s.srtp_stats = {{"received", c.received},
                      {"decrypted", c.decrypted},
                      {"auth-failures", c.auth_failures},
                      {"replays", c.replays},
                      {"unknown-mki", c.unknown_mki},
                      {"held", c.held},
                      {"dropped-held", c.dropped_held},
                      {"dropped-held-at-join", c.dropped_held_at_join},
                      {"roc", c.roc},
                      {"lost", c.failures()}};
      r.decrypt_failures += c.failures();
      r.decrypt_failures_by_reason["srtp-auth-failures"] += c.auth_failures;
      r.decrypt_failures_by_reason["srtp-replays"] += c.replays;
      r.decrypt_failures_by_reason["srtp-unknown-mki"] += c.unknown_mki_dropped();
      r.decrypt_failures_by_reason["srtp-dropped-held"] += c.held_lost();
    }
    if (stream->ismacrypdec != nullptr) {
      s.ismacryp_stats = stream->isma_stats;
      s.ismacryp_stats.emplace_back("packets-before-first-key", stream->packets_before_key.load());
      s.ismacryp_stats.emplace_back("lost", stream->isma("aus-dropped"));
      r.decrypt_failures += stream->isma("aus-dropped");
      for (const auto& [field, count] : stream->isma_stats) {
        if (IsmacrypDropReasons().count(field)) {
          r.decrypt_failures_by_reason["ismacryp-" + field] += count;
        }
      }
    }
    if (stream->plan.video && s.first_frame_ms >= 0 && (ttff < 0 || s.first_frame_ms < ttff)) {
      ttff = s.first_frame_ms;
    }
    r.streams.push_back(std::move(s));
  }
  r.time_to_first_frame_ms = ttff;
  r.time_to_first_key_ms = first_key_ms_ ? *first_key_ms_ : -1;
  r.tek_ids_in_use = tek_sequence_;
  r.tek_changes = tek_sequence_.empty() ? 0 : tek_sequence_.size() - 1;
  r.teks_received = std::max<guint64>(teks_received_, SumProperty(tekdecs_, "teks"));
  auto count = [&](const char* reason) {
    auto it = stkm_rejected_msgs_.find(reason);
    return it == stkm_rejected_msgs_.end() ? guint64{0} : it->second;
  };
  for (const char* reason :
       {"bad-mac", "no-rights", "replay", "expired", "not-permitted", "failed", "unavailable"}) {
    r.stkm_rejected[reason] = std::max(count(reason), SumProperty(tekdecs_, reason));
  }
  r.stkm_rejected["malformed"] =
      std::max(count("malformed"),
               SumProperty(stkmparses_, "malformed") + SumProperty(tekdecs_, "malformed"));
  r.stkm_accepted = SumProperty(stkmparses_, "accepted");
  r.stkm_repeats = SumProperty(stkmparses_, "repeats");
  r.no_rights_content_ids.assign(no_rights_cids_.begin(), no_rights_cids_.end());
  r.spcd_outages = spcd_outages_;
  r.smartcard_removals = smartcard_removals_;
  r.smartcard_state = smartcard_state_;
  r.smartcard_held_until = smartcard_held_until_;
  r.tek_ready = tek_ready_;
  r.errors = errors_;
  return r;
}

std::string SummaryText(const Report& r) {
  std::string line = "summary:";
  for (const auto& s : r.streams) {
    line += " " + s.name + "_frames=" + std::to_string(s.frames);
  }
  line += " decrypt_failures=" + std::to_string(r.decrypt_failures);
  line += " tek_changes=" + std::to_string(r.tek_changes);
  line += " ttff_ms=" + std::to_string(r.time_to_first_frame_ms);
  guint64 rejected = 0;
  for (const auto& [reason, n] : r.stkm_rejected) {
    if (reason != "unavailable") rejected += n;
  }
  line += " stkm_rejected=" + std::to_string(rejected);
  line += " errors=" + std::to_string(r.errors.size());
  return line;
}

void PlayerImpl::PrintSummary(const Report& r) {
  const std::string line = SummaryText(r);
  std::lock_guard lock(out_mutex_);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

PlayerImpl::~PlayerImpl() { Stop(); }

std::shared_ptr<GstContext> PlayerImpl::KeyringContext() {
  std::lock_guard lock(keyring_mutex_);
  return keyring_;
}

GstElement* PlayerImpl::MakeSource(const std::string& name, GstCaps* caps,
                                   const std::string& address, guint16 port) {
  if (reader_) {
    GstElement* src = Make("appsrc", name);
    if (src == nullptr) return nullptr;
    // block: the feeder waits for room instead of growing the queue without bound.
    g_object_set(src, "caps", caps, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp",
                 TRUE, "block", TRUE, "max-bytes", static_cast<guint64>(8u << 20), nullptr);
    return src;
  }
  GstElement* src = Make("udpsrc", name);
  if (src == nullptr) return nullptr;
  g_object_set(src, "address", address.c_str(), "port", static_cast<gint>(port), "caps", caps,
               "buffer-size", 4 * 1024 * 1024, nullptr);
  return src;
}

void PlayerImpl::OnKeyDatagram(KeyBranch& branch, GstBuffer* buffer) {
  last_data_us_ = g_get_monotonic_time();
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return;
  const std::span<const std::uint8_t> bytes(map.data, map.size);
  // Only the STKM's clear fields are read here (the MAC is spcd's or the key file's to check): a
  // forged STKM can at most block a programme, never unlock one.
  if (auto parsed = spc::ParseStkm(bytes)) {
    int rating = -1;
    for (const auto& d : parsed->access_criteria) {
      if (d.tag == spc::kAccessCriteriaParentalRating && !d.data.empty()) rating = d.data[0];
    }
    // Blocked here, before the TEK can reach the decoders, so not one frame shows.
    if (rating > static_cast<int>(options_.parental_max_age) && !parental_unlocked_.load()) {
      parental_blocked_ = true;
    }
    std::lock_guard lock(branch.mutex);
    branch.last_stkm.assign(bytes.begin(), bytes.end());
    branch.protection_after_reception = parsed->protection_after_reception;
    branch.parental_rating = std::max(branch.parental_rating, rating);
    branch.content_id = spc::StkmContentId(*parsed, branch.base_cid);
    ++branch.parsed;
  }
  std::shared_ptr<RecordingWriter> recorder;
  gint64 start = 0;
  {
    std::lock_guard lock(record_mutex_);
    recorder = recorder_;
    start = record_start_us_;
  }
  if (recorder) {
    recorder->Write(RecordKind::kKey, static_cast<std::uint8_t>(branch.index),
                    static_cast<std::uint64_t>(std::max<gint64>(0, g_get_monotonic_time() - start)),
                    bytes);
  }
  gst_buffer_unmap(buffer, &map);
}

void PlayerImpl::OnMediaDatagram(Stream& stream, GstBuffer* buffer) {
  last_data_us_ = g_get_monotonic_time();
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return;
  stream.bytes += map.size;
  if (map.size >= 4) {
    const int seq = (map.data[2] << 8) | map.data[3];
    if (stream.last_seq < 0) {
      stream.last_seq = seq;
    } else {
      const int delta = (seq - stream.last_seq) & 0xffff;
      // A small step forward is the next packet (or a gap of lost ones); anything else is a
      // duplicate or a late (reordered) packet and changes nothing.
      if (delta > 0 && delta < 3000) {
        stream.lost_seq += static_cast<guint64>(delta - 1);
        stream.last_seq = seq;
      }
    }
  }
  std::shared_ptr<RecordingWriter> recorder;
  gint64 start = 0;
  {
    std::lock_guard lock(record_mutex_);
    recorder = recorder_;
    start = record_start_us_;
  }
  if (recorder) {
    recorder->Write(RecordKind::kMedia, static_cast<std::uint8_t>(stream.media_index),
                    static_cast<std::uint64_t>(std::max<gint64>(0, g_get_monotonic_time() - start)),
                    std::span<const std::uint8_t>(map.data, map.size));
  }
  gst_buffer_unmap(buffer, &map);
}

spc::client::Client* PlayerImpl::SpcClient() {
  if (!FromSpcd() || spc_client_failed_) return nullptr;
  if (!spc_client_) {
    spc::client::Options o;
    o.bus = options_.bus == SpcdBus::kSystem    ? spc::client::Bus::kSystem
            : options_.bus == SpcdBus::kSession ? spc::client::Bus::kSession
                                                : spc::client::Bus::kAddress;
    o.address = options_.bus_address;
    o.timeout_ms = 3000;
    o.auto_start = false;
    o.answer_cache_ms = spc::client::kDefaultAnswerCacheMs;
    std::string error;
    spc_client_ = spc::client::Client::Connect(o, &error);
    if (!spc_client_) spc_client_failed_ = true;
  }
  return spc_client_.get();
}

std::string FormatUtc(gint64 seconds) {
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(seconds);
  if (t == nullptr) return std::to_string(seconds);
  g_autofree gchar* text = g_date_time_format(t, "%Y-%m-%d %H:%M UTC");
  return text ? text : std::to_string(seconds);
}

std::string PlayerImpl::RightsText(const std::string& content_id) {
  if (!FromSpcd()) return "key file (no validity limits)";
  if (content_id.empty()) return "unknown yet";
  spc::client::Client* client = SpcClient();
  if (client == nullptr) return "spcd not reachable";
  std::vector<spc::client::RightsInfo> rights;
  const auto status = client->ListRights(&rights);
  if (!status.ok()) return "spcd: " + std::string(spc::client::ErrorString(status.error));
  const gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  for (const auto& r : rights) {
    if (r.content_id != content_id) continue;
    if (r.not_after != 0 && r.not_after < now) return "EXPIRED since " + FormatUtc(r.not_after);
    if (r.not_before != 0 && r.not_before > now)
      return "not valid before " + FormatUtc(r.not_before);
    return r.not_after == 0 ? "valid, no time limit" : "valid until " + FormatUtc(r.not_after);
  }
  return "none for this service";
}

std::string ParentalText(gint64 rating, unsigned max_age, const std::string& setting,
                         bool interactive) {
  std::string text = "Parental block: this programme is rated " + std::to_string(rating) +
                     "+ and " + setting + " allows up to " + std::to_string(max_age) + ". ";
  text += interactive ? "Press u and enter the PIN to watch it."
                      : "Give the PIN with --pin PIN to watch it.";
  return text;
}

void PlayerImpl::HandleRejection(const std::string& r, const std::string& cid,
                                 const std::string& detail) {
  const std::string who = cid.empty() ? std::string("this service") : cid;
  if (r == "no-rights") {
    if (problem_ == "no-rights" || problem_ == "not-registered") return;
    std::string kind = "no-rights";
    std::string text;
    spc::client::StatusInfo st;
    spc::client::Client* client = SpcClient();
    if (client != nullptr && client->Status(&st).ok() && st.rights == 0) {
      kind = "not-registered";
      text = "Not registered: this terminal holds no rights at all, so it cannot open " + who +
             ". Register with the service provider (`spcctl register RI-URL`, or for a "
             "broadcast-only terminal `spcctl device-data` to the operator and `spcctl "
             "add-service SERVICE.sdp`), then acquire the rights (`spcctl acquire " +
             who + "`).";
    } else if (FromSpcd()) {
      text = "No rights for " + who +
             ": the terminal is registered but holds no key for this service. Acquire them "
             "(`spcctl acquire " +
             who + "`) or import the service's key file (`spcctl import-keys FILE`).";
    } else {
      text = NoRightsText(cid) + ".";
    }
    problem_ = kind;
    NotifyOnce(kind, text);
  } else if (r == "expired") {
    if (problem_ == "expired") return;
    problem_ = "expired";
    rights_text_ = RightsText(cid);
    NotifyOnce("expired", "Rights expired for " + who + " (" + rights_text_ +
                              "): renew them with the service provider (`spcctl acquire " + who +
                              "`) or import a key file with a new validity.");
  } else if (r == "not-permitted") {
    const auto at = detail.find("parental rating ");
    if (at != std::string::npos) {
      spcd_parental_refused_ = true;
      const gint64 rating = g_ascii_strtoll(detail.c_str() + at + 16, nullptr, 10);
      if (rating > parental_rating_) parental_rating_ = rating;
      if (parental_unlocked_) return;
      problem_ = "parental";
      const auto setting = detail.find("terminal setting ");
      const unsigned max_age =
          setting == std::string::npos
              ? options_.parental_max_age
              : static_cast<unsigned>(g_ascii_strtoull(detail.c_str() + setting + 17, nullptr, 10));
      NotifyOnce("parental",
                 ParentalText(parental_rating_, max_age, "spcd's setting", options_.interactive));
      return;
    }
    if (problem_ == "not-permitted") return;
    problem_ = "not-permitted";
    NotifyOnce("not-permitted", "The rights for " + who + " do not permit this: " + detail);
  } else if (r == "bad-mac") {
    if (teks_received_ > 0 || stkm_rejected_msgs_["bad-mac"] < 3) return;
    problem_ = "bad-keys";
    NotifyOnce("bad-keys", "Every key message (STKM) for " + who +
                               " fails its MAC check: the service's keys are corrupt or this "
                               "terminal holds the wrong SAK, so nothing can be decrypted. Tell "
                               "the service provider, or acquire the rights again.");
  }
}

void PlayerImpl::PollParental() {
  gint64 rating = parental_rating_;
  for (auto& b : key_branches_) {
    std::lock_guard lock(b->mutex);
    rating = std::max<gint64>(rating, b->parental_rating);
  }
  parental_rating_ = rating;
  const bool over = rating >= 0 && rating > static_cast<gint64>(options_.parental_max_age);
  const bool blocked = !parental_unlocked_ && (over || spcd_parental_refused_);
  parental_blocked_ = blocked;
  if (blocked && over) {
    problem_ = "parental";
    NotifyOnce("parental", ParentalText(rating, options_.parental_max_age,
                                        "this terminal's setting", options_.interactive));
  }
  if (!blocked && problem_ == "parental") problem_.clear();
  // spcd has its own setting: with the PIN given, raise it to this programme's rating while the
  // session lasts, and put it back when the session ends.
  if (parental_unlocked_ && spcd_parental_refused_ && !spcd_parental_restore_) {
    if (spc::client::Client* client = SpcClient()) {
      spc::client::StatusInfo st;
      if (client->Status(&st).ok()) {
        const auto target = static_cast<std::uint8_t>(rating >= 0 && rating < 255 ? rating : 255);
        if (client->SetParentalRating(std::max(target, st.parental_rating)).ok()) {
          spcd_parental_restore_ = st.parental_rating;
        } else {
          Notify("error",
                 "spcd refused to raise its parental setting (SetParentalRating needs root on "
                 "the system bus): ask the administrator, or set it with `spcctl "
                 "set-parental-rating AGE`");
          spcd_parental_restore_ = st.parental_rating;  // do not ask again
        }
      }
    }
  }
}

void PlayerImpl::UnlockParental() {
  if (parental_unlocked_) return;
  parental_unlocked_ = true;
  notified_.erase("parental");
  PollParental();
  Notify("unlocked", "PIN accepted: the programme" +
                         (parental_rating_ >= 0 ? " rated " + std::to_string(parental_rating_) + "+"
                                                : std::string()) +
                         " is shown for this session");
}

bool PlayerImpl::CheckRecordPermission(std::string* reason, int* protection) {
  for (auto& b : key_branches_) {
    std::vector<std::uint8_t> stkm;
    int par = -1;
    std::string cid;
    {
      std::lock_guard lock(b->mutex);
      stkm = b->last_stkm;
      par = b->protection_after_reception;
      cid = b->content_id;
    }
    *protection = std::max(*protection, par);
    if (FromSpcd()) {
      spc::client::Client* client = SpcClient();
      if (client == nullptr) {
        *reason = "spcd is not reachable on " + BusText() + " to check the record permission";
        return false;
      }
      spc::client::TekResult answer =
          client->ProcessStkm(stkm, b->base_cid, spc::client::Purpose::kRecord);
      if (!answer.ok()) {
        const std::string name = spc::client::ErrorString(answer.error);
        if (answer.error == spc::client::Error::kNotPermitted) {
          *reason = "Recording refused by spcd for " + cid + ": " + answer.message;
        } else if (answer.error == spc::client::Error::kUnavailable) {
          *reason = "spcd is not answering on " + BusText() +
                    ": cannot check the record "
                    "permission";
        } else {
          *reason = "Recording refused by spcd for " + cid + " (" + name + "): " + answer.message;
        }
        return false;
      }
    }
    if (par == 3) {
      *reason =
          "Recording refused: the service forbids it (its STKM says "
          "protection_after_reception 3: service protection only, no recording allowed) "
          "for " +
          cid;
      return false;
    }
  }
  return true;
}

void PlayerImpl::StartRecording(const std::string& path) {
  if (reader_) {
    Notify("record-refused", "This is a recording already: copy the file instead");
    return;
  }
  {
    std::lock_guard lock(record_mutex_);
    if (recorder_) {
      Notify("record-refused", "Already recording to " + recorder_->path());
      return;
    }
  }
  record_pending_ = path;
  record_requested_us_ = g_get_monotonic_time();
  PollRecording();
}

void PlayerImpl::PollRecording() {
  if (record_pending_.empty()) return;
  for (auto& b : key_branches_) {
    std::lock_guard lock(b->mutex);
    if (b->last_stkm.empty()) {
      if (g_get_monotonic_time() - record_requested_us_ > 10 * G_USEC_PER_SEC) {
        record_pending_.clear();
        Notify("record-refused",
               "Recording not started: no key message (STKM) received in 10 s to check the "
               "record permission");
        if (!options_.record_path.empty()) {
          Fail("recording not started: no key message received");
          Finish();
        }
      }
      return;  // asked again at the next poll
    }
  }
  const std::string path = record_pending_;
  record_pending_.clear();
  std::string reason;
  int protection = -1;
  if (!CheckRecordPermission(&reason, &protection)) {
    Notify("record-refused", reason);
    if (!options_.record_path.empty()) {
      Fail(reason);
      Finish();
    }
    return;
  }
  auto writer = RecordingWriter::Create(path, sdp_text_);
  if (!writer) {
    const std::string text = "cannot record to " + path + ": " + writer.error().message;
    Notify("record-refused", text);
    if (!options_.record_path.empty()) {
      Fail(text);
      Finish();
    }
    return;
  }
  std::shared_ptr<RecordingWriter> w(std::move(writer.value()));
  const gint64 start = g_get_monotonic_time();
  // The STKMs of the moment go first, so a playback gets its TEKs before the first packet.
  for (auto& b : key_branches_) {
    std::lock_guard lock(b->mutex);
    w->Write(RecordKind::kKey, static_cast<std::uint8_t>(b->index), 0, b->last_stkm);
  }
  {
    std::lock_guard lock(record_mutex_);
    recorder_ = w;
    record_start_us_ = start;
  }
  const char* meaning = protection == 2   ? "content protection and protection of recorded playback"
                        : protection >= 0 ? "content protection only"
                                          : "clear service";
  Notify("record-started", "Recording to " + path + " (protection_after_reception " +
                               std::to_string(protection) + ": " + meaning +
                               "); the file keeps the packets encrypted as received, play it "
                               "back with `bcast-player " +
                               path + "`");
}

void PlayerImpl::StopRecording() {
  std::shared_ptr<RecordingWriter> w;
  {
    std::lock_guard lock(record_mutex_);
    w = std::move(recorder_);
    recorder_.reset();
  }
  record_pending_.clear();
  if (!w) return;
  std::string error;
  if (!w->Close(&error)) {
    Notify("error", "recording " + w->path() + ": " + error);
    return;
  }
  Notify("record-stopped", "Recording stopped: " + w->path() + ", " +
                               std::to_string(w->datagrams()) + " datagrams, " +
                               std::to_string(w->bytes()) + " bytes");
}

void PlayerImpl::PollNetwork() {
  if (reader_ || !started_) return;
  const gint64 now = g_get_monotonic_time();
  gint64 last = last_data_us_.load();
  if (last == 0) last = started_us_;
  const bool silent = now - last > static_cast<gint64>(options_.silence_timeout_s * G_USEC_PER_SEC);
  if (silent && !network_silent_) {
    network_silent_ = true;
    std::string where;
    for (const auto& k : sd_.key_streams) {
      where += (where.empty() ? "" : ", ") + std::string("key stream ") + k.address + ":" +
               std::to_string(k.port);
    }
    for (const auto& m : sd_.media) {
      where +=
          (where.empty() ? "" : ", ") + m.media + " " + m.address + ":" + std::to_string(m.port);
    }
    if (problem_.empty()) problem_ = "network-silent";
    Notify("network-silent",
           "No signal: nothing received for " +
               std::to_string(static_cast<int>((now - last) / G_USEC_PER_SEC)) + " s on " + where +
               ". Check the network connection and the multicast route, or whether the service "
               "is on air.");
  } else if (!silent && network_silent_) {
    network_silent_ = false;
    if (problem_ == "network-silent") problem_.clear();
    Notify("network-back", "Signal back: receiving " + sd_.session_name + " again");
  }
}

void PlayerImpl::Feed() {
  const gint64 t0 = g_get_monotonic_time();
  while (true) {
    auto next = reader_->Next();
    if (!next) {
      const auto& e = next.error();
      GError* err = g_error_new(GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE,
                                "recording %s: %s (%s, offset %zu)", options_.sdp_path.c_str(),
                                e.message.c_str(), e.field.c_str(), e.offset);
      gst_element_post_message(pipeline_.get(),
                               gst_message_new_error(GST_OBJECT(pipeline_.get()), err, nullptr));
      g_error_free(err);
      return;
    }
    if (!next.value()) break;
    RecordedDatagram& d = *next.value();
    {
      std::unique_lock lock(feeder_mutex_);
      const gint64 due = t0 + static_cast<gint64>(d.time_us);
      while (!feeder_stop_) {
        const gint64 now = g_get_monotonic_time();
        if (now >= due) break;
        feeder_cv_.wait_for(lock, std::chrono::microseconds(due - now));
      }
      if (feeder_stop_) return;
    }
    const auto& srcs = d.kind == RecordKind::kKey ? key_appsrcs_ : media_appsrcs_;
    if (d.index >= srcs.size() || srcs[d.index] == nullptr) continue;
    GstBuffer* buffer = gst_buffer_new_memdup(d.data.data(), d.data.size());
    if (gst_app_src_push_buffer(GST_APP_SRC(srcs[d.index]), buffer) != GST_FLOW_OK) return;
  }
  for (GstElement* src : key_appsrcs_) gst_app_src_end_of_stream(GST_APP_SRC(src));
  for (GstElement* src : media_appsrcs_) {
    if (src != nullptr) gst_app_src_end_of_stream(GST_APP_SRC(src));
  }
}

void PlayerImpl::StartFeeder() {
  feeder_stop_ = false;
  feeder_ = std::thread([this] { Feed(); });
}

void PlayerImpl::StopFeeder() {
  {
    std::lock_guard lock(feeder_mutex_);
    feeder_stop_ = true;
  }
  feeder_cv_.notify_all();
}

bool PlayerImpl::Start() {
  const bool built = Build();
  if (!built) {
    ended_ = true;
    return false;
  }
  BusPtr bus(gst_pipeline_get_bus(GST_PIPELINE(pipeline_.get())));
  gst_bus_set_sync_handler(bus.get(), &PlayerImpl::OnBusSync, this, nullptr);
  bus_watch_ = gst_bus_add_watch(bus.get(), &PlayerImpl::OnBusMessage, this);
  poll_source_ = g_timeout_add(500, &PlayerImpl::OnPoll, this);
  progress_source_ = g_timeout_add_seconds(5, &PlayerImpl::OnProgress, this);
  started_ = Clock::now();
  started_us_ = g_get_monotonic_time();
  status_us_ = started_us_;
  parental_unlocked_ = options_.parental_unlocked;
  Event("playing " + (sd_.session_name.empty() ? options_.sdp_path : sd_.session_name) +
        " streams=" + std::to_string(streams_.size()) + " keys=" +
        (tekdecs_.empty() ? std::string("none")
         : FromSpcd()     ? "spcd"
                          : "key-file"));
  started_pipeline_ = true;
  if (gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    start_failed_ = true;
    ended_ = true;
    return false;
  }
  if (options_.duration_s > 0) {
    duration_source_ = g_timeout_add(static_cast<guint>(options_.duration_s * 1000),
                                     &PlayerImpl::OnDuration, this);
  }
  if (reader_) StartFeeder();
  if (!options_.record_path.empty()) StartRecording(options_.record_path);
  return true;
}

Report PlayerImpl::Stop() {
  if (stopped_) return final_report_;
  stopped_ = true;
  if (started_pipeline_) {
    PollStats();
    StopFeeder();
    gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
    if (feeder_.joinable()) feeder_.join();
    BusPtr bus(gst_pipeline_get_bus(GST_PIPELINE(pipeline_.get())));
    // Messages posted before the stop (errors especially) still count.
    while (GstMessage* m = gst_bus_pop(bus.get())) {
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR || GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
        OnBusMessage(bus.get(), m, this);
      }
      gst_message_unref(m);
    }
    // The bus normally carries the reason; without one, still say that nothing started.
    if (start_failed_ && errors_.empty()) Fail("the pipeline could not start");
    for (guint id : {poll_source_, progress_source_, duration_source_}) {
      if (id != 0) g_source_remove(id);
    }
    poll_source_ = progress_source_ = duration_source_ = 0;
    if (bus_watch_ != 0) g_source_remove(bus_watch_);
    bus_watch_ = 0;
    gst_bus_set_sync_handler(bus.get(), nullptr, nullptr, nullptr);
  }
  StopRecording();
  if (spcd_parental_restore_) {
    if (spc::client::Client* client = SpcClient())
      client->SetParentalRating(*spcd_parental_restore_);
    spcd_parental_restore_.reset();
  }
  Report report = MakeReport();
  if (checksums_) {
    std::lock_guard lock(out_mutex_);
    checksums_.reset();
  }
  guint64 frames = 0;
  for (const auto& s : report.streams) frames += s.frames;
  if (pipeline_ && errors_.empty() && frames == 0) {
    std::string why = "no frame decoded";
    // The usual reason on a protected service: say which rights are missing and how to get them.
    for (const auto& cid : no_rights_cids_) why += "; " + NoRightsText(cid);
    report.errors.push_back(why);
    nothing_decoded_ = why;
  }
  final_report_ = report;
  ended_ = true;
  return final_report_;
}

int PlayerImpl::ExitStatus(const Report&) const {
  if (!errors_.empty()) return 1;
  if (!nothing_decoded_.empty()) return 2;
  return 0;
}

Status PlayerImpl::GetStatus() {
  Status st;
  st.service = sd_.session_name.empty() ? options_.sdp_path : sd_.session_name;
  if (content_id_.empty()) {
    // TEKs taken from spcd's held ones bring no openbcast-tek for their ID: the content ID then
    // comes from the STKMs the key branch saw.
    for (auto& b : key_branches_) {
      std::lock_guard lock(b->mutex);
      if (!b->content_id.empty()) {
        content_id_ = b->content_id;
        break;
      }
    }
  }
  st.content_id = content_id_;
  st.playing = started_pipeline_ && !ended_;
  st.recording_file = reader_ != nullptr;
  if (!tek_sequence_.empty()) st.tek_id = tek_sequence_.back();
  st.next_tek_id = next_tek_id_;
  st.tek_lifetime_s = tek_lifetime_s_;
  const gint64 now_ms = ElapsedMs();
  if (key_since_ms_ >= 0 && key_period_ms_ > 0) {
    const gint64 left = key_period_ms_ - (now_ms - key_since_ms_);
    st.next_key_in_s = left <= 0 ? 0 : (left + 999) / 1000;
  }
  const gint64 now_us = g_get_monotonic_time();
  if (!content_id_.empty() &&
      (rights_text_.empty() || now_us - rights_checked_us_ > 10 * G_USEC_PER_SEC)) {
    rights_text_ = RightsText(content_id_);
    rights_checked_us_ = now_us;
  }
  st.rights = FromSpcd() ? rights_text_ : RightsText(content_id_);
  guint64 bytes = 0;
  for (auto& stream : streams_) {
    st.frames += stream->frames.load();
    st.lost_packets += stream->lost_seq.load();
    bytes += stream->bytes.load();
    if (stream->srtpdec != nullptr) st.decrypt_failures += stream->counters.failures();
    if (stream->ismacrypdec != nullptr) st.decrypt_failures += stream->isma("aus-dropped");
  }
  if (now_us - status_us_ >= 250000) {
    kbps_ = static_cast<double>(bytes - status_bytes_) * 8.0 * 1000.0 /
            static_cast<double>(now_us - status_us_);
    status_bytes_ = bytes;
    status_us_ = now_us;
  }
  st.kbps = kbps_;
  st.network_silent = network_silent_;
  st.parental_rating = parental_rating_;
  st.parental_blocked = parental_blocked_.load();
  {
    std::lock_guard lock(record_mutex_);
    if (recorder_) {
      st.recording = true;
      st.record_path = recorder_->path();
      st.recorded_bytes = recorder_->bytes();
    }
  }
  st.problem = problem_;
  return st;
}

int PlayerImpl::Run() {
  loop_.reset(g_main_loop_new(nullptr, FALSE));
  if (Start() && !ended_) {
    const guint sigint = g_unix_signal_add(SIGINT, &PlayerImpl::OnSignal, this);
    const guint sigterm = g_unix_signal_add(SIGTERM, &PlayerImpl::OnSignal, this);
    g_main_loop_run(loop_.get());
    g_source_remove(sigint);
    g_source_remove(sigterm);
  }
  Report report = Stop();
  if (!nothing_decoded_.empty()) {
    std::lock_guard lock(out_mutex_);
    std::fprintf(stderr, "bcast-player: %s\n", nothing_decoded_.c_str());
  }
  PrintSummary(report);
  int status = ExitStatus(report);
  if (!options_.report_path.empty()) {
    std::string error;
    if (!WriteReport(report, options_.report_path, &error)) {
      std::fprintf(stderr, "bcast-player: error: %s\n", error.c_str());
      if (status == 0 || status == 2) status = 1;
    }
  }
  return status;
}

}  // namespace

class Player : public PlayerImpl {
 public:
  using PlayerImpl::PlayerImpl;
};

Session::Session(const Options& options, Hooks hooks)
    : impl_(std::make_unique<Player>(options, std::move(hooks))) {}
Session::~Session() { impl_->Stop(); }
bool Session::Start() { return impl_->Start(); }
Report Session::Stop() { return impl_->Stop(); }
Status Session::GetStatus() { return impl_->GetStatus(); }
bool Session::ended() const { return impl_->ended(); }
void Session::StartRecording(const std::string& path) { impl_->StartRecording(path); }
void Session::StopRecording() { impl_->StopRecording(); }
void Session::UnlockParental() { impl_->UnlockParental(); }
int Session::ExitStatus(const Report& report) const { return impl_->ExitStatus(report); }
std::shared_ptr<GstContext> Session::KeyringContext() { return impl_->KeyringContext(); }
bool Session::protected_service() const { return impl_->protected_service(); }
std::string Session::SummaryLine(const Report& report) { return SummaryText(report); }

int Run(const Options& options) {
  Player player(options, Hooks{});
  return player.Run();
}

}  // namespace player
