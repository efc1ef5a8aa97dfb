// The same random packet sequence (losses, duplicates, reordering, corruption, a wrap) through
// libsrtp2 directly and through SrtpReceiver: identical accept/reject decisions and output.
#include <gtest/gtest.h>
#include <srtp2/srtp.h>

#include <random>
#include <vector>

#include "gst-plugins/bcastprotect/srtp/libsrtp_session.h"
#include "gst-plugins/bcastprotect/srtp/srtp_receiver.h"
#include "tests/srtp/srtp_test_util.h"

namespace bcast::srtp {
namespace {

struct SrtpFree {
  void operator()(srtp_t s) const { srtp_dealloc(s); }
};
using SrtpPtr = std::unique_ptr<srtp_ctx_t_, SrtpFree>;

SrtpPtr MakeSession(srtp_ssrc_type_t type, std::vector<std::uint8_t>& key_salt) {
  srtp_policy_t policy{};
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
  srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  policy.ssrc.type = type;
  policy.key = key_salt.data();
  policy.window_size = 128;
  srtp_t s = nullptr;
  EXPECT_EQ(srtp_create(&s, &policy), srtp_err_status_ok);
  return SrtpPtr(s);
}

class CrossCheck : public ::testing::TestWithParam<unsigned> {};

TEST_P(CrossCheck, SameDecisionsAndOutput) {
  EnsureLibsrtpInitialised();  // srtp_init may run only once per process
  std::mt19937 rng(GetParam());
  const auto key = srtp_test::TestKey(static_cast<std::uint8_t>(GetParam()));
  const auto salt = srtp_test::TestSalt(static_cast<std::uint8_t>(GetParam() * 3));
  std::vector<std::uint8_t> key_salt(key.begin(), key.end());
  key_salt.insert(key_salt.end(), salt.begin(), salt.end());
  auto sender = MakeSession(ssrc_any_outbound, key_salt);
  auto reference = MakeSession(ssrc_any_inbound, key_salt);

  ReceiverConfig rc;
  rc.mki_length = 0;
  rc.replay_window = 128;
  SrtpReceiver receiver(rc);
  receiver.AddKey(1, key, salt);
  receiver.SetDefaultKey(1);

  // Sent stream: 4000 packets from a random start, so most seeds cross a wrap.
  const std::uint32_t ssrc = rng();
  const auto start = static_cast<std::uint16_t>(60000 + rng() % 5000);
  std::vector<std::vector<std::uint8_t>> sent;
  for (int i = 0; i < 4000; ++i) {
    auto p = srtp_test::MakeRtp(static_cast<std::uint16_t>(start + i), ssrc, 20 + rng() % 200,
                                static_cast<std::uint8_t>(rng()));
    p.resize(p.size() + 16);
    int len = static_cast<int>(p.size() - 16);
    ASSERT_EQ(srtp_protect(sender.get(), p.data(), &len), srtp_err_status_ok);
    p.resize(static_cast<std::size_t>(len));
    sent.push_back(std::move(p));
  }
  // Delivered: losses, duplicates, short and long reorders, corrupted bytes.
  std::vector<std::vector<std::uint8_t>> delivered;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const unsigned r = rng() % 100;
    if (r < 5) continue;
    delivered.push_back(sent[i]);
    if (r < 10) delivered.push_back(sent[i]);
    if (r >= 10 && r < 14) {
      auto bad = sent[i];
      bad[12 + rng() % (bad.size() - 12)] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      delivered.push_back(bad);
    }
    if (r == 20 && i > 300) delivered.push_back(sent[i - 1 - rng() % 300]);
  }
  for (std::size_t i = 0; i + 1 < delivered.size(); ++i) {
    if (rng() % 20 == 0)
      std::swap(delivered[i],
                delivered[i + 1 + rng() % std::min<std::size_t>(40, delivered.size() - i - 1)]);
  }

  std::size_t accepted = 0, rejected = 0;
  for (std::size_t i = 0; i < delivered.size(); ++i) {
    auto a = delivered[i];
    auto b = delivered[i];
    int len = static_cast<int>(a.size());
    const srtp_err_status_t st = srtp_unprotect(reference.get(), a.data(), &len);
    const UnprotectResult r = receiver.Unprotect(b);
    ASSERT_EQ(st == srtp_err_status_ok, r.decision == Decision::kDecrypted)
        << "packet " << i << " libsrtp " << st << " ours " << DecisionName(r.decision);
    if (st == srtp_err_status_ok) {
      ++accepted;
      ASSERT_EQ(static_cast<std::size_t>(len), r.length);
      ASSERT_TRUE(std::equal(a.begin(), a.begin() + len, b.begin())) << i;
    } else {
      ++rejected;
      if (st == srtp_err_status_auth_fail) {
        EXPECT_EQ(r.decision, Decision::kAuthFailure) << i;
      }
      if (st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old) {
        EXPECT_EQ(r.decision, Decision::kReplay) << i;
      }
    }
  }
  EXPECT_GT(accepted, 3000u);
  EXPECT_GT(rejected, 100u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, CrossCheck, ::testing::Values(1u, 2u, 3u, 42u, 1234u));

}  // namespace
}  // namespace bcast::srtp
