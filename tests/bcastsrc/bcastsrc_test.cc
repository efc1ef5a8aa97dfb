// bcastsrc with the real head-end on loopback: playbin and gst-play-1.0 play the protected sample
// service from bcast+file:// and bcast+http:// URIs through TEK changes, and every bad URI, file,
// session description or key setting ends in a clear GStreamer error.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/bcastsrc/child_process.h"

namespace bcastsrc_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Env(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::uint16_t Port(int offset) {
  return static_cast<std::uint16_t>(std::stoi(Env("BCASTSRC_PORT_BASE", "26800")) + offset);
}

std::string ReadFile(const std::string& path) {
  gchar* contents = nullptr;
  gsize length = 0;
  if (!g_file_get_contents(path.c_str(), &contents, &length, nullptr)) return {};
  std::string out(contents, length);
  g_free(contents);
  return out;
}

bool WriteFile(const std::string& path, const std::string& text) {
  return g_file_set_contents(path.c_str(), text.c_str(), static_cast<gssize>(text.size()), nullptr);
}

int RunToCompletion(const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  g_autofree gchar* o = nullptr;
  g_autofree gchar* e = nullptr;
  gint status = -1;
  if (!g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr, &o, &e,
                    &status, nullptr)) {
    return -1;
  }
  if (out != nullptr) *out = std::string(o ? o : "") + (e ? e : "");
  return status;
}

// The sample service: a key file and bcast-headend sending on three loopback ports.
class Service {
 public:
  ~Service() {
    if (headend_.running()) headend_.Stop(SIGTERM);
  }

  // Starts the head-end and waits for its `ready sdp=` line.
  ::testing::AssertionResult Start(std::uint16_t port_base,
                                   const std::vector<std::string>& extra = {}) {
    key_file_ = dir_.File("keys.ini");
    sdp_ = dir_.File("service.sdp");
    const std::string headend = Env("BCAST_HEADEND", "bcast-headend");
    std::string out;
    if (RunToCompletion({headend, "--write-key-file", key_file_}, &out) != 0) {
      return ::testing::AssertionFailure() << "bcast-headend --write-key-file failed: " << out;
    }
    std::vector<std::string> args = {headend,
                                     "--key-file",
                                     key_file_,
                                     "--sdp-out",
                                     sdp_,
                                     "--tek-period",
                                     "2",
                                     "--duration",
                                     "120",
                                     "--key-port",
                                     std::to_string(port_base),
                                     "--video-port",
                                     std::to_string(port_base + 2),
                                     "--audio-port",
                                     std::to_string(port_base + 4)};
    // A terminal that joins after a sequence number wrap needs the ROC in-band (RFC 4771): the
    // services start at sequence number 0 unless a test asks for in-band ROC itself.
    args.insert(args.end(), {"--initial-seq", "0"});
    const std::string media = Env("OPENBCAST_SAMPLE_MEDIA");
    if (!media.empty()) args.insert(args.end(), {"--media", media});
    args.insert(args.end(), extra.begin(), extra.end());
    std::string error;
    if (!headend_.Start(args, &error)) {
      return ::testing::AssertionFailure() << "cannot start bcast-headend: " << error;
    }
    if (!headend_.WaitForLine("ready sdp=", 30s)) {
      std::string lines;
      for (const auto& l : headend_.Lines()) lines += l + "\n";
      return ::testing::AssertionFailure() << "bcast-headend never became ready:\n" << lines;
    }
    return ::testing::AssertionSuccess();
  }

  const std::string& key_file() const { return key_file_; }
  const std::string& sdp() const { return sdp_; }
  std::string FileUri() const { return "bcast+file://" + sdp_ + "?keys=" + key_file_; }
  TempDir& dir() { return dir_; }

 private:
  TempDir dir_;
  ChildProcess headend_;
  std::string key_file_;
  std::string sdp_;
};

struct BusError {
  GQuark domain = 0;
  int code = 0;
  std::string message;
  std::string debug;
  std::string source;
  std::string Describe() const {
    return source + ": " + message + (debug.empty() ? "" : " (" + debug + ")");
  }
};

