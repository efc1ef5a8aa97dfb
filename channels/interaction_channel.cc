#include "channels/interaction_channel.h"

#include "channels/soup_api.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace channels {

std::string_view InteractionErrorName(InteractionErrorCode code) {
  switch (code) {
    case InteractionErrorCode::kBadRequest:
      return "BadRequest";
    case InteractionErrorCode::kUnreachable:
      return "Unreachable";
    case InteractionErrorCode::kTimeout:
      return "Timeout";
    case InteractionErrorCode::kServerError:
      return "ServerError";
    case InteractionErrorCode::kClientError:
      return "ClientError";
    case InteractionErrorCode::kUnexpectedStatus:
      return "UnexpectedStatus";
    case InteractionErrorCode::kTruncated:
      return "Truncated";
    case InteractionErrorCode::kWrongContentType:
      return "WrongContentType";
    case InteractionErrorCode::kBodyTooLarge:
      return "BodyTooLarge";
    case InteractionErrorCode::kCancelled:
      return "Cancelled";
  }
  return "Unknown";
}

bool IsRetryable(InteractionErrorCode code) {
  switch (code) {
    case InteractionErrorCode::kUnreachable:
    case InteractionErrorCode::kTimeout:
    case InteractionErrorCode::kServerError:
    case InteractionErrorCode::kTruncated:
      return true;
    default:
      return false;
  }
}

void InteractionChannel::SessionUnref::operator()(void* p) const {
  // A session exists only once libsoup was loaded.
  Soup(nullptr)->session_abort(static_cast<SoupSession*>(p));
  g_object_unref(p);
}

// One request across its attempts. Asynchronous operations hold a reference (a heap shared_ptr
// in their user data) so that a callback arriving after the channel died finds `owner` null and
// only lets go.
struct InteractionChannel::Request {
  std::uint64_t id = 0;
  HttpRequest request;
  Callback done;
  InteractionChannel* owner = nullptr;
  unsigned max_attempts = 1;
  unsigned attempt = 0;
  // Attempt state.
  GCancellable* cancellable = nullptr;
  SoupMessage* message = nullptr;
  GInputStream* stream = nullptr;
  GSource* timer = nullptr;    // timeout of the attempt
  GSource* backoff = nullptr;  // wait before the next attempt
  GSource* deliver = nullptr;  // the final callback
  bool timed_out = false;
  bool cancelled = false;
  HttpResponse response;
  std::optional<InteractionChannel::Result> result;

  void EndAttempt() {
    if (timer != nullptr) {
      g_source_destroy(timer);
      g_source_unref(timer);
      timer = nullptr;
    }
    if (cancellable != nullptr) {
      g_cancellable_cancel(cancellable);
      g_object_unref(cancellable);
      cancellable = nullptr;
    }
    if (stream != nullptr) {
      g_object_unref(stream);
      stream = nullptr;
    }
    if (message != nullptr) {
      g_object_unref(message);
      message = nullptr;
    }
  }
  ~Request() {
    EndAttempt();
    for (GSource** s : {&backoff, &deliver}) {
      if (*s != nullptr) {
        g_source_destroy(*s);
        g_source_unref(*s);
      }
    }
  }
};

namespace {

using RequestPtr = std::shared_ptr<InteractionChannel::Request>;

// The callback data of one asynchronous step: the request and the attempt it belongs to.
struct Step {
  RequestPtr request;
  unsigned attempt = 0;
};

gpointer NewStep(const RequestPtr& r) {
  return std::make_unique<Step>(Step{r, r->attempt}).release();
}

void FreeRef(gpointer p) { std::unique_ptr<RequestPtr> drop(static_cast<RequestPtr*>(p)); }

GSource* AttachSource(GSource* source, GMainContext* context, GSourceFunc func,
                      const RequestPtr& r) {
  g_source_set_callback(source, func, std::make_unique<RequestPtr>(r).release(), FreeRef);
  g_source_attach(source, context);
  return source;
}

std::string Reason(SoupMessage* message) {
  const char* reason = Soup(nullptr)->message_get_reason_phrase(message);
  return reason != nullptr ? reason : "";
}

// The body length the answer's head announced, none for chunked or close-delimited answers.
std::optional<std::uint64_t> AnnouncedLength(SoupMessage* message) {
  const SoupApi* soup = Soup(nullptr);
  SoupMessageHeaders* headers = soup->message_get_response_headers(message);
  if (soup->headers_get_encoding(headers) != SOUP_ENCODING_CONTENT_LENGTH) return std::nullopt;
  return static_cast<std::uint64_t>(soup->headers_get_content_length(headers));
}

bool IsAccepted(const std::vector<std::string>& accept, const std::string& type) {
  if (accept.empty()) return true;
  return std::any_of(accept.begin(), accept.end(), [&](const std::string& a) {
    return g_ascii_strcasecmp(a.c_str(), type.c_str()) == 0;
  });
}

}  // namespace

