#include "player/frame_hash.h"

#include <openssl/evp.h>

#include <memory>

namespace player {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

MdCtx NewSha1() {
  MdCtx ctx(EVP_MD_CTX_new());
  if (ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1) ctx.reset();
  return ctx;
}

std::optional<std::string> Finish(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1) return std::nullopt;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0x0f]);
  }
  return out;
}

}  // namespace

std::optional<std::string> HashVideoFrame(GstBuffer* buffer, const GstVideoInfo& info) {
  GstVideoFrame frame;
  // GstVideoInfo is only read, but the C API takes a non-const pointer.
  GstVideoInfo copy = info;
  if (!gst_video_frame_map(&frame, &copy, buffer, GST_MAP_READ)) return std::nullopt;
  MdCtx ctx = NewSha1();
  bool ok = ctx != nullptr;
  for (guint p = 0; ok && p < GST_VIDEO_FRAME_N_PLANES(&frame); ++p) {
    const guint8* data = static_cast<const guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p));
    const gint stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p);
    // The first component stored in this plane gives its visible size (for packed and
    // semi-planar planes its pixel stride covers the other components too).
    gint comps[GST_VIDEO_MAX_COMPONENTS];
    gst_video_format_info_component(frame.info.finfo, p, comps);
    const gint comp = comps[0];
    if (comp < 0) continue;
    const gint width_bytes =
        GST_VIDEO_FRAME_COMP_WIDTH(&frame, comp) * GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, comp);
    const gint height = GST_VIDEO_FRAME_COMP_HEIGHT(&frame, comp);
    for (gint row = 0; ok && row < height; ++row) {
      ok = EVP_DigestUpdate(ctx.get(), data + static_cast<gsize>(row) * stride, width_bytes) == 1;
    }
  }
  gst_video_frame_unmap(&frame);
  if (!ok) return std::nullopt;
  return Finish(ctx.get());
}

std::optional<std::string> HashBuffer(GstBuffer* buffer) {
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return std::nullopt;
  MdCtx ctx = NewSha1();
  bool ok = ctx && EVP_DigestUpdate(ctx.get(), map.data, map.size) == 1;
  gst_buffer_unmap(buffer, &map);
  if (!ok) return std::nullopt;
  return Finish(ctx.get());
}

}  // namespace player
