// The virtual card bcast-uicc: one scenario (GBA_U bootstrapping and NAF derivation against a
// test-side BSF, MSK update with verification, MTK generation, and every refusal: replayed MTK
// 98 65, bad MAC 98 62, unknown MSK 6A 88, malformed MIKEY and APDUs) run twice: against the card
// logic in-process, and through the real stack — pcscd with the vpcd driver, bcast-uicc
// connected to it, APDUs sent with libpcsclite's SCardTransmit. The PC/SC part also removes and
// re-inserts the card, and restarts it from its state file (0600) with replay protection intact.
//
// pcscd has one fixed socket (/run/pcscd), so this program runs alone (is_parallel: false) and
// starts its own pcscd with a private reader.conf.d whose vpcd port is free.
#include <PCSC/winscard.h>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "samples/uicc/card.h"
#include "spc/libspc/crypto.h"
#include "spc/libspc/smartcard/apdu.h"
#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/gba_ub.h"
#include "spc/libspc/smartcard/mikey.h"
#include "spc/libspc/smartcard/milenage.h"
#include "spc/libspc/smartcard/pcsc.h"
#include "spc/libspc/smartcard/usim.h"
#include "tests/smartcard/process.h"
#include "tests/smartcard/test_util.h"

namespace spc::smartcard {
namespace {

using namespace std::chrono_literals;
using testing::A;
using testing::X;

using Transmit = std::function<std::vector<std::uint8_t>(const std::vector<std::uint8_t>&)>;

const auto kK = A<16>("465b5ce8b199b49faa5f0a2ee238a6bc");
const auto kOpc = A<16>("cd63cb71954a9f4e48a5994e37a02baf");
const char kNaf[] = "bsm.openbcast.test";
const char kImpi[] = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org";
const KeyDomainId kDomain = {0x00, 0xf1, 0x10};
const std::uint32_t kMskId = 0x00010001;

struct Reply {
  std::vector<std::uint8_t> data;
  std::uint16_t sw = 0;
};

Reply Send(const Transmit& t, const CommandApdu& c) {
  auto raw = t(WriteCommandApdu(c));
  auto r = ParseResponseApdu(raw);
  EXPECT_TRUE(r) << "response " << X(raw);
  if (!r) return {};
  return {r->data, r->sw};
}

// The network side: a BSF with the subscriber's K/OPc and a BSM with the MSK.
struct Network {
  std::uint64_t sqn = 0x20;
  std::array<std::uint8_t, 32> muk{};
  std::array<std::uint8_t, 16> msk{};
  std::uint32_t msk_counter = 0;
  std::uint32_t mtk_counter = 0;

