// The head-end's Smartcard Profile network side over real HTTP on loopback, against the virtual
// card's logic in-process (no pcscd, no spcd): GBA_U bootstrapping at the BSF (HTTP Digest AKA,
// SQN resynchronisation, refusals), the MSK request at the BSM (GBA digest with B-TID and
// Ks_ext_NAF, MIKEY bundle the card accepts), the key stream's MTK messages opened by the card,
// the faults (replayed message 98 65, bad MAC 98 62, MSK nobody was given 6A 88 → MSK request →
// MTK), the SRTP sender's 6-byte MKI decrypted by libsrtp, and the SDP attributes.
#include <gtest/gtest.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "channels/session_description.h"
#include "gst-plugins/bcastprotect/srtp/libsrtp_session.h"
#include "gst-plugins/bcastprotect/srtp/srtp_sender.h"
#include "samples/headend/smartcard_service.h"
#include "samples/uicc/card.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/smartcard/digest_aka.h"
#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/gba_ub.h"
#include "spc/libspc/smartcard/milenage.h"
#include "spc/libspc/smartcard/msk_request.h"
#include "spc/libspc/smartcard/usim.h"
#include "tests/smartcard/process.h"

namespace {

namespace sc = spc::smartcard;
using headend::MikeyKeyStream;
using headend::SmartcardOptions;
using headend::SmartcardService;

// TS 35.208 test set 1 K / OPc; the IMPI spcd uses by default.
constexpr char kImpi[] = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org";
constexpr char kK[] = "465b5ce8b199b49faa5f0a2ee238a6bc";
constexpr char kOpc[] = "cd63cb71954a9f4e48a5994e37a02baf";
const sc::KeyDomainId kDomain = {0x00, 0xf1, 0x10};

template <std::size_t N>
std::array<std::uint8_t, N> A(const std::string& hex) {
  std::array<std::uint8_t, N> a{};
  EXPECT_TRUE(spc::HexDecodeInto(hex, a)) << hex;
  return a;
}

// The head-end's BSF + BSM on their own thread and main context, as in the head-end process; the
// test thread is the terminal with blocking HTTP requests.
class Network {
 public:
  explicit Network(SmartcardOptions options) {
    options.enabled = true;
    MikeyKeyStream::Config config;
    config.key_domain = kDomain;
    config.first_msk_id = options.msk_id;
    config.first_counter = 1000;
    std::promise<std::string> started;
    auto ready = started.get_future();
    thread_ = std::thread([this, options, config, &started] {
      g_main_context_push_thread_default(context_);
      std::string error;
      service_ = SmartcardService::Create(options, config, &error);
      if (service_) {
        auto log = [this](const std::string& line) {
          std::lock_guard lock(mutex_);
          events_.push_back(line);
        };
        service_->bsf().on_event = log;
        service_->bsm().on_event = log;
      }
      started.set_value(service_ ? "" : error);
      if (service_) g_main_loop_run(loop_);
      service_.reset();
      // The servers' client connections close from sources on this context: run them out.
      while (g_main_context_iteration(context_, FALSE)) {
      }
      g_main_context_pop_thread_default(context_);
    });
    error_ = ready.get();
  }
  ~Network() {
    // Quit from inside the loop: a quit before the thread reached g_main_loop_run would be lost.
    GSource* quit = g_idle_source_new();
    g_source_set_callback(
        quit,
        +[](gpointer loop) -> gboolean {
          g_main_loop_quit(static_cast<GMainLoop*>(loop));
          return G_SOURCE_REMOVE;
        },
        loop_, nullptr);
    g_source_attach(quit, context_);
    g_source_unref(quit);
    thread_.join();
    g_main_loop_unref(loop_);
    g_main_context_unref(context_);
  }
  const std::string& error() const { return error_; }
  SmartcardService& service() { return *service_; }
  bool HasEvent(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    for (const auto& e : events_) {
      if (e.starts_with(prefix)) return true;
    }
    return false;
  }
  std::string Events() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& e : events_) out += e + "\n";
    return out;
  }

 private:
  GMainContext* context_ = g_main_context_new();
  GMainLoop* loop_ = g_main_loop_new(context_, FALSE);
  std::thread thread_;
  std::unique_ptr<SmartcardService> service_;
  std::string error_;
  std::mutex mutex_;
  std::vector<std::string> events_;
};

struct HttpReply {
  guint status = 0;
  std::string www_authenticate;
  std::string content_type;
  std::vector<std::uint8_t> body;
};