BusError ParseError(GstMessage* message) {
  g_autoptr(GError) err = nullptr;
  g_autofree gchar* debug = nullptr;
  gst_message_parse_error(message, &err, &debug);
  BusError e;
  e.domain = err->domain;
  e.code = err->code;
  e.message = err->message;
  e.debug = debug ? debug : "";
  e.source = GST_MESSAGE_SRC_NAME(message) ? GST_MESSAGE_SRC_NAME(message) : "";
  return e;
}

struct ElementDeleter {
  void operator()(GstElement* e) const {
    gst_element_set_state(e, GST_STATE_NULL);
    gst_object_unref(e);
  }
};

// playbin on a URI with counting fakesinks (synchronised to the clock, as a real sink).
class PlaybinRun {
 public:
  explicit PlaybinRun(const std::string& uri) {
    playbin_.reset(gst_element_factory_make("playbin", nullptr));
    GstElement* vsink = gst_element_factory_make("fakesink", "video-sink");
    GstElement* asink = gst_element_factory_make("fakesink", "audio-sink");
    g_object_set(vsink, "signal-handoffs", TRUE, "sync", TRUE, nullptr);
    g_object_set(asink, "signal-handoffs", TRUE, "sync", TRUE, nullptr);
    g_signal_connect(vsink, "handoff", G_CALLBACK(&PlaybinRun::OnVideo), this);
    g_signal_connect(asink, "handoff", G_CALLBACK(&PlaybinRun::OnAudio), this);
    g_object_set(playbin_.get(), "uri", uri.c_str(), "video-sink", vsink, "audio-sink", asink,
                 nullptr);
  }

  GstStateChangeReturn Play() { return gst_element_set_state(playbin_.get(), GST_STATE_PLAYING); }

  // Handles bus messages until `done()` holds (true), an error arrives or the timeout passes.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    g_autoptr(GstBus) bus = gst_element_get_bus(playbin_.get());
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (done()) return true;
      GstMessage* m = gst_bus_timed_pop(bus, 100 * GST_MSECOND);
      if (m == nullptr) continue;
      Handle(m);
      gst_message_unref(m);
      if (!errors.empty()) return false;
    }
    return done();
  }

  std::atomic<guint64> video_frames{0};
  std::atomic<guint64> audio_frames{0};
  std::atomic<int> video_width{0};
  std::vector<BusError> errors;
  std::set<guint> video_teks;  // TEK IDs the video decryptor used
  // Video frames already shown when the video decryptor first changed TEK with frames shown.
  std::optional<guint64> frames_at_change;
  std::string service_name;
  bool service_protected = false;
  std::string key_source;
  std::set<std::string> element_messages;

 private:
  static void OnVideo(GstElement*, GstBuffer*, GstPad* pad, gpointer data) {
    auto* self = static_cast<PlaybinRun*>(data);
    if (self->video_frames.fetch_add(1) == 0) {
      g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
      int width = 0;
      if (caps != nullptr) {
        gst_structure_get_int(gst_caps_get_structure(caps, 0), "width", &width);
      }
      self->video_width = width;
    }
  }
  static void OnAudio(GstElement*, GstBuffer*, GstPad*, gpointer data) {
    static_cast<PlaybinRun*>(data)->audio_frames.fetch_add(1);
  }

  void Handle(GstMessage* m) {
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      errors.push_back(ParseError(m));
      return;
    }
    if (GST_MESSAGE_TYPE(m) != GST_MESSAGE_ELEMENT) return;
    const GstStructure* s = gst_message_get_structure(m);
    if (s == nullptr) return;
    const std::string name = gst_structure_get_name(s);
    element_messages.insert(name);
    if (name == "openbcast-service") {
      const char* n = gst_structure_get_string(s, "service-name");
      const char* k = gst_structure_get_string(s, "key-source");
      service_name = n ? n : "";
      key_source = k ? k : "";
      gboolean p = FALSE;
      gst_structure_get_boolean(s, "protected", &p);
      service_protected = p;
    } else if (name == "openbcast-srtp-key" &&
               g_strcmp0(GST_MESSAGE_SRC_NAME(m), "video_0-decrypt") == 0) {
      guint id = 0;
      gboolean initial = FALSE;
      gst_structure_get_uint(s, "tek-id", &id);
      gst_structure_get_boolean(s, "initial", &initial);
      video_teks.insert(id);
      const guint64 frames = video_frames.load();
      if (!initial && frames > 0 && !frames_at_change) frames_at_change = frames;
    }
  }

  std::unique_ptr<GstElement, ElementDeleter> playbin_;
};

