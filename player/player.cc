#include "player/player.h"

#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "channels/session_description.h"
#include "player/frame_hash.h"
#include "player/report.h"
#include "player/stream_caps.h"

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

// SRTP counters of bcastsrtpdec's "stats" structure that the report and the warnings use.
struct SrtpCounters {
  guint64 received = 0, decrypted = 0, auth_failures = 0, replays = 0, unknown_mki = 0, held = 0,
          dropped_held = 0, roc = 0;
  // Packets that never reached the depayloader. A packet under a not-yet-known TEK is held
  // (counted in unknown-mki and held) and is only lost when it is dropped from the hold queue, or
  // when it could not be held at all.
  guint64 unknown_mki_dropped() const { return unknown_mki > held ? unknown_mki - held : 0; }
  guint64 failures() const {
    return auth_failures + replays + unknown_mki_dropped() + dropped_held;
  }
};

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

struct Stream {
  std::string name;  // "video", "audio", "video2"...
  channels::MediaStream media;
  MediaChain chain;
  GstElement* srtpdec = nullptr;  // owned by the pipeline
  class Player* player = nullptr;
  std::atomic<guint64> frames{0};
  std::atomic<gint64> first_frame_ms{-1};
  SrtpCounters counters;  // last polled (main thread only)
  SrtpCounters warned;    // counters already reported in warnings (main thread only)
  std::optional<guint> tek_in_use;
};

class Player {
 public:
  explicit Player(const Options& options) : options_(options) {}

  int Run();

  void OnDecoded(Stream& stream, GstPad* pad, GstBuffer* buffer);

 private:
  bool Build();
  bool AddKeyBranch(const channels::KeyStream& key);
  bool AddMediaBranch(Stream& stream);
  GstElement* Make(const char* factory, const char* name = nullptr);
  bool Fail(std::string message);
  void Event(const std::string& line);
  void Warn(const std::string& line);
  bool ShouldWarn(const std::string& kind, guint64 count);
  static gboolean OnBusMessage(GstBus* bus, GstMessage* message, gpointer data);
  void HandleElementMessage(GstMessage* message);
  static gboolean OnPoll(gpointer data);
  void PollStats();
  static gboolean OnDuration(gpointer data);
  static gboolean OnSignal(gpointer data);
  static gboolean OnProgress(gpointer data);
  Report MakeReport();
  gint64 ElapsedMs() const;
  void PrintSummary(const Report& report);

  Options options_;
  channels::SessionDescription sd_;
  PipelinePtr pipeline_;
  std::unique_ptr<GMainLoop, MainLoopDeleter> loop_;
  std::vector<std::unique_ptr<Stream>> streams_;
  GstElement* stkmparse_ = nullptr;
  GstElement* tekdec_ = nullptr;
  std::vector<std::string> errors_;
  std::map<std::string, guint64> stkm_rejected_msgs_;  // reason → messages seen
  guint64 teks_received_ = 0;
  std::set<guint> teks_in_use_;
  std::optional<guint> last_tek_in_use_;
  std::vector<guint> tek_sequence_;
  std::optional<Clock::time_point> started_;
  std::optional<gint64> first_key_ms_;
  std::mutex out_mutex_;  // stdout and the checksum file are written from streaming threads too
  std::unique_ptr<std::FILE, FileCloser> checksums_;
  bool have_display_ = false;
  bool have_sound_ = false;
  guint duration_source_ = 0;
  struct Limiter {
    guint64 shown = 0;
    gint64 last_us = 0;
  };
  std::map<std::string, Limiter> limiters_;  // main thread only
  guint64 stkmparse_malformed_warned_ = 0;
};

gint64 Player::ElapsedMs() const {
  if (!started_) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *started_).count();
}

