// Known answers and cross-checks of the long-term-key crypto: RFC 3394 vectors, KDF2 against a
// direct SHA-1 computation and the openssl CLI, RSA-KEM and RSA-PSS against the openssl CLI,
// chain verification and OCSP on the test PKI.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "spc/libspc/hex.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "tests/ltkm/test_pki.h"

namespace spc {
namespace {

using test::OtherPki;
using test::SharedPki;

std::vector<std::uint8_t> H(std::string_view hex) {
  auto v = HexDecode(hex);
  EXPECT_TRUE(v.has_value()) << hex;
  return v.value_or(std::vector<std::uint8_t>{});
}

std::vector<std::uint8_t> V(const SecretBytes& s) { return {s.begin(), s.end()}; }

std::time_t Now() { return std::time(nullptr); }

struct WrapVector {
  const char* section;
  const char* kek;
  const char* data;
  const char* wrapped;
};

// RFC 3394 section 4.
constexpr WrapVector kRfc3394[] = {
    {"4.1", "000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff",
     "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"},
    {"4.2", "000102030405060708090a0b0c0d0e0f1011121314151617", "00112233445566778899aabbccddeeff",
     "96778b25ae6ca435f92b5b97c050aed2468ab8a17ad84e5d"},
    {"4.3", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "00112233445566778899aabbccddeeff", "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7"},
    {"4.4", "000102030405060708090a0b0c0d0e0f1011121314151617",
     "00112233445566778899aabbccddeeff0001020304050607",
     "031d33264e15d33268f24ec260743edce1c6c7ddee725a936ba814915c6762d2"},
    {"4.5", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "00112233445566778899aabbccddeeff0001020304050607",
     "a8f9bc1612c68b3ff6e6f4fbe30e71e4769c8b80a32cb8958cd5d17d6b254da1"},
    {"4.6", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
     "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21"},
};

TEST(AesWrap, Rfc3394KnownAnswers) {
  for (const auto& v : kRfc3394) {
    SCOPED_TRACE(v.section);
    auto wrapped = AesWrap(H(v.kek), H(v.data));
    ASSERT_TRUE(wrapped.ok()) << wrapped.error().message;
    EXPECT_EQ(HexEncode(*wrapped), v.wrapped);
    auto unwrapped = AesUnwrap(H(v.kek), H(v.wrapped));
    ASSERT_TRUE(unwrapped.ok()) << unwrapped.error().message;
    EXPECT_EQ(HexEncode(V(*unwrapped)), v.data);
  }
}

TEST(AesWrap, TamperedOrWrongKeyIsAnIntegrityError) {
  const auto& v = kRfc3394[0];
  for (std::size_t i = 0; i < 24; ++i) {
    auto w = H(v.wrapped);
    w[i] ^= 0x01;
    auto r = AesUnwrap(H(v.kek), w);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.error().code, CryptoErrorCode::kIntegrity);
  }
  auto kek = H(v.kek);
  kek[15] ^= 0x80;
  auto r = AesUnwrap(kek, H(v.wrapped));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, CryptoErrorCode::kIntegrity);
}

TEST(AesWrap, BadSizesAreRejected) {
  EXPECT_EQ(AesWrap(H("0001"), H("00112233445566778899aabbccddeeff")).error().code,
            CryptoErrorCode::kBadInput);
  EXPECT_EQ(AesWrap(H(kRfc3394[0].kek), H("0011223344556677")).error().code,
            CryptoErrorCode::kBadInput);
  EXPECT_EQ(AesWrap(H(kRfc3394[0].kek), H("00112233445566778899aabbccddeeff00")).error().code,
            CryptoErrorCode::kBadInput);
  EXPECT_EQ(AesUnwrap(H(kRfc3394[0].kek), H("1fa68b0a8112b447aef34bd8fb5a7b82")).error().code,
            CryptoErrorCode::kBadInput);
  EXPECT_EQ(AesUnwrap(H(kRfc3394[0].kek), {}).error().code, CryptoErrorCode::kBadInput);
}

TEST(AesWrap, MatchesOpensslEnc) {
  // openssl enc with id-aes128-wrap, an independent path through the CLI.
  std::string dir = test::TempDir();
  std::vector<std::uint8_t> data(32);
  RandomBytes(data);
  std::vector<std::uint8_t> kek(16);
  RandomBytes(kek);
  test::WriteBytes(dir + "/in", data);
  std::string err;
  ASSERT_TRUE(test::Run({"openssl", "enc", "-id-aes128-wrap", "-K", HexEncode(kek), "-iv",
                         "A6A6A6A6A6A6A6A6", "-in", dir + "/in", "-out", dir + "/out"},
                        nullptr, &err))
      << err;
  auto wrapped = AesWrap(kek, data);
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(*wrapped, test::ReadBytes(dir + "/out"));
}

