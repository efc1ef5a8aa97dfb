// Reads the sample MP4 with GStreamer and hands out its RTP packets (H.264 video, AAC audio as
// mpeg4-generic AAC-hbr) in real time, looping forever.
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

class MediaSource {
 public:
  // Called from GStreamer streaming threads (one per stream) when a packet is due to be sent.
  using PacketFn = std::function<void(StreamKind kind, std::span<const std::uint8_t> rtp,
                                      GstClockTime media_time)>;
  using ErrorFn = std::function<void(const std::string& message)>;

  MediaSource(PacketFn on_packet, ErrorFn on_error);
  ~MediaSource();
  MediaSource(const MediaSource&) = delete;
  MediaSource& operator=(const MediaSource&) = delete;

  // Builds the pipeline and prerolls it (blocking, bounded): afterwards caps() is known. The RTP
  // payload types are fixed here.
  bool Open(const std::string& path, int video_pt, int audio_pt, int mtu, std::string* error);
  // application/x-rtp caps of the stream after preroll (sprop-parameter-sets, config, ...).
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