void Player::Event(const std::string& line) {
  if (options_.quiet) return;
  std::lock_guard lock(out_mutex_);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

bool Player::ShouldWarn(const std::string& kind, guint64 count) {
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

void Player::Warn(const std::string& line) {
  std::lock_guard lock(out_mutex_);
  std::fprintf(stdout, "warning: %s\n", line.c_str());
  std::fflush(stdout);
}

bool Player::Fail(std::string message) {
  {
    std::lock_guard lock(out_mutex_);
    std::fprintf(stderr, "bcast-player: error: %s\n", message.c_str());
    std::fflush(stderr);
  }
  errors_.push_back(std::move(message));
  return false;
}

GstElement* Player::Make(const char* factory, const char* name) {
  GstElement* e = gst_element_factory_make(factory, name);
  if (e == nullptr) {
    std::string hint;
    const std::string f = factory;
    if (f == "stkmparse" || f == "tekdec" || f == "bcastsrtpdec") {
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

bool Player::AddKeyBranch(const channels::KeyStream& key) {
  GstElement* src = Make("udpsrc", "keysrc");
  GstElement* parse = Make("stkmparse", "stkmparse");
  GstElement* dec = Make("tekdec", "tekdec");
  if (!src || !parse || !dec) return false;
  g_autoptr(GstCaps) caps = gst_caps_new_empty_simple("application/x-bcast-stkm");
  g_object_set(src, "address", key.address.c_str(), "port", static_cast<gint>(key.port), "caps",
               caps, nullptr);
  g_object_set(parse, "base-cid", key.base_cid.c_str(), nullptr);
  g_object_set(dec, "sek-file", options_.key_file.c_str(), nullptr);
  if (!gst_element_link_many(src, parse, dec, nullptr)) {
    return Fail("cannot link the key stream branch udpsrc ! stkmparse ! tekdec");
  }
  stkmparse_ = parse;
  tekdec_ = dec;
  return true;
}

GstPadProbeReturn OnDecodedProbe(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto* stream = static_cast<Stream*>(data);
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buffer != nullptr) stream->player->OnDecoded(*stream, pad, buffer);
  return GST_PAD_PROBE_OK;
}

void Player::OnDecoded(Stream& stream, GstPad* pad, GstBuffer* buffer) {
  const guint64 index = stream.frames.fetch_add(1);
  if (index == 0) {
    const gint64 ms = ElapsedMs();
    stream.first_frame_ms = ms;
    Event("first-frame stream=" + stream.name + " ms=" + std::to_string(ms));
  }
  if (!checksums_) return;
  std::optional<std::string> hash;
  if (stream.chain.video) {
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

bool Player::AddMediaBranch(Stream& stream) {
  const auto& m = stream.media;
  GstElement* src = Make("udpsrc", (stream.name + "-src").c_str());
  // The socket reader must never wait for decryption or decoding, or the kernel drops datagrams.
  GstElement* queue = Make("queue", (stream.name + "-queue").c_str());
  GstElement* srtpdec = nullptr;
  if (stream.chain.srtp) {
    srtpdec = Make("bcastsrtpdec", (stream.name + "-srtpdec").c_str());
    if (!srtpdec) return false;
  }
  GstElement* depay = Make(stream.chain.depayloader.c_str(), (stream.name + "-depay").c_str());
  GstElement* parse = Make(stream.chain.parser.c_str(), (stream.name + "-parse").c_str());
  GstElement* dec = Make(stream.chain.decoder.c_str(), (stream.name + "-dec").c_str());
  if (!src || !queue || !depay || !parse || !dec) return false;

  g_autoptr(GstCaps) caps = gst_caps_from_string(stream.chain.caps.c_str());
  if (caps == nullptr) return Fail("bad caps for " + stream.name + ": " + stream.chain.caps);
  g_object_set(src, "address", m.address.c_str(), "port", static_cast<gint>(m.port), "caps", caps,
               "buffer-size", 4 * 1024 * 1024, nullptr);
  g_object_set(queue, "max-size-buffers", 0u, "max-size-time", G_GUINT64_CONSTANT(0),
               "max-size-bytes", 64u * 1024 * 1024, nullptr);
  if (stream.chain.video) {
    // Decode from the first IDR picture on, never concealed garbage: a terminal that joins
    // mid-GOP shows nothing until the next key frame, and every frame it shows is exact.
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(depay), "wait-for-keyframe")) {
      g_object_set(depay, "wait-for-keyframe", TRUE, nullptr);
    }
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(dec), "output-corrupt")) {
      g_object_set(dec, "output-corrupt", FALSE, nullptr);
    }
  }

  std::vector<GstElement*> chain = {src, queue};
  if (srtpdec) chain.push_back(srtpdec);
  chain.insert(chain.end(), {depay, parse, dec});
  if (stream.chain.video && have_display_) {
    GstElement* convert = Make("videoconvert", (stream.name + "-convert").c_str());
    GstElement* sink = Make("autovideosink", (stream.name + "-sink").c_str());
    if (!convert || !sink) return false;
    chain.insert(chain.end(), {convert, sink});
  } else if (!stream.chain.video && have_sound_) {
    GstElement* convert = Make("audioconvert", (stream.name + "-convert").c_str());
    GstElement* resample = Make("audioresample", (stream.name + "-resample").c_str());
    GstElement* sink = Make("autoaudiosink", (stream.name + "-sink").c_str());
    if (!convert || !resample || !sink) return false;
    chain.insert(chain.end(), {convert, resample, sink});
  } else {
    GstElement* sink = Make("fakesink", (stream.name + "-sink").c_str());
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
  stream.srtpdec = srtpdec;
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

bool Player::Build() {
  auto sd = channels::LoadSessionDescription(options_.sdp_path);
  if (!sd) {
    return Fail("session description " + options_.sdp_path + ": " + sd.error().message + " (" +
                sd.error().field + ", line " + std::to_string(sd.error().offset) + ")");
  }
  sd_ = std::move(sd.value());
  if (sd_.media.empty()) return Fail("session description has no media stream");

  have_display_ = !options_.headless &&
                  (g_getenv("DISPLAY") != nullptr || g_getenv("WAYLAND_DISPLAY") != nullptr);
  have_sound_ = !options_.headless && SoundDevicePresent();

  pipeline_.reset(gst_pipeline_new("bcast-player"));
  gst_object_ref_sink(pipeline_.get());

  bool any_srtp = false;
  std::map<std::string, int> counts;
  for (const auto& m : sd_.media) {
    auto chain = ChainForMedia(m);
    if (!chain) {
      return Fail("media " + m.media + " port " + std::to_string(m.port) + ": " +
                  chain.error().message + " (" + chain.error().field + ")");
    }
    auto stream = std::make_unique<Stream>();
    const int n = counts[m.media]++;
    stream->name = n == 0 ? m.media : m.media + std::to_string(n + 1);
    stream->media = m;
    stream->chain = std::move(chain.value());
    stream->player = this;
    any_srtp |= stream->chain.srtp;
    streams_.push_back(std::move(stream));
  }
  if (any_srtp) {
    if (sd_.key_streams.empty()) return Fail("SRTP media but no key stream (vnd.oma.bcast.stkm)");
    if (options_.key_file.empty()) {
      return Fail("the service is protected: --key-file FILE is needed (SEK/SAK key file)");
    }
    if (!g_file_test(options_.key_file.c_str(), G_FILE_TEST_IS_REGULAR)) {
      return Fail("key file " + options_.key_file + " not found");
    }
    if (!AddKeyBranch(sd_.key_streams.front())) return false;
  }
  for (auto& stream : streams_) {
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

void Player::HandleElementMessage(GstMessage* message) {
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
    Event(line);
  } else if (name == "openbcast-stkm-rejected") {
    const char* reason = gst_structure_get_string(s, "reason");
    const char* cid = gst_structure_get_string(s, "content-id");
    const char* detail = gst_structure_get_string(s, "detail");
    const std::string r = reason ? reason : "unknown";
    const guint64 n = ++stkm_rejected_msgs_[r];
    if (!ShouldWarn("stkm-" + r, n)) return;
    std::string text;
    if (r == "bad-mac") {
      text = "STKM rejected: MAC check failed (forged or corrupted key message)";
    } else if (r == "no-rights") {
      text = "STKM rejected: no rights (no SEK/SAK in the key file)";
    } else if (r == "malformed") {
      text = "STKM rejected: malformed key message";
    } else {
      text = "STKM rejected: " + r;
    }
    if (cid && *cid) text += std::string(" for ") + cid;
    if (detail && *detail) text += std::string(": ") + detail;
    Warn(text + " (" + std::to_string(n) + " so far)");
  } else if (name == "openbcast-srtp-key") {
    guint id = 0;
    if (!gst_structure_get_uint(s, "tek-id", &id)) {
      gint signed_id = 0;
      if (!gst_structure_get_int(s, "tek-id", &signed_id)) return;
      id = static_cast<guint>(signed_id);
    }
    for (auto& stream : streams_) {
      if (GST_MESSAGE_SRC(message) == GST_OBJECT(stream->srtpdec)) stream->tek_in_use = id;
    }
    if (teks_in_use_.insert(id).second) {
      tek_sequence_.push_back(id);
      last_tek_in_use_ = id;
      Event("key tek_id=" + std::to_string(id) + " ms=" + std::to_string(ElapsedMs()));
    }
  }
}

gboolean Player::OnBusMessage(GstBus*, GstMessage* message, gpointer data) {
  auto* self = static_cast<Player*>(data);
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR: {
      g_autoptr(GError) err = nullptr;
      g_autofree gchar* debug = nullptr;
      gst_message_parse_error(message, &err, &debug);
      std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(message))) + ": " +
                         (err ? err->message : "error");
      if (debug) text += std::string(" (") + debug + ")";
      self->Fail(text);
      g_main_loop_quit(self->loop_.get());
      break;
    }
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
      g_main_loop_quit(self->loop_.get());
      break;
    case GST_MESSAGE_ELEMENT:
      self->HandleElementMessage(message);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

void Player::PollStats() {
  if (auto malformed = IntegerProperty(stkmparse_, "malformed");
      malformed && *malformed > stkmparse_malformed_warned_) {
    if (ShouldWarn("stkmparse-malformed", *malformed)) {
      Warn("STKM rejected: malformed key message: " +
           std::to_string(*malformed - stkmparse_malformed_warned_) +
           " datagrams on the key stream are not STKMs (" + std::to_string(*malformed) +
           " so far)");
      stkmparse_malformed_warned_ = *malformed;
    }
  }
  for (auto& stream : streams_) {
    if (stream->srtpdec == nullptr) continue;
    GstStructure* raw = nullptr;
    g_object_get(stream->srtpdec, "stats", &raw, nullptr);
    std::unique_ptr<GstStructure, StructureDeleter> stats(raw);
    if (!stats) continue;
    SrtpCounters c;
    c.received = StructureCounter(stats.get(), "received");
    c.decrypted = StructureCounter(stats.get(), "decrypted");
    c.auth_failures = StructureCounter(stats.get(), "auth-failures");
    c.replays = StructureCounter(stats.get(), "replays");
    c.unknown_mki = StructureCounter(stats.get(), "unknown-mki");
    c.held = StructureCounter(stats.get(), "held");
    c.dropped_held = StructureCounter(stats.get(), "dropped-held");
    c.roc = StructureCounter(stats.get(), "roc");
    stream->counters = c;
    SrtpCounters& w = stream->warned;
    const std::string& n = stream->name;
    // Each kind is reported with the packets lost since it was last reported.
    auto report = [&](const char* kind, guint64 now, guint64& reported, const std::string& what) {
      if (now <= reported || !ShouldWarn(n + kind, now)) return;
      Warn(n + ": " + std::to_string(now - reported) + " " + what + " (total " +
           std::to_string(now) + ")");
      reported = now;
    };
    if (c.auth_failures > w.auth_failures && c.decrypted == 0) {
      if (ShouldWarn(n + "-no-decrypt", c.auth_failures)) {
        std::string text = n + ": " + std::to_string(c.auth_failures) +
                           " SRTP packets failed authentication and none decrypted: wrong TEK, or "
                           "unknown roll-over counter (ROC)";
        if (stream->chain.rcc_mode == 0) {
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
    report("-held", c.dropped_held, w.dropped_held,
           "held SRTP packets dropped: their TEK never arrived");
  }
}

gboolean Player::OnPoll(gpointer data) {
  static_cast<Player*>(data)->PollStats();
  return G_SOURCE_CONTINUE;
}

gboolean Player::OnProgress(gpointer data) {
  auto* self = static_cast<Player*>(data);
  std::string line = "progress ms=" + std::to_string(self->ElapsedMs());
  for (auto& stream : self->streams_) {
    line += " " + stream->name + "=" + std::to_string(stream->frames.load());
  }
  self->Event(line);
  return G_SOURCE_CONTINUE;
}

gboolean Player::OnDuration(gpointer data) {
  auto* self = static_cast<Player*>(data);
  self->Event("duration reached");
  self->duration_source_ = 0;
  g_main_loop_quit(self->loop_.get());
  return G_SOURCE_REMOVE;
}

gboolean Player::OnSignal(gpointer data) {
  auto* self = static_cast<Player*>(data);
  self->Event("stopping on signal");
  g_main_loop_quit(self->loop_.get());
  return G_SOURCE_CONTINUE;
}

Report Player::MakeReport() {
  Report r;
  r.service = sd_.session_name;
  r.sdp = options_.sdp_path;
  r.duration_ms = ElapsedMs();
  gint64 ttff = -1;
  for (auto& stream : streams_) {
    StreamReport s;
    s.name = stream->name;
    s.frames = stream->frames.load();
    s.first_frame_ms = stream->first_frame_ms.load();
    s.srtp = stream->srtpdec != nullptr;
    const SrtpCounters& c = stream->counters;
    s.srtp_stats = {{"received", c.received},
                    {"decrypted", c.decrypted},
                    {"auth-failures", c.auth_failures},
                    {"replays", c.replays},
                    {"unknown-mki", c.unknown_mki},
                    {"held", c.held},
                    {"dropped-held", c.dropped_held},
                    {"roc", c.roc},
                    {"lost", c.failures()}};
    if (s.srtp) r.decrypt_failures += c.failures();
    if (stream->chain.video && s.first_frame_ms >= 0 && (ttff < 0 || s.first_frame_ms < ttff)) {
      ttff = s.first_frame_ms;
    }
    r.streams.push_back(std::move(s));
  }
  r.time_to_first_frame_ms = ttff;
  r.time_to_first_key_ms = first_key_ms_ ? *first_key_ms_ : -1;
  r.tek_ids_in_use = tek_sequence_;
  r.tek_changes = tek_sequence_.empty() ? 0 : tek_sequence_.size() - 1;
  r.teks_received = std::max<guint64>(teks_received_, IntegerProperty(tekdec_, "teks").value_or(0));
  auto count = [&](const char* reason) {
    auto it = stkm_rejected_msgs_.find(reason);
    return it == stkm_rejected_msgs_.end() ? guint64{0} : it->second;
  };
  r.stkm_rejected["bad-mac"] =
      std::max(count("bad-mac"), IntegerProperty(tekdec_, "bad-mac").value_or(0));
  r.stkm_rejected["no-rights"] =
      std::max(count("no-rights"), IntegerProperty(tekdec_, "no-rights").value_or(0));
  r.stkm_rejected["malformed"] =
      std::max(count("malformed"), IntegerProperty(stkmparse_, "malformed").value_or(0));
  r.stkm_accepted = IntegerProperty(stkmparse_, "accepted").value_or(0);
  r.stkm_repeats = IntegerProperty(stkmparse_, "repeats").value_or(0);
  r.errors = errors_;
  return r;
}

void Player::PrintSummary(const Report& r) {
  std::string line = "summary:";
  for (const auto& s : r.streams) {
    line += " " + s.name + "_frames=" + std::to_string(s.frames);
  }
  line += " decrypt_failures=" + std::to_string(r.decrypt_failures);
  line += " tek_changes=" + std::to_string(r.tek_changes);
  line += " ttff_ms=" + std::to_string(r.time_to_first_frame_ms);
  line += " stkm_rejected=" +
          std::to_string(r.stkm_rejected.at("bad-mac") + r.stkm_rejected.at("no-rights") +
                         r.stkm_rejected.at("malformed"));
  line += " errors=" + std::to_string(r.errors.size());
  std::lock_guard lock(out_mutex_);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

int Player::Run() {
  loop_.reset(g_main_loop_new(nullptr, FALSE));
  const bool built = Build();
  int status = 0;
  if (built) {
    BusPtr bus(gst_pipeline_get_bus(GST_PIPELINE(pipeline_.get())));
    const guint bus_watch = gst_bus_add_watch(bus.get(), &Player::OnBusMessage, this);
    const guint poll = g_timeout_add(500, &Player::OnPoll, this);
    const guint progress = g_timeout_add_seconds(5, &Player::OnProgress, this);
    const guint sigint = g_unix_signal_add(SIGINT, &Player::OnSignal, this);
    const guint sigterm = g_unix_signal_add(SIGTERM, &Player::OnSignal, this);
    started_ = Clock::now();
    Event("playing " + (sd_.session_name.empty() ? options_.sdp_path : sd_.session_name) +
          " streams=" + std::to_string(streams_.size()));
    if (gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      // The bus carries the reason; let the ERROR message handler record it.
      Fail("the pipeline could not start");
    } else {
      if (options_.duration_s > 0) {
        duration_source_ = g_timeout_add(static_cast<guint>(options_.duration_s * 1000),
                                         &Player::OnDuration, this);
      }
      g_main_loop_run(loop_.get());
    }
    PollStats();
    gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
    // Messages posted before the stop (errors especially) still count.
    while (GstMessage* m = gst_bus_pop(bus.get())) {
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR || GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
        OnBusMessage(bus.get(), m, this);
      }
      gst_message_unref(m);
    }
    for (guint id : {poll, progress, sigint, sigterm, duration_source_}) {
      if (id != 0) g_source_remove(id);
    }
    g_source_remove(bus_watch);
  }
  Report report = MakeReport();
  if (checksums_) {
    std::lock_guard lock(out_mutex_);
    checksums_.reset();
  }
  guint64 frames = 0;
  for (const auto& s : report.streams) frames += s.frames;
  if (built && errors_.empty() && frames == 0) {
    report.errors.push_back("no frame decoded");
    status = 2;
  }
  PrintSummary(report);
  if (!options_.report_path.empty()) {
    std::string error;
    if (!WriteReport(report, options_.report_path, &error)) {
      std::fprintf(stderr, "bcast-player: error: %s\n", error.c_str());
      status = 1;
    }
  }
  if (!errors_.empty()) return 1;
  return status;
}

}  // namespace

int Run(const Options& options) {
  Player player(options);
  return player.Run();
}

}  // namespace player