HttpReply Request(const std::string& method, const std::string& url,
                  const std::string& authorization, const std::string& content_type = "",
                  const std::string& body = "") {
  g_autoptr(SoupSession) session = soup_session_new();
  soup_session_remove_feature_by_type(session, SOUP_TYPE_AUTH_MANAGER);
  g_autoptr(SoupMessage) msg = soup_message_new(method.c_str(), url.c_str());
  if (!authorization.empty()) {
    soup_message_headers_append(soup_message_get_request_headers(msg), "Authorization",
                                authorization.c_str());
  }
  if (!content_type.empty()) {
    g_autoptr(GBytes) b = g_bytes_new(body.data(), body.size());
    soup_message_set_request_body_from_bytes(msg, content_type.c_str(), b);
  }
  GError* err = nullptr;
  g_autoptr(GBytes) answer = soup_session_send_and_read(session, msg, nullptr, &err);
  HttpReply r;
  if (answer == nullptr) {
    ADD_FAILURE() << method << " " << url << ": " << err->message;
    g_error_free(err);
    return r;
  }
  r.status = soup_message_get_status(msg);
  SoupMessageHeaders* h = soup_message_get_response_headers(msg);
  if (const char* w = soup_message_headers_get_one(h, "WWW-Authenticate")) r.www_authenticate = w;
  if (const char* t = soup_message_headers_get_content_type(h, nullptr)) r.content_type = t;
  gsize n = 0;
  const auto* p = static_cast<const std::uint8_t*>(g_bytes_get_data(answer, &n));
  r.body.assign(p, p + n);
  return r;
}

// A fresh card with the subscriber's K/OPc, driven in-process through the Usim layer.
struct Terminal {
  explicit Terminal(std::array<std::uint8_t, 6> sqn = {}) {
    bcast::uicc::CardState st;
    st.k = A<16>(kK);
    st.opc = A<16>(kOpc);
    st.sqn = sqn;
    card = std::make_unique<bcast::uicc::Card>(std::move(st), "");
    usim = std::make_unique<sc::Usim>(
        [this](std::span<const std::uint8_t> c)
            -> spc::Result<std::vector<std::uint8_t>, std::string> { return card->Process(c); });
  }
  std::unique_ptr<bcast::uicc::Card> card;
  std::unique_ptr<sc::Usim> usim;
  std::string btid;
  std::vector<std::uint8_t> ks_ext_naf;
  std::string naf_fqdn;

  // GBA_U bootstrapping over HTTP; returns the final HTTP status.
  guint Bootstrap(const std::string& bsf_url, int* rounds = nullptr) {
    std::string authorization = sc::UbInitialAuthorization(kImpi, "bsf.openbcast.test");
    for (int round = 0; round < 4; ++round) {
      if (rounds) *rounds = round + 1;
      HttpReply r = Request("GET", bsf_url, authorization);
      if (r.status != SOUP_STATUS_UNAUTHORIZED) {
        if (r.status == SOUP_STATUS_OK) {
          EXPECT_EQ(r.content_type, "application/vnd.3gpp.bsf+xml");
          auto info = sc::ParseBootstrappingInfo(std::string(r.body.begin(), r.body.end()));
          EXPECT_TRUE(info) << std::string(r.body.begin(), r.body.end());
          if (info) btid = info->btid;
        }
        return r.status;
      }
      auto answer = sc::AnswerUbChallenge(*usim, kImpi, r.www_authenticate, "GET", sc::kUbUri, "");
      EXPECT_TRUE(answer) << answer.error().message;
      if (!answer) return 0;
      authorization = answer->authorization;
    }
    return 0;
  }

  void DeriveNafKey(const std::string& fqdn) {
    naf_fqdn = fqdn;
    auto ext = usim->GbaNafDerivation(sc::GbaNafId(fqdn), kImpi);
    ASSERT_TRUE(ext) << ext.error().message;
    ks_ext_naf = *ext;
  }

  // The MBMS user service registration with the GBA digest; the answer's statuses by service.
  HttpReply Register(const std::string& bsm_url, const std::vector<std::string>& ids,
                     std::map<std::string, sc::RegistrationStatus>* statuses = nullptr) {
    HttpReply r = PostWithDigest(bsm_url, sc::kRegisterPath, sc::kRegisterContentType,
                                 sc::WriteRegisterRequest(ids), false);
    if (r.status == SOUP_STATUS_OK) {
      EXPECT_EQ(r.content_type, sc::kRegisterResponseContentType);
      auto results = sc::ParseRegisterResponse(std::string(r.body.begin(), r.body.end()));
      EXPECT_TRUE(results) << results.error().message;
      if (results && statuses) {
        for (const auto& x : *results) (*statuses)[x.service_id] = x.status;
      }
    }
    return r;
  }

