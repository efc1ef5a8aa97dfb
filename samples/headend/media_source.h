// Reads the sample MP4 with GStreamer and hands out, in real time and looping forever, per stream
// either its RTP packets (H.264 video, AAC audio as mpeg4-generic AAC-hbr) or its access units
// (H.264 AVC-format AUs with in-band parameter sets, raw AAC frames) for ISMACryp, which the
// head-end packetizes itself.
//
// The payloaders' own sequence numbers and timestamps restart with every loop; instead each packet
// comes with its media time (buffer PTS plus the length of all earlier loops) and the caller writes
// sequence number, timestamp and SSRC itself, so the streams it sends are continuous across loops.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

namespace headend {

enum class StreamKind { kVideo = 0, kAudio = 1 };
inline constexpr int kStreamCount = 2;

struct GstObjectUnref {
  void operator()(gpointer p) const { gst_object_unref(p); }
};
struct GstCapsUnref {
  void operator()(GstCaps* c) const { gst_caps_unref(c); }
};
using CapsPtr = std::unique_ptr<GstCaps, GstCapsUnref>;

enum class MediaOutput { kRtp, kAccessUnits };

// One access unit (MediaOutput::kAccessUnits). Video: video/x-h264, stream-format=avc,
// alignment=au (NAL units with the length prefix of the caps' codec_data); audio: a raw AAC frame.
struct AccessUnitBuffer {
  std::span<const std::uint8_t> data;
  GstClockTime media_time = 0;  // PTS on the continuous, loop-spanning time line
  bool key_frame = false;       // not a delta unit: an IDR / every AAC frame
};

class MediaSource {
 public:
  // Called from GStreamer streaming threads (one per stream) when a packet is due to be sent.
  using PacketFn = std::function<void(StreamKind kind, std::span<const std::uint8_t> rtp,
                                      GstClockTime media_time)>;
  using ErrorFn = std::function<void(const std::string& message)>;

  using AccessUnitFn = std::function<void(StreamKind kind, const AccessUnitBuffer& au)>;

  MediaSource(PacketFn on_packet, ErrorFn on_error);
  // Before Open: streams sent as access units go to `on_access_unit` instead of `on_packet`.
  void SetAccessUnitOutput(StreamKind kind, AccessUnitFn on_access_unit);
  ~MediaSource();
  MediaSource(const MediaSource&) = delete;
  MediaSource& operator=(const MediaSource&) = delete;

  // Builds the pipeline and prerolls it (blocking, bounded): afterwards caps() is known. The RTP
  // payload types are fixed here.
  bool Open(const std::string& path, int video_pt, int audio_pt, int mtu, std::string* error);
  // Caps of the stream after preroll: application/x-rtp (sprop-parameter-sets, config, ...), or
  // for access units the parser's video/x-h264 / audio/mpeg caps with codec_data.
  const GstCaps* caps(StreamKind kind) const { return caps_[static_cast<int>(kind)].get(); }
  // Starts the real-time flow; EOS seeks back to the start. Needs a running default main context.
  bool Play(std::string* error);
  void Stop();
  unsigned loops() const;

 private:
  static GstFlowReturn OnSample(GstElement* sink, gpointer user_data, StreamKind kind);
  static gboolean OnBusMessage(GstBus* bus, GstMessage* message, gpointer user_data);
  void HandleSample(StreamKind kind, GstSample* sample);

  PacketFn on_packet_;
  AccessUnitFn on_access_unit_;
  MediaOutput output_[kStreamCount] = {MediaOutput::kRtp, MediaOutput::kRtp};
  ErrorFn on_error_;
  std::unique_ptr<GstElement, GstObjectUnref> pipeline_;
  CapsPtr caps_[kStreamCount];
  guint bus_watch_ = 0;

  mutable std::mutex mutex_;      // guards the loop bookkeeping shared with the streaming threads
  GstClockTime loop_offset_ = 0;  // media time at which the current loop started
  GstClockTime loop_end_ = 0;     // largest PTS + duration seen in the current loop
  unsigned loops_ = 0;
};

}  // namespace headend