TEST(Kdf2, MatchesDirectSha1) {
  std::vector<std::uint8_t> z(256);
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = static_cast<std::uint8_t>(i * 7 + 1);
  auto block = [&](std::uint32_t counter) {
    std::vector<std::uint8_t> in = z;
    for (int s = 24; s >= 0; s -= 8) in.push_back(static_cast<std::uint8_t>(counter >> s));
    std::vector<std::uint8_t> md(20);
    unsigned int len = 0;
    EXPECT_EQ(EVP_Digest(in.data(), in.size(), md.data(), &len, EVP_sha1(), nullptr), 1);
    return md;
  };
  auto b1 = block(1);
  auto b2 = block(2);
  std::vector<std::uint8_t> expected16(b1.begin(), b1.begin() + 16);
  EXPECT_EQ(V(Kdf2Sha1(z, 16)), expected16);
  std::vector<std::uint8_t> expected32 = b1;
  expected32.insert(expected32.end(), b2.begin(), b2.begin() + 12);
  EXPECT_EQ(V(Kdf2Sha1(z, 32)), expected32);
}

TEST(Kdf2, MatchesOpensslKdfCli) {
  std::vector<std::uint8_t> z(128);
  RandomBytes(z);
  std::string out, err;
  ASSERT_TRUE(test::Run({"openssl", "kdf", "-keylen", "16", "-kdfopt", "digest:SHA1", "-kdfopt",
                         "hexkey:" + HexEncode(z), "X963KDF"},
                        &out, &err))
      << err;
  std::string hex;
  for (char c : out) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(c));
  }
  EXPECT_EQ(HexEncode(V(Kdf2Sha1(z, 16))), hex);
}

TEST(RsaKem, RoundTripAndTampering) {
  const auto& pki = SharedPki();
  EvpPkeyPtr pub = CertificatePublicKey(pki.devices[0].get());
  std::vector<std::uint8_t> material(32);
  RandomBytes(material);
  auto c = RsaKemEncrypt(pub.get(), material);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->size(), 256u + 40u);
  auto back = RsaKemDecrypt(pki.device_keys[0].get(), *c);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(V(*back), material);

  // Two encryptions differ (Z is random).
  auto c2 = RsaKemEncrypt(pub.get(), material);
  ASSERT_TRUE(c2.ok());
  EXPECT_NE(*c, *c2);

  // Another device's key, a flipped C2 byte, a flipped C1 byte: integrity errors, no data.
  auto other = RsaKemDecrypt(pki.device_keys[1].get(), *c);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, CryptoErrorCode::kIntegrity);
  for (std::size_t at : {std::size_t{256}, std::size_t{270}, c->size() - 1}) {
    auto t = *c;
    t[at] ^= 0x04;
    auto r = RsaKemDecrypt(pki.device_keys[0].get(), t);
    ASSERT_FALSE(r.ok()) << at;
    EXPECT_EQ(r.error().code, CryptoErrorCode::kIntegrity);
  }
  auto t = *c;
  t[100] ^= 0x10;
  auto r = RsaKemDecrypt(pki.device_keys[0].get(), t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, CryptoErrorCode::kIntegrity);

  // C1 >= n cannot decrypt; a short input is a length error.
  auto big = *c;
  std::fill(big.begin(), big.begin() + 256, 0xff);
  EXPECT_EQ(RsaKemDecrypt(pki.device_keys[0].get(), big).error().code, CryptoErrorCode::kIntegrity);
  EXPECT_EQ(RsaKemDecrypt(pki.device_keys[0].get(), std::span(*c).first(260)).error().code,
            CryptoErrorCode::kBadInput);
}