  HttpReply PostWithDigest(const std::string& bsm_url, const std::string& path,
                           const std::string& content_type, const std::string& body,
                           bool corrupt_password) {
    const std::string url = bsm_url + path;
    HttpReply first = Request("POST", url, "", content_type, body);
    EXPECT_EQ(first.status, SOUP_STATUS_UNAUTHORIZED);
    auto ch = sc::ParseDigestParams(first.www_authenticate);
    EXPECT_TRUE(ch) << first.www_authenticate;
    if (!ch) return first;
    std::string password = sc::GbaNafDigestPassword(ks_ext_naf);
    if (corrupt_password) password[0] ^= 1;
    const std::string realm = (*ch)["realm"], nonce = (*ch)["nonce"];
    EXPECT_EQ(realm, "3GPP-bootstrapping@" + naf_fqdn);
    const std::string response = sc::DigestResponse(
        btid,
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(password.data()),
                                      password.size()),
        realm, "POST", path, nonce, "00000001", "0a4f113b", "auth-int", body);
    const std::string authorization = sc::FormatDigestHeader({{"username", btid},
                                                              {"realm", realm},
                                                              {"nonce", nonce},
                                                              {"uri", path},
                                                              {"qop", "auth-int"},
                                                              {"nc", "00000001"},
                                                              {"cnonce", "0a4f113b"},
                                                              {"response", response}});
    return Request("POST", url, authorization, content_type, body);
  }

  // The MSK request with the GBA digest; the bundle's messages go to the card.
  HttpReply RequestMsks(const std::string& bsm_url, const std::vector<std::uint32_t>& ids,
                        bool corrupt_password = false) {
    HttpReply r = PostWithDigest(bsm_url, sc::kMskRequestPath, sc::kMskRequestContentType,
                                 sc::WriteMskRequest({kDomain, ids}), corrupt_password);
    if (r.status == SOUP_STATUS_OK) {
      EXPECT_EQ(r.content_type, sc::kMikeyBundleContentType);
      auto messages = sc::ParseMikeyBundle(r.body);
      EXPECT_TRUE(messages);
      if (messages) {
        EXPECT_EQ(messages->size(), ids.size());
        for (const auto& m : *messages) {
          auto ok = usim->MskUpdate(m);
          EXPECT_TRUE(ok) << ok.error().message;
          auto parsed = sc::ParseMikey(m);
          EXPECT_TRUE(parsed);
          if (parsed) {
            EXPECT_EQ(parsed->idi->value, naf_fqdn);
            EXPECT_EQ(parsed->idr->value, btid);
          }
        }
      }
    }
    return r;
  }
};

SmartcardOptions Subscribed(std::uint64_t sqn = 0) {
  SmartcardOptions o;
  o.subscribers.push_back(std::string(kImpi) + ":" + kK + ":" + kOpc +
                          (sqn ? ":" + std::to_string(sqn) : ""));
  return o;
}

std::string HostOf(const std::string& url) {
  g_autoptr(GUri) u = g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr);
  return u ? g_uri_get_host(u) : "";
}

