#include "samples/headend/media_source.h"

#include <gst/app/gstappsink.h>

#include <algorithm>
#include <utility>

namespace headend {
namespace {

struct GErrorFree {
  void operator()(GError* e) const { g_error_free(e); }
};
struct GFree {
  void operator()(gchar* p) const { g_free(p); }
};
struct MessageUnref {
  void operator()(GstMessage* m) const { gst_message_unref(m); }
};
using MessagePtr = std::unique_ptr<GstMessage, MessageUnref>;
using ElementPtr = std::unique_ptr<GstElement, GstObjectUnref>;

std::string ErrorText(GstMessage* message) {
  GError* raw = nullptr;
  gchar* debug_raw = nullptr;
  gst_message_parse_error(message, &raw, &debug_raw);
  std::unique_ptr<GError, GErrorFree> err(raw);
  std::unique_ptr<gchar, GFree> debug(debug_raw);
  std::string text = err ? err->message : "unknown error";
  if (debug) text += std::string(" (") + debug.get() + ")";
  return text;
}

}  // namespace

MediaSource::MediaSource(PacketFn on_packet, ErrorFn on_error)
    : on_packet_(std::move(on_packet)), on_error_(std::move(on_error)) {}

MediaSource::~MediaSource() { Stop(); }

void MediaSource::SetAccessUnitOutput(StreamKind kind, AccessUnitFn on_access_unit) {
  on_access_unit_ = std::move(on_access_unit);
  output_[static_cast<int>(kind)] = MediaOutput::kAccessUnits;
}

bool MediaSource::Open(const std::string& path, int video_pt, int audio_pt, int mtu,
                       std::string* error) {
  // h264parse puts SPS/PPS in front of every IDR (config-interval=-1) so that a terminal joining at
  // any IDR can decode without the SDP's sprop-parameter-sets.
  // For ISMACryp the access units themselves: AVC format (length-prefixed NAL units, converted to
  // Annex B by the head-end) with the parameter sets in-band in front of every IDR, and raw AAC.
  const bool video_aus = output_[static_cast<int>(StreamKind::kVideo)] == MediaOutput::kAccessUnits;
  const bool audio_aus = output_[static_cast<int>(StreamKind::kAudio)] == MediaOutput::kAccessUnits;
  const std::string video_branch =
      video_aus
          ? "h264parse config-interval=-1 ! "
            "video/x-h264,stream-format=avc,alignment=au"
          : "h264parse ! rtph264pay name=vpay config-interval=-1 pt=" + std::to_string(video_pt) +
                " mtu=" + std::to_string(mtu);
  const std::string audio_branch =
      audio_aus ? "aacparse ! audio/mpeg,mpegversion=4,stream-format=raw"
                : "aacparse ! rtpmp4gpay name=apay pt=" + std::to_string(audio_pt) +
                      " mtu=" + std::to_string(mtu);
  std::string description =
      "filesrc name=src ! qtdemux name=demux demux.video_0 ! queue ! " + video_branch +
      " ! appsink name=video_sink sync=true max-buffers=0 drop=false "
      "demux.audio_0 ! queue ! " +
      audio_branch + " ! appsink name=audio_sink sync=true max-buffers=0 drop=false";
  GError* raw_error = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &raw_error);
  std::unique_ptr<GError, GErrorFree> parse_error(raw_error);
  if (pipeline == nullptr || parse_error) {
    if (pipeline != nullptr) gst_object_unref(pipeline);
    *error = "cannot build the media pipeline: " +
             std::string(parse_error ? parse_error->message : "unknown error");
    return false;
  }
  pipeline_.reset(GST_ELEMENT(gst_object_ref_sink(pipeline)));

  ElementPtr src(gst_bin_get_by_name(GST_BIN(pipeline), "src"));
  g_object_set(src.get(), "location", path.c_str(), nullptr);

  const char* sink_names[kStreamCount] = {"video_sink", "audio_sink"};
  for (int i = 0; i < kStreamCount; ++i) {
    ElementPtr sink(gst_bin_get_by_name(GST_BIN(pipeline), sink_names[i]));
    GstAppSinkCallbacks callbacks{};
    if (i == 0) {
      callbacks.new_sample = [](GstAppSink* s, gpointer self) {
        return OnSample(GST_ELEMENT(s), self, StreamKind::kVideo);
      };
    } else {
      callbacks.new_sample = [](GstAppSink* s, gpointer self) {
        return OnSample(GST_ELEMENT(s), self, StreamKind::kAudio);
      };
    }
    gst_app_sink_set_callbacks(GST_APP_SINK(sink.get()), &callbacks, this, nullptr);
  }

