// GBA bootstrapping over Ub without HTTP: the BSF's logic against the terminal's answer with the
// virtual card (in-process), through success, resynchronisation after a stale SQN, forged
// responses, unknown users and stale nonces, expired sessions; the BSF's Zn keys agree with the
// card (Ks_ext_NAF handed out, and an MSK message under the BSF's Ks_int_NAF accepted).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "samples/uicc/card.h"
#include "spc/libspc/smartcard/gba_ub.h"
#include "spc/libspc/smartcard/mikey.h"
#include "spc/libspc/smartcard/usim.h"
#include "tests/smartcard/test_util.h"

namespace spc::smartcard {
namespace {

using namespace std::chrono_literals;
using testing::A;
using testing::X;

const auto kK = A<16>("465b5ce8b199b49faa5f0a2ee238a6bc");
const auto kOpc = A<16>("cd63cb71954a9f4e48a5994e37a02baf");
const std::string kImpi = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org";

struct Rig {
  bcast::uicc::Card card;
  Usim usim;
  Bsf bsf{"bsf.openbcast.test", 3600s};
  explicit Rig(std::array<std::uint8_t, 16> card_k = kK)
      : card(
            [&] {
              bcast::uicc::CardState st;
              st.k = card_k;
              st.opc = kOpc;
              return st;
            }(),
            ""),
        usim([this](std::span<const std::uint8_t> c)
                 -> Result<std::vector<std::uint8_t>, std::string> { return card.Process(c); }) {
    bsf.AddSubscriber(kImpi, Subscriber{kK, kOpc, 0x40});
  }
};

// One Ub run; returns the BootstrappingInfo (asserting success) and counts resyncs.
BootstrappingInfo Bootstrap(Rig& rig, int* resyncs = nullptr) {
  auto ch = rig.bsf.Challenge(kImpi);
  EXPECT_TRUE(ch);
  std::string www = *ch;
  for (int round = 0; round < 3; ++round) {
    auto ans = AnswerUbChallenge(rig.usim, kImpi, www, "GET", kUbUri, "");
    EXPECT_TRUE(ans) << ans.error().message;
    if (!ans) return {};
    auto out = rig.bsf.Authenticate(ans->authorization, "GET", kUbUri, "",
                                    std::chrono::system_clock::now());
    EXPECT_TRUE(out) << (out ? "" : out.error().message);
    if (!out) return {};
    EXPECT_EQ(out->resync, ans->sync_failure);
    if (!out->resync) return out->info;
    if (resyncs) ++*resyncs;
    www = out->www_authenticate;
  }
  ADD_FAILURE() << "no success after resynchronisation";
  return {};
}

TEST(GbaUb, BootstrapNafKeysAndMukAgree) {
  Rig rig;
  BootstrappingInfo info = Bootstrap(rig);
  ASSERT_NE(info.btid.find("@bsf.openbcast.test"), std::string::npos);
  EXPECT_TRUE(ParseBootstrappingInfo(WriteBootstrappingInfo(info)));

  auto naf_id = GbaNafId("bsm.openbcast.test");
  auto ext = rig.usim.GbaNafDerivation(naf_id, kImpi);
  ASSERT_TRUE(ext) << ext.error().message;
  auto keys = rig.bsf.GetNafKeys(info.btid, naf_id, std::chrono::system_clock::now());
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->impi, kImpi);
  EXPECT_EQ(X(*ext), X(keys->ks_ext_naf));

  std::array<std::uint8_t, 16> msk{};
  msk.fill(0x33);
  auto msg = MakeMikeyMskMessage({1, 2, 3}, 0x00010001, 1, msk, keys->ks_int_naf,
                                 "bsm.openbcast.test", info.btid, BcastLtkmExt{1, {}, {}}, false);
  EXPECT_TRUE(rig.usim.MskUpdate(msg));

  auto later = std::chrono::system_clock::now() + 3601s;
  auto expired = rig.bsf.GetNafKeys(info.btid, naf_id, later);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, BsfError::kUnknownBtid);
}

