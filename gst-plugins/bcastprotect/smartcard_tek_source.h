// tekdec's key source for Smartcard Profile services: each key-stream datagram is a MIKEY MTK
// message that goes to spcd's ProcessMtk (spcd hands it to the (U)SIM); the TEK (MTK) and salt
// come back with the 6-byte SRTP MKI MSK ID ‖ MTK ID and enter the same keyring as DRM Profile
// TEKs (BcastTek::msk_id). spcd's CardChanged signal reaches the listener with an estimate of
// how long the keys already held keep playback going.
#pragma once

#include <memory>
#include <string>

#include "gst-plugins/bcastprotect/tekdec.h"
#include "spc/libspc/result.h"

namespace bcast {

struct SmartcardServiceInfo {
  std::string bsf_url;     // a=bcast-bsf-url
  std::string bsm_url;     // a=bcast-bsm-url
  std::string key_domain;  // a=bcast-keydomain (hex), may be empty
};

// Connects to the bus and checks that spcd answers (blocking Status call, on the state-change
// thread) and runs with the smartcard backend (Status "smartcard").
spc::Result<std::unique_ptr<TekSource>, std::string> MakeSmartcardTekSource(
    const SpcdSourceOptions& options, const SmartcardServiceInfo& service,
    TekSourceListener* listener);

}  // namespace bcast