InteractionChannel::InteractionChannel(InteractionOptions options, GMainContext* context)
    : options_(std::move(options)),
      context_(context != nullptr ? g_main_context_ref(context)
                                  : g_main_context_ref_thread_default()) {
  // The session (and libsoup itself) comes with the first request: see soup_api.h.
}

InteractionChannel::~InteractionChannel() {
  for (auto& [id, r] : requests_) {
    r->owner = nullptr;
    r->done = nullptr;
    r->EndAttempt();
    for (GSource** s : {&r->backoff, &r->deliver}) {
      if (*s != nullptr) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = nullptr;
      }
    }
  }
  requests_.clear();
  session_.reset();
  g_main_context_unref(context_);
}

unsigned InteractionChannel::BackoffMs(unsigned attempt) const {
  if (attempt < 2) return 0;
  std::uint64_t d = options_.backoff_initial_ms;
  for (unsigned i = 2; i < attempt && d < options_.backoff_max_ms; ++i) d *= 2;
  return static_cast<unsigned>(std::min<std::uint64_t>(d, options_.backoff_max_ms));
}

std::uint64_t InteractionChannel::Send(HttpRequest request, Callback done) {
  auto r = std::make_shared<Request>();
  r->id = next_id_++;
  r->request = std::move(request);
  r->done = std::move(done);
  r->owner = this;
  r->max_attempts =
      std::max(1u, r->request.max_attempts ? r->request.max_attempts : options_.max_attempts);
  requests_[r->id] = r;
  ++counters_.requests;
  StartAttempt(r);
  return r->id;
}

void InteractionChannel::Cancel(std::uint64_t id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  RequestPtr r = it->second;
  if (r->result) return;  // already decided
  r->cancelled = true;
  if (r->cancellable != nullptr) {
    g_cancellable_cancel(r->cancellable);  // OnSent / OnRead see it
    return;
  }
  InteractionError e{InteractionErrorCode::kCancelled, 0, r->attempt, "request cancelled"};
  Finish(r, e);
}

void InteractionChannel::StartAttempt(const RequestPtr& r) {
  ++r->attempt;
  ++counters_.attempts;
  if (r->attempt > 1) ++counters_.retries;
  r->timed_out = false;
  r->response = HttpResponse{};
  std::string load_error;
  const SoupApi* soup = Soup(&load_error);
  if (soup == nullptr) {
    Finish(r, InteractionError{InteractionErrorCode::kBadRequest, 0, r->attempt,
                               "cannot send " + r->request.method + " to \"" + r->request.url +
                                   "\": " + load_error});
    return;
  }
  if (!session_) {
    // libsoup's own timeouts are off: the channel times each attempt itself, in milliseconds,
    // and tells a timeout from a refused connection.
    session_.reset(soup->session_new_with_options("user-agent", options_.user_agent.c_str(),
                                                  "timeout", 0u, "idle-timeout", 30u, nullptr));
  }
  SoupMessage* msg = soup->message_new(r->request.method.c_str(), r->request.url.c_str());
  if (msg == nullptr) {
    Finish(r, InteractionError{InteractionErrorCode::kBadRequest, 0, r->attempt,
                               "cannot send " + r->request.method + " to \"" + r->request.url +
                                   "\" (not an http(s) URL)"});
    return;
  }
  r->message = msg;
  if (!r->request.content_type.empty() || !r->request.body.empty()) {
    g_autoptr(GBytes) body = g_bytes_new(r->request.body.data(), r->request.body.size());
    soup->message_set_request_body_from_bytes(
        msg, r->request.content_type.empty() ? nullptr : r->request.content_type.c_str(), body);
  }
  SoupMessageHeaders* headers = soup->message_get_request_headers(msg);
  for (const auto& a : r->request.accept) soup->headers_append(headers, "Accept", a.c_str());
  for (const auto& [name, value] : r->request.headers) {
    soup->headers_replace(headers, name.c_str(), value.c_str());
  }
  r->cancellable = g_cancellable_new();
  r->timer = AttachSource(g_timeout_source_new(options_.timeout_ms), context_, OnTimeout, r);
  g_main_context_push_thread_default(context_);
  soup->session_send_async(static_cast<SoupSession*>(session_.get()), msg, G_PRIORITY_DEFAULT,
                           r->cancellable, OnSent, NewStep(r));
  g_main_context_pop_thread_default(context_);
}

gboolean InteractionChannel::OnTimeout(gpointer data) {
  const RequestPtr& r = *static_cast<RequestPtr*>(data);
  if (r->owner == nullptr || r->cancellable == nullptr) return G_SOURCE_REMOVE;
  r->timed_out = true;
  g_cancellable_cancel(r->cancellable);
  return G_SOURCE_REMOVE;
}