TEST(GbaUb, StaleSqnResynchronises) {
  Rig rig;
  Bootstrap(rig);  // card SQN_MS = 0x41
  // A BSF that lost its SQN: its next challenge (SQN 2) is stale for the card.
  Bsf fresh("bsf.openbcast.test", 3600s);
  fresh.AddSubscriber(kImpi, Subscriber{kK, kOpc, 1});
  std::swap(rig.bsf, fresh);
  int resyncs = 0;
  BootstrappingInfo info = Bootstrap(rig, &resyncs);
  EXPECT_EQ(resyncs, 1);
  EXPECT_FALSE(info.btid.empty());
  EXPECT_GT(*rig.bsf.SubscriberSqn(kImpi), 0x41u);
}

TEST(GbaUb, Refusals) {
  Rig rig;
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(rig.bsf.Challenge("nobody").error().code, BsfError::kUnknownSubscriber);
  EXPECT_EQ(rig.bsf.Authenticate("Basic x", "GET", "/", "", now).error().code,
            BsfError::kMalformed);

  auto ch = rig.bsf.Challenge(kImpi);
  ASSERT_TRUE(ch);
  auto ans = AnswerUbChallenge(rig.usim, kImpi, *ch, "GET", kUbUri, "");
  ASSERT_TRUE(ans);
  // A forged response (one digit changed) fails and burns the challenge.
  std::string forged = ans->authorization;
  auto at = forged.find("response=\"") + 10;
  forged[at] = forged[at] == '0' ? '1' : '0';
  EXPECT_EQ(rig.bsf.Authenticate(forged, "GET", kUbUri, "", now).error().code,
            BsfError::kBadResponse);
  EXPECT_EQ(rig.bsf.Authenticate(ans->authorization, "GET", kUbUri, "", now).error().code,
            BsfError::kNoChallenge);
  // auth-int: a different body changes the digest.
  ch = rig.bsf.Challenge(kImpi);
  ans = AnswerUbChallenge(rig.usim, kImpi, *ch, "GET", kUbUri, "");
  ASSERT_TRUE(ans);
  EXPECT_EQ(rig.bsf.Authenticate(ans->authorization, "GET", kUbUri, "x", now).error().code,
            BsfError::kBadResponse);

  // A card with another K: its AUTN check fails (98 62), the terminal reports the card's refusal.
  auto other_k = kK;
  other_k[0] ^= 1;
  Rig wrong(other_k);
  auto wch = wrong.bsf.Challenge(kImpi);
  auto wans = AnswerUbChallenge(wrong.usim, kImpi, *wch, "GET", kUbUri, "");
  ASSERT_FALSE(wans);
  EXPECT_EQ(wans.error().code, UbClientError::kCard);
  ASSERT_TRUE(wans.error().card);
  EXPECT_EQ(wans.error().card->code, UsimError::kBadMac);
  // A challenge that is not AKA.
  EXPECT_EQ(AnswerUbChallenge(rig.usim, kImpi, "Digest realm=\"x\", nonce=\"abcd\", algorithm=MD5",
                              "GET", kUbUri, "")
                .error()
                .code,
            UbClientError::kMalformedChallenge);
}

TEST(GbaUb, SubscriberFile) {
  auto path = std::filesystem::temp_directory_path() / ("subscribers-" + std::to_string(getpid()));
  std::ofstream(path) << "[" << kImpi << "]\nk=465b5ce8b199b49faa5f0a2ee238a6bc\n"
                      << "op=cdc202d5123e20f62b6d676ac72cb318\nsqn=64\n";
  Bsf bsf("bsf.openbcast.test", 60s);
  auto n = bsf.LoadSubscribers(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(*bsf.SubscriberSqn(kImpi), 64u);
  Rig rig;
  std::swap(rig.bsf, bsf);
  EXPECT_FALSE(Bootstrap(rig).btid.empty());  // OPc from OP matched the card's
}

}  // namespace
}  // namespace spc::smartcard