TEST(SmartcardHeadend, FreshCardBootstrapsGetsItsMskAndOpensEveryMtkMessage) {
  Network net(Subscribed());
  ASSERT_EQ(net.error(), "");
  SmartcardService& svc = net.service();
  Terminal t;
  ASSERT_EQ(t.Bootstrap(svc.bsf().url()), SOUP_STATUS_OK) << net.Events();
  EXPECT_TRUE(t.btid.ends_with("@bsf.openbcast.test")) << t.btid;
  EXPECT_TRUE(net.HasEvent("bsf bootstrapped impi=" + std::string(kImpi))) << net.Events();

  // Before the MSK: the card cannot open the key stream (6A 88).
  MikeyKeyStream& keys = svc.keys();
  auto early = t.usim->MtkGeneration(keys.MakeMessage(false));
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, sc::UsimError::kKeyNotFound);

  // NAF FQDN = the host of the BSM URL (what spcd uses).
  t.DeriveNafKey(HostOf(svc.bsm().url()));
  HttpReply r = t.RequestMsks(svc.bsm().url(), {keys.msk().id});
  ASSERT_EQ(r.status, SOUP_STATUS_OK) << net.Events();
  EXPECT_TRUE(net.HasEvent("bsm msk-sent impi=" + std::string(kImpi))) << net.Events();

  for (int rotation = 0; rotation < 3; ++rotation) {
    for (bool next : {false, true}) {
      const headend::MtkEntry& expect = next ? keys.next() : keys.current();
      auto mtk = t.usim->MtkGeneration(keys.MakeMessage(next));
      ASSERT_TRUE(mtk) << mtk.error().message;
      EXPECT_EQ(mtk->mtk, expect.key);
      EXPECT_TRUE(mtk->has_salt);
      EXPECT_EQ(mtk->salt, expect.salt);
    }
    keys.Rotate();
  }

  // Faults: a replayed message (98 65), a bad MAC (98 62).
  auto replay = t.usim->MtkGeneration(keys.ReplayedMessage());
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, sc::UsimError::kReplay);
  auto bad = t.usim->MtkGeneration(keys.MakeBadMacMessage());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, sc::UsimError::kBadMac);
  // A refused message moved no counter: the next genuine one opens.
  ASSERT_TRUE(t.usim->MtkGeneration(keys.MakeMessage(false)));

  // Re-keying: the announced MTK is now under an MSK the card was not given (6A 88); the MSK
  // request gets it and the same message then opens.
  const std::uint32_t old_msk = keys.msk().id;
  const std::uint32_t new_msk = keys.NewMsk().id;
  EXPECT_EQ(new_msk, old_msk + 1);
  EXPECT_EQ(keys.current().msk_id, old_msk);
  EXPECT_EQ(keys.next().msk_id, new_msk);
  const auto message = keys.MakeMessage(true);
  auto missing = t.usim->MtkGeneration(message);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, sc::UsimError::kKeyNotFound);
  ASSERT_EQ(t.RequestMsks(svc.bsm().url(), {new_msk}).status, SOUP_STATUS_OK) << net.Events();
  auto now_open = t.usim->MtkGeneration(message);
  ASSERT_TRUE(now_open) << now_open.error().message;
  EXPECT_EQ(now_open->mtk, keys.next().key);
  // The MTK in use is still under the old MSK, which the card keeps.
  ASSERT_TRUE(t.usim->MtkGeneration(keys.MakeMessage(false)));
}

TEST(SmartcardHeadend, BsfResynchronisesAStaleSqnAndRefusesStrangers) {
  // The card has seen SQN 0x40 already; the BSF's database says 3: AUTS, resync, bootstrapped.
  Network net(Subscribed(3));
  ASSERT_EQ(net.error(), "");
  Terminal t({0, 0, 0, 0, 0, 0x40});
  int rounds = 0;
  ASSERT_EQ(t.Bootstrap(net.service().bsf().url(), &rounds), SOUP_STATUS_OK) << net.Events();
  EXPECT_EQ(rounds, 3);  // challenge, AUTS → new challenge, answer
  EXPECT_TRUE(net.HasEvent("bsf resync impi=")) << net.Events();
  EXPECT_GT(*net.service().bsf().bsf().SubscriberSqn(kImpi), 0x40u);

  // Unknown subscriber: 403; no Authorization at all: 400.
  HttpReply stranger = Request("GET", net.service().bsf().url(),
                               sc::UbInitialAuthorization("nobody@example", "bsf.openbcast.test"));
  EXPECT_EQ(stranger.status, SOUP_STATUS_FORBIDDEN);
  EXPECT_EQ(Request("GET", net.service().bsf().url(), "").status, SOUP_STATUS_BAD_REQUEST);
  EXPECT_TRUE(net.HasEvent("bsf refused status=403 unknown-subscriber")) << net.Events();
}