std::string Describe(const std::vector<BusError>& errors) {
  std::string out;
  for (const auto& e : errors) out += e.Describe() + "\n";
  return out;
}

// The error bcastsrc posts when it cannot start on `uri` (the state change must fail).
std::optional<BusError> StartError(const std::string& uri, const char* sek_file = nullptr) {
  std::unique_ptr<GstElement, ElementDeleter> pipeline(gst_pipeline_new("errors"));
  GError* make_error = nullptr;
  GstElement* src = gst_element_make_from_uri(GST_URI_SRC, uri.c_str(), "src", &make_error);
  if (src == nullptr) {
    BusError e;
    e.domain = make_error->domain;
    e.code = make_error->code;
    e.message = make_error->message;
    e.source = "gst_element_make_from_uri";
    g_clear_error(&make_error);
    return e;
  }
  if (sek_file != nullptr) g_object_set(src, "sek-file", sek_file, nullptr);
  gst_bin_add(GST_BIN(pipeline.get()), src);
  const GstStateChangeReturn ret = gst_element_set_state(pipeline.get(), GST_STATE_PAUSED);
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline.get());
  GstMessage* m = gst_bus_timed_pop_filtered(bus, 5 * GST_SECOND, GST_MESSAGE_ERROR);
  if (m == nullptr) {
    EXPECT_EQ(ret, GST_STATE_CHANGE_FAILURE) << "no error for " << uri;
    return std::nullopt;
  }
  BusError e = ParseError(m);
  gst_message_unref(m);
  EXPECT_EQ(ret, GST_STATE_CHANGE_FAILURE) << uri << ": " << e.Describe();
  return e;
}

bool TekdecHasSpcdMode() {
  std::unique_ptr<GstElement, ElementDeleter> tekdec(gst_element_factory_make("tekdec", nullptr));
  return tekdec &&
         g_object_class_find_property(G_OBJECT_GET_CLASS(tekdec.get()), "bus-name") != nullptr;
}

const char kSrtpSdp[] =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=test service\r\nt=0 0\r\na=bcastversion:1.0\r\n"
    "m=application 26899 UDP vnd.oma.bcast.stkm\r\nc=IN IP4 127.0.0.1\r\na=stkmstream:1\r\n"
    "a=bcast-basecid:urn:openbcast:svc:test:\r\na=bcast-keydomain:0a0b0c\r\n"
    "m=video 26897 RTP/SAVP 96\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:96 H264/90000\r\n"
    "a=stkmstream:1\r\na=bcast-mki-length:2\r\na=SRTPAuthentication:hmac-sha1-80\r\n";

class BcastSrcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Key files come from each test's own URI, property or variable, never from the caller's.
    g_unsetenv("OPENBCAST_KEY_FILE");
    gst_init(nullptr, nullptr);
  }
};

// ---- element and registry ----

TEST_F(BcastSrcTest, RegisteredAsUriSourceForTheBcastSchemes) {
  for (const char* scheme : {"bcast+file", "bcast+http", "bcast+https"}) {
    EXPECT_TRUE(gst_uri_protocol_is_supported(GST_URI_SRC, scheme)) << scheme;
  }
  g_autoptr(GstElementFactory) factory = gst_element_factory_find("bcastsrc");
  ASSERT_NE(factory, nullptr);
  EXPECT_GE(gst_plugin_feature_get_rank(GST_PLUGIN_FEATURE(factory)), GST_RANK_PRIMARY);
  EXPECT_EQ(gst_element_factory_get_uri_type(factory), GST_URI_SRC);

  std::string out;
  const int status = RunToCompletion({"gst-inspect-1.0", "bcastsrc"}, &out);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  for (const char* text : {"bcast+file", "bcast+http", "sek-file", "latency", "video_%u",
                           "audio_%u", "Source/Network"}) {
    EXPECT_NE(out.find(text), std::string::npos) << text << " missing in gst-inspect:\n" << out;
  }
  EXPECT_EQ(out.find("CRITICAL"), std::string::npos) << out;
  EXPECT_EQ(out.find("WARNING"), std::string::npos) << out;
}

