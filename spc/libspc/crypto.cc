#include "spc/libspc/crypto.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace spc {
namespace {

struct MacDeleter {
  void operator()(EVP_MAC* p) const { EVP_MAC_free(p); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};
struct CipherDeleter {
  void operator()(EVP_CIPHER* p) const { EVP_CIPHER_free(p); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using MacPtr = std::unique_ptr<EVP_MAC, MacDeleter>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;
using CipherPtr = std::unique_ptr<EVP_CIPHER, CipherDeleter>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "openbcast: OpenSSL failure in %s\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

// Fetched once: the algorithm objects are immutable and safe to share between threads, and the
// fetch is the expensive part of a one-block operation.
EVP_MAC* HmacAlgorithm() {
  static const MacPtr mac(EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr));
  if (!mac) Fatal("EVP_MAC_fetch(HMAC)");
  return mac.get();
}

EVP_CIPHER* Aes128Ecb() {
  static const CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr));
  if (!cipher) Fatal("EVP_CIPHER_fetch(AES-128-ECB)");
  return cipher.get();
}

AesBlock AesEcbBlock(bool encrypt, std::span<const std::uint8_t, 16> key,
                     std::span<const std::uint8_t, 16> in) {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) Fatal("EVP_CIPHER_CTX_new");
  if (EVP_CipherInit_ex2(ctx.get(), Aes128Ecb(), key.data(), nullptr, encrypt ? 1 : 0, nullptr) !=
      1) {
    Fatal("EVP_CipherInit_ex2");
  }
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  AesBlock out{};
  int len = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(in.size())) != 1 ||
      len != static_cast<int>(out.size())) {
    Fatal("EVP_CipherUpdate");
  }
  int final_len = 0;
  if (EVP_CipherFinal_ex(ctx.get(), out.data() + len, &final_len) != 1 || final_len != 0) {
    Fatal("EVP_CipherFinal_ex");
  }
  return out;
}

}  // namespace

std::vector<std::uint8_t> Hmac(std::string_view digest, std::span<const std::uint8_t> key,
                               std::span<const std::uint8_t> data) {
  MacCtxPtr ctx(EVP_MAC_CTX_new(HmacAlgorithm()));
  if (!ctx) Fatal("EVP_MAC_CTX_new");
  std::string digest_name(digest);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name.data(), 0),
      OSSL_PARAM_construct_end(),
  };
  // EVP_MAC_init rejects a NULL key pointer even for an empty key.
  static const std::uint8_t kEmpty = 0;
  const std::uint8_t* key_data = key.empty() ? &kEmpty : key.data();
  if (EVP_MAC_init(ctx.get(), key_data, key.size(), params) != 1) Fatal("EVP_MAC_init");
  if (!data.empty() && EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1) {
    Fatal("EVP_MAC_update");
  }
  std::vector<std::uint8_t> out(EVP_MAC_CTX_get_mac_size(ctx.get()));
  std::size_t out_len = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1) Fatal("EVP_MAC_final");
  out.resize(out_len);
  return out;
}

Sha1Digest HmacSha1(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
  std::vector<std::uint8_t> mac = Hmac("SHA1", key, data);
  Sha1Digest out{};
  if (mac.size() != out.size()) Fatal("HMAC-SHA1 length");
  std::copy(mac.begin(), mac.end(), out.begin());
  return out;
}

AesBlock Aes128EcbEncryptBlock(std::span<const std::uint8_t, 16> key,
                               std::span<const std::uint8_t, 16> block) {
  return AesEcbBlock(true, key, block);
}

AesBlock Aes128EcbDecryptBlock(std::span<const std::uint8_t, 16> key,
                               std::span<const std::uint8_t, 16> block) {
  return AesEcbBlock(false, key, block);
}

void KeepOpensslStateUntilExit() {
  if (OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) != 1) Fatal("OPENSSL_init_crypto");
}

bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void RandomBytes(std::span<std::uint8_t> out) {
  if (out.empty()) return;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) Fatal("RAND_bytes");
}

}  // namespace spc