namespace {

// The error of an attempt that the cancellable ended: a timeout or the caller.
InteractionError CancelledError(const InteractionChannel::Request& r, unsigned timeout_ms) {
  if (r.timed_out) {
    return {InteractionErrorCode::kTimeout, 0, 0,
            r.request.url + ": no complete answer within " + std::to_string(timeout_ms) + " ms"};
  }
  return {InteractionErrorCode::kCancelled, 0, 0, "request cancelled"};
}

}  // namespace

void InteractionChannel::OnSent(GObject* source, GAsyncResult* res, gpointer data) {
  std::unique_ptr<Step> step(static_cast<Step*>(data));
  const RequestPtr& r = step->request;
  // Only a request that loaded libsoup gets here.
  const SoupApi* soup = Soup(nullptr);
  g_autoptr(GError) error = nullptr;
  g_autoptr(GInputStream) owned_stream =
      soup->session_send_finish(reinterpret_cast<SoupSession*>(source), res, &error);
  GInputStream* stream = owned_stream;
  InteractionChannel* self = r->owner;
  if (self == nullptr || step->attempt != r->attempt || r->result) return;  // stale
  const std::string& url = r->request.url;
  if (stream == nullptr) {
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      self->AttemptFailed(r, CancelledError(*r, self->options_.timeout_ms));
    } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT)) {
      self->AttemptFailed(r, {InteractionErrorCode::kTruncated, 0, 0,
                              url + ": answer cut short: " + error->message});
    } else {
      self->AttemptFailed(r, {InteractionErrorCode::kUnreachable, 0, 0,
                              url + ": " + (error ? error->message : "no answer")});
    }
    return;
  }
  const int status = static_cast<int>(soup->message_get_status(r->message));
  r->response.status = status;
  SoupMessageHeaders* headers = soup->message_get_response_headers(r->message);
  if (status >= 500 && status <= 599) {
    self->AttemptFailed(r, {InteractionErrorCode::kServerError, status, 0,
                            url + ": HTTP " + std::to_string(status) + " " + Reason(r->message)});
    return;
  }
  const bool passed = std::find(r->request.pass_status.begin(), r->request.pass_status.end(),
                                status) != r->request.pass_status.end();
  if (passed || (status >= 200 && status <= 299)) {
    SoupMessageHeadersIter it;
    soup->headers_iter_init(&it, headers);
    const char* name = nullptr;
    const char* value = nullptr;
    while (soup->headers_iter_next(&it, &name, &value)) {
      g_autofree gchar* lower = g_ascii_strdown(name, -1);
      std::string& slot = r->response.headers[lower];
      slot += (slot.empty() ? "" : ", ") + std::string(value);
    }
  }
  if (status >= 400 && status <= 499 && !passed) {
    self->AttemptFailed(r, {InteractionErrorCode::kClientError, status, 0,
                            url + ": HTTP " + std::to_string(status) + " " + Reason(r->message)});
    return;
  }
  if ((status < 200 || status > 299) && !passed) {
    self->AttemptFailed(r, {InteractionErrorCode::kUnexpectedStatus, status, 0,
                            url + ": unexpected HTTP status " + std::to_string(status)});
    return;
  }
  const char* type = soup->headers_get_content_type(headers, nullptr);
  r->response.content_type = type ? type : "";
  if (status != 204 && !passed && !IsAccepted(r->request.accept, r->response.content_type)) {
    std::string want;
    for (const auto& a : r->request.accept) want += (want.empty() ? "" : " or ") + a;
    self->AttemptFailed(
        r, {InteractionErrorCode::kWrongContentType, status, 0,
            url + ": answer of type \"" + r->response.content_type + "\", expected " + want});
    return;
  }
  const goffset length = soup->headers_get_content_length(headers);
  if (length > 0 && static_cast<std::uint64_t>(length) > self->options_.max_body) {
    self->AttemptFailed(r, {InteractionErrorCode::kBodyTooLarge, status, 0,
                            url + ": body of " + std::to_string(length) + " bytes, limit " +
                                std::to_string(self->options_.max_body)});
    return;
  }
  r->stream = static_cast<GInputStream*>(g_steal_pointer(&owned_stream));
  g_input_stream_read_bytes_async(r->stream, 64 * 1024, G_PRIORITY_DEFAULT, r->cancellable, OnRead,
                                  NewStep(r));
}