  std::array<std::uint8_t, 6> Sqn() const {
    std::array<std::uint8_t, 6> s{};
    for (int i = 0; i < 6; ++i) s[i] = static_cast<std::uint8_t>(sqn >> (40 - 8 * i));
    return s;
  }
};

BcastStkmExt StkmExt(std::size_t descriptors = 1) {
  BcastStkmExt e{0, 1, 1, {}};
  for (std::size_t i = 0; i < descriptors; ++i) e.access_criteria.push_back({1, {18}});
  return e;
}

// Bootstrapping, NAF derivation and MSK delivery: leaves the card holding the MSK.
void Provision(const Transmit& t, Network& net) {
  std::array<std::uint8_t, 16> rand{};
  RandomBytes(rand);
  net.sqn += 1;
  const Amf amf{0x80, 0x00};
  Reply b =
      Send(t, MakeGbaBootstrapCommand(rand, MilenageMakeAutn(kK, kOpc, rand, net.Sqn(), amf)));
  ASSERT_EQ(b.sw, kSwOk) << StatusWordName(b.sw);
  auto boot = ParseGbaBootstrapResponse(b.data);
  ASSERT_TRUE(boot) << boot.error().field;
  ASSERT_FALSE(boot->sync_failure);
  MilenageF2345Out f = MilenageF2345(kK, kOpc, rand);
  EXPECT_EQ(X(boot->res), X(f.res));
  GbaKey ks = GbaKs(f.ck, f.ik);

  auto naf_id = GbaNafId(kNaf);
  Reply n = Send(t, MakeGbaNafDerivationCommand(naf_id, kImpi));
  ASSERT_EQ(n.sw, kSwOk) << StatusWordName(n.sw);
  auto ext = ParseGbaNafResponse(n.data);
  ASSERT_TRUE(ext);
  EXPECT_EQ(X(*ext), X(GbaNafKey(ks, GbaNafKeyKind::kExt, rand, kImpi, naf_id)));
  net.muk = GbaNafKey(ks, GbaNafKeyKind::kInt, rand, kImpi, naf_id);
  EXPECT_NE(X(*ext), X(net.muk)) << "Ks_int_NAF must differ from what the card hands out";

  RandomBytes(net.msk);
  const std::string btid = GbaBtid(rand, "bsf.openbcast.test");
  auto msk_msg = MakeMikeyMskMessage(kDomain, kMskId, ++net.msk_counter, net.msk, net.muk, kNaf,
                                     btid, BcastLtkmExt{1, {}, {}}, true);
  Reply u = Send(t, MakeMskUpdateCommand(msk_msg));
  ASSERT_EQ(u.sw, kSwOk) << StatusWordName(u.sw);
  auto ver = ParseMskUpdateResponse(u.data);
  ASSERT_TRUE(ver);
  auto vm = ParseMikey(*ver);
  ASSERT_TRUE(vm) << vm.error().field;
  EXPECT_TRUE(CheckMikeyVerification(*vm, *ParseMikey(msk_msg), net.muk));
}

// One MTK message; checks the returned MTK and salt.
std::vector<std::uint8_t> MtkMessage(Network& net, std::uint16_t mtk_id,
                                     std::array<std::uint8_t, 16>& mtk,
                                     std::array<std::uint8_t, 14>& salt, std::size_t ext_size = 1) {
  RandomBytes(mtk);
  RandomBytes(salt);
  return MakeMikeyMtkMessage(kDomain, kMskId, mtk_id, ++net.mtk_counter, mtk, salt, net.msk,
                             StkmExt(ext_size));
}

void ExpectMtk(const Transmit& t, Network& net, std::uint16_t mtk_id, std::size_t ext_size = 1) {
  std::array<std::uint8_t, 16> mtk{};
  std::array<std::uint8_t, 14> salt{};
  Reply r = Send(t, MakeMtkGenerationCommand(MtkMessage(net, mtk_id, mtk, salt, ext_size)));
  ASSERT_EQ(r.sw, kSwOk) << StatusWordName(r.sw);
  auto m = ParseMtkResponse(r.data);
  ASSERT_TRUE(m) << m.error().field;
  EXPECT_EQ(m->mtk, mtk);
  EXPECT_EQ(m->salt, salt);
}

void RunScenario(const Transmit& t) {
  Network net;
  ASSERT_NO_FATAL_FAILURE(Provision(t, net));
  ASSERT_NO_FATAL_FAILURE(ExpectMtk(t, net, 1));
  // An MTK message > 127 bytes: tag 53 needs the 81 xx BER length.
  ASSERT_NO_FATAL_FAILURE(ExpectMtk(t, net, 2, 40));

  std::array<std::uint8_t, 16> mtk{};
  std::array<std::uint8_t, 14> salt{};
  auto msg = MtkMessage(net, 3, mtk, salt);
  EXPECT_EQ(Send(t, MakeMtkGenerationCommand(msg)).sw, kSwOk);
  // Replay: 98 65.
  EXPECT_EQ(Send(t, MakeMtkGenerationCommand(msg)).sw, kSwKeyFreshness);
  // An older counter with a valid MAC: 98 65 too.
  net.mtk_counter -= 2;
  EXPECT_EQ(Send(t, MakeMtkGenerationCommand(MtkMessage(net, 4, mtk, salt))).sw, kSwKeyFreshness);
  net.mtk_counter += 2;
  // Bad MAC: 98 62.
  auto forged = MtkMessage(net, 5, mtk, salt);
  forged.back() ^= 0x01;
  EXPECT_EQ(Send(t, MakeMtkGenerationCommand(forged)).sw, kSwBadMac);
  // The counter of the forged message was not consumed.
  ASSERT_NO_FATAL_FAILURE(ExpectMtk(t, net, 6));
  // Unknown MSK: 6A 88.
  auto other = MakeMikeyMtkMessage(kDomain, kMskId + 1, 1, 1000, mtk, salt, net.msk, StkmExt());
  EXPECT_EQ(Send(t, MakeMtkGenerationCommand(other)).sw, kSwKeyNotFound);
  // Malformed MIKEY: 6A 80; malformed APDU fields: 6A 86, 6D 00, 67 00.
  auto cut = MtkMessage(net, 7, mtk, salt);
  cut.resize(cut.size() - 5);
  EXPECT_EQ(Send(t, MakeMtkGenerationCommand(cut)).sw, kSwWrongData);
  auto bad_p2 = MakeMtkGenerationCommand(msg);
  bad_p2.p2 = 0x86;
  EXPECT_EQ(Send(t, bad_p2).sw, kSwWrongP1P2);
  auto bad_ins = bad_p2;
  bad_ins.ins = 0xA4;
  EXPECT_EQ(Send(t, bad_ins).sw, kSwInsNotSupported);
  EXPECT_EQ(X(t(std::vector<std::uint8_t>{0x00, 0x89, 0x80, 0x85, 0x09, 0x53})), "6700");

  // MSK messages: replay 98 65, wrong MUK 98 62, unknown NAF 6A 88.
  std::array<std::uint8_t, 16> msk2{};
  RandomBytes(msk2);
  auto msk_msg = MakeMikeyMskMessage(kDomain, kMskId, ++net.msk_counter, net.msk, net.muk, kNaf,
                                     "btid", BcastLtkmExt{1, {}, {}}, false);
  EXPECT_EQ(Send(t, MakeMskUpdateCommand(msk_msg)).sw, kSwOk);
  EXPECT_EQ(Send(t, MakeMskUpdateCommand(msk_msg)).sw, kSwKeyFreshness);
  auto wrong_muk = net.muk;
  wrong_muk[0] ^= 1;
  EXPECT_EQ(Send(t, MakeMskUpdateCommand(MakeMikeyMskMessage(kDomain, kMskId + 1, 99, msk2,
                                                             wrong_muk, kNaf, "btid", {}, false)))
                .sw,
            kSwBadMac);
  EXPECT_EQ(Send(t, MakeMskUpdateCommand(MakeMikeyMskMessage(kDomain, kMskId + 1, 99, msk2, net.muk,
                                                             "other.example", "btid", {}, false)))
                .sw,
            kSwKeyNotFound);

  // GBA: a replayed AUTN is a synchronisation failure with an AUTS that gives SQN_MS back; a bad
  // AUTN MAC is 98 62.
  std::array<std::uint8_t, 16> rand{};
  RandomBytes(rand);
  auto old_sqn = net.Sqn();
  Reply s = Send(
      t, MakeGbaBootstrapCommand(rand, MilenageMakeAutn(kK, kOpc, rand, old_sqn, Amf{0x80, 0})));
  ASSERT_EQ(s.sw, kSwOk);
  auto sync = ParseGbaBootstrapResponse(s.data);
  ASSERT_TRUE(sync);
  ASSERT_TRUE(sync->sync_failure);
  std::array<std::uint8_t, 6> sqn_ms{};
  ASSERT_TRUE(MilenageResync(kK, kOpc, rand, sync->auts, sqn_ms));
  EXPECT_EQ(sqn_ms, old_sqn);
  auto autn = MilenageMakeAutn(kK, kOpc, rand, Network{net.sqn + 5}.Sqn(), Amf{0x80, 0});
  autn[15] ^= 1;
  EXPECT_EQ(Send(t, MakeGbaBootstrapCommand(rand, autn)).sw, kSwBadMac);

  // MSK deletion: the key group goes, MTKs under it are "key not found", a second deletion too.
  EXPECT_EQ(Send(t, MakeMskDeletionCommand(kDomain, 0x0001)).sw, kSwOk);
  EXPECT_EQ(Send(t, MakeMtkGenerationCommand(MtkMessage(net, 8, mtk, salt))).sw, kSwKeyNotFound);
  EXPECT_EQ(Send(t, MakeMskDeletionCommand(kDomain, 0x0001)).sw, kSwKeyNotFound);
}

bcast::uicc::CardState FreshState() {
  bcast::uicc::CardState st;
  st.k = kK;
  st.opc = kOpc;
  return st;
}

TEST(UiccCard, ScenarioInProcess) {
  bcast::uicc::Card card(FreshState(), "");
  RunScenario([&](const std::vector<std::uint8_t>& c) { return card.Process(c); });
}

TEST(UiccCard, StateFileRoundTripAndCorruption) {
  const std::string path =
      std::filesystem::temp_directory_path() / ("uicc-state-" + std::to_string(getpid()) + ".ini");
  bcast::uicc::Card card(FreshState(), path);
  Transmit t = [&](const std::vector<std::uint8_t>& c) { return card.Process(c); };
  Network net;
  ASSERT_NO_FATAL_FAILURE(Provision(t, net));
  bcast::uicc::CardState loaded;
  std::string error;
  ASSERT_TRUE(bcast::uicc::LoadCardState(path, loaded, error)) << error;
  EXPECT_EQ(loaded.k, kK);
  EXPECT_TRUE(loaded.have_ks);
  EXPECT_EQ(loaded.muks.size(), 1u);
  ASSERT_EQ(loaded.msks.size(), 1u);
  EXPECT_EQ(loaded.msks.begin()->second.key, net.msk);
  EXPECT_EQ(loaded.muks.begin()->second.counter, 1u);
  std::ofstream(path) << "[card]\nk=zz\n";
  bcast::uicc::CardState bad;
  EXPECT_FALSE(bcast::uicc::LoadCardState(path, bad, error));
  EXPECT_NE(error.find("[card]"), std::string::npos) << error;
  std::filesystem::remove(path);
}

TEST(UiccCard, NafDerivationBeforeBootstrapping) {
  bcast::uicc::Card card(FreshState(), "");
  auto r = ParseResponseApdu(
      card.Process(WriteCommandApdu(MakeGbaNafDerivationCommand(GbaNafId(kNaf), kImpi))));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->sw, kSwConditionsNotSatisfied);
}

TEST(UiccCard, AtMostTwoMsksPerKeyGroup) {
  bcast::uicc::Card card(FreshState(), "");
  Transmit t = [&](const std::vector<std::uint8_t>& c) { return card.Process(c); };
  Network net;
  ASSERT_NO_FATAL_FAILURE(Provision(t, net));  // MSK 00010001
  std::array<std::uint8_t, 16> msk{};
  for (std::uint32_t id : {0x00010002u, 0x00010003u}) {
    EXPECT_EQ(Send(t, MakeMskUpdateCommand(MakeMikeyMskMessage(kDomain, id, ++net.msk_counter, msk,
                                                               net.muk, kNaf, "b", {}, false)))
                  .sw,
              kSwOk);
  }
  // The oldest (00010001) made room; an MSK older than both held ones finds none.
  EXPECT_EQ(card.state().msks.size(), 2u);
  EXPECT_FALSE(card.state().msks.count(bcast::uicc::MskMapKey(kDomain, kMskId)));
  EXPECT_EQ(Send(t, MakeMskUpdateCommand(MakeMikeyMskMessage(kDomain, 0x00010000, ++net.msk_counter,
                                                             msk, net.muk, kNaf, "b", {}, false)))
                .sw,
            kSwNoMemoryMsk);
}

// ---- Through pcscd + vpcd ----

int FreePortPair() {
  // vpcd opens two slots, on PORT and PORT+1; find a port whose successor is free too.
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

class PcscTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() /
                           ("bcast-uicc-test-" + std::to_string(getpid())));
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
    // pcscd 1.9.9 logs "daemon ready" before it binds /run/pcscd/pcscd.comm and logs nothing
    // after; until then SCardEstablishContext answers "no service". Retry that until a deadline.
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
    auto ctx = PcscContext::Establish();
    ASSERT_TRUE(ctx) << ctx.error().message << pcscd_->Output();
    ctx_ = std::move(*ctx);
    state_path_ =
        *dir_ + "/card-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".ini";
    std::filesystem::remove(state_path_);
  }
  void TearDown() override {
    pcsc_card_.reset();
    if (card_ && card_->running()) {
      card_->Stop(SIGTERM);
      // The next test's card must not meet pcscd still believing this one is inserted.
      EXPECT_TRUE(WaitCard(false, 15s));
    }
    card_.reset();
    ctx_.reset();
  }

  void StartCard(bool init, bool t0 = false) {
    card_ = std::make_unique<smartcard_test::Process>();
    std::vector<std::string> argv = {BCAST_UICC, "--state", state_path_, "--port",
                                     std::to_string(port_)};
    if (init) {
      for (const char* a : {"--init", "--k", "465b5ce8b199b49faa5f0a2ee238a6bc", "--op",
                            "cdc202d5123e20f62b6d676ac72cb318"}) {
        argv.push_back(a);
      }
    }
    if (t0) argv.push_back("--t0");
    std::string error;
    ASSERT_TRUE(card_->Start(argv, &error)) << error;
    ASSERT_TRUE(card_->WaitFor("inserted", 15s)) << card_->Output();
  }

  std::string ReaderName() {
    auto readers = ctx_->Readers();
    if (!readers) return "";
    for (const auto& name : *readers) {
      if (name.find("Virtual PCD") != std::string::npos && name.ends_with("00 00")) return name;
    }
    return "";
  }

  // Waits (on pcscd's own state change notification) until the card is present or absent.
  bool WaitCard(bool present, std::chrono::milliseconds timeout) {
    const std::string reader = ReaderName();
    if (reader.empty()) return false;
    auto r = ctx_->WaitForCard(reader, present, timeout);
    EXPECT_TRUE(r) << r.error().message;
    return r && *r;
  }

  void ConnectCard() {
    ASSERT_TRUE(WaitCard(true, 15s)) << card_->Output();
    auto c = ctx_->Connect(ReaderName());
    ASSERT_TRUE(c) << c.error().message;
    pcsc_card_ = std::move(*c);
  }

  Transmit PcscTransmit() {
    return [this](const std::vector<std::uint8_t>& c) {
      auto r = pcsc_card_->Transmit(c);
      EXPECT_TRUE(r) << r.error().message;
      return r ? *r : std::vector<std::uint8_t>{};
    };
  }

  static std::string* dir_;
  static int port_;
  static smartcard_test::Process* pcscd_;
  std::unique_ptr<PcscContext> ctx_;
  std::unique_ptr<PcscCard> pcsc_card_;
  std::string state_path_;
  std::unique_ptr<smartcard_test::Process> card_;
};

