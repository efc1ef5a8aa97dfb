#include "player/player.h"

#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/video/video.h>

#include <algorithm>
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
#include <utility>
#include <vector>

#include "channels/session_description.h"
#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
#include "gst-plugins/bcastprotect/service_caps.h"
#include "player/frame_hash.h"
#include "player/report.h"

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
struct CapsDeleter {
  void operator()(GstCaps* caps) const { gst_caps_unref(caps); }
};

using Clock = std::chrono::steady_clock;

// Name of the player's own element message: the TEK (key indicator) an ISMACryp stream switched
// to, posted from the probe on ismacrypdec's sink pad (bcastsrtpdec posts openbcast-srtp-key).
constexpr char kIsmacrypKeyMessage[] = "bcast-player-ismacryp-key";

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
  class Player* player = nullptr;
  std::atomic<guint64> frames{0};
  std::atomic<gint64> first_frame_ms{-1};
  SrtpCounters counters;  // last polled (main thread only)
  SrtpCounters warned;    // counters already reported in warnings (main thread only)
  std::vector<std::pair<std::string, guint64>> isma_stats;  // last polled, in ismacrypdec's order
  std::map<std::string, guint64> isma_warned;               // per drop reason, main thread only
  std::optional<guint> tek_in_use;
  std::vector<guint> tek_sequence;  // TEK IDs this stream used, in order (main thread only)
  // ISMACryp key-indicator probe (its streaming thread only).
  std::unique_ptr<GstCaps, CapsDeleter> isma_caps;
  std::optional<bcast::ismacryp::Fmtp> isma_fmtp;
  std::optional<std::uint64_t> isma_key;
  // ISMACryp video: nothing reaches the decoder before the first IDR access unit.
  std::atomic<bool> keyframe_seen{false};
  // The tekdec of this stream's key stream, and whether it put a TEK into the keyring yet.
  // ismacrypdec has no hold queue: packets from before the first TEK are the join, not failures,
  // and are counted here instead of reaching it.
  GstElement* tekdec = nullptr;
  std::atomic<bool> have_key{false};
  std::atomic<guint64> packets_before_key{0};

  guint64 isma(const char* field) const {
    for (const auto& [name, value] : isma_stats) {
      if (name == field) return value;
    }
    return 0;
  }
  bool protected_stream() const { return srtpdec != nullptr || ismacrypdec != nullptr; }
};

class Player {
 public:
  explicit Player(const Options& options) : options_(options) {}

  int Run();

  void OnDecoded(Stream& stream, GstPad* pad, GstBuffer* buffer);

 private:
  bool Build();
  bool AddKeyBranch(const channels::KeyStream& key, std::size_t index);
  bool AddMediaBranch(Stream& stream);
  GstElement* Make(const char* factory, const std::string& name);
  bool Fail(std::string message);
  void Event(const std::string& line);
  void Warn(const std::string& line);
  bool ShouldWarn(const std::string& kind, guint64 count);
  static gboolean OnBusMessage(GstBus* bus, GstMessage* message, gpointer data);
  static GstBusSyncReply OnBusSync(GstBus* bus, GstMessage* message, gpointer data);
  void HandleElementMessage(GstMessage* message);
  void HandleError(GstMessage* message);
  void KeyInUse(GstMessage* message, guint id);
  static gboolean OnPoll(gpointer data);
  void PollStats();
  void PollSrtp(Stream& stream);
  void PollIsmacryp(Stream& stream);
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