void InteractionChannel::OnRead(GObject* source, GAsyncResult* res, gpointer data) {
  std::unique_ptr<Step> step(static_cast<Step*>(data));
  const RequestPtr& r = step->request;
  g_autoptr(GError) error = nullptr;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);
  InteractionChannel* self = r->owner;
  if (self == nullptr || step->attempt != r->attempt || r->result) return;  // stale
  const std::string& url = r->request.url;
  if (bytes == nullptr) {
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      self->AttemptFailed(r, CancelledError(*r, self->options_.timeout_ms));
    } else {
      // Whatever broke the body (connection closed early or reset, bad chunking), what came is
      // not the whole answer.
      const auto length = AnnouncedLength(r->message);
      self->AttemptFailed(r, {InteractionErrorCode::kTruncated, r->response.status, 0,
                              url + ": body cut short: " + std::to_string(r->response.body.size()) +
                                  (length ? " of " + std::to_string(*length) : std::string()) +
                                  " bytes (" + (error ? error->message : "read error") + ")"});
    }
    return;
  }
  gsize n = 0;
  const auto* p = static_cast<const std::uint8_t*>(g_bytes_get_data(bytes, &n));
  if (n == 0) {
    // libsoup takes the end of a "Connection: close" answer as the end of its body even when
    // fewer bytes came than Content-Length announced: check the length here.
    if (const auto length = AnnouncedLength(r->message);
        length && *length != r->response.body.size()) {
      self->AttemptFailed(r, {InteractionErrorCode::kTruncated, r->response.status, 0,
                              url + ": body cut short: " + std::to_string(r->response.body.size()) +
                                  " of " + std::to_string(*length) + " bytes"});
      return;
    }
    HttpResponse response = std::move(r->response);
    response.attempts = r->attempt;
    self->Finish(r, std::move(response));
    return;
  }
  if (r->response.body.size() + n > self->options_.max_body) {
    self->AttemptFailed(r, {InteractionErrorCode::kBodyTooLarge, r->response.status, 0,
                            url + ": body over the limit of " +
                                std::to_string(self->options_.max_body) + " bytes"});
    return;
  }
  r->response.body.insert(r->response.body.end(), p, p + n);
  g_input_stream_read_bytes_async(r->stream, 64 * 1024, G_PRIORITY_DEFAULT, r->cancellable, OnRead,
                                  NewStep(r));
}

void InteractionChannel::AttemptFailed(const RequestPtr& r, InteractionError error) {
  r->EndAttempt();
  r->response = HttpResponse{};
  ++counters_.errors[std::string(InteractionErrorName(error.code))];
  error.attempts = r->attempt;
  if (r->cancelled) {
    error.code = InteractionErrorCode::kCancelled;
    error.message = "request cancelled";
  }
  if (!r->cancelled && IsRetryable(error.code) && r->attempt < r->max_attempts) {
    const unsigned base = BackoffMs(r->attempt + 1);
    const double factor = 1.0 - std::clamp(options_.jitter, 0.0, 1.0) * g_random_double();
    const auto delay = static_cast<guint>(base * factor);
    g_message("%s (attempt %u of %u): %s; retrying in %u ms", r->request.url.c_str(), r->attempt,
              r->max_attempts, std::string(InteractionErrorName(error.code)).c_str(), delay);
    r->backoff = AttachSource(g_timeout_source_new(delay), context_, OnBackoff, r);
    return;
  }
  if (r->attempt > 1 && !r->cancelled) {
    error.message += " (" + std::to_string(r->attempt) + " attempts)";
  }
  Finish(r, std::move(error));
}

gboolean InteractionChannel::OnBackoff(gpointer data) {
  RequestPtr r = *static_cast<RequestPtr*>(data);
  if (r->backoff != nullptr) {
    g_source_unref(r->backoff);
    r->backoff = nullptr;
  }
  if (r->owner != nullptr && !r->result) r->owner->StartAttempt(r);
  return G_SOURCE_REMOVE;
}

void InteractionChannel::Finish(const RequestPtr& r, Result result) {
  r->EndAttempt();
  if (result) {
    ++counters_.succeeded;
  } else {
    ++counters_.failed;
  }
  r->result = std::move(result);
  // Always from the context: a caller never sees its callback run inside Send or Cancel.
  r->deliver = AttachSource(g_idle_source_new(), context_, OnDeliver, r);
}

gboolean InteractionChannel::OnDeliver(gpointer data) {
  RequestPtr r = *static_cast<RequestPtr*>(data);
  if (r->deliver != nullptr) {
    g_source_unref(r->deliver);
    r->deliver = nullptr;
  }
  InteractionChannel* self = r->owner;
  if (self == nullptr) return G_SOURCE_REMOVE;
  self->requests_.erase(r->id);
  r->owner = nullptr;
  Callback done = std::move(r->done);
  if (done) done(std::move(*r->result));  // may destroy the channel: nothing of it after this
  return G_SOURCE_REMOVE;
}

}  // namespace channels
