// Placeholder: replaced by the element's implementation.
#include "gst-plugins/bcastprotect/bcastsrtpdec.h"

struct _GstBcastSrtpDec {
  GstElement parent;
};

G_DEFINE_TYPE(GstBcastSrtpDec, gst_bcast_srtp_dec, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(bcastsrtpdec, "bcastsrtpdec", GST_RANK_NONE, GST_TYPE_BCAST_SRTP_DEC)

static void gst_bcast_srtp_dec_class_init(GstBcastSrtpDecClass* klass) {
  gst_element_class_set_static_metadata(GST_ELEMENT_CLASS(klass), "bcastsrtpdec", "Filter", "placeholder",
                                        "openbcast");
}
static void gst_bcast_srtp_dec_init(GstBcastSrtpDec*) {}
