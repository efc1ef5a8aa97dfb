// spcd's smartcard backend through the real stack: pcscd with the vpcd driver, the virtual card
// bcast-uicc, spcd --smartcard on a private dbus-daemon, and the head-end's BSF and BSM
// (samples/headend BsfServer/BsmServer, in-process on a thread of this test). Covers GBA_U
// bootstrapping, the MSK request after 6A 88, MTK → TEK with the 6-byte MKI, every refusal as a
// named D-Bus error (CardReplay, CardBadMac, MskUnknown/MskRequestFailed, MikeyMalformed,
// CardMalformedResponse from a card that lies about lengths, BootstrapFailed, NoCard), and card
// removal/insertion followed live (CardChanged).
//
// pcscd has one fixed socket (/run/pcscd): is_parallel false, like smartcard_uicc.
#include <PCSC/winscard.h>
#include <arpa/inet.h>
#include <gio/gio.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "channels/session_description.h"
#include "gst-plugins/bcastprotect/keyring.h"
#include "gst-plugins/bcastprotect/tekdec.h"
#include "samples/headend/bsf_server.h"
#include "samples/headend/bsm_server.h"
#include "samples/headend/mikey_key_stream.h"
#include "samples/uicc/card.h"
#include "spc/libspc/crypto.h"
#include "spc/libspc/smartcard/apdu.h"
#include "spc/libspc/smartcard/digest_aka.h"
#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/gba_ub.h"
#include "spc/libspc/smartcard/mikey.h"
#include "spc/libspc/smartcard/milenage.h"
#include "spc/libspc/smartcard/msk_request.h"
#include "spc/libspc/smartcard/pcsc.h"
#include "tests/smartcard/process.h"
#include "tests/smartcard/test_util.h"
#include "tests/spcd/spcd_test_util.h"

namespace spc::smartcard {
namespace {

using namespace std::chrono_literals;
using testing::A;
using testing::X;

const char kK[] = "465b5ce8b199b49faa5f0a2ee238a6bc";
const char kOp[] = "cdc202d5123e20f62b6d676ac72cb318";
const char kImpi[] = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org";
const KeyDomainId kDomain = {0x00, 0xf1, 0x10};
constexpr std::uint32_t kMsk1 = 0x00010001;
constexpr std::uint32_t kMsk2 = 0x00010002;
constexpr std::uint32_t kMskNotAtBsm = 0x00010009;
const char kBaseCid[] = "urn:openbcast:svc:sc:";  // the MBMS user service the BSM serves

// ---- the network side: the head-end's BSF and BSM (samples/headend), on their own thread ----

class Network {
 public:
  Network() {
    for (auto id : {kMsk1, kMsk2}) {
      headend::MskEntry e;
      e.id = id;
      RandomBytes(e.key);
      msks_[id] = e;
    }
    std::mutex m;
    std::condition_variable cv;
    bool ready = false;
    thread_ = std::thread([&] {
      ctx_ = g_main_context_new();
      g_main_context_push_thread_default(ctx_);
      loop_ = g_main_loop_new(ctx_, FALSE);
      std::string error;
      headend::BsfServerOptions bo;
      bsf_ = headend::BsfServer::Create(bo, &error);
      if (bsf_) {
        std::array<std::uint8_t, 16> op{};
        HexDecodeInto(kOp, op);
        Subscriber sub;
        HexDecodeInto(kK, sub.k);
        sub.opc = MilenageOpc(sub.k, op);
        bsf_->bsf().AddSubscriber(kImpi, sub);
        bsf_->on_event = [this](const std::string& line) {
          if (line.rfind("bsf bootstrapped", 0) == 0) ++bootstraps;
          if (line.rfind("bsf refused", 0) == 0) ++refused;
        };
        headend::BsmServerOptions mo;
        mo.key_domain = kDomain;
        bsm_ = headend::BsmServer::Create(
            mo, bsf_.get(),
            [this](std::uint32_t id) -> const headend::MskEntry* {
              auto it = msks_.find(id);
              return it == msks_.end() ? nullptr : &it->second;
            },
            &error);
        if (bsm_) {
          bsm_->AddService(kBaseCid);
          bsm_->on_event = [this](const std::string& line) {
            if (line.rfind("bsm msk-sent", 0) == 0) ++bundles;
            if (line.rfind("bsm registered", 0) == 0) ++registrations;
            std::lock_guard<std::mutex> l(events_mutex_);
            events_.push_back(line);
            events_cv_.notify_all();
          };
          bsf_url_ = bsf_->url();
          bsm_url_ = bsm_->url();
        }
      }
      {
        std::lock_guard<std::mutex> l(m);
        ready = true;
      }
      cv.notify_all();
      g_main_loop_run(loop_);
      bsm_.reset();
      bsf_.reset();
      g_main_loop_unref(loop_);
      g_main_context_pop_thread_default(ctx_);
      g_main_context_unref(ctx_);
    });
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return ready; });
  }
  ~Network() {
    g_main_context_invoke(
        ctx_,
        [](gpointer p) {
          g_main_loop_quit(static_cast<GMainLoop*>(p));
          return G_SOURCE_REMOVE;
        },
        loop_);
    thread_.join();
  }

  bool ok() const { return !bsf_url_.empty() && !bsm_url_.empty(); }
  std::string bsf_url() const { return bsf_url_; }
  std::string bsm_url() const { return bsm_url_; }
  const std::array<std::uint8_t, 16>& msk(std::uint32_t id) { return msks_.at(id).key; }

  std::atomic<int> bootstraps{0}, bundles{0}, refused{0}, registrations{0};

