// 1. The same random packet sequence (losses, duplicates, reordering, corruption, a wrap) through
//    libsrtp2 directly and through SrtpReceiver on either engine: identical accept/reject decisions
//    and output.
// 2. Engine cross-check: random packets of every suite (HMAC-SHA1-80/32, null), MKI length 0..4,
//    RFC 4771 modes and rates, start ROCs (0, large, near 2^32) with SEQ wraps, key changes,
//    unauthenticated TEKs, late and replaced TEKs, two SSRCs, and damage (bit flips anywhere,
//    truncation, garbage, duplicates, old replays, reordering) through SrtpReceiver with the
//    OpenSSL engine and with the libsrtp engine: the same UnprotectResult for every packet and the
//    same bytes afterwards, accepted or not.
#include <gtest/gtest.h>
#include <srtp2/srtp.h>

#include <array>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gst-plugins/bcastprotect/srtp/libsrtp_session.h"
#include "gst-plugins/bcastprotect/srtp/srtp_receiver.h"
#include "gst-plugins/bcastprotect/srtp/srtp_sender.h"
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

class CrossCheck : public ::testing::TestWithParam<std::tuple<unsigned, Engine>> {};

TEST_P(CrossCheck, SameDecisionsAndOutput) {
  EnsureLibsrtpInitialised();  // srtp_init may run only once per process
  const unsigned seed = std::get<0>(GetParam());
  std::mt19937 rng(seed);
  const auto key = srtp_test::TestKey(static_cast<std::uint8_t>(seed));
  const auto salt = srtp_test::TestSalt(static_cast<std::uint8_t>(seed * 3));
  std::vector<std::uint8_t> key_salt(key.begin(), key.end());
  key_salt.insert(key_salt.end(), salt.begin(), salt.end());
  auto sender = MakeSession(ssrc_any_outbound, key_salt);
  auto reference = MakeSession(ssrc_any_inbound, key_salt);

  ReceiverConfig rc;
  rc.engine = std::get<1>(GetParam());
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

INSTANTIATE_TEST_SUITE_P(Seeds, CrossCheck,
                         ::testing::Combine(::testing::Values(1u, 2u, 3u, 42u, 1234u),
                                            ::testing::Values(Engine::kOpenssl, Engine::kLibsrtp)));

// ---- OpenSSL engine against the libsrtp engine ----

struct EngineCase {
  SrtpAuth auth;
  std::size_t mki_length;
  RccMode rcc;
  std::uint16_t rate;
  unsigned seed;
};

std::string CaseName(const ::testing::TestParamInfo<EngineCase>& info) {
  const EngineCase& c = info.param;
  std::string auth = c.auth == SrtpAuth::kHmacSha1_80   ? "Sha80"
                     : c.auth == SrtpAuth::kHmacSha1_32 ? "Sha32"
                                                        : "Null";
  return auth + "_Mki" + std::to_string(c.mki_length) + "_Rcc" +
         std::to_string(static_cast<int>(c.rcc)) + "R" + std::to_string(c.rate) + "_S" +
         std::to_string(c.seed);
}

std::vector<EngineCase> EngineCases() {
  std::vector<EngineCase> cases;
  unsigned seed = 100;
  for (SrtpAuth auth : {SrtpAuth::kHmacSha1_80, SrtpAuth::kHmacSha1_32, SrtpAuth::kNull}) {
    for (std::size_t mki : {0u, 1u, 2u, 4u}) {
      for (RccMode rcc : {RccMode::kNone, RccMode::kRccm1, RccMode::kRccm2, RccMode::kRccm3}) {
        if (auth == SrtpAuth::kNull && rcc != RccMode::kNone) continue;  // RFC 4771 needs a MAC
        const std::uint16_t rate = rcc == RccMode::kNone ? 1 : (seed % 2 ? 1 : 3);
        cases.push_back({auth, mki, rcc, rate, seed++});
      }
    }
  }
  return cases;
}

struct TekMaterial {
  std::array<std::uint8_t, kMasterKeyLength> key{};
  std::array<std::uint8_t, kMasterSaltLength> salt{};
  bool authenticated = true;
};

struct Delivery {
  std::vector<std::uint8_t> bytes;
  // Receiver-side events applied before this packet, in order (the same for both receivers).
  std::vector<std::pair<std::uint16_t, TekMaterial>> add_keys;
  std::vector<std::uint16_t> remove_keys;
  std::optional<std::uint16_t> default_key;
};

class EngineCrossCheck : public ::testing::TestWithParam<EngineCase> {};

TEST_P(EngineCrossCheck, SameResultsAndBytes) {
  const EngineCase& c = GetParam();
  std::mt19937 rng(c.seed);
  auto random_tek = [&](bool authenticated) {
    TekMaterial m;
    for (auto& b : m.key) b = static_cast<std::uint8_t>(rng());
    for (auto& b : m.salt) b = static_cast<std::uint8_t>(rng());
    m.authenticated = authenticated;
    return m;
  };

  // Start ROC of both SSRCs: 0, small, large, or just below 2^32 (the 32-bit ROC wraps too).
  const std::uint32_t start_rocs[] = {0, 1, 0x12345, 0xfffffffe};
  const std::uint32_t start_roc = start_rocs[c.seed % 4];
  const bool roc_in_caps = c.rcc == RccMode::kNone || rng() % 2 == 0;

  SrtpSender sender(c.auth, c.mki_length, c.rcc, c.rate);
  const std::uint32_t ssrcs[2] = {static_cast<std::uint32_t>(rng()),
                                  static_cast<std::uint32_t>(rng())};
  std::uint16_t seqs[2];
  for (int s = 0; s < 2; ++s) {
    sender.SetRoc(ssrcs[s], start_roc);
    seqs[s] = static_cast<std::uint16_t>(65536 - 400 - rng() % 1200);  // wraps early
  }

  // TEK schedule: a change every ~450 packets; TEK 3 has no authentication (STKM flag 0); the
  // receiver learns each TEK a little before or after the sender starts using it (unknown MKI
  // meanwhile); TEK 1 comes back with new key material at the end; TEKs two changes old are
  // removed.
  const int kPackets = 2600;
  std::vector<std::uint16_t> tek_order = {1, 2, 3, 4, 5, 1};
  std::map<std::uint16_t, TekMaterial> current;
  std::vector<Delivery> sent;
  std::vector<std::vector<std::uint8_t>> clear;
  std::size_t tek_pos = 0;
  std::vector<std::pair<int, std::pair<std::uint16_t, TekMaterial>>> receiver_adds;
  std::vector<std::pair<int, std::uint16_t>> receiver_removes;
  for (int i = 0; i < kPackets; ++i) {
    if (i % 450 == 0 && tek_pos < tek_order.size()) {
      const std::uint16_t id = tek_order[tek_pos++];
      const TekMaterial m = random_tek(id != 3);
      ASSERT_TRUE(sender.AddKey(id, m.key, m.salt, m.authenticated));
      current[id] = m;
      const int lag = static_cast<int>(rng() % 40) - 30;  // mostly before, sometimes late
      receiver_adds.push_back({std::max(0, i + lag), {id, m}});
      if (tek_pos >= 3) receiver_removes.push_back({i + 60, tek_order[tek_pos - 3]});
    }
    const std::uint16_t tek = tek_order[tek_pos - 1];
    const int s = static_cast<int>(rng() % 2);
    auto p = srtp_test::MakeRtp(seqs[s]++, ssrcs[s], rng() % 300, static_cast<std::uint8_t>(rng()));
    if (rng() % 10 == 0) p[0] |= 0x20;  // padding bit: encrypted like any payload
    if (rng() % 15 == 0) {              // CSRCs and a header extension
      p[0] = static_cast<std::uint8_t>((p[0] & 0xf0) | 0x10 | 2);
      const std::uint8_t extra[] = {1, 2, 3, 4, 5, 6, 7, 8, 0xbe, 0xde, 0, 1, 9, 9, 9, 9};
      p.insert(p.begin() + 12, std::begin(extra), std::end(extra));
    }
    clear.push_back(p);
    ASSERT_TRUE(sender.Protect(p, tek)) << i;
    Delivery d;
    d.bytes = std::move(p);
    if (c.mki_length == 0) d.default_key = tek;
    sent.push_back(std::move(d));
  }

  // Damage and order as a network and an attacker would.
  std::vector<Delivery> delivered;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const unsigned r = rng() % 100;
    if (r < 4) continue;  // lost
    delivered.push_back(sent[i]);
    if (r < 8) delivered.push_back(sent[i]);  // duplicate
    auto damaged = sent[i];
    if (r >= 8 && r < 14) {  // a flipped byte anywhere: header, payload, MKI, ROC, tag
      damaged.bytes[rng() % damaged.bytes.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      delivered.push_back(damaged);
    } else if (r == 14) {  // truncated
      damaged.bytes.resize(rng() % damaged.bytes.size());
      delivered.push_back(damaged);
    } else if (r == 15) {  // garbage of RTP shape
      for (std::size_t b = 12; b < damaged.bytes.size(); ++b) {
        damaged.bytes[b] = static_cast<std::uint8_t>(rng());
      }
      delivered.push_back(damaged);
    } else if (r == 16 && i > 200) {  // an old packet again
      delivered.push_back(sent[i - 1 - rng() % 200]);
    }
  }
  for (std::size_t i = 0; i + 1 < delivered.size(); ++i) {
    if (rng() % 25 == 0) {
      std::swap(delivered[i],
                delivered[i + 1 + rng() % std::min<std::size_t>(30, delivered.size() - i - 1)]);
    }
  }
  // Key events by delivery position (proportional to the send position).
  for (auto& [at, add] : receiver_adds) {
    const std::size_t pos =
        std::min(delivered.size() - 1, static_cast<std::size_t>(at) * delivered.size() / kPackets);
    delivered[pos].add_keys.push_back(add);
  }
  for (auto& [at, id] : receiver_removes) {
    const std::size_t pos =
        std::min(delivered.size() - 1, static_cast<std::size_t>(at) * delivered.size() / kPackets);
    delivered[pos].remove_keys.push_back(id);
  }

  ReceiverConfig rc;
  rc.auth = c.auth;
  rc.mki_length = c.mki_length;
  rc.rcc_mode = c.rcc;
  rc.roc_tx_rate = c.rate;
  rc.replay_window = 64 + rng() % 200;
  if (roc_in_caps) rc.initial_roc = start_roc;
  ReceiverConfig rc_lib = rc;
  rc.engine = Engine::kOpenssl;
  rc_lib.engine = Engine::kLibsrtp;
  SrtpReceiver ours(rc);
  SrtpReceiver reference(rc_lib);

  std::map<Decision, std::size_t> counts;
  for (std::size_t i = 0; i < delivered.size(); ++i) {
    const Delivery& d = delivered[i];
    for (const auto& [id, m] : d.add_keys) {
      ours.AddKey(id, m.key, m.salt, m.authenticated);
      reference.AddKey(id, m.key, m.salt, m.authenticated);
    }
    for (std::uint16_t id : d.remove_keys) {
      ours.RemoveKey(id);
      reference.RemoveKey(id);
    }
    if (d.default_key) {
      ours.SetDefaultKey(*d.default_key);
      reference.SetDefaultKey(*d.default_key);
    }
    auto a = d.bytes;
    auto b = d.bytes;
    const UnprotectResult ra = ours.Unprotect(a);
    const UnprotectResult rb = reference.Unprotect(b);
    ASSERT_EQ(DecisionName(ra.decision), DecisionName(rb.decision)) << "packet " << i;
    ASSERT_EQ(ra.ssrc, rb.ssrc) << i;
    ASSERT_EQ(ra.tek_id, rb.tek_id) << i;
    ASSERT_EQ(ra.alt_tek_id, rb.alt_tek_id) << i;
    ASSERT_EQ(ra.index, rb.index) << i;
    ASSERT_EQ(ra.roc_from_packet, rb.roc_from_packet) << i;
    ASSERT_EQ(ra.length, rb.length) << i;
    ASSERT_EQ(a, b) << "packet " << i << " bytes differ after " << DecisionName(ra.decision);
    ++counts[ra.decision];
  }
  for (const std::uint32_t ssrc : ssrcs) ASSERT_EQ(ours.Roc(ssrc), reference.Roc(ssrc));

  // The run exercised what it is meant to: packets decrypted, every kind of rejection seen.
  // Without any MAC (null suite; RCCm3; RCCm1 with 32-bit tags, whose MAC after the ROC is empty)
  // a damaged ROC or SEQ is accepted and can push the index far ahead: fewer get through.
  const std::size_t tag = TagLength(c.auth);
  const bool any_mac =
      tag != 0 && c.rcc != RccMode::kRccm3 && !(c.rcc == RccMode::kRccm1 && tag <= kRocLength);
  EXPECT_GT(counts[Decision::kDecrypted], any_mac ? delivered.size() / 2 : delivered.size() / 10);
  EXPECT_GT(counts[Decision::kReplay], 0u);
  EXPECT_GT(counts[Decision::kUnknownMki] + counts[Decision::kMalformed], 0u);
  if (any_mac) {
    EXPECT_GT(counts[Decision::kAuthFailure], 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, EngineCrossCheck, ::testing::ValuesIn(EngineCases()), CaseName);

}  // namespace
}  // namespace bcast::srtp