  // Preroll synchronously: the SDP needs the payloaders' caps before anything is announced.
  if (gst_element_set_state(pipeline, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE) {
    *error = "cannot open " + path;
  }
  std::unique_ptr<GstBus, GstObjectUnref> bus(gst_element_get_bus(pipeline));
  MessagePtr msg(gst_bus_timed_pop_filtered(
      bus.get(), 20 * GST_SECOND,
      static_cast<GstMessageType>(GST_MESSAGE_ASYNC_DONE | GST_MESSAGE_ERROR | GST_MESSAGE_EOS)));
  if (!msg) {
    *error = "media pipeline did not preroll within 20 s (does " + path +
             " have one H.264 and one AAC track?)";
    gst_element_set_state(pipeline, GST_STATE_NULL);
    return false;
  }
  if (GST_MESSAGE_TYPE(msg.get()) != GST_MESSAGE_ASYNC_DONE) {
    *error = GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_ERROR
                 ? "cannot read " + path + ": " + ErrorText(msg.get())
                 : "no media in " + path;
    gst_element_set_state(pipeline, GST_STATE_NULL);
    return false;
  }
  for (int i = 0; i < kStreamCount; ++i) {
    ElementPtr sink(gst_bin_get_by_name(GST_BIN(pipeline), sink_names[i]));
    std::unique_ptr<GstPad, GstObjectUnref> pad(gst_element_get_static_pad(sink.get(), "sink"));
    caps_[i].reset(gst_pad_get_current_caps(pad.get()));
    if (!caps_[i]) {
      *error = std::string("no caps on ") + sink_names[i];
      gst_element_set_state(pipeline, GST_STATE_NULL);
      return false;
    }
  }
  return true;
}

bool MediaSource::Play(std::string* error) {
  if (!pipeline_) {
    *error = "media not opened";
    return false;
  }
  std::unique_ptr<GstBus, GstObjectUnref> bus(gst_element_get_bus(pipeline_.get()));
  bus_watch_ = gst_bus_add_watch(bus.get(), &MediaSource::OnBusMessage, this);
  if (gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    *error = "media pipeline refused to play";
    return false;
  }
  return true;
}

void MediaSource::Stop() {
  if (bus_watch_ != 0) {
    g_source_remove(bus_watch_);
    bus_watch_ = 0;
  }
  if (pipeline_) {
    gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
    pipeline_.reset();
  }
}

unsigned MediaSource::loops() const {
  std::lock_guard lock(mutex_);
  return loops_;
}

GstFlowReturn MediaSource::OnSample(GstElement* sink, gpointer user_data, StreamKind kind) {
  GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
  if (sample == nullptr) return GST_FLOW_EOS;
  static_cast<MediaSource*>(user_data)->HandleSample(kind, sample);
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

void MediaSource::HandleSample(StreamKind kind, GstSample* sample) {
  GstBuffer* buffer = gst_sample_get_buffer(sample);
  if (buffer == nullptr) return;
  const GstClockTime pts = GST_BUFFER_PTS(buffer);
  GstClockTime media_time;
  {
    std::lock_guard lock(mutex_);
    const GstClockTime rel = GST_CLOCK_TIME_IS_VALID(pts) ? pts : 0;
    const GstClockTime dur =
        GST_CLOCK_TIME_IS_VALID(GST_BUFFER_DURATION(buffer)) ? GST_BUFFER_DURATION(buffer) : 0;
    loop_end_ = std::max(loop_end_, rel + dur);
    media_time = loop_offset_ + rel;
  }
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return;
  if (output_[static_cast<int>(kind)] == MediaOutput::kAccessUnits) {
    AccessUnitBuffer au;
    au.data = std::span<const std::uint8_t>(map.data, map.size);
    au.media_time = media_time;
    au.key_frame = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    on_access_unit_(kind, au);
  } else {
    on_packet_(kind, std::span<const std::uint8_t>(map.data, map.size), media_time);
  }
  gst_buffer_unmap(buffer, &map);
}

gboolean MediaSource::OnBusMessage(GstBus*, GstMessage* message, gpointer user_data) {
  auto* self = static_cast<MediaSource*>(user_data);
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_EOS: {
      // Every sink has rendered its last buffer of this loop (the pipeline posts EOS only then),
      // so no packet of the old loop can arrive after the offset moves.
      {
        std::lock_guard lock(self->mutex_);
        self->loop_offset_ += self->loop_end_;
        self->loop_end_ = 0;
        ++self->loops_;
      }
      if (!gst_element_seek_simple(self->pipeline_.get(), GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH,
                                   0)) {
        self->on_error_("cannot seek back to the start of the media");
      }
      break;
    }
    case GST_MESSAGE_ERROR:
      self->on_error_(ErrorText(message));
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

}  // namespace headend