// ---- playback ----

TEST_F(BcastSrcTest, PlaybinDecodesVideoAndAudioThroughTekChanges) {
  Service service;
  ASSERT_TRUE(service.Start(Port(0)));
  PlaybinRun run(service.FileUri());
  ASSERT_NE(run.Play(), GST_STATE_CHANGE_FAILURE) << Describe(run.errors);
  const bool done = run.RunUntil(
      [&] {
        return run.frames_at_change && run.video_frames >= *run.frames_at_change + 25 &&
               run.audio_frames >= 25;
      },
      60s);
  ASSERT_TRUE(done) << "video " << run.video_frames << " audio " << run.audio_frames
                    << " TEKs in use " << run.video_teks.size() << "\n"
                    << Describe(run.errors);
  EXPECT_GE(run.video_teks.size(), 2u);
  EXPECT_EQ(run.video_width, 320);  // the sample is 320x240: decoded raw video reached the sink
  EXPECT_EQ(run.service_name, "openbcast sample service");
  EXPECT_TRUE(run.service_protected);
  EXPECT_EQ(run.key_source, "key file " + service.key_file());
  // tekdec's messages pass through the bin to the application.
  EXPECT_TRUE(run.element_messages.count("openbcast-tek")) << "no openbcast-tek message";
}

TEST_F(BcastSrcTest, KeyFileFromEnvironmentAndProperty) {
  Service service;
  ASSERT_TRUE(service.Start(Port(10)));
  const std::string plain_uri = "bcast+file://" + service.sdp();
  {
    // No key parameter: $OPENBCAST_KEY_FILE is the key file, as for gst-play without app code.
    g_setenv("OPENBCAST_KEY_FILE", service.key_file().c_str(), TRUE);
    PlaybinRun run(plain_uri);
    ASSERT_NE(run.Play(), GST_STATE_CHANGE_FAILURE);
    EXPECT_TRUE(run.RunUntil([&] { return run.video_frames >= 10; }, 30s)) << Describe(run.errors);
    EXPECT_EQ(run.key_source, "key file " + service.key_file());
    g_unsetenv("OPENBCAST_KEY_FILE");
  }
  {
    // The sek-file property, set through playbin's source-setup, wins over a wrong ?keys=.
    // Directly on bcastsrc: its video pad carries parsed H.264 access units.
    std::unique_ptr<GstElement, ElementDeleter> pipeline(gst_parse_launch(
        ("bcastsrc name=s uri=\"" + plain_uri + "?keys=/nonexistent/keys.ini\" sek-file=\"" +
         service.key_file() +
         "\" s.video_0 ! fakesink name=v signal-handoffs=true s.audio_0 ! fakesink")
            .c_str(),
        nullptr));
    ASSERT_TRUE(pipeline);
    std::atomic<guint64> frames{0};
    g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline.get()), "v");
    g_signal_connect(sink, "handoff",
                     G_CALLBACK(+[](GstElement*, GstBuffer*, GstPad*, gpointer data) {
                       static_cast<std::atomic<guint64>*>(data)->fetch_add(1);
                     }),
                     &frames);
    ASSERT_NE(gst_element_set_state(pipeline.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    g_autoptr(GstBus) bus = gst_element_get_bus(pipeline.get());
    const auto deadline = Clock::now() + 30s;
    while (frames < 10 && Clock::now() < deadline) {
      GstMessage* m = gst_bus_timed_pop_filtered(bus, 100 * GST_MSECOND, GST_MESSAGE_ERROR);
      if (m != nullptr) {
        BusError e = ParseError(m);
        gst_message_unref(m);
        FAIL() << e.Describe();
      }
    }
    EXPECT_GE(frames, 10u) << "parsed H.264 access units from the video_0 pad";
  }
}

