#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_BCAST_SRTP_DEC (gst_bcast_srtp_dec_get_type())
G_DECLARE_FINAL_TYPE(GstBcastSrtpDec, gst_bcast_srtp_dec, GST, BCAST_SRTP_DEC, GstElement)

GST_ELEMENT_REGISTER_DECLARE(bcastsrtpdec);

G_END_DECLS