TEST(RsaKem, OpensslCliDecryptsOurCiphertext) {
  // Z with raw RSA (pkeyutl, no padding), KEK with `openssl kdf`, C2 with `openssl enc -d`.
  const auto& pki = SharedPki();
  std::string dir = test::TempDir();
  EvpPkeyPtr pub = CertificatePublicKey(pki.devices[0].get());
  std::vector<std::uint8_t> material(32);
  RandomBytes(material);
  auto c = RsaKemEncrypt(pub.get(), material);
  ASSERT_TRUE(c.ok());
  test::WriteBytes(dir + "/c1", std::vector<std::uint8_t>(c->begin(), c->begin() + 256));
  test::WriteBytes(dir + "/c2", std::vector<std::uint8_t>(c->begin() + 256, c->end()));
  std::string out, err;
  ASSERT_TRUE(
      test::Run({"openssl", "pkeyutl", "-decrypt", "-inkey", pki.Path("device-1.key"), "-pkeyopt",
                 "rsa_padding_mode:none", "-in", dir + "/c1", "-out", dir + "/z"},
                nullptr, &err))
      << err;
  auto z = test::ReadBytes(dir + "/z");
  ASSERT_EQ(z.size(), 256u);
  EXPECT_LT(z[0], 0x80) << "Z must have its top bit clear";
  ASSERT_TRUE(test::Run({"openssl", "kdf", "-keylen", "16", "-kdfopt", "digest:SHA1", "-kdfopt",
                         "hexkey:" + HexEncode(z), "X963KDF"},
                        &out, &err))
      << err;
  std::string kek;
  for (char ch : out) {
    if (std::isxdigit(static_cast<unsigned char>(ch))) kek += ch;
  }
  ASSERT_TRUE(test::Run({"openssl", "enc", "-d", "-id-aes128-wrap", "-K", kek, "-iv",
                         "A6A6A6A6A6A6A6A6", "-in", dir + "/c2", "-out", dir + "/m"},
                        nullptr, &err))
      << err;
  EXPECT_EQ(test::ReadBytes(dir + "/m"), material);
}

TEST(RsaPss, VerifiesOpensslCliSignatureAndViceVersa) {
  std::string dir = test::TempDir();
  std::string err;
  ASSERT_TRUE(test::Run({"openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                         "rsa_keygen_bits:2048", "-out", dir + "/k.pem"},
                        nullptr, &err))
      << err;
  ASSERT_TRUE(
      test::Run({"openssl", "pkey", "-in", dir + "/k.pem", "-pubout", "-out", dir + "/pub.pem"},
                nullptr, &err))
      << err;
  std::vector<std::uint8_t> data(1000);
  RandomBytes(data);
  test::WriteBytes(dir + "/data", data);
  ASSERT_TRUE(test::Run({"openssl", "dgst", "-sha1", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                         "rsa_pss_saltlen:20", "-sigopt", "rsa_mgf1_md:sha1", "-sign",
                         dir + "/k.pem", "-out", dir + "/sig", dir + "/data"},
                        nullptr, &err))
      << err;
  auto pub = LoadPublicKey(test::ReadBytes(dir + "/pub.pem"));
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  auto sig = test::ReadBytes(dir + "/sig");
  EXPECT_TRUE(RsaPssVerify(pub->get(), data, sig).ok());

  auto bad = data;
  bad[500] ^= 1;
  auto r = RsaPssVerify(pub->get(), bad, sig);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, CryptoErrorCode::kBadSignature);
  auto bad_sig = sig;
  bad_sig[0] ^= 1;
  EXPECT_EQ(RsaPssVerify(pub->get(), data, bad_sig).error().code, CryptoErrorCode::kBadSignature);
  EXPECT_EQ(RsaPssVerify(pub->get(), data, std::span(sig).first(100)).error().code,
            CryptoErrorCode::kBadSignature);

  // Ours, checked by the CLI with the same parameters.
  auto key = LoadPrivateKeyFile(dir + "/k.pem");
  ASSERT_TRUE(key.ok());
  auto mine = RsaPssSign(key->get(), data);
  ASSERT_TRUE(mine.ok());
  test::WriteBytes(dir + "/mine", *mine);
  std::string out;
  EXPECT_TRUE(test::Run({"openssl", "dgst", "-sha1", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                         "rsa_pss_saltlen:20", "-sigopt", "rsa_mgf1_md:sha1", "-verify",
                         dir + "/pub.pem", "-signature", dir + "/mine", dir + "/data"},
                        &out, &err))
      << out << err;
  // A different salt length is a different scheme: the CLI must refuse it with salt 32.
  EXPECT_FALSE(test::Run({"openssl", "dgst", "-sha1", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                          "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha1", "-verify",
                          dir + "/pub.pem", "-signature", dir + "/mine", dir + "/data"},
                         &out, &err));
}

TEST(Certificates, SpkiSha1MatchesCli) {
  const auto& pki = SharedPki();
  auto ids_bytes = test::ReadBytes(pki.Path("ids.txt"));
  std::string ids(ids_bytes.begin(), ids_bytes.end());
  EXPECT_NE(ids.find("ri " + HexEncode(SpkiSha1(pki.ri.get()))), std::string::npos) << ids;
  EXPECT_NE(ids.find("device-1 " + HexEncode(SpkiSha1(pki.devices[0].get()))), std::string::npos);
  EXPECT_EQ(SpkiSha1(pki.devices[0].get()), SpkiSha1(pki.device_keys[0].get()));
  EXPECT_TRUE(KeyMatchesCertificate(pki.devices[0].get(), pki.device_keys[0].get()));
  EXPECT_FALSE(KeyMatchesCertificate(pki.devices[0].get(), pki.device_keys[1].get()));
}

