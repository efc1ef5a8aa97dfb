// The interaction channel (channels/interaction_channel.h) against real HTTP servers on loopback:
// a libsoup server for the answers and statuses, a raw socket server for a cut-short body and a
// closed port for an RI that is down. Every wait is on the request's callback, bounded by a guard
// timeout that fails the test.
#include <gio/gio.h>
#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "channels/interaction_channel.h"

namespace channels {
namespace {

constexpr char kPdu[] = "application/vnd.oma.drm.roap-pdu+xml";

class InteractionChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = soup_server_new(nullptr, nullptr);
    soup_server_add_handler(server_, nullptr, &InteractionChannelTest::Handle, this, nullptr);
    GError* error = nullptr;
    ASSERT_TRUE(soup_server_listen_local(server_, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
        << error->message;
    GSList* uris = soup_server_get_uris(server_);
    g_autofree gchar* base = g_uri_to_string(static_cast<GUri*>(uris->data));
    base_ = base;
    g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
    if (!base_.empty() && base_.back() == '/') base_.pop_back();
  }
  void TearDown() override {
    for (SoupServerMessage* m : paused_) soup_server_message_unpause(m);
    paused_.clear();
    if (raw_) {
      g_socket_service_stop(raw_);
      g_object_unref(raw_);
    }
    soup_server_disconnect(server_);
    g_object_unref(server_);
    while (g_main_context_iteration(nullptr, FALSE)) {
    }
  }

  static void Handle(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable*,
                     gpointer self_ptr) {
    auto* self = static_cast<InteractionChannelTest*>(self_ptr);
    std::string p = path;
    ++self->hits_[p];
    const int hit = self->hits_[p];
    auto reply = [&](int status, const char* type, const std::string& body) {
      soup_server_message_set_status(msg, static_cast<guint>(status), nullptr);
      if (type) {
        soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, body.data(), body.size());
      }
    };
    SoupMessageBody* req = soup_server_message_get_request_body(msg);
    if (p == "/echo") {
      const char* type = soup_message_headers_get_content_type(
          soup_server_message_get_request_headers(msg), nullptr);
      self->last_request_type_ = type ? type : "";
      reply(200, kPdu, std::string(req->data, static_cast<std::size_t>(req->length)));
    } else if (p == "/flaky") {
      if (hit <= self->flaky_failures_) {
        reply(503, "text/plain", "busy");
      } else {
        reply(200, kPdu, "<ok/>");
      }
    } else if (p == "/notfound") {
      reply(404, "text/plain", "no such service");
    } else if (p == "/forbidden") {
      reply(403, "text/plain", "no");
    } else if (p == "/error") {
      reply(500, "text/plain", "broken");
    } else if (p == "/slow") {
      soup_server_message_pause(msg);
      self->paused_.push_back(msg);
    } else if (p == "/html") {
      reply(200, "text/html", "<html/>");
    } else if (p == "/big") {
      reply(200, kPdu, std::string(4096, 'x'));
    } else if (p == "/empty") {
      reply(204, nullptr, "");
    } else {
      reply(404, nullptr, "");
    }
  }

  InteractionChannel::Result Run(InteractionChannel& ch, HttpRequest req, int guard_ms = 20000) {
    std::optional<InteractionChannel::Result> result;
    ch.Send(std::move(req), [&](InteractionChannel::Result r) { result = std::move(r); });
    bool expired = false;
    guint guard = g_timeout_add(
        guard_ms,
        [](gpointer e) {
          *static_cast<bool*>(e) = true;
          return G_SOURCE_REMOVE;
        },
        &expired);
    while (!result && !expired) g_main_context_iteration(nullptr, TRUE);
    if (!expired) g_source_remove(guard);
    EXPECT_TRUE(result.has_value()) << "no callback within " << guard_ms << " ms";
    if (!result) {
      return InteractionError{InteractionErrorCode::kCancelled, 0, 0, "test guard expired"};
    }
    return std::move(*result);
  }

