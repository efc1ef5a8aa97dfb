// bcastsrc: plays a protected OMA BCAST service from its session description. A GstBin with a URI
// handler (bcast+file://, bcast+http://, bcast+https://) that builds the key and media branches
// from the SDP and exposes one source pad per elementary stream.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_BCAST_SRC (gst_bcast_src_get_type())
G_DECLARE_FINAL_TYPE(GstBcastSrc, gst_bcast_src, GST, BCAST_SRC, GstBin)

GST_ELEMENT_REGISTER_DECLARE(bcastsrc);

// Environment variable naming the key file when neither the sek-file property nor the URI's
// `keys` query parameter gives one.
#define BCAST_SRC_KEY_FILE_ENV "OPENBCAST_KEY_FILE"

G_END_DECLS
