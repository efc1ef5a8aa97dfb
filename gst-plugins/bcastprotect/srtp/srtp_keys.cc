#include "gst-plugins/bcastprotect/srtp/srtp_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>

namespace bcast::srtp {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// AES-CM as RFC 3711 defines it increments only the low 16 bits; every IV here has those at zero
// and no packet needs 2^16 blocks, so OpenSSL's 128-bit CTR produces the same keystream.
bool CtrXor(std::span<const std::uint8_t, 16> key, const std::uint8_t* iv, std::uint8_t* data,
            std::size_t len) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx || Aes128Ctr() == nullptr ||
      EVP_EncryptInit_ex2(ctx.get(), Aes128Ctr(), key.data(), iv, nullptr) != 1) {
    return false;
  }
  std::size_t done = 0;
  while (done < len) {
    const int chunk = static_cast<int>(std::min<std::size_t>(len - done, 1 << 20));
    int out = 0;
    if (EVP_EncryptUpdate(ctx.get(), data + done, &out, data + done, chunk) != 1) return false;
    done += static_cast<std::size_t>(out);
  }
  return true;
}

}  // namespace

EVP_CIPHER* Aes128Ctr() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr);
  return cipher;
}

EVP_MAC* Hmac() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

SrtpSessionKeys::~SrtpSessionKeys() {
  OPENSSL_cleanse(encryption_key.data(), encryption_key.size());
  OPENSSL_cleanse(auth_key.data(), auth_key.size());
  OPENSSL_cleanse(salt.data(), salt.size());
}

std::vector<std::uint8_t> DeriveKeyMaterial(
    std::span<const std::uint8_t, kMasterKeyLength> master_key,
    std::span<const std::uint8_t, kMasterSaltLength> master_salt, KdfLabel label,
    std::size_t length) {
  // x = key_id XOR master_salt with key_id = label ‖ (index DIV r = 0), 56 bits, right-aligned
  // in the 112-bit salt: the label lands on byte 7. IV = x · 2^16.
  std::array<std::uint8_t, 16> iv{};
  std::copy(master_salt.begin(), master_salt.end(), iv.begin());
  iv[7] ^= static_cast<std::uint8_t>(label);
  std::vector<std::uint8_t> out(length, 0);
  if (!CtrXor(master_key, iv.data(), out.data(), out.size())) out.clear();
  return out;
}

SrtpSessionKeys DeriveSessionKeys(std::span<const std::uint8_t, kMasterKeyLength> master_key,
                                  std::span<const std::uint8_t, kMasterSaltLength> master_salt) {
  SrtpSessionKeys keys;
  auto enc = DeriveKeyMaterial(master_key, master_salt, KdfLabel::kRtpEncryption, 16);
  auto auth =
      DeriveKeyMaterial(master_key, master_salt, KdfLabel::kRtpAuthentication, kAuthKeyLength);
  auto salt = DeriveKeyMaterial(master_key, master_salt, KdfLabel::kRtpSalt, kMasterSaltLength);
  if (enc.size() == 16) std::copy(enc.begin(), enc.end(), keys.encryption_key.begin());
  if (auth.size() == kAuthKeyLength) std::copy(auth.begin(), auth.end(), keys.auth_key.begin());
  if (salt.size() == kMasterSaltLength) std::copy(salt.begin(), salt.end(), keys.salt.begin());
  OPENSSL_cleanse(enc.data(), enc.size());
  OPENSSL_cleanse(auth.data(), auth.size());
  OPENSSL_cleanse(salt.data(), salt.size());
  return keys;
}

std::array<std::uint8_t, 16> AesCmIv(std::span<const std::uint8_t, kMasterSaltLength> session_salt,
                                     std::uint32_t ssrc, std::uint64_t index) {
  std::array<std::uint8_t, 16> iv{};
  std::copy(session_salt.begin(), session_salt.end(), iv.begin());
  for (int i = 0; i < 4; ++i) iv[4 + i] ^= static_cast<std::uint8_t>(ssrc >> (24 - 8 * i));
  for (int i = 0; i < 6; ++i) iv[8 + i] ^= static_cast<std::uint8_t>(index >> (40 - 8 * i));
  return iv;
}

bool AesCmTransform(std::span<const std::uint8_t, 16> key, const std::array<std::uint8_t, 16>& iv,
                    std::span<std::uint8_t> data) {
  return CtrXor(key, iv.data(), data.data(), data.size());
}

std::array<std::uint8_t, 20> SrtpAuthTag(const SrtpSessionKeys& keys,
                                         std::span<const std::uint8_t> authenticated_portion,
                                         std::uint32_t roc) {
  std::array<std::uint8_t, 20> tag{};
  if (Hmac() == nullptr) return tag;
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(Hmac()));
  char digest[] = "SHA1";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  const std::uint8_t roc_be[4] = {
      static_cast<std::uint8_t>(roc >> 24), static_cast<std::uint8_t>(roc >> 16),
      static_cast<std::uint8_t>(roc >> 8), static_cast<std::uint8_t>(roc)};
  std::size_t out = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), keys.auth_key.data(), keys.auth_key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), authenticated_portion.data(), authenticated_portion.size()) != 1 ||
      EVP_MAC_update(ctx.get(), roc_be, sizeof roc_be) != 1 ||
      EVP_MAC_final(ctx.get(), tag.data(), &out, tag.size()) != 1 || out != tag.size()) {
    tag.fill(0);
  }
  return tag;
}

bool SrtpAuthTagMatches(const SrtpSessionKeys& keys,
                        std::span<const std::uint8_t> authenticated_portion, std::uint32_t roc,
                        std::span<const std::uint8_t> tag) {
  if (tag.size() > 20) return false;
  const auto full = SrtpAuthTag(keys, authenticated_portion, roc);
  return CRYPTO_memcmp(full.data(), tag.data(), tag.size()) == 0;
}

}  // namespace bcast::srtp