  HttpRequest Post(const std::string& path, const std::string& body = "<roap:x/>") {
    HttpRequest r;
    r.url = base_ + path;
    r.content_type = kPdu;
    r.body.assign(body.begin(), body.end());
    r.accept = {kPdu};
    return r;
  }

  static InteractionOptions Fast() {
    InteractionOptions o;
    o.timeout_ms = 3000;
    o.max_attempts = 4;
    o.backoff_initial_ms = 20;
    o.backoff_max_ms = 100;
    return o;
  }

  // A server that announces 100 bytes, sends 5 and closes (with "Connection: close" when
  // `close_header`: libsoup alone would take the early end for the end of the body).
  std::string StartTruncatingServer(bool close_header = false) {
    // Threaded: the handler reads the request with blocking calls while the client, on this
    // test's main loop, is still sending it.
    raw_ = g_threaded_socket_service_new(2);
    GError* error = nullptr;
    guint16 port = g_socket_listener_add_any_inet_port(G_SOCKET_LISTENER(raw_), nullptr, &error);
    EXPECT_NE(port, 0) << (error ? error->message : "");
    g_signal_connect(
        raw_, "run",
        G_CALLBACK(+[](GThreadedSocketService*, GSocketConnection* conn, GObject*, gpointer data) {
          GInputStream* in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
          // The whole request (head and Content-Length body, which may come in separate
          // segments): closing with unread bytes would reset the connection instead of ending it.
          std::string request;
          char buf[4096];
          for (;;) {
            const gssize n = g_input_stream_read(in, buf, sizeof buf, nullptr, nullptr);
            if (n <= 0) break;
            request.append(buf, static_cast<std::size_t>(n));
            const std::size_t head_end = request.find("\r\n\r\n");
            if (head_end == std::string::npos) continue;
            std::size_t body_length = 0;
            g_autofree gchar* lower = g_ascii_strdown(request.c_str(), head_end);
            const std::string head = lower;
            if (const std::size_t at = head.find("content-length:"); at != std::string::npos) {
              body_length = std::strtoul(head.c_str() + at + 15, nullptr, 10);
            }
            if (request.size() >= head_end + 4 + body_length) break;
          }
          const bool close = GPOINTER_TO_INT(data) != 0;
          const std::string answer = std::string(
                                         "HTTP/1.1 200 OK\r\nContent-Type: "
                                         "application/vnd.oma.drm.roap-pdu+xml\r\n") +
                                     (close ? "Connection: close\r\n" : "") +
                                     "Content-Length: 100\r\n\r\n<roap";
          GOutputStream* out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
          g_output_stream_write_all(out, answer.data(), answer.size(), nullptr, nullptr, nullptr);
          g_io_stream_close(G_IO_STREAM(conn), nullptr, nullptr);
          return TRUE;
        }),
        GINT_TO_POINTER(close_header ? 1 : 0));
    g_socket_service_start(raw_);
    return "http://127.0.0.1:" + std::to_string(port) + "/roap";
  }