  // The index of the first BSM event line starting with `prefix`, -1 when none.
  int EventIndex(const std::string& prefix) {
    std::lock_guard<std::mutex> l(events_mutex_);
    for (std::size_t i = 0; i < events_.size(); ++i) {
      if (events_[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
    }
    return -1;
  }
  bool WaitRegistrations(int n, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> l(events_mutex_);
    return events_cv_.wait_for(l, timeout, [&] { return registrations.load() >= n; });
  }
  std::string Events() {
    std::lock_guard<std::mutex> l(events_mutex_);
    std::string out;
    for (const auto& e : events_) out += e + "\n";
    return out;
  }

  // Zn on the network thread: the digest password of `btid` at the BSM host `fqdn` ("" if none).
  std::string NafPassword(const std::string& btid, const std::string& fqdn) {
    struct Call {
      Network* self;
      std::string btid, fqdn, password;
      std::mutex m;
      std::condition_variable cv;
      bool done = false;
    } call{this, btid, fqdn, "", {}, {}, false};
    g_main_context_invoke(
        ctx_,
        [](gpointer p) {
          auto* c = static_cast<Call*>(p);
          auto k = c->self->bsf_->bsf().GetNafKeys(c->btid, GbaNafId(c->fqdn),
                                                   std::chrono::system_clock::now());
          std::lock_guard<std::mutex> l(c->m);
          if (k) c->password = GbaNafDigestPassword(k->ks_ext_naf);
          c->done = true;
          c->cv.notify_all();
          return G_SOURCE_REMOVE;
        },
        &call);
    std::unique_lock<std::mutex> l(call.m);
    call.cv.wait(l, [&] { return call.done; });
    return call.password;
  }

 private:
  std::mutex events_mutex_;
  std::condition_variable events_cv_;
  std::vector<std::string> events_;
  std::map<std::uint32_t, headend::MskEntry> msks_;
  std::unique_ptr<headend::BsfServer> bsf_;
  std::unique_ptr<headend::BsmServer> bsm_;
  std::string bsf_url_, bsm_url_;
  std::thread thread_;
  GMainContext* ctx_ = nullptr;
  GMainLoop* loop_ = nullptr;
};

// ---- a card that lies about lengths (vpcd protocol, in a thread) ----

class LyingCard {
 public:
  explicit LyingCard(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (connected_) thread_ = std::thread([this] { Serve(); });
  }
  ~LyingCard() {
    shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  bool connected() const { return connected_; }
  std::atomic<int> mtk_commands{0};

 private:
  bool ReadFull(std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      ssize_t r = recv(fd_, p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  void Send(const std::vector<std::uint8_t>& payload) {
    std::vector<std::uint8_t> out = {static_cast<std::uint8_t>(payload.size() >> 8),
                                     static_cast<std::uint8_t>(payload.size())};
    out.insert(out.end(), payload.begin(), payload.end());
    ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
  }
  void Serve() {
    for (;;) {
      std::uint8_t len[2];
      if (!ReadFull(len, 2)) return;
      std::vector<std::uint8_t> msg(static_cast<std::size_t>(len[0] << 8 | len[1]));
      if (!ReadFull(msg.data(), msg.size())) return;
      if (msg.size() == 1) {
        if (msg[0] == 0x04) Send({0x3B, 0x80, 0x80, 0x01, 0x01});
        continue;
      }
      // MTK generation: first a tag 53 whose length runs past the data, then a wrong tag.
      const int n = mtk_commands++;
      if (n % 2 == 0) {
        Send({0x53, 0x40, 0xDB, 0x01, 0x02, 0x90, 0x00});
      } else {
        Send({0x54, 0x03, 0xDB, 0x01, 0x02, 0x90, 0x00});
      }
    }
  }
  int fd_ = -1;
  bool connected_ = false;
  std::thread thread_;
};

int FreePortPair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const int port = ntohs(a.sin_port);
    int fd2 = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in b = a;
    b.sin_port = htons(static_cast<std::uint16_t>(port + 1));
    const bool ok = port < 65535 && bind(fd2, reinterpret_cast<sockaddr*>(&b), sizeof b) == 0;
    close(fd);
    close(fd2);
    if (ok) return port;
  }
  return 0;
}

struct CallResult {
  std::string error;  // D-Bus error name, "" on success
  std::string message;
  std::vector<std::uint8_t> mki, tek, salt;
  std::uint32_t msk_id = 0;
  std::uint16_t mtk_id = 0;
  std::uint8_t protocol = 0;
  bool authenticated = false;
};

std::vector<std::uint8_t> Bytes(GVariant* v) {
  gsize n = 0;
  const auto* p = static_cast<const std::uint8_t*>(g_variant_get_fixed_array(v, &n, 1));
  return std::vector<std::uint8_t>(p, p + n);
}

class SpcdSmartcard : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() /
                           ("spcd-smartcard-test-" + std::to_string(getpid())));
    std::filesystem::create_directories(*dir_ + "/conf");
    port_ = FreePortPair();
    ASSERT_NE(port_, 0);
    std::ofstream(*dir_ + "/conf/vpcd") << "FRIENDLYNAME \"Virtual PCD\"\n"
                                        << "DEVICENAME /dev/null:" << port_ << "\n"
                                        << "LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n"
                                        << "CHANNELID " << port_ << "\n";
    if (std::filesystem::exists("/run/pcscd/pcscd.comm")) {
      GTEST_FAIL() << "/run/pcscd/pcscd.comm exists: another pcscd is running; this test "
                      "starts its own (stop the other one)";
    }
    pcscd_ = new smartcard_test::Process();
    std::string error;
    ASSERT_TRUE(
        pcscd_->Start({"/usr/sbin/pcscd", "--foreground", "--info", "-c", *dir_ + "/conf"}, &error))
        << error;
    ASSERT_TRUE(pcscd_->WaitFor("daemon ready", 15s)) << pcscd_->Output();
    // pcscd logs "daemon ready" before it binds its socket: retry until it answers.
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    for (;;) {
      SCARDCONTEXT probe = 0;
      if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &probe) == SCARD_S_SUCCESS) {
        SCardReleaseContext(probe);
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << pcscd_->Output();
      pcscd_->WaitFor("never printed", 20ms);
    }
  }
  static void TearDownTestSuite() {
    if (pcscd_) pcscd_->Stop(SIGTERM);
    delete pcscd_;
    pcscd_ = nullptr;
    if (dir_) std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    ASSERT_NE(pcscd_, nullptr);
    ASSERT_TRUE(net_.ok());
    bus_ = std::make_unique<spcd_test::PrivateBus>(tmp_.path());
    ASSERT_TRUE(bus_->ok());
    sub_ = g_dbus_connection_signal_subscribe(
        bus_->conn(), nullptr, spcd_test::kIface, "CardChanged", spcd_test::kPath, nullptr,
        G_DBUS_SIGNAL_FLAGS_NONE,
        [](GDBusConnection*, const gchar*, const gchar*, const gchar*, const gchar*,
           GVariant* params, gpointer data) {
          gboolean present = FALSE;
          const gchar* reader = nullptr;
          g_variant_get(params, "(b&s)", &present, &reader);
          static_cast<SpcdSmartcard*>(data)->changes_.push_back({present != FALSE, reader});
        },
        this, nullptr);
  }
  void TearDown() override {
    if (spcd_) {
      const std::string log = spcd_test::ReadFileOrEmpty(tmp_.File("spcd.log"));
      EXPECT_TRUE(spcd_->Stop()) << log;
      // The MSKs and TEKs never reach spcd's log.
      for (const auto& [id, key] : msks_logged_) {
        EXPECT_EQ(log.find(X(key)), std::string::npos) << "MSK " << id << " in the log";
      }
      spcd_.reset();
    }
    if (card_ && card_->running()) card_->Stop(SIGTERM);
    card_.reset();
    liar_.reset();
    // The next test must not meet pcscd still believing this test's card is inserted.
    EXPECT_TRUE(WaitSlotsEmpty());
    if (sub_) g_dbus_connection_signal_unsubscribe(bus_->conn(), sub_);
    bus_.reset();
  }

  void StartCard() {
    card_ = std::make_unique<smartcard_test::Process>();
    const std::string state = tmp_.File("card.ini");
    std::filesystem::remove(state);
    std::string error;
    ASSERT_TRUE(card_->Start({BCAST_UICC, "--state", state, "--port", std::to_string(port_),
                              "--init", "--k", kK, "--op", kOp},
                             &error))
        << error;
    ASSERT_TRUE(card_->WaitFor("inserted", 15s)) << card_->Output();
  }

  void StartSpcd(std::vector<std::string> args) {
    spcd_ = std::make_unique<spcd_test::Spcd>(*bus_, tmp_.File("spc.db"), tmp_.File("spcd.log"),
                                              std::move(args));
    ASSERT_TRUE(spcd_->Start());
  }

  // Waits on PC/SC events until no vpcd slot holds a card.
  static bool WaitSlotsEmpty() {
    auto ctx = PcscContext::Establish();
    if (!ctx) return false;
    auto readers = (*ctx)->Readers();
    if (!readers) return false;
    for (const auto& r : *readers) {
      auto empty = (*ctx)->WaitForCard(r, false, 15s);
      if (!empty || !*empty) return false;
    }
    return true;
  }

  // Waits (on the signal, not on time) for the n-th CardChanged; returns it.
  std::optional<std::pair<bool, std::string>> WaitChange(std::size_t n,
                                                         std::chrono::milliseconds timeout) {
    const gint64 end = g_get_monotonic_time() + timeout.count() * 1000;
    while (changes_.size() < n && g_get_monotonic_time() < end) {
      GSource* t = g_timeout_source_new(50);
      g_source_set_callback(
          t, [](gpointer) { return G_SOURCE_REMOVE; }, nullptr, nullptr);
      g_source_attach(t, nullptr);
      g_main_context_iteration(nullptr, TRUE);
      g_source_destroy(t);
      g_source_unref(t);
    }
    if (changes_.size() < n) return std::nullopt;
    return changes_[n - 1];
  }

  CallResult ProcessMtk(const std::vector<std::uint8_t>& message,
                        std::map<std::string, std::string> service = {},
                        const char* base_cid = kBaseCid) {
    if (service.empty()) {
      service = {
          {"bsf-url", net_.bsf_url()}, {"bsm-url", net_.bsm_url()}, {"key-domain", "00f110"}};
    }
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{ss}"));
    for (const auto& [k, v] : service) g_variant_builder_add(&b, "{ss}", k.c_str(), v.c_str());
    GVariant* msg =
        g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, message.data(), message.size(), 1);
    g_autoptr(GError) err = nullptr;
    g_autoptr(GVariant) r = g_dbus_connection_call_sync(
        bus_->conn(), spcd_test::kName, spcd_test::kPath, spcd_test::kIface, "ProcessMtk",
        g_variant_new("(@ays@a{ss})", msg, base_cid, g_variant_builder_end(&b)),
        G_VARIANT_TYPE("(ayayayuqqyb)"), G_DBUS_CALL_FLAGS_NONE, 60000, nullptr, &err);
    CallResult out;
    if (!r) {
      g_autofree gchar* name = g_dbus_error_get_remote_error(err);
      out.error = name ? name : "(local)";
      g_dbus_error_strip_remote_error(err);
      out.message = err->message;
      return out;
    }
    g_autoptr(GVariant) mki = nullptr;
    g_autoptr(GVariant) tek = nullptr;
    g_autoptr(GVariant) salt = nullptr;
    guint32 msk_id = 0;
    guint16 mtk_id = 0, lifetime = 0;
    guchar protocol = 0;
    gboolean auth = FALSE;
    g_variant_get(r, "(@ay@ay@ayuqqyb)", &mki, &tek, &salt, &msk_id, &mtk_id, &lifetime, &protocol,
                  &auth);
    out.mki = Bytes(mki);
    out.tek = Bytes(tek);
    out.salt = Bytes(salt);
    out.msk_id = msk_id;
    out.mtk_id = mtk_id;
    out.protocol = protocol;
    out.authenticated = auth != FALSE;
    return out;
  }

  GVariant* Status() {
    g_autoptr(GError) err = nullptr;
    GVariant* r = g_dbus_connection_call_sync(
        bus_->conn(), spcd_test::kName, spcd_test::kPath, spcd_test::kIface, "Status", nullptr,
        G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 10000, nullptr, &err);
    EXPECT_TRUE(r) << (err ? err->message : "");
    if (!r) return nullptr;
    GVariant* dict = g_variant_get_child_value(r, 0);
    g_variant_unref(r);
    return dict;
  }

  struct Mtk {
    std::vector<std::uint8_t> message;
    std::array<std::uint8_t, 16> tek{};
    std::array<std::uint8_t, 14> salt{};
  };
  Mtk MakeMtk(std::uint32_t msk_id, std::uint16_t mtk_id,
              std::optional<std::uint32_t> counter = std::nullopt) {
    Mtk m;
    RandomBytes(m.tek);
    RandomBytes(m.salt);
    const std::uint32_t c = counter ? *counter : ++mtk_counter_[msk_id];
    const auto& msk = net_.msk(msk_id);
    msks_logged_[msk_id] = msk;
    m.message = MakeMikeyMtkMessage(kDomain, msk_id, mtk_id, c, m.tek, m.salt, msk,
                                    BcastStkmExt{0, 1, 1, {}});
    return m;
  }

  static std::string* dir_;
  static int port_;
  static smartcard_test::Process* pcscd_;

  spcd_test::TempDir tmp_;
  Network net_;
  std::unique_ptr<spcd_test::PrivateBus> bus_;
  std::unique_ptr<spcd_test::Spcd> spcd_;
  std::unique_ptr<smartcard_test::Process> card_;
  std::unique_ptr<LyingCard> liar_;
  guint sub_ = 0;
  std::vector<std::pair<bool, std::string>> changes_;
  std::map<std::uint32_t, std::uint32_t> mtk_counter_;
  std::map<std::uint32_t, std::array<std::uint8_t, 16>> msks_logged_;
};

