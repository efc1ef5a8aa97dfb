// Placeholder: replaced by the element's implementation.
#include "gst-plugins/bcastprotect/tekdec.h"

struct _GstTekDec {
  GstElement parent;
};

G_DEFINE_TYPE(GstTekDec, gst_tek_dec, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(tekdec, "tekdec", GST_RANK_NONE, GST_TYPE_TEK_DEC)

static void gst_tek_dec_class_init(GstTekDecClass* klass) {
  gst_element_class_set_static_metadata(GST_ELEMENT_CLASS(klass), "tekdec", "Filter", "placeholder",
                                        "openbcast");
}
static void gst_tek_dec_init(GstTekDec*) {}
