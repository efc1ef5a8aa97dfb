// The head-end's STKM fetch endpoint (interaction.md, [project]): a libsoup 3 server on the default
// main context answering GET <url>?basecid=<base CID>&keydomain=<hex>&cidext=<hex> with the
// STKMs of the service's key stream(s) as they are broadcast now (each carries the current and the
// next TEK), framed by spc::WriteStkmFetchResponse; 404 for another service or CID extension, 204
// when there is no key (--clear). The SDP names it: a=bcast-stkm-url.
//
// For the terminal's tests it also switches the key stream off and on (--key-stream-off, or a
// "key-stream off" line on stdin with --control-stdin) and injects faults (--stkm-fault MODE, or a
// "stkm-fault MODE" line):
//   none                behave
//   refused             stop listening (connections refused) until another mode is set
//   slow                hold every answer back --stkm-slow-ms (default 30000)
//   http-503            every request answered 503
//   truncated           the answer announces more bytes than it sends, then the connection closes
//   forged              the STKMs with random TEKs under the genuine TEK IDs, MAC not verifying
//   replayed            genuine STKMs made --stkm-replay-age s ago (default 3600): older than what
//                       a terminal has accepted (a replay)
//   malformed           a length field that runs past the end of the body
//   bad-stkm            well framed, but the STKM is random bytes
//   wrong-content-type  the answer is text/html
//   not-found / no-key  404 / 204 to every request
// Every request gives the event lines `stkm-request n=<count> fault=<mode>` when it arrives and
// `stkm-fetch n=<count> status=<HTTP status> fault=<mode>` when it is answered;
// each control line is answered `control key-stream=on|off` / `control stkm-fault=<mode>` (or
// `control error <message>`).
#pragma once

#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace headend {

struct StkmEndpointOptions {
  int port = -1;  // --stkm-port: -1 no endpoint, 0 any free port
  std::string bind = "127.0.0.1";
  std::string fault = "none";  // --stkm-fault
  unsigned slow_ms = 30000;    // --stkm-slow-ms
  unsigned replay_age_s = 3600;
  bool key_stream_off = false;  // --key-stream-off: start without sending the key stream
  bool control_stdin = false;   // --control-stdin
  bool enabled() const { return port >= 0; }
  // Whether the head-end needs a StkmEndpoint object at all.
  bool wanted() const { return enabled() || key_stream_off || control_stdin; }
};

// "--stkm-port", "--stkm-fault", ... as an option group of bcast-headend.
GOptionGroup* MakeStkmEndpointOptionGroup(StkmEndpointOptions* options);
// False and `error` for an unknown fault mode.
bool CheckStkmEndpointOptions(const StkmEndpointOptions& options, std::string* error);

class StkmEndpoint {
 public:
  // The STKMs the key stream(s) carry now, made with `unix_time` as their timestamp; `forged`:
  // the forged copies (MAC not verifying). Empty: no key (--clear).
  using Source =
      std::function<std::vector<std::vector<std::uint8_t>>(std::uint64_t unix_time, bool forged)>;

  // Listens (when options.enabled()) and watches stdin (options.control_stdin). nullptr and
  // `error` on failure. `base_cid`: the service's; key domain and CID extension are read from the
  // STKMs the source makes.
  static std::unique_ptr<StkmEndpoint> Create(const StkmEndpointOptions& options,
                                              std::string base_cid, Source source,
                                              std::string* error);
  ~StkmEndpoint();
  StkmEndpoint(const StkmEndpoint&) = delete;
  StkmEndpoint& operator=(const StkmEndpoint&) = delete;

  // http://<bind>:<port>/stkm ("" without a server).
  const std::string& url() const { return url_; }
  bool key_stream_on() const { return key_stream_on_; }
  void SetKeyStream(bool on);
  // MODE as in the header comment; false and `error` for an unknown one.
  bool SetFault(const std::string& mode, std::string* error);

  std::uint64_t requests() const { return requests_; }

  // Event lines; default: stdout, flushed.
  std::function<void(const std::string& line)> on_event;

  StkmEndpoint() = default;  // use Create

 private:
  static void OnRequest(SoupServer* server, SoupServerMessage* msg, const char* path,
                        GHashTable* query, gpointer self);
  void Handle(SoupServerMessage* msg, GHashTable* query);
  void Answer(SoupServerMessage* msg, int status, const std::vector<std::uint8_t>& body,
              const char* type);
  bool Listen(std::string* error);
  void OnControlLine(const std::string& line);
  static gboolean OnStdin(GIOChannel* channel, GIOCondition condition, gpointer self);
  void Event(const std::string& line);

  StkmEndpointOptions options_;
  std::string base_cid_;
  Source source_;
  SoupServer* server_ = nullptr;
  std::uint16_t port_ = 0;
  std::string url_;
  std::string fault_ = "none";
  bool key_stream_on_ = true;
  std::uint64_t requests_ = 0;
  GIOChannel* stdin_ = nullptr;
  guint stdin_watch_ = 0;
  std::vector<guint> timers_;
};

}  // namespace headend
