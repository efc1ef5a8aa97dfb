// tekdec's side of STKM fetching and key prefetch (issue 5), spcd mode only:
//  - at start, the TEKs spcd already holds for the stream's service (HeldTeks: a neighbour spcd
//    prefetched, or a service it fetched for) go into the keyring before the key stream brings
//    one ("held");
//  - when the key stream brought no valid STKM for fetch-after ms (from start, or since the last
//    one), spcd fetches the service's STKMs over the interaction channel (FetchStkm) and tekdec
//    takes the TEKs it then holds ("fetch"), again every fetch-after ms while the key stream stays
//    silent, with exponential backoff (fetch-after x 2^n, at most 30 s, jitter) after failures;
//    a valid STKM from the key stream ends fetching.
// Runs its own thread and spcd connection: its calls (a fetch may take the BSM's timeouts and
// retries) never hold up the streaming thread or the key stream's answers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gst-plugins/bcastprotect/tekdec.h"
#include "spc/client/spc_client.h"

namespace bcast {

class TekFetcher {
 public:
  struct Options {
    spc::client::Options client;
    bool record = false;
    bool ask_held = true;            // HeldTeks at start
    unsigned fetch_after_ms = 2000;  // 0: never fetch
    std::string key_domain;          // hex, "" = the one spcd knows from the service's SDP
  };
  // origin: "held" or "fetch".
  using Deliver = std::function<void(OpenedStkm& keys, const char* origin)>;
  // The stream's base CID ("" while unknown: asked again on the next tick).
  using BaseCid = std::function<std::string()>;

  // Connects to the bus and starts the thread; nullptr and `error` when the bus is unreachable.
  static std::unique_ptr<TekFetcher> Start(Options options, BaseCid base_cid, Deliver deliver,
                                           std::string* error);
  ~TekFetcher();
  TekFetcher(const TekFetcher&) = delete;
  TekFetcher& operator=(const TekFetcher&) = delete;

  // The key stream brought a valid STKM: fetching (if on) stops.
  void OnKeyStreamTek();

  struct Counters {
    unsigned fetch_requests = 0;
    unsigned fetched_accepted = 0;    // STKMs spcd accepted from the answers
    unsigned fetched_refused = 0;     // fetches whose STKMs spcd refused (BadMac, Replay, ...)
    unsigned fetch_errors = 0;        // fetches that failed otherwise (interaction channel, 404...)
    unsigned held_teks = 0;           // TEKs taken from HeldTeks (held and fetch)
    unsigned key_stream_returns = 0;  // fetching ended by the key stream
    bool fetching = false;
    std::string last_error;
  };
  Counters counters() const;

  TekFetcher(Options options, BaseCid base_cid, Deliver deliver,
             std::unique_ptr<spc::client::Client> client);

 private:
  void Run();
  void Tick();
  void TakeHeld(const std::string& base_cid, const char* origin);

  const Options options_;
  BaseCid base_cid_fn_;
  Deliver deliver_;
  std::unique_ptr<spc::client::Client> client_;

  mutable std::mutex mu_;
  bool stopping_ = false;
  std::int64_t last_key_stream_ = 0;  // µs, monotonic
  Counters counters_;

  // Tick state (the thread only).
  std::string base_cid_;
  bool held_asked_ = false;
  std::int64_t next_fetch_ = 0;
  unsigned failures_ = 0;

  GMainContext* ctx_ = nullptr;
  GMainLoop* loop_ = nullptr;
  std::thread thread_;
};

}  // namespace bcast
