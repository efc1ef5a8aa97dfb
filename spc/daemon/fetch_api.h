// spcd's D-Bus side of STKM fetching and key prefetch (FetchStkm, SetChannelList, HeldTeks,
// TeksHeld; key_prefetch.h), its options (--prefetch, --fetch-after, --stkm-url) and Status keys,
// kept out of spcd.cc so that spcd.cc only hooks them in.
#pragma once

#include <gio/gio.h>

#include <memory>
#include <string>

#include "spc/daemon/key_prefetch.h"
#include "spc/daemon/spc-dbus-generated.h"

namespace spc::daemon {

struct FetchOptions {
  std::string prefetch = "neighbours";  // --prefetch=neighbours|all|off
  int fetch_after_ms = 2000;            // --fetch-after MS
  std::string stkm_url;                 // --stkm-url URL
};

// The "fetch" option group of spcd (owns its storage; results land in *options after parsing).
GOptionGroup* MakeFetchOptionGroup(FetchOptions* options);

// nullptr and `error` for a bad option value.
std::unique_ptr<KeyPrefetch> MakeKeyPrefetch(StkmProcessor& processor, const FetchOptions& options,
                                             const channels::InteractionOptions& http,
                                             std::string* error);

// Connects the handle-fetch-stkm / handle-set-channel-list / handle-held-teks handlers and the
// TeksHeld signal. `keys` must outlive the skeleton's export.
void ConnectFetchApi(SpcSPC1* skeleton, KeyPrefetch* keys);

// Status keys: fetch-requests, fetch-stkms-accepted, fetch-stkms-refused, fetch-errors,
// fetch-http-attempts, fetch-http-retries, fetch-last-error, prefetch-mode, prefetch-fetch-after,
// prefetch-watched, prefetch-datagrams, prefetch-stkms-accepted, prefetch-stkms-refused,
// prefetch-fetches, held-services, channel-list, channel-current.
void AddFetchStatus(const KeyPrefetch* keys, GVariantBuilder* b);

}  // namespace spc::daemon