TEST(SmartcardHeadend, BsmRefusesBadDigestsUnknownBtidsAndMsks) {
  Network net(Subscribed());
  ASSERT_EQ(net.error(), "");
  SmartcardService& svc = net.service();
  Terminal t;
  ASSERT_EQ(t.Bootstrap(svc.bsf().url()), SOUP_STATUS_OK);
  t.DeriveNafKey(HostOf(svc.bsm().url()));
  // Wrong password (not this card's Ks_ext_NAF): 403, nothing delivered.
  EXPECT_EQ(t.RequestMsks(svc.bsm().url(), {svc.keys().msk().id}, true).status,
            SOUP_STATUS_FORBIDDEN);
  // An MSK the BSM does not hold: 404.
  EXPECT_EQ(t.RequestMsks(svc.bsm().url(), {0x00017777}).status, SOUP_STATUS_NOT_FOUND);
  // An unknown B-TID: 403 (bootstrap again).
  Terminal other;
  other.btid = "AAAAAAAAAAAAAAAAAAAAAA==@bsf.openbcast.test";
  other.ks_ext_naf.assign(32, 7);
  other.naf_fqdn = t.naf_fqdn;
  EXPECT_EQ(other.RequestMsks(svc.bsm().url(), {svc.keys().msk().id}).status,
            SOUP_STATUS_FORBIDDEN);
  // A nonce the BSM never issued: 401 with stale=true.
  HttpReply stale =
      Request("POST", svc.bsm().url() + sc::kMskRequestPath,
              sc::FormatDigestHeader({{"username", t.btid},
                                      {"realm", "3GPP-bootstrapping@" + t.naf_fqdn},
                                      {"nonce", "made-up"},
                                      {"uri", sc::kMskRequestPath},
                                      {"response", "00"}}),
              sc::kMskRequestContentType, sc::WriteMskRequest({kDomain, {svc.keys().msk().id}}));
  EXPECT_EQ(stale.status, SOUP_STATUS_UNAUTHORIZED);
  EXPECT_NE(stale.www_authenticate.find("stale=\"true\""), std::string::npos)
      << stale.www_authenticate;
  EXPECT_EQ(Request("GET", svc.bsm().url() + "/elsewhere", "").status, SOUP_STATUS_NOT_FOUND);
  // After all that, the genuine request still works.
  EXPECT_EQ(t.RequestMsks(svc.bsm().url(), {svc.keys().msk().id}).status, SOUP_STATUS_OK)
      << net.Events();
}

// MBMS user service registration (TS 33.246 §6.3.2.1): once the BSM has services, an MSK request
// of a B-TID that registered none of them is refused; "unknown" for IDs that are not the BSM's.
TEST(SmartcardHeadend, BsmWantsARegistrationBeforeMskRequests) {
  Network net(Subscribed());
  ASSERT_EQ(net.error(), "");
  SmartcardService& svc = net.service();
  svc.bsm().AddService("urn:test:svc:");
  Terminal t;
  ASSERT_EQ(t.Bootstrap(svc.bsf().url()), SOUP_STATUS_OK);
  t.DeriveNafKey(HostOf(svc.bsm().url()));
  EXPECT_EQ(t.RequestMsks(svc.bsm().url(), {svc.keys().msk().id}).status, SOUP_STATUS_FORBIDDEN);
  EXPECT_TRUE(net.HasEvent("bsm refused status=403 not-registered: B-TID " + t.btid))
      << net.Events();
  std::map<std::string, sc::RegistrationStatus> statuses;
  ASSERT_EQ(t.Register(svc.bsm().url(), {"urn:other:"}, &statuses).status, SOUP_STATUS_OK);
  EXPECT_EQ(statuses["urn:other:"], sc::RegistrationStatus::kUnknown);
  EXPECT_EQ(t.RequestMsks(svc.bsm().url(), {svc.keys().msk().id}).status, SOUP_STATUS_FORBIDDEN);
  ASSERT_EQ(t.Register(svc.bsm().url(), {"urn:test:svc:", "urn:other:"}, &statuses).status,
            SOUP_STATUS_OK);
  EXPECT_EQ(statuses["urn:test:svc:"], sc::RegistrationStatus::kOk);
  EXPECT_EQ(statuses["urn:other:"], sc::RegistrationStatus::kUnknown);
  EXPECT_TRUE(net.HasEvent("bsm registered btid=" + t.btid + " impi=" + kImpi +
                           " services=urn:test:svc: unknown=urn:other:"))
      << net.Events();
  EXPECT_TRUE(svc.bsm().Registered(t.btid, "urn:test:svc:"));
  EXPECT_EQ(t.RequestMsks(svc.bsm().url(), {svc.keys().msk().id}).status, SOUP_STATUS_OK)
      << net.Events();
  // A malformed registration is named.
  EXPECT_EQ(t.PostWithDigest(svc.bsm().url(), sc::kRegisterPath, sc::kRegisterContentType,
                             "<mbmsRegister></mbmsRegister>", false)
                .status,
            SOUP_STATUS_BAD_REQUEST);
}

