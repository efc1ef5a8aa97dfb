// TEKs spcd holds per service, and how it gets them without a player asking (issue 5):
//  - every STKM spcd accepts (ProcessStkm from a tekdec: "broadcast", FetchStkm: "fetch", the
//    prefetcher: "prefetch") is held per base CID, the newest few, as the STKM bytes: HeldTeks
//    puts them through the StkmProcessor again for the caller's purpose, so held TEKs pass exactly
//    the checks (rights, validity, replay, permissions) an STKM from the key stream would;
//  - the channel list (SetChannelList: SDP texts in order + the index watched): with
//    --prefetch=neighbours (default; the services at ±1, wrapping) or all, spcd listens to those
//    services' key streams (UDP from their SDP) and, when a key stream brings no valid STKM for
//    --fetch-after ms, fetches their STKMs from the SDP's a=bcast-stkm-url, with backoff on
//    failures;
//  - FetchStkm: the STKMs of one service over the interaction channel (StkmFetcher), each through
//    the StkmProcessor; concurrent fetches of one service share one request.
// Everything runs on spcd's main loop.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "channels/session_description.h"
#include "spc/daemon/stkm_fetcher.h"
#include "spc/daemon/stkm_processor.h"

namespace spc::daemon {

enum class PrefetchMode { kOff, kNeighbours, kAll };
// "off" / "neighbours" / "all".
const char* PrefetchModeName(PrefetchMode mode);
std::optional<PrefetchMode> ParsePrefetchMode(const std::string& text);

// One TEK as HeldTeks hands it out. Wiped on destruction.
struct HeldTek {
  std::uint16_t id = 0;
  Key128 key{};
  MasterSalt salt{};
  std::uint16_t lifetime = 0;
  std::uint8_t protocol = 0;
  bool authenticated = false;
  HeldTek() = default;
  HeldTek(const HeldTek&) = default;
  HeldTek& operator=(const HeldTek&) = default;
  ~HeldTek();
};

struct FetchOutcome {
  unsigned accepted = 0;  // STKMs of the answer the StkmProcessor accepted
  unsigned refused = 0;
  std::vector<std::uint16_t> tek_ids;  // current and next TEK IDs of the accepted ones
};

class KeyPrefetch {
 public:
  struct Options {
    PrefetchMode mode = PrefetchMode::kNeighbours;
    unsigned fetch_after_ms = 2000;  // a watched key stream silent this long: fetch
    std::string default_stkm_url;    // --stkm-url: for services whose SDP names none
    channels::InteractionOptions http;
  };

  KeyPrefetch(StkmProcessor& processor, Options options);
  ~KeyPrefetch();
  KeyPrefetch(const KeyPrefetch&) = delete;
  KeyPrefetch& operator=(const KeyPrefetch&) = delete;

  // Base CID, key domain and STKM URL of every key stream of `sd` (AddBroadcastService,
  // --service, SetChannelList).
  void LearnService(const channels::SessionDescription& sd);

  // `sdps`: SDP texts (or paths) in channel order; `current`: the index watched (-1: none).
  // Error text names the entry that does not parse.
  Result<unsigned, std::string> SetChannelList(const std::vector<std::string>& sdps, int current);

  // An STKM the processor accepted for `base_cid`; `source` for TeksHeld.
  void Hold(std::span<const std::uint8_t> stkm, const std::string& base_cid, const Answer& answer,
            const char* source);

  using FetchDone = std::function<void(Result<FetchOutcome, FetchFailure>)>;
  // `key_domain_hex`: up to 6 hex digits, or "" for the key domain the service's SDP names.
  void Fetch(const std::string& base_cid, const std::string& key_domain_hex, const char* source,
             FetchDone done);

  // The current and next TEKs held for `base_cid`, each re-checked for `purpose` now.
  Result<std::vector<HeldTek>, FetchFailure> Held(const std::string& base_cid, Purpose purpose);

  // TeksHeld(base_cid, tek_id, source): a TEK ID not held before for that base CID.
  std::function<void(const std::string& base_cid, std::uint16_t tek_id, const std::string& source)>
      on_teks_held;

  struct Counters {
    std::uint64_t fetch_requests = 0;  // fetches asked (FetchStkm and the prefetcher)
    std::uint64_t fetched_accepted = 0;
    std::uint64_t fetched_refused = 0;
    std::uint64_t fetch_errors = 0;  // fetches that ended in an error (HTTP, framing, all refused)
    std::uint64_t prefetch_datagrams = 0;
    std::uint64_t prefetch_accepted = 0;
    std::uint64_t prefetch_refused = 0;
    std::uint64_t prefetch_fetches = 0;  // fetches the prefetcher started itself
    std::string last_error;
  };
  const Counters& counters() const { return counters_; }
  const StkmFetcher& fetcher() const { return fetcher_; }
  const Options& options() const { return options_; }
  unsigned watched() const { return static_cast<unsigned>(watches_.size()); }
  unsigned held_services() const { return static_cast<unsigned>(held_.size()); }
  unsigned channels() const { return static_cast<unsigned>(channel_list_.size()); }
  int current() const { return current_; }

 private:
  struct ServiceInfo {
    std::optional<std::uint32_t> key_domain;
    std::string stkm_url;
  };
  struct HeldStkm {
    std::vector<std::uint8_t> bytes;
    std::int64_t at = 0;  // µs, monotonic
  };
  struct Socket;
  struct Watcher {
    KeyPrefetch* owner = nullptr;
    std::string base_cid;
    std::vector<std::unique_ptr<Socket>> sockets;
    guint timer = 0;
    std::int64_t next_fetch = 0;  // µs, monotonic
    unsigned failures = 0;
  };
  struct PendingFetch {
    std::vector<FetchDone> waiters;
  };

  void StartWatch(const channels::SessionDescription& sd);
  void Unwatch(const std::string& base_cid);
  void OnDatagram(const std::string& base_cid, std::span<const std::uint8_t> datagram);
  static gboolean OnWatchTimer(gpointer data);
  void FinishFetch(const std::string& base_cid, Result<FetchOutcome, FetchFailure> r);

  StkmProcessor& processor_;
  Options options_;
  StkmFetcher fetcher_;
  Counters counters_;
  std::map<std::string, ServiceInfo> services_;                 // base CID → what the SDPs say
  std::map<std::string, std::deque<HeldStkm>> held_;            // base CID → newest first
  std::map<std::string, std::deque<std::uint16_t>> announced_;  // base CID → TEK IDs signalled
  std::map<std::string, std::int64_t> last_valid_;  // base CID → µs of the newest accept
  std::map<std::string, std::unique_ptr<Watcher>> watches_;
  std::map<std::string, PendingFetch> pending_;
  std::vector<channels::SessionDescription> channel_list_;
  int current_ = -1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace spc::daemon
