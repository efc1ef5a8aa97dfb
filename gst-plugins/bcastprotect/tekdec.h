#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_TEK_DEC (gst_tek_dec_get_type())
G_DECLARE_FINAL_TYPE(GstTekDec, gst_tek_dec, GST, TEK_DEC, GstElement)

GST_ELEMENT_REGISTER_DECLARE(tekdec);

G_END_DECLS