// A UDP socket on a free loopback port, bound before the head-end starts so nothing is lost.
class UdpPort {
 public:
  UdpPort() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    int size = 4 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  ~UdpPort() { close(fd_); }
  std::uint16_t port() const { return port_; }
  // One datagram, or empty after `timeout_ms`.
  std::vector<std::uint8_t> Receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return {};
    std::vector<std::uint8_t> b(65536);
    const ssize_t n = recv(fd_, b.data(), b.size(), 0);
    b.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return b;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

std::string EventValue(const std::string& line, const std::string& key) {
  const auto at = line.find(key + "=");
  if (at == std::string::npos) return "";
  const auto end = line.find(' ', at);
  return line.substr(at + key.size() + 1,
                     end == std::string::npos ? std::string::npos : end - at - key.size() - 1);
}

// The bcast-headend program with --profile smartcard, against a terminal made of the card logic
// and libsrtp in this process: the key stream's MIKEY messages open on the card after the
// bootstrapping and the MSK request, the SRTP media carry MKI = MSK ID ‖ MTK ID and decrypt with
// the MTK + salt the card returned, over MTK changes; the fault signals reach the key stream
// (replay → 98 65, bad MAC → 98 62) and an MSK change needs the MSK request again.
TEST(SmartcardHeadendProcess, KeyStreamAndMediaDecryptWithTheCardsKeys) {
  UdpPort key_port, video_port, audio_port;  // audio is bound only so it goes nowhere else
  char sdp_dir[] = "/tmp/openbcast-sc-headend-XXXXXX";
  ASSERT_NE(mkdtemp(sdp_dir), nullptr);
  const std::string sdp = std::string(sdp_dir) + "/service.sdp";
  smartcard_test::Process headend;
  std::string error;
  ASSERT_TRUE(headend.Start({BCAST_HEADEND,
                             "--profile",
                             "smartcard",
                             "--subscriber",
                             std::string(kImpi) + ":" + kK + ":" + kOpc,
                             "--key-domain",
                             "0x00f110",
                             "--tek-period",
                             "1",
                             "--stkm-interval",
                             "100",
                             "--initial-seq",
                             "0",
                             "--key-port",
                             std::to_string(key_port.port()),
                             "--video-port",
                             std::to_string(video_port.port()),
                             "--audio-port",
                             std::to_string(audio_port.port()),
                             "--sdp-out",
                             sdp,
                             "--duration",
                             "40"},
                            &error))
      << error;
  auto ready = headend.WaitFor("smartcard ready", std::chrono::seconds(30));
  ASSERT_TRUE(ready) << headend.Output();
  ASSERT_TRUE(headend.WaitFor("ready sdp=", std::chrono::seconds(30))) << headend.Output();
  std::string ready_line;
  {
    const std::string out = headend.Output();
    const auto at = out.find("smartcard ready");
    ready_line = out.substr(at, out.find('\n', at) - at);
  }
  const std::string bsf_url = EventValue(ready_line, "bsf");
  const std::string bsm_url = EventValue(ready_line, "bsm");

  Terminal t;
  ASSERT_EQ(t.Bootstrap(bsf_url), SOUP_STATUS_OK) << headend.Output();
  t.DeriveNafKey(HostOf(bsm_url));
  // The head-end's BSM serves the base CID's MBMS user service: MSKs only after registering.
  ASSERT_EQ(t.RequestMsks(bsm_url, {0x00010001}).status, SOUP_STATUS_FORBIDDEN) << headend.Output();
  std::map<std::string, sc::RegistrationStatus> statuses;
  ASSERT_EQ(t.Register(bsm_url, {"urn:openbcast:svc:sample:"}, &statuses).status, SOUP_STATUS_OK)
      << headend.Output();
  EXPECT_EQ(statuses["urn:openbcast:svc:sample:"], sc::RegistrationStatus::kOk);

  struct Key {
    std::array<std::uint8_t, 16> mtk{};
    std::array<std::uint8_t, 14> salt{};
  };
  std::map<std::string, Key> keys;  // by MKI (hex)
  std::map<std::uint32_t, bool> msks_requested;
  std::map<std::string, std::uint64_t> decrypted;  // packets per MKI
  std::map<std::string, std::unique_ptr<bcast::srtp::LibsrtpSession>> sessions;
  std::size_t replays = 0, bad_macs = 0, msk_requests = 0;
  std::uint16_t highest_seq = 0;

  // Handles one key-stream datagram the way spcd does: to the card; 6A 88 → MSK request, retry.
  auto on_key = [&](const std::vector<std::uint8_t>& d) {
    auto parsed = sc::ParseMikey(d);
    ASSERT_TRUE(parsed) << parsed.error().field;
    auto r = t.usim->MtkGeneration(d);
    if (!r && r.error().code == sc::UsimError::kKeyNotFound) {
      ++msk_requests;
      ASSERT_EQ(t.RequestMsks(bsm_url, {parsed->key_id.msk_id}).status, SOUP_STATUS_OK)
          << headend.Output();
      r = t.usim->MtkGeneration(d);
    }
    if (!r && r.error().code == sc::UsimError::kReplay) {
      ++replays;
      return;
    }
    if (!r && r.error().code == sc::UsimError::kBadMac) {
      ++bad_macs;
      return;
    }
    ASSERT_TRUE(r) << r.error().message;
    const auto mki = sc::SrtpMkiFor(parsed->key_id.msk_id, parsed->key_id.mtk_id);
    keys[spc::HexEncode(mki)] = Key{r->mtk, r->salt};
  };
  auto on_video = [&](std::vector<std::uint8_t>& p) {
    ASSERT_GT(p.size(), 12u + 6 + 10);
    const auto mki = std::span(p).subspan(p.size() - 10 - 6, 6);
    const std::string id = spc::HexEncode(mki);
    auto k = keys.find(id);
    if (k == keys.end()) return;  // its MTK message did not come yet
    auto& session = sessions[id];
    const std::uint32_t ssrc =
        static_cast<std::uint32_t>(p[8]) << 24 | p[9] << 16 | p[10] << 8 | p[11];
    if (!session) {
      std::vector<std::uint8_t> m(mki.begin(), mki.end());
      session = std::make_unique<bcast::srtp::LibsrtpSession>(
          false, bcast::srtp::SrtpAuth::kHmacSha1_80, k->second.mtk, k->second.salt, ssrc, m, 1024);
    }
    const std::uint16_t seq = static_cast<std::uint16_t>(p[2] << 8 | p[3]);
    highest_seq = std::max(highest_seq, seq);
    ASSERT_TRUE(session->PrepareIndex(seq));
    int len = static_cast<int>(p.size());
    ASSERT_EQ(session->Unprotect(p.data(), &len), srtp_err_status_ok) << "MKI " << id;
    session->Accepted(seq);
    EXPECT_EQ(p[1] & 0x7f, 96);
    ++decrypted[id];
  };
  auto pump = [&](auto done, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      for (;;) {
        auto d = key_port.Receive(0);
        if (d.empty()) break;
        on_key(d);
        if (::testing::Test::HasFatalFailure()) return;
      }
      auto v = video_port.Receive(50);
      if (!v.empty()) on_video(v);
      if (::testing::Test::HasFatalFailure()) return;
    }
  };
  auto mtks_of = [&](const std::string& msk_hex) {
    std::size_t n = 0;
    for (const auto& [id, count] : decrypted) n += id.starts_with(msk_hex) && count > 0;
    return n;
  };

