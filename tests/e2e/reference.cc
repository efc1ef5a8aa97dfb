// e2e-reference FILE.mp4 OUT: decodes the head-end's source file straight from disk with the
// decoders bcast-player uses and writes the same '<stream> <index> <sha1>' lines, so the end-to-end
// tests can check that what came through STKM + SRTP decodes to exactly the clear source.
#include <gst/gst.h>
#include <gst/video/video.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "player/frame_hash.h"

namespace {

struct GstObjectDeleter {
  void operator()(gpointer obj) const { gst_object_unref(obj); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

struct Output {
  std::mutex mutex;
  std::unique_ptr<std::FILE, FileCloser> file;
};

struct Branch {
  const char* name;
  bool video;
  guint64 index = 0;
  Output* out;
};

GstPadProbeReturn OnDecoded(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto* branch = static_cast<Branch*>(data);
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  std::optional<std::string> hash;
  if (branch->video) {
    g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
    GstVideoInfo vinfo;
    if (caps && gst_video_info_from_caps(&vinfo, caps))
      hash = player::HashVideoFrame(buffer, vinfo);
  } else {
    hash = player::HashBuffer(buffer);
  }
  std::lock_guard lock(branch->out->mutex);
  std::fprintf(branch->out->file.get(), "%s %" G_GUINT64_FORMAT " %s\n", branch->name,
               branch->index++, hash ? hash->c_str() : "unmappable");
  return GST_PAD_PROBE_OK;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s FILE.mp4 OUT\n", argv[0]);
    return 1;
  }
  g_autofree gchar* location = g_strescape(argv[1], nullptr);
  // Same decoder settings as bcast-player: never output concealed (corrupt) pictures.
  const std::string description =
      std::string("filesrc location=\"") + location +
      "\" ! qtdemux name=demux "
      "demux.video_0 ! queue ! h264parse ! avdec_h264 name=vdec output-corrupt=false ! "
      "fakesink sync=false "
      "demux.audio_0 ! queue ! aacparse ! avdec_aac name=adec ! fakesink sync=false";
  g_autoptr(GError) error = nullptr;
  std::unique_ptr<GstElement, GstObjectDeleter> pipeline(
      gst_parse_launch(description.c_str(), &error));
  if (!pipeline || error) {
    std::fprintf(stderr, "e2e-reference: %s\n", error ? error->message : "cannot build pipeline");
    return 1;
  }
  Output out;
  out.file.reset(std::fopen(argv[2], "w"));
  if (!out.file) {
    std::perror(argv[2]);
    return 1;
  }
  Branch video{"video", true, 0, &out};
  Branch audio{"audio", false, 0, &out};
  for (auto [name, branch] : {std::pair{"vdec", &video}, std::pair{"adec", &audio}}) {
    std::unique_ptr<GstElement, GstObjectDeleter> dec(
        gst_bin_get_by_name(GST_BIN(pipeline.get()), name));
    g_autoptr(GstPad) pad = gst_element_get_static_pad(dec.get(), "src");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, OnDecoded, branch, nullptr);
  }
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
  std::unique_ptr<GstBus, GstObjectDeleter> bus(gst_element_get_bus(pipeline.get()));
  g_autoptr(GstMessage) msg =
      gst_bus_timed_pop_filtered(bus.get(), 120 * GST_SECOND,
                                 static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  int status = 0;
  if (msg == nullptr) {
    std::fprintf(stderr, "e2e-reference: decoding did not finish\n");
    status = 1;
  } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    g_autoptr(GError) err = nullptr;
    gst_message_parse_error(msg, &err, nullptr);
    std::fprintf(stderr, "e2e-reference: %s\n", err->message);
    status = 1;
  }
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  std::fprintf(stderr,
               "e2e-reference: %" G_GUINT64_FORMAT " video frames, %" G_GUINT64_FORMAT
               " audio buffers\n",
               video.index, audio.index);
  return status;
}