std::string* SpcdSmartcard::dir_ = nullptr;
int SpcdSmartcard::port_ = 0;
smartcard_test::Process* SpcdSmartcard::pcscd_ = nullptr;

// A blocking POST to the BSM with the GBA digest of `btid` (one 401 answered); the final status.
guint PostWithGbaDigest(const std::string& base, const std::string& path, const std::string& btid,
                        const std::string& password, const std::string& type,
                        const std::string& body) {
  g_autoptr(SoupSession) session = soup_session_new();
  soup_session_remove_feature_by_type(session, SOUP_TYPE_AUTH_MANAGER);
  std::string authorization;
  for (int round = 0; round < 2; ++round) {
    g_autoptr(SoupMessage) msg = soup_message_new("POST", (base + path).c_str());
    if (!authorization.empty()) {
      soup_message_headers_append(soup_message_get_request_headers(msg), "Authorization",
                                  authorization.c_str());
    }
    g_autoptr(GBytes) b = g_bytes_new(body.data(), body.size());
    soup_message_set_request_body_from_bytes(msg, type.c_str(), b);
    g_autoptr(GError) err = nullptr;
    g_autoptr(GBytes) answer = soup_session_send_and_read(session, msg, nullptr, &err);
    if (answer == nullptr) {
      ADD_FAILURE() << path << ": " << err->message;
      return 0;
    }
    const guint status = soup_message_get_status(msg);
    const char* www =
        soup_message_headers_get_one(soup_message_get_response_headers(msg), "WWW-Authenticate");
    if (status != SOUP_STATUS_UNAUTHORIZED || round > 0 || www == nullptr) return status;
    auto ch = ParseDigestParams(www);
    if (!ch) return status;
    const std::string realm = (*ch)["realm"], nonce = (*ch)["nonce"];
    const std::string response =
        DigestResponse(btid,
                       std::span<const std::uint8_t>(
                           reinterpret_cast<const std::uint8_t*>(password.data()), password.size()),
                       realm, "POST", path, nonce, "00000001", "0a4f113b", "auth-int", body);
    authorization = FormatDigestHeader({{"username", btid},
                                        {"realm", realm},
                                        {"nonce", nonce},
                                        {"uri", path},
                                        {"qop", "auth-int"},
                                        {"nc", "00000001"},
                                        {"cnonce", "0a4f113b"},
                                        {"response", response}});
  }
  return 0;
}