  // Three MTKs of MSK 00010001 used by the media and decrypted.
  pump([&] { return mtks_of("00010001") >= 3; }, 15);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_GE(mtks_of("00010001"), 3u) << headend.Output();
  EXPECT_EQ(msk_requests, 1u);  // the first message of a fresh card

  // Faults by signal: a replayed message and one with a bad MAC reach the key stream.
  const std::size_t mark = headend.LineCount();
  ASSERT_TRUE(headend.Signal(SIGUSR1));
  ASSERT_TRUE(headend.Signal(SIGUSR2));
  ASSERT_TRUE(headend.WaitFor("mtk-fault replay sent", std::chrono::seconds(10), mark));
  ASSERT_TRUE(headend.WaitFor("mtk-fault bad-mac sent", std::chrono::seconds(10), mark));
  pump([&] { return replays >= 1 && bad_macs >= 1; }, 5);
  EXPECT_EQ(replays, 1u);
  EXPECT_EQ(bad_macs, 1u);

  // Re-keying: the next MTK comes under MSK 00010002; the card needs it from the BSM.
  ASSERT_TRUE(headend.Signal(SIGHUP));
  ASSERT_TRUE(headend.WaitFor("msk id=00010002 reason=fault", std::chrono::seconds(10), mark));
  pump([&] { return mtks_of("00010002") >= 2; }, 10);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_GE(mtks_of("00010002"), 2u) << headend.Output();
  EXPECT_EQ(msk_requests, 2u);
  EXPECT_TRUE(
      headend.WaitFor("bsm msk-sent impi=" + std::string(kImpi) + " naf=127.0.0.1 msk=00010002",
                      std::chrono::seconds(1)))
      << headend.Output();

  EXPECT_EQ(headend.Stop(SIGTERM), 0);
  EXPECT_NE(headend.Output().find("stopped"), std::string::npos);
  std::remove(sdp.c_str());
  rmdir(sdp_dir);
}