TEST_F(BcastSrcTest, GstPlayPlaysTheServiceUri) {
  const gchar* program = g_find_program_in_path("gst-play-1.0");
  if (program == nullptr) {
    GTEST_SKIP() << "gst-play-1.0 not installed (Debian package gstreamer1.0-plugins-base-apps)";
  }
  g_free(const_cast<gchar*>(program));
  Service service;
  ASSERT_TRUE(service.Start(Port(20)));
  {
    // -v prints each fakesink's last-message: one "chain" line per decoded frame it received.
    ChildProcess play;
    std::string error;
    ASSERT_TRUE(
        play.Start({"gst-play-1.0", "--no-interactive", "-v", "--videosink=fakesink silent=false",
                    "--audiosink=fakesink silent=false", service.FileUri()},
                   &error))
        << error;
    auto count = [](const std::vector<std::string>& lines, const char* bin) {
      int n = 0;
      for (const auto& l : lines) {
        if (l.find(bin) != std::string::npos && l.find("last-message = chain") != std::string::npos)
          ++n;
      }
      return n;
    };
    auto failed = [](const std::vector<std::string>& lines) {
      for (const auto& l : lines) {
        if (l.find("ERROR") != std::string::npos) return true;
      }
      return false;
    };
    const bool played = play.WaitUntil(
        [&](const std::vector<std::string>& lines) {
          return failed(lines) || (count(lines, "vbin") >= 75 && count(lines, "abin") >= 75);
        },
        60s);
    const auto lines = play.Lines();
    std::string tail;
    for (std::size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i)
      tail += lines[i].substr(0, 200) + "\n";
    EXPECT_TRUE(played && !failed(lines)) << tail;
    EXPECT_GE(count(lines, "vbin"), 75) << tail;
    EXPECT_GE(count(lines, "abin"), 75) << tail;
    EXPECT_TRUE(play.running()) << "gst-play stopped by itself:\n" << tail;
    const int status = play.Stop(SIGINT);
    EXPECT_NE(status, -1) << "gst-play did not stop on SIGINT";
  }
  {
    // The plain command line: its position line passes 3 s with no error on the way.
    ChildProcess play;
    std::string error;
    ASSERT_TRUE(play.Start({"gst-play-1.0", "--no-interactive", "--videosink=fakesink",
                            "--audiosink=fakesink", service.FileUri()},
                           &error))
        << error;
    bool error_seen = false;
    const bool reached = play.WaitUntil(
        [&](const std::vector<std::string>& lines) {
          for (const auto& l : lines) {
            if (l.find("ERROR") != std::string::npos) error_seen = true;
            if (l.rfind("0:00:03", 0) == 0) return true;
          }
          return error_seen;
        },
        60s);
    std::string all;
    for (const auto& l : play.Lines()) all += l.substr(0, 200) + "\n";
    EXPECT_TRUE(reached && !error_seen) << all;
    play.Stop(SIGINT);
  }
}

TEST_F(BcastSrcTest, GstLaunchPlaybinLine) {
  Service service;
  // ROC 7 from the first packet on: only the RFC 4771 ROC in the packets (srtp-rcc-mode and
  // srtp-roc-tx-rate from the SDP) lets the terminal decrypt.
  ASSERT_TRUE(service.Start(Port(60), {"--initial-seq", "65000", "--initial-roc", "7", "--rcc-mode",
                                       "rccm2", "--roc-tx-rate", "8"}));
  // gst-launch-1.0 joins its arguments into one description: the sinks' own properties are quoted.
  ChildProcess launch;
  std::string error;
  ASSERT_TRUE(
      launch.Start({"gst-launch-1.0", "-v", "playbin", "uri=" + service.FileUri(),
                    "video-sink=\"fakesink silent=false\"", "audio-sink=\"fakesink silent=false\""},
                   &error))
      << error;
  auto count = [](const std::vector<std::string>& lines, const char* bin) {
    int n = 0;
    for (const auto& l : lines) {
      if (l.find(bin) != std::string::npos && l.find("last-message = chain") != std::string::npos)
        ++n;
    }
    return n;
  };
  bool error_seen = false;
  const bool played = launch.WaitUntil(
      [&](const std::vector<std::string>& lines) {
        for (const auto& l : lines) {
          if (l.find("ERROR") != std::string::npos) error_seen = true;
        }
        return error_seen || (count(lines, "vbin") >= 75 && count(lines, "abin") >= 75);
      },
      60s);
  const auto lines = launch.Lines();
  std::string tail;
  for (std::size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i)
    tail += lines[i].substr(0, 200) + "\n";
  EXPECT_TRUE(played && !error_seen) << tail;
  EXPECT_TRUE(launch.running()) << tail;
  EXPECT_NE(launch.Stop(SIGINT), -1) << "gst-launch-1.0 did not stop on SIGINT";
}

