#include "spc/libspc/smartcard/mikey_crypto.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "spc/libspc/crypto.h"

namespace spc::smartcard {
namespace {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct CipherDeleter {
  void operator()(EVP_CIPHER* p) const { EVP_CIPHER_free(p); }
};

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "openbcast: OpenSSL failure in %s\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

// RFC 3830 §4.1.2 P(s, label, m): A_0 = label, A_i = HMAC(s, A_(i-1)), output
// HMAC(s, A_1 ‖ label) ‖ ... ‖ HMAC(s, A_m ‖ label).
std::vector<std::uint8_t> P(const char* digest, std::span<const std::uint8_t> s,
                            std::span<const std::uint8_t> label, std::size_t m) {
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> a(label.begin(), label.end());
  for (std::size_t i = 0; i < m; ++i) {
    a = Hmac(digest, s, a);
    std::vector<std::uint8_t> in(a);
    in.insert(in.end(), label.begin(), label.end());
    std::vector<std::uint8_t> block = Hmac(digest, s, in);
    out.insert(out.end(), block.begin(), block.end());
    Cleanse(block);
  }
  Cleanse(a);
  return out;
}

}  // namespace

MikeyMessageKeys::~MikeyMessageKeys() {
  Cleanse(encryption);
  Cleanse(salt);
  Cleanse(authentication);
}

std::vector<std::uint8_t> MikeyPrf(std::uint8_t prf, std::span<const std::uint8_t> inkey,
                                   std::span<const std::uint8_t> label, std::size_t out_len) {
  const char* digest = nullptr;
  std::size_t block = 0;
  if (prf == kMikeyPrfHmacSha1) {
    digest = "SHA1";
    block = 20;
  } else if (prf == kMikeyPrfHmacSha256) {
    digest = "SHA256";
    block = 32;
  } else {
    std::fprintf(stderr, "openbcast: MikeyPrf called with unknown PRF %u\n", prf);
    std::abort();
  }
  // The inkey is cut into 256-bit pieces (the last may be shorter); their P outputs are XORed.
  constexpr std::size_t kPiece = 32;
  const std::size_t m = (out_len + block - 1) / block;
  std::vector<std::uint8_t> out(m * block, 0);
  std::size_t pieces = inkey.empty() ? 1 : (inkey.size() + kPiece - 1) / kPiece;
  for (std::size_t j = 0; j < pieces; ++j) {
    std::size_t begin = j * kPiece;
    std::size_t len = std::min(kPiece, inkey.size() - std::min(begin, inkey.size()));
    std::vector<std::uint8_t> p =
        P(digest, inkey.subspan(std::min(begin, inkey.size()), len), label, m);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] ^= p[i];
    Cleanse(p);
  }
  out.resize(out_len);
  return out;
}

MikeyMessageKeys MikeyDeriveMessageKeys(std::uint8_t prf,
                                        std::span<const std::uint8_t> envelope_key,
                                        std::uint32_t csb_id, std::span<const std::uint8_t> rand) {
  std::vector<std::uint8_t> label(9);
  label[4] = 0xFF;
  label[5] = static_cast<std::uint8_t>(csb_id >> 24);
  label[6] = static_cast<std::uint8_t>(csb_id >> 16);
  label[7] = static_cast<std::uint8_t>(csb_id >> 8);
  label[8] = static_cast<std::uint8_t>(csb_id);
  label.insert(label.end(), rand.begin(), rand.end());
  auto derive = [&](std::uint32_t constant, std::span<std::uint8_t> out) {
    label[0] = static_cast<std::uint8_t>(constant >> 24);
    label[1] = static_cast<std::uint8_t>(constant >> 16);
    label[2] = static_cast<std::uint8_t>(constant >> 8);
    label[3] = static_cast<std::uint8_t>(constant);
    std::vector<std::uint8_t> k = MikeyPrf(prf, envelope_key, label, out.size());
    std::copy(k.begin(), k.end(), out.begin());
    Cleanse(k);
  };
  MikeyMessageKeys keys;
  derive(kMikeyLabelEncryption, keys.encryption);
  derive(kMikeyLabelSalt, keys.salt);
  derive(kMikeyLabelAuthentication, keys.authentication);
  return keys;
}

std::vector<std::uint8_t> MikeyAesCm(std::span<const std::uint8_t, 16> key,
                                     std::span<const std::uint8_t, 14> salt, std::uint32_t csb_id,
                                     std::uint64_t timestamp, std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 16> iv{};
  std::copy(salt.begin(), salt.end(), iv.begin());
  // XOR (0x0000 ‖ CSB-ID ‖ T) into the 14 salt bytes; the last two IV bytes are the block counter.
  for (int i = 0; i < 4; ++i) iv[2 + i] ^= static_cast<std::uint8_t>(csb_id >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) iv[6 + i] ^= static_cast<std::uint8_t>(timestamp >> (56 - 8 * i));

  static const std::unique_ptr<EVP_CIPHER, CipherDeleter> cipher(
      EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr));
  if (!cipher) Fatal("EVP_CIPHER_fetch(AES-128-CTR)");
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) Fatal("EVP_CIPHER_CTX_new");
  if (EVP_EncryptInit_ex2(ctx.get(), cipher.get(), key.data(), iv.data(), nullptr) != 1) {
    Fatal("EVP_EncryptInit_ex2");
  }
  std::vector<std::uint8_t> out(data.size());
  int len = 0;
  if (!data.empty() && (EVP_EncryptUpdate(ctx.get(), out.data(), &len, data.data(),
                                          static_cast<int>(data.size())) != 1 ||
                        len != static_cast<int>(data.size()))) {
    Fatal("EVP_EncryptUpdate");
  }
  return out;
}

}  // namespace spc::smartcard
