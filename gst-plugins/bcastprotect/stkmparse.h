#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_STKM_PARSE (gst_stkm_parse_get_type())
G_DECLARE_FINAL_TYPE(GstStkmParse, gst_stkm_parse, GST, STKM_PARSE, GstElement)

GST_ELEMENT_REGISTER_DECLARE(stkmparse);

G_END_DECLS