  SoupServer* server_ = nullptr;
  GSocketService* raw_ = nullptr;
  std::string base_;
  std::map<std::string, int> hits_;
  int flaky_failures_ = 2;
  std::vector<SoupServerMessage*> paused_;
  std::string last_request_type_;
};

TEST_F(InteractionChannelTest, PostsAndReturnsTheBody) {
  InteractionChannel ch(Fast());
  auto r = Run(ch, Post("/echo", "<roap:deviceHello/>"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, kPdu);
  EXPECT_EQ(std::string(r->body.begin(), r->body.end()), "<roap:deviceHello/>");
  EXPECT_EQ(r->attempts, 1u);
  EXPECT_EQ(last_request_type_, kPdu);
  EXPECT_EQ(ch.counters().succeeded, 1u);
  EXPECT_EQ(ch.pending(), 0u);
}

TEST_F(InteractionChannelTest, RetriesServerErrorsThenSucceeds) {
  InteractionChannel ch(Fast());
  flaky_failures_ = 2;
  auto r = Run(ch, Post("/flaky"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->attempts, 3u);
  EXPECT_EQ(hits_["/flaky"], 3);
  EXPECT_EQ(ch.counters().retries, 2u);
  EXPECT_EQ(ch.counters().errors.at("ServerError"), 2u);
}

TEST_F(InteractionChannelTest, ServerErrorEveryTimeGivesUpAfterMaxAttempts) {
  InteractionChannel ch(Fast());
  auto r = Run(ch, Post("/error"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, InteractionErrorCode::kServerError);
  EXPECT_EQ(r.error().http_status, 500);
  EXPECT_EQ(r.error().attempts, 4u);
  EXPECT_EQ(hits_["/error"], 4);
  EXPECT_NE(r.error().message.find("4 attempts"), std::string::npos) << r.error().message;
}

TEST_F(InteractionChannelTest, ClientErrorsAreNeverRetried) {
  InteractionChannel ch(Fast());
  for (const char* path : {"/notfound", "/forbidden"}) {
    auto r = Run(ch, Post(path));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, InteractionErrorCode::kClientError) << path;
    EXPECT_EQ(r.error().attempts, 1u);
    EXPECT_EQ(hits_[path], 1) << path;
  }
  auto r = Run(ch, Post("/notfound"));
  EXPECT_EQ(r.error().http_status, 404);
  EXPECT_EQ(InteractionErrorName(r.error().code), "ClientError");
}

TEST_F(InteractionChannelTest, DownServerIsUnreachableAfterRetries) {
  // A port that was just free and is closed again: connection refused.
  GSocket* s =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress* any = g_inet_socket_address_new(lo, 0);
  ASSERT_TRUE(g_socket_bind(s, any, FALSE, nullptr));
  GSocketAddress* bound = g_socket_get_local_address(s, nullptr);
  const guint16 port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_object_unref(bound);
  g_object_unref(any);
  g_object_unref(lo);
  g_socket_close(s, nullptr);
  g_object_unref(s);

  InteractionChannel ch(Fast());
  HttpRequest req = Post("/roap");
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/roap";
  auto r = Run(ch, req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, InteractionErrorCode::kUnreachable) << r.error().message;
  EXPECT_EQ(r.error().attempts, 4u);
  EXPECT_EQ(ch.counters().errors.at("Unreachable"), 4u);
}

TEST_F(InteractionChannelTest, SlowServerTimesOutEachAttempt) {
  InteractionOptions o = Fast();
  o.timeout_ms = 300;
  o.max_attempts = 2;
  InteractionChannel ch(o);
  auto r = Run(ch, Post("/slow"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, InteractionErrorCode::kTimeout) << r.error().message;
  EXPECT_EQ(r.error().attempts, 2u);
  EXPECT_EQ(hits_["/slow"], 2);
}

TEST_F(InteractionChannelTest, TruncatedBodyIsNamedAndNoBodyIsHandedOut) {
  const std::string url = StartTruncatingServer();
  InteractionOptions o = Fast();
  o.max_attempts = 3;
  InteractionChannel ch(o);
  HttpRequest req = Post("/roap");
  req.url = url;
  auto r = Run(ch, req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, InteractionErrorCode::kTruncated) << r.error().message;
  EXPECT_EQ(r.error().attempts, 3u);
}

TEST_F(InteractionChannelTest, TruncatedBodyWithConnectionCloseIsStillTruncated) {
  const std::string url = StartTruncatingServer(true);
  InteractionOptions o = Fast();
  o.max_attempts = 2;
  InteractionChannel ch(o);
  HttpRequest req = Post("/roap");
  req.url = url;
  auto r = Run(ch, req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, InteractionErrorCode::kTruncated) << r.error().message;
  EXPECT_NE(r.error().message.find("5 of 100"), std::string::npos) << r.error().message;
}

TEST_F(InteractionChannelTest, WrongContentTypeIsNotRetried) {
  InteractionChannel ch(Fast());
  auto r = Run(ch, Post("/html"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, InteractionErrorCode::kWrongContentType);
  EXPECT_EQ(r.error().attempts, 1u);
  EXPECT_NE(r.error().message.find("text/html"), std::string::npos);
  // Without an accept list any type is taken.
  HttpRequest any = Post("/html");
  any.accept.clear();
  auto ok = Run(ch, any);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->content_type, "text/html");
}

TEST_F(InteractionChannelTest, BodyOverTheLimit) {
  InteractionOptions o = Fast();
  o.max_body = 1000;
  InteractionChannel ch(o);
  auto r = Run(ch, Post("/big"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, InteractionErrorCode::kBodyTooLarge);
  EXPECT_EQ(r.error().attempts, 1u);
}

TEST_F(InteractionChannelTest, NoContentAndGet) {
  InteractionChannel ch(Fast());
  HttpRequest req;
  req.method = "GET";
  req.url = base_ + "/empty?basecid=x";
  req.accept = {"application/vnd.oma.bcast.stkm"};
  auto r = Run(ch, req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 204);
  EXPECT_TRUE(r->body.empty());
}

TEST_F(InteractionChannelTest, BadUrlAndCancel) {
  InteractionChannel ch(Fast());
  HttpRequest bad = Post("/x");
  bad.url = "not a url";
  auto r = Run(ch, bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, InteractionErrorCode::kBadRequest);

  std::optional<InteractionChannel::Result> result;
  auto id =
      ch.Send(Post("/slow"), [&](InteractionChannel::Result res) { result = std::move(res); });
  // Cancel once the server holds the request.
  while (hits_["/slow"] == 0) g_main_context_iteration(nullptr, TRUE);
  ch.Cancel(id);
  EXPECT_FALSE(result.has_value()) << "callback must not run inside Cancel";
  while (!result) g_main_context_iteration(nullptr, TRUE);
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, InteractionErrorCode::kCancelled);
  EXPECT_EQ(hits_["/slow"], 1);
}

TEST_F(InteractionChannelTest, DestroyedWithPendingRequestsCallsNothing) {
  bool called = false;
  {
    InteractionChannel ch(Fast());
    ch.Send(Post("/slow"), [&](InteractionChannel::Result) { called = true; });
    while (hits_["/slow"] == 0) g_main_context_iteration(nullptr, TRUE);
  }
  for (SoupServerMessage* m : paused_) soup_server_message_unpause(m);
  paused_.clear();
  for (int i = 0; i < 50 && g_main_context_iteration(nullptr, FALSE); ++i) {
  }
  EXPECT_FALSE(called);
}

TEST(InteractionBackoff, DoublesUpToTheCap) {
  InteractionOptions o;
  o.backoff_initial_ms = 100;
  o.backoff_max_ms = 700;
  InteractionChannel ch(o);
  EXPECT_EQ(ch.BackoffMs(2), 100u);
  EXPECT_EQ(ch.BackoffMs(3), 200u);
  EXPECT_EQ(ch.BackoffMs(4), 400u);
  EXPECT_EQ(ch.BackoffMs(5), 700u);
  EXPECT_EQ(ch.BackoffMs(30), 700u);
  EXPECT_TRUE(IsRetryable(InteractionErrorCode::kServerError));
  EXPECT_TRUE(IsRetryable(InteractionErrorCode::kTimeout));
  EXPECT_FALSE(IsRetryable(InteractionErrorCode::kClientError));
  EXPECT_FALSE(IsRetryable(InteractionErrorCode::kWrongContentType));
}

}  // namespace
}  // namespace channels