std::string* PcscTest::dir_ = nullptr;
int PcscTest::port_ = 0;
smartcard_test::Process* PcscTest::pcscd_ = nullptr;

TEST_F(PcscTest, ScenarioThroughPcscdAndVpcd) {
  ASSERT_NO_FATAL_FAILURE(StartCard(true));
  ASSERT_NO_FATAL_FAILURE(ConnectCard());
  EXPECT_FALSE(pcsc_card_->t0());
  RunScenario(PcscTransmit());
  // The card logged what it did, without key bytes.
  EXPECT_TRUE(card_->WaitFor("apdu key-freshness-failure: MTK generation", 1s));
  EXPECT_TRUE(card_->WaitFor("apdu bad-mac: MTK generation", 1s));
}

TEST_F(PcscTest, RemovalReinsertionAndRestartKeepState) {
  ASSERT_NO_FATAL_FAILURE(StartCard(true));
  ASSERT_NO_FATAL_FAILURE(ConnectCard());
  Network net;
  Transmit t = PcscTransmit();
  ASSERT_NO_FATAL_FAILURE(Provision(t, net));
  ASSERT_NO_FATAL_FAILURE(ExpectMtk(t, net, 1));

  struct stat st {};
  ASSERT_EQ(stat(state_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Removal: pcscd sees the slot empty, the open handle fails.
  const std::size_t mark = card_->LineCount();
  ASSERT_TRUE(card_->Signal(SIGUSR1));
  ASSERT_TRUE(card_->WaitFor("removed", 10s, mark));
  ASSERT_TRUE(WaitCard(false, 15s));
  std::array<std::uint8_t, 16> mtk{};
  std::array<std::uint8_t, 14> salt{};
  auto gone = pcsc_card_->Transmit(
      WriteCommandApdu(MakeMtkGenerationCommand(MtkMessage(net, 2, mtk, salt))));
  ASSERT_FALSE(gone);
  EXPECT_TRUE(gone.error().rv == SCARD_W_REMOVED_CARD || gone.error().rv == SCARD_E_NO_SMARTCARD ||
              gone.error().rv == SCARD_W_RESET_CARD ||
              gone.error().rv == SCARD_E_READER_UNAVAILABLE)
      << gone.error().message;
  // The USIM layer reports it as a transport failure.
  Usim usim(pcsc_card_->Transport());
  auto failed = usim.MtkGeneration(MtkMessage(net, 2, mtk, salt));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, UsimError::kTransport);
  pcsc_card_.reset();

  // Re-insertion: same card, same MSK.
  ASSERT_TRUE(card_->Signal(SIGUSR2));
  ASSERT_TRUE(card_->WaitFor("inserted", 10s, mark));
  ASSERT_NO_FATAL_FAILURE(ConnectCard());
  ASSERT_NO_FATAL_FAILURE(ExpectMtk(t, net, 3));
  auto replay = MtkMessage(net, 4, mtk, salt);
  EXPECT_EQ(Send(t, MakeMtkGenerationCommand(replay)).sw, kSwOk);

  // Restart from the state file: the counters survived, the replay is still refused.
  pcsc_card_.reset();
  ASSERT_EQ(card_->Stop(SIGTERM), 0);
  ASSERT_TRUE(WaitCard(false, 15s));
  ASSERT_NO_FATAL_FAILURE(StartCard(false));
  ASSERT_NO_FATAL_FAILURE(ConnectCard());
  EXPECT_EQ(Send(t, MakeMtkGenerationCommand(replay)).sw, kSwKeyFreshness);
  ASSERT_NO_FATAL_FAILURE(ExpectMtk(t, net, 5));
}

// A fresh card made with its BSF subscriber entry, then the whole key chain over PC/SC: Ub
// bootstrapping (HTTP Digest AKA logic), NAF derivation, MSK delivery under the BSF's MUK for
// the B-TID, MTK generation; the terminal ends with TEK+salt and the SRTP MKI.
TEST_F(PcscTest, FreshCardEndToEnd) {
  const std::string subscribers = *dir_ + "/subscribers.ini";
  std::filesystem::remove(subscribers);
  card_ = std::make_unique<smartcard_test::Process>();
  std::string error;
  ASSERT_TRUE(card_->Start(
      {BCAST_UICC, "--state", state_path_, "--port", std::to_string(port_), "--init", "--k",
       "000102030405060708090a0b0c0d0e0f", "--op", "cdc202d5123e20f62b6d676ac72cb318", "--impi",
       kImpi, "--subscriber-file", subscribers},
      &error))
      << error;
  ASSERT_TRUE(card_->WaitFor("inserted", 15s)) << card_->Output();
  ASSERT_NO_FATAL_FAILURE(ConnectCard());

  Bsf bsf("bsf.openbcast.test", 3600s);
  auto loaded = bsf.LoadSubscribers(subscribers);
  ASSERT_TRUE(loaded) << loaded.error().message;
  Usim usim(pcsc_card_->Transport());
  auto www = bsf.Challenge(kImpi);
  ASSERT_TRUE(www);
  auto ans = AnswerUbChallenge(usim, kImpi, *www, "GET", kUbUri, "");
  ASSERT_TRUE(ans) << ans.error().message;
  auto out =
      bsf.Authenticate(ans->authorization, "GET", kUbUri, "", std::chrono::system_clock::now());
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_FALSE(out->resync);
  const std::string btid = out->info.btid;

  auto naf_id = GbaNafId(kNaf);
  auto ext = usim.GbaNafDerivation(naf_id, kImpi);
  ASSERT_TRUE(ext) << ext.error().message;
  auto keys = bsf.GetNafKeys(btid, naf_id, std::chrono::system_clock::now());
  ASSERT_TRUE(keys);
  EXPECT_EQ(X(*ext), X(keys->ks_ext_naf));

  std::array<std::uint8_t, 16> msk{};
  RandomBytes(msk);
  auto msk_msg = MakeMikeyMskMessage(kDomain, kMskId, 1, msk, keys->ks_int_naf, kNaf, btid,
                                     BcastLtkmExt{1, {}, {}}, true);
  auto ver = usim.MskUpdate(msk_msg);
  ASSERT_TRUE(ver) << ver.error().message;
  EXPECT_TRUE(CheckMikeyVerification(*ParseMikey(*ver), *ParseMikey(msk_msg), keys->ks_int_naf));

  for (std::uint16_t mtk_id = 1; mtk_id <= 3; ++mtk_id) {
    std::array<std::uint8_t, 16> mtk{};
    std::array<std::uint8_t, 14> salt{};
    RandomBytes(mtk);
    RandomBytes(salt);
    auto stkm = MakeMikeyMtkMessage(kDomain, kMskId, mtk_id, mtk_id, mtk, salt, msk, StkmExt());
    auto m = usim.MtkGeneration(stkm);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->mtk, mtk);
    EXPECT_EQ(m->salt, salt);
    auto parsed = ParseMikey(stkm);
    EXPECT_EQ(X(SrtpMkiFor(parsed->key_id.msk_id, parsed->key_id.mtk_id)),
              "00010001000" + std::to_string(mtk_id));
  }
  struct stat st {};
  ASSERT_EQ(stat(subscribers.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(PcscTest, T0CardAnswersThroughGetResponse) {
  ASSERT_NO_FATAL_FAILURE(StartCard(true, true));
  ASSERT_NO_FATAL_FAILURE(ConnectCard());
  ASSERT_TRUE(pcsc_card_->t0());
  RunScenario(PcscTransmit());
  EXPECT_TRUE(card_->WaitFor("GET RESPONSE", 1s));
}

TEST_F(PcscTest, UsimLayerNamesTheRefusals) {
  ASSERT_NO_FATAL_FAILURE(StartCard(true));
  ASSERT_NO_FATAL_FAILURE(ConnectCard());
  Network net;
  ASSERT_NO_FATAL_FAILURE(Provision(PcscTransmit(), net));
  Usim usim(pcsc_card_->Transport());
  std::array<std::uint8_t, 16> mtk{};
  std::array<std::uint8_t, 14> salt{};
  auto msg = MtkMessage(net, 1, mtk, salt);
  auto ok = usim.MtkGeneration(msg);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->mtk, mtk);
  auto replay = usim.MtkGeneration(msg);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, UsimError::kReplay);
  EXPECT_EQ(replay.error().sw, kSwKeyFreshness);
  auto unknown = usim.MtkGeneration(
      MakeMikeyMtkMessage(kDomain, kMskId + 7, 1, 50, mtk, salt, net.msk, StkmExt()));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, UsimError::kKeyNotFound);
  auto forged = MtkMessage(net, 2, mtk, salt);
  forged[forged.size() - 3] ^= 0x40;
  auto bad = usim.MtkGeneration(forged);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, UsimError::kBadMac);
  EXPECT_TRUE(usim.MskDeletion(kDomain, 1));
}