// A libsoup 3 server on 127.0.0.1 in its own thread and main context, serving one SDP.
class SdpServer {
 public:
  explicit SdpServer(std::string sdp) : sdp_(std::move(sdp)) {
    thread_ = std::thread([this] { Run(); });
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return started_; });
  }
  ~SdpServer() {
    if (loop_ != nullptr) {
      g_main_context_invoke(
          context_,
          +[](gpointer loop) -> gboolean {
            g_main_loop_quit(static_cast<GMainLoop*>(loop));
            return G_SOURCE_REMOVE;
          },
          loop_);
    }
    thread_.join();
  }
  guint16 port() const { return port_; }
  std::string last_query() {
    std::lock_guard lock(mutex_);
    return last_query_;
  }

 private:
  static void Handle(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable*,
                     gpointer data) {
    auto* self = static_cast<SdpServer*>(data);
    {
      GUri* uri = soup_server_message_get_uri(msg);
      const char* q = g_uri_get_query(uri);
      std::lock_guard lock(self->mutex_);
      self->last_query_ = q ? q : "";
    }
    if (g_strcmp0(path, "/service.sdp") == 0) {
      soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
      soup_server_message_set_response(msg, "application/sdp", SOUP_MEMORY_COPY, self->sdp_.data(),
                                       self->sdp_.size());
    } else {
      soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
    }
  }

  void Run() {
    context_ = g_main_context_new();
    g_main_context_push_thread_default(context_);
    SoupServer* server = soup_server_new("server-header", "bcastsrc-test", nullptr);
    soup_server_add_handler(server, nullptr, &SdpServer::Handle, this, nullptr);
    GError* err = nullptr;
    if (soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &err)) {
      GSList* uris = soup_server_get_uris(server);
      if (uris != nullptr)
        port_ = static_cast<guint16>(g_uri_get_port(static_cast<GUri*>(uris->data)));
      g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
      loop_ = g_main_loop_new(context_, FALSE);
    } else {
      g_clear_error(&err);
    }
    {
      std::lock_guard lock(mutex_);
      started_ = true;
    }
    cv_.notify_all();
    if (loop_ != nullptr) g_main_loop_run(loop_);
    soup_server_disconnect(server);
    g_object_unref(server);
    if (loop_ != nullptr) g_main_loop_unref(loop_);
    g_main_context_pop_thread_default(context_);
    g_main_context_unref(context_);
  }

  std::string sdp_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool started_ = false;
  GMainContext* context_ = nullptr;
  GMainLoop* loop_ = nullptr;
  guint16 port_ = 0;
  std::string last_query_;
};

TEST_F(BcastSrcTest, PlaysFromHttpSessionDescription) {
  Service service;
  ASSERT_TRUE(service.Start(Port(30)));
  SdpServer server(ReadFile(service.sdp()));
  ASSERT_NE(server.port(), 0);
  const std::string base = "bcast+http://127.0.0.1:" + std::to_string(server.port());
  {
    PlaybinRun run(base + "/service.sdp?token=abc&spcd-bus=session&keys=" + service.key_file());
    ASSERT_NE(run.Play(), GST_STATE_CHANGE_FAILURE) << Describe(run.errors);
    EXPECT_TRUE(run.RunUntil([&] { return run.video_frames >= 25 && run.audio_frames >= 25; }, 60s))
        << "video " << run.video_frames << " audio " << run.audio_frames << "\n"
        << Describe(run.errors);
    EXPECT_EQ(run.service_name, "openbcast sample service");
    // `keys` and `spcd-bus` are bcastsrc's own parameters; the rest goes to the server.
    EXPECT_EQ(server.last_query(), "token=abc");
  }
  {
    auto e = StartError(base + "/missing.sdp?keys=" + service.key_file());
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->domain == GST_RESOURCE_ERROR && e->code == GST_RESOURCE_ERROR_NOT_FOUND)
        << e->Describe();
    EXPECT_NE(e->message.find("HTTP 404"), std::string::npos) << e->Describe();
  }
}