TEST(Certificates, LoadPemDerAndGarbage) {
  const auto& pki = SharedPki();
  auto der = CertificateDer(pki.ri.get());
  auto from_der = LoadCertificate(der);
  ASSERT_TRUE(from_der.ok());
  EXPECT_EQ(CertificateDer(from_der->get()), der);
  std::string pem = CertificatePem(pki.ri.get()) + CertificatePem(pki.root.get());
  auto both =
      LoadCertificates(std::span(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()));
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ(CertificateDer((*both)[1].get()), CertificateDer(pki.root.get()));
  auto truncated = std::span(der).first(der.size() - 1);
  EXPECT_FALSE(LoadCertificate(truncated).ok());
  auto trailing = der;
  trailing.push_back(0);
  EXPECT_FALSE(LoadCertificate(trailing).ok());
  EXPECT_FALSE(LoadCertificateFile(pki.Path("missing.pem")).ok());
  EXPECT_FALSE(LoadPrivateKey(der).ok());
}

TEST(Chain, GoodUntrustedExpired) {
  const auto& pki = SharedPki();
  const auto& other = OtherPki();
  EXPECT_TRUE(VerifyChain(pki.RiChain(), pki.anchors.get(), Now()).ok());
  // With the root in the chain too.
  std::vector<X509Ptr> with_root = pki.RiChain();
  with_root.push_back(ShareCertificate(pki.root.get()));
  EXPECT_TRUE(VerifyChain(with_root, pki.anchors.get(), Now()).ok());

  auto untrusted = VerifyChain(other.RiChain(), pki.anchors.get(), Now());
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.error().code, CryptoErrorCode::kUntrusted) << untrusted.error().message;
  // The other PKI's root in the chain does not make it trusted.
  std::vector<X509Ptr> other_with_root = other.RiChain();
  other_with_root.push_back(ShareCertificate(other.root.get()));
  EXPECT_EQ(VerifyChain(other_with_root, pki.anchors.get(), Now()).error().code,
            CryptoErrorCode::kUntrusted);

  // The RI certificate is valid for 5 years: 20 years on it has expired; before 2000 it was not
  // yet valid.
  auto expired = VerifyChain(pki.RiChain(), pki.anchors.get(), Now() + 20LL * 365 * 86400);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, CryptoErrorCode::kExpired) << expired.error().message;
  EXPECT_EQ(VerifyChain(pki.RiChain(), pki.anchors.get(), 946684800).error().code,
            CryptoErrorCode::kExpired);
  EXPECT_EQ(VerifyChain({}, pki.anchors.get(), Now()).error().code, CryptoErrorCode::kBadInput);
}

TEST(Chain, TamperedCertificateIsBroken) {
  const auto& pki = SharedPki();
  auto der = CertificateDer(pki.ri.get());
  // Flip a byte near the end: inside the signature value, so the DER still parses.
  der[der.size() - 10] ^= 0x01;
  auto cert = LoadCertificate(der);
  ASSERT_TRUE(cert.ok());
  std::vector<X509Ptr> chain;
  chain.push_back(std::move(cert).value());
  auto r = VerifyChain(chain, pki.anchors.get(), Now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, CryptoErrorCode::kBadChain) << r.error().message;
}

class Ocsp : public ::testing::Test {
 protected:
  std::vector<std::uint8_t> Make(OcspResponseSpec spec, const test::Pki& signer_pki) {
    auto der = MakeOcspResponse(SharedPki().ri.get(), SharedPki().root.get(), signer_pki.ocsp.get(),
                                signer_pki.ocsp_key.get(), spec);
    EXPECT_TRUE(der.ok());
    return der.ok() ? *der : std::vector<std::uint8_t>{};
  }
  CryptoResult<OcspResult> Check(const std::vector<std::uint8_t>& der, std::time_t now,
                                 OcspCheckOptions options = {}) {
    auto resp = ParseOcspResponse(der);
    EXPECT_TRUE(resp.ok());
    if (!resp.ok()) return resp.error();
    const auto& pki = SharedPki();
    return CheckOcspResponse(resp->get(), pki.ri.get(), pki.root.get(), pki.anchors.get(), {}, now,
                             options);
  }
};

