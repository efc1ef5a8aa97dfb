// Checksums of decoded media, shared by bcast-player (--frame-checksums) and the end-to-end tests'
// reference decoder, so both sides hash exactly the same bytes.
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <optional>
#include <string>

namespace player {

// SHA-1 (hex) of a decoded video frame: each plane's visible rows and columns only, so stride
// padding (which differs between decoders and allocators) never changes the checksum.
std::optional<std::string> HashVideoFrame(GstBuffer* buffer, const GstVideoInfo& info);

// SHA-1 (hex) of a decoded audio buffer's bytes.
std::optional<std::string> HashBuffer(GstBuffer* buffer);

}  // namespace player
