// STKM fetching over the interaction channel (interaction.md): GET <STKM
// URL>?basecid=..&keydomain=..
// [&cidext=..] on spcd's main loop through channels::InteractionChannel (timeouts, retries with
// exponential backoff and jitter on network errors and 5xx only), the answer split by
// spc::ParseStkmFetchResponse. The STKMs it hands back are unjudged: the caller puts them through
// the StkmProcessor exactly like broadcast ones.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "channels/interaction_channel.h"
#include "spc/libspc/result.h"

namespace spc::daemon {

// A failed fetch: the D-Bus error name spcd answers with and a message naming URL and cause.
//   org.openbcast.SPC1.Error.Interaction.<E>   the HTTP exchange failed (Unreachable, Timeout,
//                                              ServerError, Truncated, WrongContentType, ...)
//   org.openbcast.SPC1.Error.Fetch.UnknownService   404
//   org.openbcast.SPC1.Error.Fetch.NoCurrentKey     204
//   org.openbcast.SPC1.Error.Malformed              the answer's framing is wrong (field, offset)
struct FetchFailure {
  std::string dbus_name;
  std::string message;
};

inline constexpr char kErrorPrefix[] = "org.openbcast.SPC1.Error.";

class StkmFetcher {
 public:
  using Stkms = std::vector<std::vector<std::uint8_t>>;
  using Callback = std::function<void(Result<Stkms, FetchFailure>)>;

  explicit StkmFetcher(channels::InteractionOptions options);

  // The request URL: base CID and key domain (6 lowercase hex digits) as query parameters.
  static std::string RequestUrl(const std::string& stkm_url, const std::string& base_cid,
                                std::uint32_t key_domain,
                                std::optional<std::uint32_t> cid_extension = std::nullopt);

  // `done` runs once on the main loop (never from inside Fetch).
  void Fetch(const std::string& stkm_url, const std::string& base_cid, std::uint32_t key_domain,
             Callback done);

  struct Counters {
    std::uint64_t requests = 0;  // Fetch calls
    std::uint64_t answers = 0;   // 200 answers whose framing parsed
    std::uint64_t errors = 0;    // fetches that ended in a FetchFailure
    std::string last_error;      // D-Bus error name and message of the newest failure
  };
  const Counters& counters() const { return counters_; }
  const channels::InteractionChannel::Counters& http() const { return channel_.counters(); }

 private:
  channels::InteractionChannel channel_;
  Counters counters_;
};

}  // namespace spc::daemon
