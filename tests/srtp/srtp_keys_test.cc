// RFC 3711 Appendix B known answers through the project's key derivation and AES-CM code, and the
// HMAC tag against libsrtp2's own output.
#include <gtest/gtest.h>
#include <srtp2/srtp.h>

#include <algorithm>

#include "gst-plugins/bcastprotect/srtp/libsrtp_session.h"
#include "gst-plugins/bcastprotect/srtp/srtp_keys.h"
#include "tests/srtp/srtp_test_util.h"

namespace bcast::srtp {
namespace {

using srtp_test::Hex;

TEST(SrtpKeys, Rfc3711B2AesCmKeystream) {
  const auto key = Hex("2B7E151628AED2A6ABF7158809CF4F3C");
  const auto salt = Hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD");
  const auto iv = AesCmIv(std::span<const std::uint8_t, 14>(salt.data(), 14), 0, 0);
  EXPECT_EQ(std::vector<std::uint8_t>(iv.begin(), iv.end()),
            Hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
  // Counters 0x0000 .. 0xFF01 (the RFC lists the first three and FEFF, FF00, FF01).
  std::vector<std::uint8_t> stream(0xff02 * 16, 0);
  ASSERT_TRUE(AesCmTransform(std::span<const std::uint8_t, 16>(key.data(), 16), iv, stream));
  EXPECT_EQ(std::vector<std::uint8_t>(stream.begin(), stream.begin() + 48),
            Hex("E03EAD0935C95E80E166B16DD92B4EB4"
                "D23513162B02D0F72A43A2FE4A5F97AB"
                "41E95B3BB0A2E8DD477901E4FCA894C0"));
  EXPECT_EQ(std::vector<std::uint8_t>(stream.end() - 48, stream.end()),
            Hex("EC8CDF7398607CB0F2D21675EA9EA1E4"
                "362B7C3C6773516318A077D7FC5073AE"
                "6A2CC3787889374FBEB4C81B17BA6C44"));
}

TEST(SrtpKeys, Rfc3711B3KeyDerivation) {
  const auto master_key = Hex("E1F97A0D3E018BE0D64FA32C06DE4139");
  const auto master_salt = Hex("0EC675AD498AFEEBB6960B3AABE6");
  std::span<const std::uint8_t, 16> mk(master_key.data(), 16);
  std::span<const std::uint8_t, 14> ms(master_salt.data(), 14);
  EXPECT_EQ(DeriveKeyMaterial(mk, ms, KdfLabel::kRtpEncryption, 16),
            Hex("C61E7A93744F39EE10734AFE3FF7A087"));
  EXPECT_EQ(DeriveKeyMaterial(mk, ms, KdfLabel::kRtpSalt, 14), Hex("30CBBC08863D8C85D49DB34A9AE1"));
  EXPECT_EQ(DeriveKeyMaterial(mk, ms, KdfLabel::kRtpAuthentication, 94),
            Hex("CEBE321F6FF7716B6FD4AB49AF256A15"
                "6D38BAA48F0A0ACF3C34E2359E6CDBCE"
                "E049646C43D9327AD175578EF7227098"
                "6371C10C9A369AC2F94A8C5FBCDDDC25"
                "6D6E919A48B610EF17C2041E47403576"
                "6B68642C59BBFC2F34DB60DBDFB2"));
  const SrtpSessionKeys keys = DeriveSessionKeys(mk, ms);
  EXPECT_EQ(std::vector<std::uint8_t>(keys.encryption_key.begin(), keys.encryption_key.end()),
            Hex("C61E7A93744F39EE10734AFE3FF7A087"));
  EXPECT_EQ(std::vector<std::uint8_t>(keys.auth_key.begin(), keys.auth_key.end()),
            Hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
  EXPECT_EQ(std::vector<std::uint8_t>(keys.salt.begin(), keys.salt.end()),
            Hex("30CBBC08863D8C85D49DB34A9AE1"));
}

// libsrtp2 protects a packet; our derivation, AES-CM and HMAC reproduce it byte for byte.
TEST(SrtpKeys, MatchesLibsrtpProtect) {
  EnsureLibsrtpInitialised();  // srtp_init may run only once per process
  const auto key = srtp_test::TestKey(0x10);
  const auto salt = srtp_test::TestSalt(0x55);
  std::vector<std::uint8_t> key_salt(key.begin(), key.end());
  key_salt.insert(key_salt.end(), salt.begin(), salt.end());
  srtp_policy_t policy{};
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
  srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  policy.ssrc.type = ssrc_any_outbound;
  policy.key = key_salt.data();
  policy.window_size = 128;
  srtp_t session = nullptr;
  ASSERT_EQ(srtp_create(&session, &policy), srtp_err_status_ok);
  const std::uint32_t ssrc = 0xdeadbeef;
  const SrtpSessionKeys sk = DeriveSessionKeys(key, salt);
  for (std::uint16_t seq : {std::uint16_t{1234}, std::uint16_t{1235}}) {
    auto rtp = srtp_test::MakeRtp(seq, ssrc, 57);
    auto buf = rtp;
    buf.resize(rtp.size() + 16);
    int len = static_cast<int>(rtp.size());
    ASSERT_EQ(srtp_protect(session, buf.data(), &len), srtp_err_status_ok);
    ASSERT_EQ(static_cast<std::size_t>(len), rtp.size() + 10);
    // Payload: XOR with the keystream for index seq.
    auto expect = rtp;
    ASSERT_TRUE(AesCmTransform(sk.encryption_key, AesCmIv(sk.salt, ssrc, seq),
                               std::span<std::uint8_t>(expect).subspan(12)));
    EXPECT_TRUE(std::equal(expect.begin(), expect.end(), buf.begin()));
    const auto tag = SrtpAuthTag(sk, std::span<const std::uint8_t>(buf.data(), rtp.size()), 0);
    EXPECT_TRUE(std::equal(tag.begin(), tag.begin() + 10, buf.begin() + rtp.size()));
    EXPECT_TRUE(SrtpAuthTagMatches(sk, std::span<const std::uint8_t>(buf.data(), rtp.size()), 0,
                                   std::span<const std::uint8_t>(buf.data() + rtp.size(), 10)));
    EXPECT_FALSE(SrtpAuthTagMatches(sk, std::span<const std::uint8_t>(buf.data(), rtp.size()), 1,
                                    std::span<const std::uint8_t>(buf.data() + rtp.size(), 10)));
  }
  srtp_dealloc(session);
}

TEST(SrtpTypes, IndexEstimation) {
  EXPECT_EQ(EstimatePacketIndex(100, 101), 101u);
  EXPECT_EQ(EstimatePacketIndex(65535, 0), 65536u);          // wrap forward
  EXPECT_EQ(EstimatePacketIndex(65536 + 2, 65534), 65534u);  // late packet before wrap
  EXPECT_EQ(EstimatePacketIndex(5, 65530), 65530u);          // never a negative ROC
  EXPECT_EQ(EstimatePacketIndex((7ull << 16) | 40000, 100), (8ull << 16) | 100);
}

TEST(SrtpTypes, TagFields) {
  EXPECT_EQ(TagFieldFor(SrtpAuth::kHmacSha1_80, true, RccMode::kNone, 1, 7).length, 10u);
  auto r1 = TagFieldFor(SrtpAuth::kHmacSha1_80, true, RccMode::kRccm1, 4, 8);
  EXPECT_TRUE(r1.carries_roc);
  EXPECT_EQ(r1.length, 10u);
  EXPECT_EQ(r1.mac_length, 6u);
  EXPECT_EQ(TagFieldFor(SrtpAuth::kHmacSha1_80, true, RccMode::kRccm1, 4, 9).length, 0u);
  EXPECT_EQ(TagFieldFor(SrtpAuth::kHmacSha1_80, true, RccMode::kRccm2, 4, 9).length, 10u);
  EXPECT_EQ(TagFieldFor(SrtpAuth::kHmacSha1_80, true, RccMode::kRccm3, 4, 8).length, 4u);
  EXPECT_EQ(TagFieldFor(SrtpAuth::kHmacSha1_80, false, RccMode::kRccm2, 4, 8).length, 0u);
  EXPECT_FALSE(ParseRtpHeader(std::vector<std::uint8_t>{0x80, 0}).has_value());
}

}  // namespace
}  // namespace bcast::srtp
