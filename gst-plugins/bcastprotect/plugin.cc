// The bcastprotect plugin: OMA BCAST service and content protection for GStreamer.
#include <gst/gst.h>

#include "gst-plugins/bcastprotect/bcastsrc.h"
#include "gst-plugins/bcastprotect/bcastsrtpdec.h"
#include "gst-plugins/bcastprotect/ismacrypdec.h"
#include "gst-plugins/bcastprotect/stkmparse.h"
#include "gst-plugins/bcastprotect/tekdec.h"

#ifndef PACKAGE
#define PACKAGE "openbcast"
#endif

static gboolean plugin_init(GstPlugin* plugin) {
  gboolean ok = FALSE;
  ok |= GST_ELEMENT_REGISTER(stkmparse, plugin);
  ok |= GST_ELEMENT_REGISTER(tekdec, plugin);
  ok |= GST_ELEMENT_REGISTER(bcastsrtpdec, plugin);
  ok |= GST_ELEMENT_REGISTER(ismacrypdec, plugin);
  ok |= GST_ELEMENT_REGISTER(bcastsrc, plugin);
  return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, bcastprotect,
                  "OMA BCAST service and content protection (DRM Profile)", plugin_init, "0.1.0",
                  "LGPL", "openbcast", "https://openbcast.invalid/")
