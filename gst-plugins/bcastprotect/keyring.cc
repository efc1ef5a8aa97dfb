// Placeholder: replaced by the keyring implementation.
#include "gst-plugins/bcastprotect/keyring.h"
