// stkmparse: the key stream's first element. Checks each datagram's STKM structure, drops malformed
// and repeated STKMs, and labels the stream with the service's base CID for tekdec.
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_STKM_PARSE (gst_stkm_parse_get_type())
G_DECLARE_FINAL_TYPE(GstStkmParse, gst_stkm_parse, GST, STKM_PARSE, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE(stkmparse);

G_END_DECLS