TEST(SmartcardHeadend, SrtpSenderPutsTheSixByteMkiAndLibsrtpDecrypts) {
  MikeyKeyStream::Config config;
  config.key_domain = kDomain;
  MikeyKeyStream keys(config);
  const headend::MtkEntry& mtk = keys.current();
  const auto mki = mtk.mki();
  EXPECT_EQ(spc::HexEncode(mki),
            "00010001"
            "0001");

  bcast::srtp::SrtpSender sender(bcast::srtp::SrtpAuth::kHmacSha1_80, 6);
  ASSERT_TRUE(sender.AddKey(mtk.mtk_id, mtk.key, mtk.salt, true, mki));
  std::vector<std::uint8_t> rtp = {0x80, 96, 0x12, 0x34, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef};
  for (int i = 0; i < 100; ++i) rtp.push_back(static_cast<std::uint8_t>(i));
  const std::vector<std::uint8_t> clear = rtp;
  ASSERT_TRUE(sender.Protect(rtp, mtk.mtk_id));
  ASSERT_EQ(rtp.size(), clear.size() + 6 + 10);
  EXPECT_EQ(spc::HexEncode(std::span(rtp).subspan(clear.size(), 6)), spc::HexEncode(mki));

  bcast::srtp::LibsrtpSession receiver(false, bcast::srtp::SrtpAuth::kHmacSha1_80, mtk.key,
                                       mtk.salt, 0xdeadbeef, mki, 128);
  ASSERT_TRUE(receiver.ok());
  ASSERT_TRUE(receiver.PrepareIndex(0x1234));
  int len = static_cast<int>(rtp.size());
  ASSERT_EQ(receiver.Unprotect(rtp.data(), &len), srtp_err_status_ok);
  rtp.resize(static_cast<std::size_t>(len));
  EXPECT_EQ(rtp, clear);
  // An MKI longer than the sender allows is refused.
  std::vector<std::uint8_t> long_mki(bcast::srtp::SrtpSender::kMaxSenderMkiLength + 1, 1);
  EXPECT_FALSE(sender.AddKey(9, mtk.key, mtk.salt, true, long_mki));
}

TEST(SmartcardHeadend, SdpNamesTheProfileAndTheUrlsAtSessionLevel) {
  Network net(Subscribed());
  ASSERT_EQ(net.error(), "");
  channels::SessionDescription sd;
  sd.session_name = "t";
  sd.bcast_version = "1.0";
  channels::KeyStream ks;
  ks.id = "1";
  ks.address = "127.0.0.1";
  ks.port = 5000;
  ks.base_cid = "urn:x:";
  ks.key_domain_id = 0x00f110;
  sd.key_streams.push_back(ks);
  const std::string text = net.service().AddSdpAttributes(channels::WriteSessionDescription(sd));
  const auto profile = text.find("a=bcast-profile:smartcard\r\n");
  const auto mline = text.find("\r\nm=");
  ASSERT_NE(profile, std::string::npos) << text;
  EXPECT_LT(profile, mline) << text;
  EXPECT_NE(text.find("a=bcast-bsf-url:" + net.service().bsf().url() + "\r\n"), std::string::npos);
  EXPECT_NE(text.find("a=bcast-bsm-url:" + net.service().bsm().url() + "\r\n"), std::string::npos);
  EXPECT_NE(text.find("a=bcast-keydomain:00f110"), std::string::npos) << text;
  auto parsed = channels::ParseSessionDescription(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->key_streams.size(), 1u);
}

TEST(SmartcardHeadend, SubscriberSpecs) {
  headend::SubscriberSpec s;
  std::string error;
  ASSERT_TRUE(headend::ParseSubscriberSpec(std::string(kImpi) + ":" + kK + ":" + kOpc, &s, &error));
  EXPECT_EQ(s.impi, kImpi);
  EXPECT_EQ(s.sqn, 0u);
  ASSERT_TRUE(headend::ParseSubscriberSpec(std::string("sip:a@b:") + kK + ":" + kOpc + ":0x20", &s,
                                           &error));
  EXPECT_EQ(s.impi, "sip:a@b");
  EXPECT_EQ(s.sqn, 0x20u);
  EXPECT_FALSE(headend::ParseSubscriberSpec(std::string(kImpi) + ":" + kK, &s, &error));
  EXPECT_FALSE(headend::ParseSubscriberSpec(std::string(kImpi) + ":zz:" + kOpc, &s, &error));
  EXPECT_FALSE(headend::ParseSubscriberSpec(std::string(":") + kK + ":" + kOpc, &s, &error));
}

}  // namespace