  Options options_;
  channels::SessionDescription sd_;
  PipelinePtr pipeline_;
  std::unique_ptr<GMainLoop, MainLoopDeleter> loop_;
  std::vector<std::unique_ptr<Stream>> streams_;
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
  std::map<std::string, bool> spcd_available_;  // per tekdec name: last openbcast-spcd state
  guint64 spcd_outages_ = 0;
  bool spcd_unreachable_ = false;
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

std::string Player::BusText() const {
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

std::string Player::StartSpcdHint() const {
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

std::string Player::NoRightsText(const std::string& content_id) const {
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

bool Player::IsTekdec(GstObject* object) const {
  return std::find(tekdecs_.begin(), tekdecs_.end(), GST_ELEMENT_CAST(object)) != tekdecs_.end();
}

GstElement* Player::Make(const char* factory, const std::string& name) {
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

bool Player::AddKeyBranch(const channels::KeyStream& key, std::size_t index) {
  // The first key stream's elements keep the plain names; the others are numbered.
  const std::string suffix = index == 0 ? "" : std::to_string(index + 1);
  GstElement* src = Make("udpsrc", "keysrc" + suffix);
  GstElement* parse = Make("stkmparse", "stkmparse" + suffix);
  GstElement* dec = Make("tekdec", "tekdec" + suffix);
  if (!src || !parse || !dec) return false;
  g_autoptr(GstCaps) caps = gst_caps_new_empty_simple("application/x-bcast-stkm");
  g_object_set(src, "address", key.address.c_str(), "port", static_cast<gint>(key.port), "caps",
               caps, nullptr);
  g_object_set(parse, "base-cid", key.base_cid.c_str(), nullptr);
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
  stkmparses_.push_back(parse);
  tekdecs_.push_back(dec);
  return true;
}

GstPadProbeReturn OnDecodedProbe(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto* stream = static_cast<Stream*>(data);
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
GstPadProbeReturn OnIsmacrypPacketProbe(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto* stream = static_cast<Stream*>(data);
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buffer == nullptr) return GST_PAD_PROBE_OK;
  if (!stream->have_key.load()) {
    stream->packets_before_key.fetch_add(1);
    return GST_PAD_PROBE_DROP;
  }
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  if (caps == nullptr) return GST_PAD_PROBE_OK;
  if (stream->isma_caps.get() != caps &&
      (!stream->isma_caps || !gst_caps_is_equal(stream->isma_caps.get(), caps))) {
    stream->isma_caps.reset(gst_caps_ref(caps));
    std::vector<std::pair<std::string, std::string>> params;
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    for (gint i = 0; i < gst_structure_n_fields(s); ++i) {
      const gchar* name = gst_structure_nth_field_name(s, i);
      params.emplace_back(name, ValueToString(gst_structure_get_value(s, name)));
    }
    auto fmtp = bcast::ismacryp::ParseFmtp(params);
    stream->isma_fmtp.reset();
    if (fmtp) stream->isma_fmtp = std::move(fmtp.value());
  }
  if (!stream->isma_fmtp || stream->isma_fmtp->key_indicator_length == 0) return GST_PAD_PROBE_OK;
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map(buffer, GST_MAP_READ, &rtp)) return GST_PAD_PROBE_OK;
  const auto* payload = static_cast<const std::uint8_t*>(gst_rtp_buffer_get_payload(&rtp));
  const std::span<const std::uint8_t> bytes(payload, gst_rtp_buffer_get_payload_len(&rtp));
  std::optional<std::uint64_t> key;
  if (auto parsed = bcast::ismacryp::ParsePayload(*stream->isma_fmtp, bytes)) {
    for (const auto& h : parsed->headers) {
      if (h.encrypted && h.has_key_indicator) {
        key = bcast::ismacryp::KeyIndicatorValue(h.key_indicator);
        if (key) break;
      }
    }
  }
  gst_rtp_buffer_unmap(&rtp);
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

void Player::OnDecoded(Stream& stream, GstPad* pad, GstBuffer* buffer) {
  const guint64 index = stream.frames.fetch_add(1);
  if (index == 0) {
    const gint64 ms = ElapsedMs();
    stream.first_frame_ms = ms;
    Event("first-frame stream=" + stream.name + " ms=" + std::to_string(ms));
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

bool Player::AddMediaBranch(Stream& stream) {
  const auto& m = stream.media;
  const auto& plan = stream.plan;
  const std::string& n = stream.name;
  GstElement* src = Make("udpsrc", n + "-src");
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

  g_autoptr(GstCaps) caps = gst_caps_from_string(plan.caps.c_str());
  if (caps == nullptr) return Fail("bad caps for " + n + ": " + plan.caps);
  g_object_set(src, "address", m.address.c_str(), "port", static_cast<gint>(m.port), "caps", caps,
               "buffer-size", 4 * 1024 * 1024, nullptr);
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
  stream.srtpdec = srtpdec;
  if (isma) {
    stream.ismacrypdec = depay;
    g_autoptr(GstPad) sink = gst_element_get_static_pad(depay, "sink");
    gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_BUFFER, OnIsmacrypPacketProbe, &stream, nullptr);
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

void Player::KeyInUse(GstMessage* message, guint id) {
  for (auto& stream : streams_) {
    GstObject* src = GST_MESSAGE_SRC(message);
    if (src != GST_OBJECT(stream->srtpdec) && src != GST_OBJECT(stream->ismacrypdec)) continue;
    stream->tek_in_use = id;
    if (stream->tek_sequence.empty() || stream->tek_sequence.back() != id) {
      stream->tek_sequence.push_back(id);
    }
    if (teks_in_use_.insert(id).second) {
      tek_sequence_.push_back(id);
      Event("key tek_id=" + std::to_string(id) + " stream=" + stream->name +
            " ms=" + std::to_string(ElapsedMs()));
    }
  }
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
    line += " ms=" + std::to_string(ElapsedMs());
    Event(line);
  } else if (name == "openbcast-stkm-rejected") {
    const char* reason = gst_structure_get_string(s, "reason");
    const char* cid = gst_structure_get_string(s, "content-id");
    const char* detail = gst_structure_get_string(s, "detail");
    const std::string r = reason ? reason : "unknown";
    const guint64 n = ++stkm_rejected_msgs_[r];
    if (r == "no-rights" && cid != nullptr) no_rights_cids_.insert(cid);
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

void Player::HandleError(GstMessage* message) {
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

gboolean Player::OnBusMessage(GstBus*, GstMessage* message, gpointer data) {
  auto* self = static_cast<Player*>(data);
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR:
      self->HandleError(message);
      g_main_loop_quit(self->loop_.get());
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

// In the thread that posts: tekdec posts openbcast-tek right after it put the TEK into the keyring,
// so from here on the key branch's ISMACryp streams can be decrypted.
GstBusSyncReply Player::OnBusSync(GstBus*, GstMessage* message, gpointer data) {
  auto* self = static_cast<Player*>(data);
  if (GST_MESSAGE_TYPE(message) != GST_MESSAGE_ELEMENT) return GST_BUS_PASS;
  const GstStructure* s = gst_message_get_structure(message);
  if (s == nullptr || !gst_structure_has_name(s, "openbcast-tek")) return GST_BUS_PASS;
  for (auto& stream : self->streams_) {
    if (GST_MESSAGE_SRC(message) == GST_OBJECT(stream->tekdec)) stream->have_key = true;
  }
  return GST_BUS_PASS;
}

void Player::PollSrtp(Stream& stream) {
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
  report("-held", c.dropped_held, w.dropped_held,
         "held SRTP packets dropped: their TEK never arrived");
}

void Player::PollIsmacryp(Stream& stream) {
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

void Player::PollStats() {
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

Report Player::MakeReport() {
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
                      {"roc", c.roc},
                      {"lost", c.failures()}};
      r.decrypt_failures += c.failures();
      r.decrypt_failures_by_reason["srtp-auth-failures"] += c.auth_failures;
      r.decrypt_failures_by_reason["srtp-replays"] += c.replays;
      r.decrypt_failures_by_reason["srtp-unknown-mki"] += c.unknown_mki_dropped();
      r.decrypt_failures_by_reason["srtp-dropped-held"] += c.dropped_held;
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
  guint64 rejected = 0;
  for (const auto& [reason, n] : r.stkm_rejected) {
    if (reason != "unavailable") rejected += n;
  }
  line += " stkm_rejected=" + std::to_string(rejected);
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
    gst_bus_set_sync_handler(bus.get(), &Player::OnBusSync, this, nullptr);
    const guint bus_watch = gst_bus_add_watch(bus.get(), &Player::OnBusMessage, this);
    const guint poll = g_timeout_add(500, &Player::OnPoll, this);
    const guint progress = g_timeout_add_seconds(5, &Player::OnProgress, this);
    const guint sigint = g_unix_signal_add(SIGINT, &Player::OnSignal, this);
    const guint sigterm = g_unix_signal_add(SIGTERM, &Player::OnSignal, this);
    started_ = Clock::now();
    Event("playing " + (sd_.session_name.empty() ? options_.sdp_path : sd_.session_name) +
          " streams=" + std::to_string(streams_.size()) + " keys=" +
          (tekdecs_.empty() ? std::string("none")
           : FromSpcd()     ? "spcd"
                            : "key-file"));
    bool start_failed = false;
    if (gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      start_failed = true;
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
    // The bus normally carries the reason; without one, still say that nothing started.
    if (start_failed && errors_.empty()) Fail("the pipeline could not start");
    for (guint id : {poll, progress, sigint, sigterm, duration_source_}) {
      if (id != 0) g_source_remove(id);
    }
    g_source_remove(bus_watch);
    gst_bus_set_sync_handler(bus.get(), nullptr, nullptr, nullptr);
  }
  Report report = MakeReport();
  if (checksums_) {
    std::lock_guard lock(out_mutex_);
    checksums_.reset();
  }
  guint64 frames = 0;
  for (const auto& s : report.streams) frames += s.frames;
  if (built && errors_.empty() && frames == 0) {
    std::string why = "no frame decoded";
    // The usual reason on a protected service: say which rights are missing and how to get them.
    for (const auto& cid : no_rights_cids_) why += "; " + NoRightsText(cid);
    report.errors.push_back(why);
    std::lock_guard lock(out_mutex_);
    std::fprintf(stderr, "bcast-player: %s\n", why.c_str());
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