std::uint64_t U64(GVariant* dict, const char* key) {
  guint64 v = 0;
  g_variant_lookup(dict, key, "t", &v);
  return v;
}

TEST_F(SpcdSmartcard, BootstrapMskRequestMtkAndEveryRefusal) {
  ASSERT_NO_FATAL_FAILURE(StartCard());
  ASSERT_NO_FATAL_FAILURE(StartSpcd({"--smartcard=00 00", "--smartcard-impi", kImpi}));
  auto ch = WaitChange(1, 20s);
  ASSERT_TRUE(ch) << spcd_test::ReadFileOrEmpty(tmp_.File("spcd.log"));
  EXPECT_TRUE(ch->first);
  EXPECT_NE(ch->second.find("Virtual PCD"), std::string::npos) << ch->second;

  // A fresh card lacks the MSK: 6A 88 → GBA_U bootstrapping → MSK request → the TEK.
  Mtk m1 = MakeMtk(kMsk1, 7);
  CallResult r = ProcessMtk(m1.message);
  ASSERT_EQ(r.error, "") << r.message << spcd_test::ReadFileOrEmpty(tmp_.File("spcd.log"));
  EXPECT_EQ(X(r.mki), "000100010007");
  EXPECT_EQ(X(r.tek), X(m1.tek));
  EXPECT_EQ(X(r.salt), X(m1.salt));
  EXPECT_EQ(r.msk_id, kMsk1);
  EXPECT_EQ(r.mtk_id, 7);
  EXPECT_EQ(r.protocol, 1);
  EXPECT_TRUE(r.authenticated);
  EXPECT_EQ(net_.bootstraps.load(), 1);
  EXPECT_EQ(net_.bundles.load(), 1);
  // The MBMS user service registration came before the MSK request (TS 33.246 §6.3.2.1).
  EXPECT_EQ(net_.registrations.load(), 1);
  const int registered_at = net_.EventIndex(std::string("bsm registered btid="));
  ASSERT_GE(registered_at, 0) << net_.Events();
  EXPECT_LT(registered_at, net_.EventIndex("bsm msk-sent")) << net_.Events();
  {
    g_autoptr(GVariant) st = Status();
    ASSERT_TRUE(st);
    g_autoptr(GVariant) reg = g_variant_lookup_value(st, "card-registered", G_VARIANT_TYPE("as"));
    ASSERT_TRUE(reg);
    ASSERT_EQ(g_variant_n_children(reg), 1u);
    const gchar* id = nullptr;
    g_variant_get_child(reg, 0, "&s", &id);
    EXPECT_STREQ(id, kBaseCid);
  }

  // The next MTK under the same MSK: straight from the card, no HTTP.
  Mtk m2 = MakeMtk(kMsk1, 8);
  r = ProcessMtk(m2.message);
  ASSERT_EQ(r.error, "") << r.message;
  EXPECT_EQ(X(r.mki), "000100010008");
  EXPECT_EQ(X(r.tek), X(m2.tek));
  EXPECT_EQ(net_.bundles.load(), 1);

  // Replay (98 65), an older counter (98 65), a bad MAC (98 62).
  EXPECT_EQ(ProcessMtk(m2.message).error, "org.openbcast.SPC1.Error.CardReplay");
  EXPECT_EQ(ProcessMtk(MakeMtk(kMsk1, 9, 1).message).error, "org.openbcast.SPC1.Error.CardReplay");
  Mtk forged = MakeMtk(kMsk1, 10);
  forged.message.back() ^= 0x01;
  EXPECT_EQ(ProcessMtk(forged.message).error, "org.openbcast.SPC1.Error.CardBadMac");
  // The refused messages moved no counter: the next one is fine.
  Mtk m3 = MakeMtk(kMsk1, 11);
  r = ProcessMtk(m3.message);
  ASSERT_EQ(r.error, "") << r.message;
  EXPECT_EQ(X(r.tek), X(m3.tek));

  // A new MSK (key change at the head-end): 6A 88 → MSK request (the B-TID is reused) → TEK.
  Mtk m4 = MakeMtk(kMsk2, 1);
  r = ProcessMtk(m4.message);
  ASSERT_EQ(r.error, "") << r.message;
  EXPECT_EQ(X(r.mki), "000100020001");
  EXPECT_EQ(X(r.tek), X(m4.tek));
  EXPECT_EQ(net_.bootstraps.load(), 1);
  EXPECT_EQ(net_.bundles.load(), 2);
  EXPECT_EQ(net_.registrations.load(), 1);  // same B-TID: registered already

  // An MSK the BSM does not hold: the request fails by name (404), the card never got it.
  {
    std::array<std::uint8_t, 16> msk{}, tek{};
    std::array<std::uint8_t, 14> salt{};
    RandomBytes(msk);
    auto msg = MakeMikeyMtkMessage(kDomain, kMskNotAtBsm, 1, 1, tek, salt, msk, {});
    CallResult x = ProcessMtk(msg);
    EXPECT_EQ(x.error, "org.openbcast.SPC1.Error.MskRequestFailed") << x.message;
    EXPECT_NE(x.message.find("404"), std::string::npos) << x.message;
  }

  // Malformed MIKEY: named with field and offset, no card call.
  const std::size_t card_lines = card_->LineCount();
  auto cut = MakeMtk(kMsk1, 12).message;
  cut.resize(cut.size() - 25);
  r = ProcessMtk(cut);
  EXPECT_EQ(r.error, "org.openbcast.SPC1.Error.MikeyMalformed");
  EXPECT_NE(r.message.find("at byte"), std::string::npos) << r.message;
  EXPECT_EQ(ProcessMtk({0x01, 0x00}).error, "org.openbcast.SPC1.Error.MikeyMalformed");
  // An MSK message is not an MTK message.
  {
    std::array<std::uint8_t, 16> k{};
    std::array<std::uint8_t, 32> muk{};
    auto msk_msg = MakeMikeyMskMessage(kDomain, kMsk1, 99, k, muk, "127.0.0.1", "b", {}, false);
    EXPECT_EQ(ProcessMtk(msk_msg).error, "org.openbcast.SPC1.Error.MikeyMalformed");
  }
  // The service says another key domain.
  r = ProcessMtk(MakeMtk(kMsk1, 13).message,
                 {{"bsm-url", net_.bsm_url()}, {"key-domain", "abcdef"}});
  EXPECT_EQ(r.error, "org.openbcast.SPC1.Error.MikeyMalformed") << r.message;
  EXPECT_EQ(ProcessMtk(MakeMtk(kMsk1, 14).message, {{"key-domain", "xyz"}}).error,
            "org.openbcast.SPC1.Error.InvalidArgs");
  // The first APDU the card saw since is the one of this good message: none of the refused ones
  // reached it.
  Mtk m5 = MakeMtk(kMsk1, 15);
  ASSERT_EQ(ProcessMtk(m5.message).error, "");
  auto first_apdu = card_->WaitFor("apdu", 10s, card_lines);
  auto good_apdu = card_->WaitFor("apdu ok", 10s, card_lines);
  ASSERT_TRUE(first_apdu && good_apdu) << card_->Output();
  EXPECT_EQ(*first_apdu, *good_apdu) << card_->Output();

  g_autoptr(GVariant) st = Status();
  ASSERT_TRUE(st);
  gboolean present = FALSE;
  ASSERT_TRUE(g_variant_lookup(st, "card-present", "b", &present));
  EXPECT_TRUE(present);
  const gchar* btid = nullptr;
  ASSERT_TRUE(g_variant_lookup(st, "card-btid", "&s", &btid));
  EXPECT_NE(std::string(btid).find("@bsf.openbcast.test"), std::string::npos) << btid;
  EXPECT_EQ(U64(st, "card-mtks"), 5u);
  EXPECT_EQ(U64(st, "card-bootstraps"), 1u);
  EXPECT_EQ(U64(st, "card-msk-requests"), 3u);
  g_autoptr(GVariant) msks = g_variant_lookup_value(st, "card-msks", G_VARIANT_TYPE("as"));
  ASSERT_TRUE(msks);
  g_autofree gchar* msks_text = g_variant_print(msks, FALSE);
  EXPECT_STREQ(msks_text, "['00f110:00010001', '00f110:00010002']");
  g_autoptr(GVariant) refusals =
      g_variant_lookup_value(st, "card-refusals", G_VARIANT_TYPE("a{st}"));
  ASSERT_TRUE(refusals);
  guint64 n = 0;
  EXPECT_TRUE(g_variant_lookup(refusals, "CardReplay", "t", &n));
  EXPECT_EQ(n, 2u);
  EXPECT_TRUE(g_variant_lookup(refusals, "CardBadMac", "t", &n));
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(g_variant_lookup(refusals, "MikeyMalformed", "t", &n));
  EXPECT_EQ(n, 4u);
  EXPECT_TRUE(g_variant_lookup(refusals, "MskRequestFailed", "t", &n));
  EXPECT_EQ(n, 1u);

  // spcctl status shows the card (IDs and counters only).
  std::string out;
  ASSERT_EQ(spcd_test::RunCommand(
                {spcd_test::SpcctlPath(), "--bus-address", bus_->address(), "status"}, &out),
            0)
      << out;
  EXPECT_NE(out.find("smartcard:        present in Virtual PCD 00 00"), std::string::npos) << out;
  EXPECT_NE(out.find("00f110:00010002"), std::string::npos) << out;
  EXPECT_NE(out.find("CardReplay 2"), std::string::npos) << out;
}

