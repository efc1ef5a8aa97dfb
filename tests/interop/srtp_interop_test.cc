// Interoperability of bcastsrtpdec with independent SRTP senders: GStreamer's srtpenc (MKI = TEK
// ID) and FFmpeg (no MKI, real UDP on loopback). The TEK reaches the keyring the BCAST way: an
// STKM (spc::WriteStkm) through stkmparse ! tekdec sek-file=…. The decoded frames of the
// decrypted stream must equal, frame by frame, those of the same stream sent in the clear.
// Test media is made at test time (videotestsrc, ffmpeg lavfi); nothing binary is committed.
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gst-plugins/bcastprotect/bcastsrtpdec.h"
#include "gst-plugins/bcastprotect/stkmparse.h"
#include "gst-plugins/bcastprotect/tekdec.h"
#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

namespace {

constexpr char kBaseCid[] = "urn:openbcast:interop:";
constexpr std::uint32_t kCidExtension = 0x2a;
constexpr std::uint32_t kKeyDomain = 0x0a0b0c;
constexpr std::uint16_t kTekId = 0x0101;

const spc::Key128 kSek = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                          0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
const spc::Key128 kSak = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                          0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
const spc::Key128 kTek = {0x9a, 0x41, 0x07, 0xc3, 0x5e, 0x22, 0x81, 0xf0,
                          0x3d, 0x6b, 0x19, 0xa4, 0x77, 0x0e, 0xd2, 0x58};
const spc::MasterSalt kSalt = {0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
                               0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e};

std::vector<std::uint8_t> MakeStkm() {
  spc::Stkm s;
  s.master_salt_flag = true;
  s.traffic_protection_protocol = 1;
  s.traffic_authentication_flag = true;
  s.service_flag = true;
  s.key_domain_id = kKeyDomain;
  s.service_CID_extension = kCidExtension;
  s.traffic_key_id = kTekId;
  s.traffic_key_lifetime = 600;
  s.master_salt = kSalt;
  s.encrypted_traffic_key_material = spc::EncryptTrafficKey(kSek, kTek);
  return spc::WriteStkm(s, kSak);
}

std::string Base64KeySalt() {
  std::vector<std::uint8_t> ks(kTek.begin(), kTek.end());
  ks.insert(ks.end(), kSalt.begin(), kSalt.end());
  gchar* b64 = g_base64_encode(ks.data(), ks.size());
  std::string out(b64);
  g_free(b64);
  return out;
}

GstBuffer* KeySaltBuffer() {
  std::vector<std::uint8_t> ks(kTek.begin(), kTek.end());
  ks.insert(ks.end(), kSalt.begin(), kSalt.end());
  return gst_buffer_new_memdup(ks.data(), ks.size());
}

bool HaveElements(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    GstElementFactory* f = gst_element_factory_find(n);
    if (!f) return false;
    gst_object_unref(f);
  }
  return true;
}

// Collects the SHA-256 of every decoded frame an appsink receives.
struct FrameLog {
  std::mutex lock;
  std::condition_variable cond;
  std::vector<std::string> sums;

  static GstFlowReturn OnSample(GstAppSink* sink, gpointer user_data) {
    auto* log = static_cast<FrameLog*>(user_data);
    GstSample* sample = gst_app_sink_pull_sample(sink);
    if (!sample) return GST_FLOW_ERROR;
    GstMapInfo map;
    GstBuffer* buf = gst_sample_get_buffer(sample);
    if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
      gchar* sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, map.data, map.size);
      gst_buffer_unmap(buf, &map);
      std::lock_guard<std::mutex> l(log->lock);
      log->sums.emplace_back(sum);
      g_free(sum);
      log->cond.notify_all();
    }
    gst_sample_unref(sample);
    return GST_FLOW_OK;
  }
  void Attach(GstElement* appsink) {
    GstAppSinkCallbacks cb{};
    cb.new_sample = OnSample;
    gst_app_sink_set_callbacks(GST_APP_SINK(appsink), &cb, this, nullptr);
  }
  bool WaitFor(std::size_t n, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> l(lock);
    return cond.wait_for(l, timeout, [&] { return sums.size() >= n; });
  }
  std::vector<std::string> Snapshot() {
    std::lock_guard<std::mutex> l(lock);
    return sums;
  }
};

class SrtpInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    static bool registered = GST_ELEMENT_REGISTER(bcastsrtpdec, nullptr) &&
                             GST_ELEMENT_REGISTER(stkmparse, nullptr) &&
                             GST_ELEMENT_REGISTER(tekdec, nullptr);
    ASSERT_TRUE(registered);
    gchar* dir = g_dir_make_tmp("srtp-interop-XXXXXX", nullptr);
    ASSERT_NE(dir, nullptr);
    dir_ = dir;
    g_free(dir);
    spc::KeyTable table;
    spc::LongTermKey k;
    k.key_domain_id = kKeyDomain;
    k.encryption_key = kSek;
    k.authentication_key = kSak;
    table[spc::ContentId(kBaseCid, kCidExtension)] = k;
    key_file_ = dir_ + "/keys.ini";
    std::ofstream(key_file_) << spc::WriteKeyFile(table);
  }
  void TearDown() override {
    if (pipeline_) {
      gst_element_set_state(pipeline_, GST_STATE_NULL);
      gst_object_unref(pipeline_);
    }
    std::string cmd = "rm -rf '" + dir_ + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }

  std::string KeyBranch() const {
    return "appsrc name=keys caps=application/x-bcast-stkm format=time ! stkmparse base-cid=" +
           std::string(kBaseCid) + " ! tekdec sek-file=" + key_file_ + " ";
  }

  void Build(const std::string& description) {
    GError* err = nullptr;
    pipeline_ = gst_parse_launch(description.c_str(), &err);
    ASSERT_EQ(err, nullptr) << err->message;
    ASSERT_NE(pipeline_, nullptr);
  }

  GstElement* Get(const char* name) {
    GstElement* e = gst_bin_get_by_name(GST_BIN(pipeline_), name);
    EXPECT_NE(e, nullptr) << name;
    if (e) gst_object_unref(e);  // the bin keeps it alive
    return e;
  }

  void PushStkm(bool end) {
    const auto stkm = MakeStkm();
    GstElement* src = Get("keys");
    ASSERT_EQ(
        gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_new_memdup(stkm.data(), stkm.size())),
        GST_FLOW_OK);
    if (end) gst_app_src_end_of_stream(GST_APP_SRC(src));
  }

  // Waits for the bus message `type` (element message name `name`); fails on an error.
  bool WaitBus(GstMessageType type, const char* name, GstClockTime timeout) {
    GstBus* bus = gst_element_get_bus(pipeline_);
    const gint64 end = g_get_monotonic_time() + static_cast<gint64>(timeout / 1000);
    bool found = false;
    while (!found) {
      const gint64 left = end - g_get_monotonic_time();
      if (left <= 0) break;
      GstMessage* m = gst_bus_timed_pop_filtered(
          bus, static_cast<GstClockTime>(left) * 1000,
          static_cast<GstMessageType>(type | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
      if (!m) break;
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR || GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
        GError* e = nullptr;
        gchar* dbg = nullptr;
        if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
          gst_message_parse_error(m, &e, &dbg);
          ADD_FAILURE() << GST_OBJECT_NAME(m->src) << ": " << e->message << " " << (dbg ? dbg : "");
        } else {
          gst_message_parse_warning(m, &e, &dbg);
          warnings_.push_back(std::string(GST_OBJECT_NAME(m->src)) + ": " + e->message);
        }
        g_clear_error(&e);
        g_free(dbg);
        const bool error = GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR;
        gst_message_unref(m);
        if (error) break;
        continue;
      }
      found = GST_MESSAGE_TYPE(m) == type &&
              (name == nullptr || (gst_message_get_structure(m) &&
                                   gst_structure_has_name(gst_message_get_structure(m), name)));
      gst_message_unref(m);
    }
    gst_object_unref(bus);
    return found;
  }

  guint64 DecStat(const char* field) {
    GstStructure* s = nullptr;
    g_object_get(Get("dec"), "stats", &s, nullptr);
    guint64 v = 0;
    gst_structure_get_uint64(s, field, &v);
    gst_structure_free(s);
    return v;
  }

  std::string dir_;
  std::string key_file_;
  GstElement* pipeline_ = nullptr;
  std::vector<std::string> warnings_;
};

// GStreamer's srtpenc (libsrtp2 underneath) with key = TEK ‖ salt and MKI = TEK ID.
TEST_F(SrtpInterop, GstreamerSrtpencThroughBcastsrtpdec) {
  if (!HaveElements({"srtpenc", "jpegenc", "jpegdec", "rtpjpegpay", "rtpjpegdepay"})) {
    GTEST_SKIP() << "srtpenc / jpeg elements not installed";
  }
  constexpr int kFrames = 60;
  Build(KeyBranch() + "videotestsrc num-buffers=" + std::to_string(kFrames) +
        " pattern=smpte ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! jpegenc ! "
        "rtpjpegpay ! tee name=t "
        "t. ! queue ! srtpenc name=enc rtp-cipher=aes-128-icm rtp-auth=hmac-sha1-80 ! "
        "bcastsrtpdec name=dec hold-time=10000 ! rtpjpegdepay ! jpegdec ! "
        "appsink name=protected sync=false "
        "t. ! queue ! rtpjpegdepay ! jpegdec ! appsink name=clear sync=false");
  GstBuffer* key = KeySaltBuffer();
  const std::uint8_t mki_bytes[2] = {kTekId >> 8, kTekId & 0xff};
  GstBuffer* mki = gst_buffer_new_memdup(mki_bytes, 2);
  g_object_set(Get("enc"), "key", key, "mki", mki, nullptr);
  gst_buffer_unref(key);
  gst_buffer_unref(mki);
  FrameLog protected_log, clear_log;
  protected_log.Attach(Get("protected"));
  clear_log.Attach(Get("clear"));
  PushStkm(true);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_TRUE(WaitBus(GST_MESSAGE_EOS, nullptr, 60 * GST_SECOND));
  const auto got = protected_log.Snapshot();
  const auto want = clear_log.Snapshot();
  EXPECT_EQ(want.size(), static_cast<std::size_t>(kFrames));
  EXPECT_EQ(got, want);
  EXPECT_GT(DecStat("received"), static_cast<guint64>(kFrames) - 1);
  EXPECT_EQ(DecStat("decrypted"), DecStat("received"));
  EXPECT_EQ(DecStat("auth-failures"), 0u);
}

