// Placeholder: replaced by the element's implementation.
#include "gst-plugins/bcastprotect/stkmparse.h"

struct _GstStkmParse {
  GstElement parent;
};

G_DEFINE_TYPE(GstStkmParse, gst_stkm_parse, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE(stkmparse, "stkmparse", GST_RANK_NONE, GST_TYPE_STKM_PARSE)

static void gst_stkm_parse_class_init(GstStkmParseClass* klass) {
  gst_element_class_set_static_metadata(GST_ELEMENT_CLASS(klass), "stkmparse", "Filter", "placeholder",
                                        "openbcast");
}
static void gst_stkm_parse_init(GstStkmParse*) {}