TEST_F(BcastSrcTest, HttpServerUnreachable) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  auto e = StartError("bcast+http://127.0.0.1:1/service.sdp");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->domain == GST_RESOURCE_ERROR && e->code == GST_RESOURCE_ERROR_OPEN_READ)
      << e->Describe();
  EXPECT_NE(e->message.find("http://127.0.0.1:1/service.sdp"), std::string::npos) << e->Describe();
}

TEST_F(BcastSrcTest, PlaysClearService) {
  Service service;
  ASSERT_TRUE(service.Start(Port(40), {"--clear"}));
  g_unsetenv("OPENBCAST_KEY_FILE");
  PlaybinRun run("bcast+file://" + service.sdp());
  ASSERT_NE(run.Play(), GST_STATE_CHANGE_FAILURE) << Describe(run.errors);
  EXPECT_TRUE(run.RunUntil([&] { return run.video_frames >= 25 && run.audio_frames >= 25; }, 60s))
      << Describe(run.errors);
  EXPECT_FALSE(run.service_protected);
  EXPECT_EQ(run.key_source, "none");
}

TEST_F(BcastSrcTest, PlaysIsmacrypService) {
  std::string help;
  RunToCompletion({Env("BCAST_HEADEND", "bcast-headend"), "--help"}, &help);
  if (help.find("--protection") == std::string::npos) {
    GTEST_SKIP() << "this bcast-headend has no --protection (ISMACryp) option";
  }
  for (const char* protection : {"ismacryp", "mixed"}) {
    SCOPED_TRACE(protection);
    Service service;
    std::vector<std::string> extra = {"--protection", protection};
    if (std::string(protection) == "mixed") {
      extra.insert(extra.end(), {"--isma-key-port", std::to_string(Port(56))});
    }
    ASSERT_TRUE(service.Start(Port(50), extra));
    PlaybinRun run(service.FileUri());
    ASSERT_NE(run.Play(), GST_STATE_CHANGE_FAILURE) << Describe(run.errors);
    EXPECT_TRUE(run.RunUntil([&] { return run.video_frames >= 50 && run.audio_frames >= 50; }, 60s))
        << "video " << run.video_frames << " audio " << run.audio_frames << "\n"
        << ReadFile(service.sdp()) << Describe(run.errors);
    EXPECT_EQ(run.video_width, 320);
  }
}

// ---- errors ----

TEST_F(BcastSrcTest, BadUrisAreRefused) {
  for (const char* uri :
       {"bcast+file://otherhost/srv/service.sdp", "bcast+file:service.sdp",
        "bcast+http:///service.sdp", "bcast+file:///srv/service.sdp?spcd-bus=nope"}) {
    g_autoptr(GError) err = nullptr;
    GstElement* e = gst_element_make_from_uri(GST_URI_SRC, uri, nullptr, &err);
    EXPECT_EQ(e, nullptr) << uri;
    if (e != nullptr) gst_object_unref(e);
    ASSERT_NE(err, nullptr) << uri;
    EXPECT_TRUE(g_error_matches(err, GST_URI_ERROR, GST_URI_ERROR_BAD_URI)) << err->message;
    EXPECT_NE(std::string(err->message).find(uri), std::string::npos) << err->message;
  }
  // Through playbin the application sees an error message naming the URI.
  PlaybinRun run("bcast+file://otherhost/srv/service.sdp");
  run.Play();
  run.RunUntil([] { return false; }, 10s);
  ASSERT_FALSE(run.errors.empty());
  EXPECT_NE(Describe(run.errors).find("bcast+file://otherhost/srv/service.sdp"), std::string::npos)
      << Describe(run.errors);
}