TEST_F(Ocsp, GoodWithNonce) {
  std::vector<std::uint8_t> nonce(32);
  RandomBytes(nonce);
  OcspResponseSpec spec;
  spec.this_update = Now() - 60;
  spec.next_update = Now() + 3600;
  spec.nonce = nonce;
  auto der = Make(spec, SharedPki());
  OcspCheckOptions options;
  options.expected_nonce = nonce;
  auto r = Check(der, Now(), options);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, OcspCertStatus::kGood);
  ASSERT_TRUE(r->nonce.has_value());
  EXPECT_EQ(*r->nonce, nonce);
  EXPECT_EQ(r->this_update, spec.this_update);
  EXPECT_EQ(r->responder_id, SpkiSha1(SharedPki().ocsp.get()));

  auto wrong = nonce;
  wrong[0] ^= 1;
  options.expected_nonce = wrong;
  EXPECT_EQ(Check(der, Now(), options).error().code, CryptoErrorCode::kNonceMismatch);
  // Stale at a later time, not yet valid earlier.
  EXPECT_EQ(Check(der, Now() + 7200).error().code, CryptoErrorCode::kExpired);
  EXPECT_EQ(Check(der, Now() - 7200).error().code, CryptoErrorCode::kExpired);
}

TEST_F(Ocsp, RevokedIsAStatusNotAnError) {
  OcspResponseSpec spec;
  spec.status = OcspCertStatus::kRevoked;
  spec.this_update = Now() - 60;
  spec.revocation_time = Now() - 86400;
  auto r = Check(Make(spec, SharedPki()), Now());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, OcspCertStatus::kRevoked);
  ASSERT_TRUE(r->revocation_time.has_value());
  EXPECT_EQ(*r->revocation_time, spec.revocation_time);
  EXPECT_FALSE(r->nonce.has_value());
  OcspCheckOptions options;
  options.expected_nonce = std::vector<std::uint8_t>{1, 2, 3};
  EXPECT_EQ(Check(Make(spec, SharedPki()), Now(), options).error().code,
            CryptoErrorCode::kNonceMismatch);
}

TEST_F(Ocsp, ForeignSignerTamperingAndGarbage) {
  OcspResponseSpec spec;
  spec.this_update = Now() - 60;
  // Signed by the other PKI's responder: its chain does not reach our anchor.
  auto foreign = Check(Make(spec, OtherPki()), Now());
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, CryptoErrorCode::kUntrusted) << foreign.error().message;

  // The RI key is trusted but not an OCSP delegate.
  auto der = MakeOcspResponse(SharedPki().ri.get(), SharedPki().root.get(), SharedPki().ri.get(),
                              SharedPki().ri_key.get(), spec);
  ASSERT_TRUE(der.ok());
  auto not_delegate = Check(*der, Now());
  ASSERT_FALSE(not_delegate.ok());
  EXPECT_EQ(not_delegate.error().code, CryptoErrorCode::kOcsp) << not_delegate.error().message;

  // A flipped bit in the signed data.
  auto good = Make(spec, SharedPki());
  auto resp = ParseOcspResponse(good);
  ASSERT_TRUE(resp.ok());
  bool saw_bad_signature = false;
  for (std::size_t i = 40; i < 120 && !saw_bad_signature; ++i) {
    auto t = good;
    t[i] ^= 0x01;
    auto parsed = ParseOcspResponse(t);
    if (!parsed.ok()) continue;
    auto r = Check(t, Now());
    ASSERT_FALSE(r.ok()) << "tampered byte " << i << " accepted";
    saw_bad_signature = r.error().code == CryptoErrorCode::kBadSignature;
  }
  EXPECT_TRUE(saw_bad_signature);

  EXPECT_EQ(
      ParseOcspResponse(std::vector<std::uint8_t>{0x30, 0x03, 0x0a, 0x01, 0x00, 0x00}).error().code,
      CryptoErrorCode::kOcsp);
  EXPECT_FALSE(ParseOcspResponse(std::span(good).first(good.size() - 3)).ok());
}

TEST_F(Ocsp, NonSuccessfulResponseStatus) {
  // OCSPResponse { responseStatus tryLater(3) }.
  auto r = Check({0x30, 0x03, 0x0a, 0x01, 0x03}, Now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, CryptoErrorCode::kOcsp);
  EXPECT_NE(r.error().message.find("trylater"), std::string::npos) << r.error().message;
}

TEST(SecretBytes, HoldsData) {
  SecretBytes s(40, 0xaa);
  s.resize(100);
  EXPECT_EQ(s[39], 0xaa);
  EXPECT_EQ(s[40], 0);
}

}  // namespace
}  // namespace spc
