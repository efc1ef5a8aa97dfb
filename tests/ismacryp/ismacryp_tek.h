// An ISMACryp TEK put into a keyring the way tekdec hands TEKs on, for the ISMACryp element tests
// and its benchmark.
#pragma once

#include <cstring>

#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
#include "gst-plugins/bcastprotect/keyring.h"

namespace bcast::ismacryp {

// An ISMACryp TEK (traffic_protection_protocol 2) in `ring`, valid for an hour.
inline void AddIsmacrypTek(BcastKeyring* ring, guint16 id, const Tek& key) {
  BcastTek t{};
  t.id = id;
  std::memcpy(t.key, key.data(), 16);
  t.lifetime_s = 3600;
  t.protocol = 2;
  bcast_keyring_add(ring, &t);
}

}  // namespace bcast::ismacryp