TEST_F(SpcdSmartcard, CardRemovalAndInsertionFollowedLive) {
  ASSERT_NO_FATAL_FAILURE(StartCard());
  ASSERT_NO_FATAL_FAILURE(StartSpcd({"--smartcard", "--smartcard-impi", kImpi}));
  ASSERT_TRUE(WaitChange(1, 20s));
  EXPECT_TRUE(changes_[0].first);
  ASSERT_EQ(ProcessMtk(MakeMtk(kMsk1, 1).message).error, "");

  const std::size_t lines = card_->LineCount();
  ASSERT_TRUE(card_->Signal(SIGUSR1));  // remove
  ASSERT_TRUE(card_->WaitFor("removed", 10s, lines));
  auto gone = WaitChange(2, 20s);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->first);
  EXPECT_EQ(gone->second, changes_[0].second);
  CallResult r = ProcessMtk(MakeMtk(kMsk1, 2).message);
  EXPECT_EQ(r.error, "org.openbcast.SPC1.Error.NoCard") << r.message;
  {
    g_autoptr(GVariant) st = Status();
    gboolean present = TRUE;
    ASSERT_TRUE(g_variant_lookup(st, "card-present", "b", &present));
    EXPECT_FALSE(present);
  }

  ASSERT_TRUE(card_->Signal(SIGUSR2));  // insert again
  auto back = WaitChange(3, 20s);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->first);
  // The card kept its MSK; spcd bootstraps again for the services it knows.
  Mtk m = MakeMtk(kMsk1, 3);
  r = ProcessMtk(m.message);
  ASSERT_EQ(r.error, "") << r.message;
  EXPECT_EQ(X(r.tek), X(m.tek));
  // A new B-TID registers to the service again.
  EXPECT_TRUE(net_.WaitRegistrations(2, 20s)) << net_.Events();
}