// Usim against scripted responses: "more data" collection and malformed responses.
TEST(Usim, CollectsMoreDataAndRefusesMalformedResponses) {
  std::vector<std::vector<std::uint8_t>> script;
  std::vector<std::vector<std::uint8_t>> sent;
  Usim usim([&](std::span<const std::uint8_t> c) -> Result<std::vector<std::uint8_t>, std::string> {
    sent.emplace_back(c.begin(), c.end());
    if (script.empty()) return std::string("no card");
    auto r = script.front();
    script.erase(script.begin());
    return r;
  });
  auto mtk = A<16>("000102030405060708090a0b0c0d0e0f");
  auto salt = A<14>("101112131415161718191a1b1c1d");
  auto full = MakeMtkResponse(mtk, salt);
  std::vector<std::uint8_t> part1(full.begin(), full.begin() + 10),
      part2(full.begin() + 10, full.end());
  part1.insert(part1.end(), {0x62, 0xF3});
  part2.insert(part2.end(), {0x90, 0x00});
  script = {part1, part2};
  auto r = usim.MtkGeneration(std::vector<std::uint8_t>(20, 1));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mtk, mtk);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(X(sent[1]), "0089a00000");

  script = {{0x53, 0x05, 0xDB, 0x01, 0x90, 0x00}};  // BER length lies
  auto m = usim.MtkGeneration(std::vector<std::uint8_t>(20, 1));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, UsimError::kMalformedResponse);
  EXPECT_EQ(m.error().detail.field, "MBMS.length");
  script = {{0x90}};  // no status word
  auto s = usim.MskDeletion(kDomain, 1);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, UsimError::kMalformedResponse);
  EXPECT_EQ(s.error().detail.field, "SW1SW2");
  script = {};
  auto t = usim.GbaNafDerivation(GbaNafId(kNaf), kImpi);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, UsimError::kTransport);
}

}  // namespace
}  // namespace spc::smartcard