TEST_F(BcastSrcTest, MissingSessionDescription) {
  auto e = StartError("bcast+file:///nonexistent/openbcast/service.sdp");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->domain == GST_RESOURCE_ERROR && e->code == GST_RESOURCE_ERROR_NOT_FOUND)
      << e->Describe();
  EXPECT_NE(e->message.find("/nonexistent/openbcast/service.sdp"), std::string::npos)
      << e->Describe();

  // playbin passes it on.
  PlaybinRun run("bcast+file:///nonexistent/openbcast/service.sdp");
  EXPECT_EQ(run.Play(), GST_STATE_CHANGE_FAILURE);
  run.RunUntil([] { return false; }, 5s);
  ASSERT_FALSE(run.errors.empty());
  EXPECT_EQ(run.errors.front().source, "source");
  EXPECT_NE(run.errors.front().message.find("not found"), std::string::npos)
      << Describe(run.errors);
}

TEST_F(BcastSrcTest, MalformedSessionDescription) {
  TempDir dir;
  const std::string path = dir.File("bad.sdp");
  ASSERT_TRUE(WriteFile(path, "this is not a session description\n"));
  auto e = StartError("bcast+file://" + path);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->domain == GST_STREAM_ERROR && e->code == GST_STREAM_ERROR_FORMAT) << e->Describe();
  EXPECT_NE(e->message.find("Malformed session description"), std::string::npos) << e->Describe();

  // Well-formed, but a codec the terminal does not play: the error names the media line.
  std::string vp8 = kSrtpSdp;
  vp8.replace(vp8.find("H264/90000"), 10, "VP8/90000");
  ASSERT_TRUE(WriteFile(path, vp8));
  e = StartError("bcast+file://" + path + "?keys=" + path);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->domain == GST_STREAM_ERROR && e->code == GST_STREAM_ERROR_CODEC_NOT_FOUND)
      << e->Describe();
  EXPECT_NE(e->message.find("m=video 26897"), std::string::npos) << e->Describe();
  EXPECT_NE(e->message.find("VP8"), std::string::npos) << e->Describe();

  // SRTP media whose a=stkmstream names no key stream.
  std::string orphan = kSrtpSdp;
  orphan.replace(orphan.rfind("a=stkmstream:1"), 14, "a=stkmstream:7");
  ASSERT_TRUE(WriteFile(path, orphan));
  e = StartError("bcast+file://" + path + "?keys=" + path);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("a=stkmstream:7"), std::string::npos) << e->Describe();
}

TEST_F(BcastSrcTest, MissingKeys) {
  TempDir dir;
  const std::string path = dir.File("service.sdp");
  ASSERT_TRUE(WriteFile(path, kSrtpSdp));
  g_unsetenv("OPENBCAST_KEY_FILE");

  auto e = StartError("bcast+file://" + path + "?keys=/nonexistent/keys.ini");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->domain == GST_RESOURCE_ERROR && e->code == GST_RESOURCE_ERROR_NOT_FOUND)
      << e->Describe();
  EXPECT_NE(e->message.find("/nonexistent/keys.ini"), std::string::npos) << e->Describe();
  EXPECT_NE(e->message.find("keys parameter"), std::string::npos) << e->Describe();

  g_setenv("OPENBCAST_KEY_FILE", "/nonexistent/env-keys.ini", TRUE);
  e = StartError("bcast+file://" + path);
  g_unsetenv("OPENBCAST_KEY_FILE");
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("/nonexistent/env-keys.ini"), std::string::npos) << e->Describe();
  EXPECT_NE(e->message.find("OPENBCAST_KEY_FILE"), std::string::npos) << e->Describe();

  if (TekdecHasSpcdMode()) {
    // Without a key file tekdec asks spcd, on the bus the URI names: none answers there.
    e = StartError("bcast+file://" + path + "?spcd-bus-address=unix:path=/nonexistent/spcd-bus");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->source, "key-1-tekdec") << e->Describe();
    EXPECT_NE(e->message.find("spcd"), std::string::npos) << e->Describe();
    EXPECT_NE(e->message.find("/nonexistent/spcd-bus"), std::string::npos) << e->Describe();
    return;
  }
  e = StartError("bcast+file://" + path);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->domain == GST_STREAM_ERROR && e->code == GST_STREAM_ERROR_DECRYPT_NOKEY)
      << e->Describe();
  EXPECT_NE(e->debug.find("keys="), std::string::npos) << e->Describe();
}

}  // namespace
}  // namespace bcastsrc_test