// A service the BSM does not serve: the registration is answered "unknown", spcd names it
// RegistrationFailed and sends no MSK request; the BSM refuses an MSK request of that B-TID (403).
TEST_F(SpcdSmartcard, RegistrationToAnUnknownServiceFailsAndTheBsmWantsOne) {
  ASSERT_NO_FATAL_FAILURE(StartCard());
  ASSERT_NO_FATAL_FAILURE(StartSpcd({"--smartcard=00 00", "--smartcard-impi", kImpi}));
  ASSERT_TRUE(WaitChange(1, 20s)) << spcd_test::ReadFileOrEmpty(tmp_.File("spcd.log"));
  CallResult r = ProcessMtk(MakeMtk(kMsk1, 1).message, {}, "urn:openbcast:svc:elsewhere:");
  EXPECT_EQ(r.error, "org.openbcast.SPC1.Error.RegistrationFailed") << r.message;
  EXPECT_NE(r.message.find("unknown"), std::string::npos) << r.message;
  EXPECT_EQ(net_.bootstraps.load(), 1);
  EXPECT_EQ(net_.registrations.load(), 1);
  EXPECT_EQ(net_.bundles.load(), 0);
  g_autoptr(GVariant) st = Status();
  ASSERT_TRUE(st);
  const gchar* btid = nullptr;
  ASSERT_TRUE(g_variant_lookup(st, "card-btid", "&s", &btid));
  ASSERT_NE(std::string(btid), "");
  g_autoptr(GVariant) reg = g_variant_lookup_value(st, "card-registered", G_VARIANT_TYPE("as"));
  ASSERT_TRUE(reg);
  EXPECT_EQ(g_variant_n_children(reg), 0u);

  // The same B-TID with its genuine NAF key, straight to the BSM: 403 until registered.
  const std::string password = net_.NafPassword(btid, "127.0.0.1");
  ASSERT_NE(password, "");
  const std::string msk_request = WriteMskRequest({kDomain, {kMsk1}});
  EXPECT_EQ(PostWithGbaDigest(net_.bsm_url(), kMskRequestPath, btid, password,
                              kMskRequestContentType, msk_request),
            SOUP_STATUS_FORBIDDEN);
  EXPECT_GE(net_.EventIndex("bsm refused status=403 not-registered: B-TID " + std::string(btid)), 0)
      << net_.Events();
  EXPECT_EQ(PostWithGbaDigest(net_.bsm_url(), kRegisterPath, btid, password, kRegisterContentType,
                              WriteRegisterRequest({kBaseCid})),
            SOUP_STATUS_OK);
  EXPECT_EQ(PostWithGbaDigest(net_.bsm_url(), kMskRequestPath, btid, password,
                              kMskRequestContentType, msk_request),
            SOUP_STATUS_OK)
      << net_.Events();
  EXPECT_EQ(net_.bundles.load(), 1);
}

