// The interaction channel (shared/spec/interaction.md): HTTP(S) between the terminal and the BSM on
// libsoup 3, driven by a GMainContext and never blocking it. Every request has a timeout per
// attempt; network errors, timeouts, truncated bodies and 5xx answers are retried with exponential
// backoff and jitter, 4xx answers and protocol errors (wrong content type, body too large) never
// are. Every failure reaches the caller as one named error; a failed request hands back no body,
// so a caller never acts on part of an answer.
//
// General on purpose: ROAP (POST of PDUs) uses it, and so will STKM fetching (GET with a query).
#pragma once

#include <gio/gio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spc/libspc/result.h"

namespace channels {

enum class InteractionErrorCode {
  kBadRequest,        // the URL or method cannot be sent at all (never retried)
  kUnreachable,       // connection refused/reset, name resolution, TLS setup, other I/O errors
  kTimeout,           // no complete answer within the timeout of an attempt
  kServerError,       // HTTP 5xx
  kClientError,       // HTTP 4xx (never retried)
  kUnexpectedStatus,  // any other non-2xx status (1xx/3xx left after libsoup's handling)
  kTruncated,         // the connection closed before the announced body was complete
  kWrongContentType,  // a 2xx answer whose Content-Type is not one the caller accepts
  kBodyTooLarge,      // more than the configured maximum
  kCancelled,         // the caller cancelled it
};

// "BadRequest", "Unreachable", "Timeout", "ServerError", "ClientError", "UnexpectedStatus",
// "Truncated", "WrongContentType", "BodyTooLarge", "Cancelled".
std::string_view InteractionErrorName(InteractionErrorCode code);
// Whether interaction.md allows another attempt after this failure.
bool IsRetryable(InteractionErrorCode code);

struct InteractionError {
  InteractionErrorCode code = InteractionErrorCode::kUnreachable;
  int http_status = 0;    // kServerError / kClientError / kUnexpectedStatus
  unsigned attempts = 0;  // how many attempts were made in all
  std::string message;    // names the URL and the cause (never body bytes)
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::string content_type;  // of the body; empty with no body
  std::vector<std::uint8_t> body;
  // Media types a 2xx answer with a body may have (parameters such as "; charset=" ignored);
  // empty = any. A 204 has no body and no type to check.
  std::vector<std::string> accept;
  // Per request override of InteractionOptions::max_attempts (0 = the channel's).
  unsigned max_attempts = 0;
  // Extra request headers (e.g. Authorization), sent in this order.
  std::vector<std::pair<std::string, std::string>> headers;
  // 4xx statuses handed back as a response (with headers and body, no content-type check)
  // instead of a kClientError: e.g. 401 for an HTTP Digest challenge.
  std::vector<int> pass_status;
};

struct HttpResponse {
  int status = 0;
  std::string content_type;  // without parameters
  std::vector<std::uint8_t> body;
  unsigned attempts = 0;
  // Response headers, names lower-cased (repeated headers joined with ", " by libsoup).
  std::map<std::string, std::string> headers;
};

struct InteractionOptions {
  unsigned timeout_ms = 10000;  // per attempt: connect, headers and the whole body
  unsigned max_attempts = 4;    // first try included
  unsigned backoff_initial_ms = 250;
  unsigned backoff_max_ms = 8000;
  // Share of each backoff delay that is random: the delay is uniform in [d*(1-jitter), d].
  double jitter = 0.5;
  std::size_t max_body = 1 << 20;
  std::string user_agent = "openbcast-spcd";
};

class InteractionChannel {
 public:
  using Result = spc::Result<HttpResponse, InteractionError>;
  using Callback = std::function<void(Result)>;

  // Every source (libsoup's included) runs on `context` (nullptr: the thread-default context at
  // construction); use the channel from that context's thread only.
  explicit InteractionChannel(InteractionOptions options = {}, GMainContext* context = nullptr);
  // Pending requests are abandoned: their callbacks are not called.
  ~InteractionChannel();
  InteractionChannel(const InteractionChannel&) = delete;
  InteractionChannel& operator=(const InteractionChannel&) = delete;

  // Starts a request; `done` runs exactly once on the context (never from inside Send). Returns an
  // ID for Cancel.
  std::uint64_t Send(HttpRequest request, Callback done);
  // The request ends with kCancelled (its callback runs from the context, not from Cancel).
  void Cancel(std::uint64_t id);

  const InteractionOptions& options() const { return options_; }
  void set_options(const InteractionOptions& options) { options_ = options; }

  struct Counters {
    std::uint64_t requests = 0;                   // Send calls
    std::uint64_t attempts = 0;                   // HTTP exchanges started
    std::uint64_t retries = 0;                    // attempts after the first
    std::uint64_t succeeded = 0;                  // requests that ended with a 2xx
    std::uint64_t failed = 0;                     // requests that ended with an error
    std::map<std::string, std::uint64_t> errors;  // InteractionErrorName → failed attempts
  };
  const Counters& counters() const { return counters_; }
  std::size_t pending() const { return requests_.size(); }

  // The backoff before attempt `attempt` (2, 3, ...) without jitter.
  unsigned BackoffMs(unsigned attempt) const;

  struct Request;  // internal

 private:
  void StartAttempt(const std::shared_ptr<Request>& r);
  void AttemptFailed(const std::shared_ptr<Request>& r, InteractionError error);
  void Finish(const std::shared_ptr<Request>& r, Result result);
  static void OnSent(GObject* source, GAsyncResult* res, gpointer data);
  static void OnRead(GObject* source, GAsyncResult* res, gpointer data);
  static gboolean OnTimeout(gpointer data);
  static gboolean OnBackoff(gpointer data);
  static gboolean OnDeliver(gpointer data);

  InteractionOptions options_;
  GMainContext* context_ = nullptr;
  struct SessionUnref {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, SessionUnref> session_;  // SoupSession
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::shared_ptr<Request>> requests_;
  Counters counters_;
};

}  // namespace channels