// FFmpeg's SRTP (AES_CM_128_HMAC_SHA1_80, no MKI) over real UDP on loopback; the same clip is
// sent in the clear to a second port.
TEST_F(SrtpInterop, FfmpegSrtpOverUdp) {
  gchar* ffmpeg = g_find_program_in_path("ffmpeg");
  if (!ffmpeg || !HaveElements({"jpegdec", "rtpjpegdepay", "udpsrc"})) {
    g_free(ffmpeg);
    GTEST_SKIP() << "ffmpeg or jpeg/udp elements not installed";
  }
  constexpr int kFrames = 50;
  const std::string clip = dir_ + "/clip.mkv";
  {
    const std::string cmd = std::string(ffmpeg) +
                            " -hide_banner -loglevel error -y -f lavfi -i "
                            "testsrc=size=160x120:rate=25 -frames:v " +
                            std::to_string(kFrames) +
                            " -c:v mjpeg -pix_fmt yuvj420p -huffman default -q:v 4 '" + clip + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  const std::string rtp_fields =
      "media=(string)video, clock-rate=(int)90000, encoding-name=(string)JPEG, payload=(int)26";
  Build(KeyBranch() + "udpsrc name=srtp_in port=0 address=127.0.0.1 caps=\"application/x-srtp, " +
        rtp_fields +
        ", mki-length=(int)0\" ! bcastsrtpdec name=dec ! rtpjpegdepay ! jpegdec ! "
        "appsink name=protected sync=false "
        "udpsrc name=rtp_in port=0 address=127.0.0.1 caps=\"application/x-rtp, " +
        rtp_fields + "\" ! rtpjpegdepay ! jpegdec ! appsink name=clear sync=false");
  FrameLog protected_log, clear_log;
  protected_log.Attach(Get("protected"));
  clear_log.Attach(Get("clear"));
  PushStkm(false);
  ASSERT_NE(gst_element_set_state(pipeline_, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  // The TEK is in the keyring once tekdec says so; the sockets are bound in PLAYING.
  ASSERT_TRUE(WaitBus(GST_MESSAGE_ELEMENT, "openbcast-tek", 20 * GST_SECOND));
  // udpsrc binds its socket in READY→PAUSED, done once set_state returned.
  gint srtp_port = 0, rtp_port = 0;
  g_object_get(Get("srtp_in"), "port", &srtp_port, nullptr);
  g_object_get(Get("rtp_in"), "port", &rtp_port, nullptr);
  ASSERT_GT(srtp_port, 0);
  ASSERT_GT(rtp_port, 0);

  auto run = [&](std::vector<std::string> args) {
    std::vector<gchar*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    gint status = 0;
    GError* err = nullptr;
    gchar* err_out = nullptr;
    const gboolean ok = g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_STDOUT_TO_DEV_NULL,
                                     nullptr, nullptr, nullptr, &err_out, &status, &err);
    EXPECT_TRUE(ok && g_spawn_check_wait_status(status, nullptr))
        << (err ? err->message : "") << (err_out ? err_out : "");
    g_clear_error(&err);
    g_free(err_out);
  };
  const std::string ff = ffmpeg;
  g_free(ffmpeg);
  // -re paces the packets like a live sender so that loopback UDP drops nothing.
  std::thread srtp_sender(
      run, std::vector<std::string>{ff, "-hide_banner", "-loglevel", "error", "-re", "-i", clip,
                                    "-c", "copy", "-f", "rtp", "-srtp_out_suite",
                                    "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", Base64KeySalt(),
                                    "srtp://127.0.0.1:" + std::to_string(srtp_port)});
  std::thread clear_sender(
      run,
      std::vector<std::string>{ff, "-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c",
                               "copy", "-f", "rtp", "rtp://127.0.0.1:" + std::to_string(rtp_port)});
  srtp_sender.join();
  clear_sender.join();
  EXPECT_TRUE(clear_log.WaitFor(kFrames, std::chrono::seconds(30)));
  EXPECT_TRUE(protected_log.WaitFor(kFrames, std::chrono::seconds(30)));
  const auto got = protected_log.Snapshot();
  const auto want = clear_log.Snapshot();
  EXPECT_EQ(want.size(), static_cast<std::size_t>(kFrames));
  EXPECT_EQ(got, want);
  EXPECT_EQ(DecStat("auth-failures"), 0u);
  EXPECT_EQ(DecStat("decrypted"), DecStat("received"));
  for (const auto& w : warnings_) ADD_FAILURE() << "warning: " << w;
}

}  // namespace