TEST_F(SpcdSmartcard, UnknownSubscriberBootstrapFails) {
  ASSERT_NO_FATAL_FAILURE(StartCard());
  ASSERT_NO_FATAL_FAILURE(
      StartSpcd({"--smartcard", "--smartcard-impi", "999999999999999@ims.example"}));
  ASSERT_TRUE(WaitChange(1, 20s));
  CallResult r = ProcessMtk(MakeMtk(kMsk1, 1).message);
  EXPECT_EQ(r.error, "org.openbcast.SPC1.Error.BootstrapFailed") << r.message;
  EXPECT_NE(r.message.find("403"), std::string::npos) << r.message;
  // No BSF named anywhere: bootstrapping cannot start.
  r = ProcessMtk(MakeMtk(kMsk1, 2).message, {{"bsm-url", net_.bsm_url()}});
  EXPECT_EQ(r.error, "org.openbcast.SPC1.Error.BootstrapFailed") << r.message;
}

TEST_F(SpcdSmartcard, LyingCardResponsesAreNamed) {
  // The second vpcd slot (PORT+1) holds a card that answers with lengths that lie.
  liar_ = std::make_unique<LyingCard>(port_ + 1);
  LyingCard& liar = *liar_;
  ASSERT_TRUE(liar.connected());
  ASSERT_NO_FATAL_FAILURE(StartSpcd({"--smartcard=PCD 00 01"}));
  ASSERT_TRUE(WaitChange(1, 20s));
  EXPECT_NE(changes_[0].second.find("00 01"), std::string::npos) << changes_[0].second;
  CallResult r = ProcessMtk(MakeMtk(kMsk1, 1).message);
  EXPECT_EQ(r.error, "org.openbcast.SPC1.Error.CardMalformedResponse") << r.message;
  EXPECT_NE(r.message.find("at byte"), std::string::npos) << r.message;
  r = ProcessMtk(MakeMtk(kMsk1, 2).message);
  EXPECT_EQ(r.error, "org.openbcast.SPC1.Error.CardMalformedResponse") << r.message;
  EXPECT_EQ(liar.mtk_commands.load(), 2);
}

// Waits for the element message `name` on `bus` (up to 20 s, on the bus, not on time).
GstMessage* WaitElementMessage(GstBus* bus, const char* name) {
  const gint64 end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < end) {
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, static_cast<GstClockTime>(end - g_get_monotonic_time()) * 1000, GST_MESSAGE_ELEMENT);
    if (!m) break;
    if (gst_structure_has_name(gst_message_get_structure(m), name)) return m;
    gst_message_unref(m);
  }
  return nullptr;
}

