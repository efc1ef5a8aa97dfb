#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