// tekdec profile=smartcard: key-stream datagrams (MIKEY MTK messages) go through spcd to the
// card; the TEKs enter the keyring under MSK ID and MTK ID; a removed card is reported with the
// TEKs kept (playback goes on with them) and the keys flow again once it is back.
TEST_F(SpcdSmartcard, TekdecSmartcardKeysIntoKeyringAcrossCardRemoval) {
  ASSERT_NO_FATAL_FAILURE(StartCard());
  ASSERT_NO_FATAL_FAILURE(StartSpcd({"--smartcard", "--smartcard-impi", kImpi}));
  ASSERT_TRUE(WaitChange(1, 20s));
  gst_init(nullptr, nullptr);
  static bool registered = GST_ELEMENT_REGISTER(tekdec, nullptr);
  ASSERT_TRUE(registered);
  GstElement* dec = gst_element_factory_make("tekdec", nullptr);
  ASSERT_NE(dec, nullptr);
  gst_object_ref_sink(dec);
  GstBus* gbus = gst_bus_new();
  gst_element_set_bus(dec, gbus);
  g_object_set(dec, "bus-address", bus_->address().c_str(), "profile", "smartcard", "bsf-url",
               net_.bsf_url().c_str(), "bsm-url", net_.bsm_url().c_str(), "key-domain", "f110",
               "base-cid", "urn:openbcast:svc:sc:", nullptr);
  GstHarness* h = gst_harness_new_with_element(dec, "sink", nullptr);
  gst_harness_play(h);
  gst_harness_set_src_caps_str(h, "application/x-bcast-stkm");
  GstContext* context = gst_element_get_context(dec, BCAST_KEYRING_CONTEXT_TYPE);
  ASSERT_NE(context, nullptr);
  BcastKeyring* ring = bcast_keyring_from_context(context);
  gst_context_unref(context);
  ASSERT_NE(ring, nullptr);
  auto push = [&](const std::vector<std::uint8_t>& bytes) {
    return gst_harness_push(h, gst_buffer_new_memdup(bytes.data(), bytes.size()));
  };
  auto expect_tek = [&](const Mtk& m, std::uint32_t msk_id, std::uint16_t mtk_id) {
    GstMessage* msg = WaitElementMessage(gbus, "openbcast-tek");
    ASSERT_NE(msg, nullptr) << spcd_test::ReadFileOrEmpty(tmp_.File("spcd.log"));
    gst_message_unref(msg);
    BcastTek out{};
    ASSERT_TRUE(bcast_keyring_lookup_key(ring, (std::uint64_t{msk_id} << 16) | mtk_id, &out));
    EXPECT_EQ(out.msk_id, msk_id);
    EXPECT_EQ(out.id, mtk_id);
    EXPECT_EQ(X(std::span<const guint8>(out.key, 16)), X(m.tek));
    EXPECT_EQ(X(std::span<const guint8>(out.salt, 14)), X(m.salt));
    EXPECT_EQ(out.protocol, 1);
  };

  Mtk m1 = MakeMtk(kMsk1, 21);
  ASSERT_EQ(push(m1.message), GST_FLOW_OK);
  ASSERT_NO_FATAL_FAILURE(expect_tek(m1, kMsk1, 21));
  // The same datagram again (the network repeats): not sent to the card, no replay refusal.
  ASSERT_EQ(push(m1.message), GST_FLOW_OK);
  Mtk m2 = MakeMtk(kMsk1, 22);
  ASSERT_EQ(push(m2.message), GST_FLOW_OK);
  ASSERT_NO_FATAL_FAILURE(expect_tek(m2, kMsk1, 22));

  ASSERT_TRUE(card_->Signal(SIGUSR1));
  GstMessage* gone = WaitElementMessage(gbus, "openbcast-smartcard");
  ASSERT_NE(gone, nullptr);
  gboolean present = TRUE;
  gst_structure_get_boolean(gst_message_get_structure(gone), "present", &present);
  EXPECT_FALSE(present);
  gst_message_unref(gone);
  // The TEKs held stay usable while the card is out.
  BcastTek held{};
  EXPECT_TRUE(bcast_keyring_lookup_key(ring, 0x000100010016ull, &held));

  ASSERT_TRUE(card_->Signal(SIGUSR2));
  GstMessage* back = WaitElementMessage(gbus, "openbcast-smartcard");
  ASSERT_NE(back, nullptr);
  gst_structure_get_boolean(gst_message_get_structure(back), "present", &present);
  EXPECT_TRUE(present);
  gst_message_unref(back);
  Mtk m3 = MakeMtk(kMsk1, 23);
  ASSERT_EQ(push(m3.message), GST_FLOW_OK);
  ASSERT_NO_FATAL_FAILURE(expect_tek(m3, kMsk1, 23));

  g_autoptr(GVariant) st = Status();
  g_autoptr(GVariant) refusals =
      g_variant_lookup_value(st, "card-refusals", G_VARIANT_TYPE("a{st}"));
  guint64 replays = 0;
  if (refusals) g_variant_lookup(refusals, "CardReplay", "t", &replays);
  EXPECT_EQ(replays, 0u) << "a repeated datagram reached the card";

  gst_harness_teardown(h);
  g_object_unref(ring);
  gst_bus_set_flushing(gbus, TRUE);
  gst_object_unref(gbus);
  gst_object_unref(dec);
}

// The SDP of a Smartcard Profile service: profile and URLs read, and written back.
TEST(SmartcardSdp, ProfileAndUrlsRoundTrip) {
  const std::string text =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=sc\r\nt=0 0\r\na=bcast-profile:smartcard\r\n"
      "a=bcast-bsf-url:http://127.0.0.1:1/\r\na=bcast-bsm-url:http://127.0.0.1:2\r\n"
      "m=application 5000 UDP vnd.oma.bcast.stkm\r\nc=IN IP4 127.0.0.1\r\n"
      "a=stkmstream:1\r\na=bcast-basecid:urn:x:\r\na=bcast-keydomain:00f110\r\n"
      "m=video 5002 RTP/SAVP 96\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:96 H264/90000\r\n"
      "a=stkmstream:1\r\na=bcast-mki-length:6\r\n";
  auto sd = channels::ParseSessionDescription(text);
  ASSERT_TRUE(sd) << sd.error().message;
  EXPECT_TRUE(sd->smartcard());
  EXPECT_EQ(sd->bsf_url, "http://127.0.0.1:1/");
  EXPECT_EQ(sd->bsm_url, "http://127.0.0.1:2");
  ASSERT_EQ(sd->media.size(), 1u);
  EXPECT_EQ(sd->media[0].mki_length, 6);
  auto back = channels::ParseSessionDescription(channels::WriteSessionDescription(*sd));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *sd);
  auto drm = channels::ParseSessionDescription(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=d\r\nt=0 0\r\n"
      "m=video 5002 RTP/AVP 96\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:96 H264/90000\r\n");
  ASSERT_TRUE(drm);
  EXPECT_FALSE(drm->smartcard());
}

TEST(SpcdSmartcardOff, ProcessMtkWithoutSmartcardOption) {
  spcd_test::TempDir tmp;
  spcd_test::PrivateBus bus(tmp.path());
  ASSERT_TRUE(bus.ok());
  spcd_test::Spcd spcd(bus, tmp.File("spc.db"), tmp.File("spcd.log"));
  ASSERT_TRUE(spcd.Start());
  GVariantBuilder b;
  g_variant_builder_init(&b, G_VARIANT_TYPE("a{ss}"));
  const std::uint8_t one = 1;
  g_autoptr(GError) err = nullptr;
  g_autoptr(GVariant) r = g_dbus_connection_call_sync(
      bus.conn(), spcd_test::kName, spcd_test::kPath, spcd_test::kIface, "ProcessMtk",
      g_variant_new("(@ays@a{ss})", g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, &one, 1, 1), "x",
                    g_variant_builder_end(&b)),
      nullptr, G_DBUS_CALL_FLAGS_NONE, 10000, nullptr, &err);
  ASSERT_FALSE(r);
  g_autofree gchar* name = g_dbus_error_get_remote_error(err);
  EXPECT_STREQ(name, "org.openbcast.SPC1.Error.NotSmartcard");
  EXPECT_TRUE(spcd.Stop());
}

}  // namespace
}  // namespace spc::smartcard
