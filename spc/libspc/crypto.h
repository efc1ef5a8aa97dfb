// Thin OpenSSL 3 EVP wrappers: the only place libspc (and its users) touch cipher and MAC
// primitives. Every call goes through EVP so that the FIPS/default provider choice stays with
// OpenSSL's configuration.
//
// Failures of these primitives with valid-size inputs mean a broken OpenSSL installation (missing
// provider), not bad input; they abort with the OpenSSL error queue printed rather than return a
// value that could be mistaken for key material.
#pragma once

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace spc {

using Sha1Digest = std::array<std::uint8_t, 20>;
using AesBlock = std::array<std::uint8_t, 16>;

// HMAC (EVP_MAC "HMAC") with the named digest ("SHA1", "SHA256", ...).
std::vector<std::uint8_t> Hmac(std::string_view digest, std::span<const std::uint8_t> key,
                               std::span<const std::uint8_t> data);
Sha1Digest HmacSha1(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data);

// One AES-128-ECB block, no padding.
AesBlock Aes128EcbEncryptBlock(std::span<const std::uint8_t, 16> key,
                               std::span<const std::uint8_t, 16> block);
AesBlock Aes128EcbDecryptBlock(std::span<const std::uint8_t, 16> key,
                               std::span<const std::uint8_t, 16> block);

// Constant-time equality (CRYPTO_memcmp). Different lengths compare unequal; the length itself is
// not secret.
bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// Leaves OpenSSL's state in place until the process is gone instead of freeing it in OpenSSL's
// atexit handler. Threads that used OpenSSL can outlive main: GLib's pool threads (GStreamer
// streaming threads) park there and exit at any time, also after the handler; by then the
// handler has deleted the thread-exit key, so such a thread's error state is never freed (a
// leak LeakSanitizer reports), and a thread still in OpenSSL would use freed locks (OpenSSL issue
// 6214). Only the first OpenSSL initialisation in a process decides, so programs call this first
// in main and bcastprotect's decryptor elements when their class is made (whichever way they
// were registered); in a host that already initialised OpenSSL it changes nothing.
void KeepOpensslStateUntilExit();

// Cryptographically secure random bytes (RAND_bytes).
void RandomBytes(std::span<std::uint8_t> out);

// Overwrites key material in a way the compiler may not optimise away.
inline void Cleanse(void* data, std::size_t size) { OPENSSL_cleanse(data, size); }
template <class T, std::size_t N>
void Cleanse(std::array<T, N>& a) {
  OPENSSL_cleanse(a.data(), sizeof(T) * N);
}
inline void Cleanse(std::vector<std::uint8_t>& v) { OPENSSL_cleanse(v.data(), v.size()); }

// Cleanses a buffer it does not own when the scope ends, e.g. a decrypted key that is copied out
// before returning:  CleanseGuard guard(tek);
class CleanseGuard {
 public:
  explicit CleanseGuard(std::span<std::uint8_t> bytes) : bytes_(bytes) {}
  template <std::size_t N>
  explicit CleanseGuard(std::array<std::uint8_t, N>& a) : bytes_(a) {}
  ~CleanseGuard() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
  CleanseGuard(const CleanseGuard&) = delete;
  CleanseGuard& operator=(const CleanseGuard&) = delete;

 private:
  std::span<std::uint8_t> bytes_;
};

// A fixed-size key buffer that cleanses itself on destruction and on reassignment.
template <std::size_t N>
class SecureKey {
 public:
  SecureKey() = default;
  explicit SecureKey(std::span<const std::uint8_t, N> bytes) { Assign(bytes); }
  SecureKey(const SecureKey& other) : bytes_(other.bytes_) {}
  SecureKey& operator=(const SecureKey& other) {
    if (this != &other) bytes_ = other.bytes_;
    return *this;
  }
  ~SecureKey() { OPENSSL_cleanse(bytes_.data(), N); }

  void Assign(std::span<const std::uint8_t, N> bytes) {
    std::copy(bytes.begin(), bytes.end(), bytes_.begin());
  }
  std::span<const std::uint8_t, N> span() const { return bytes_; }
  std::span<std::uint8_t, N> mutable_span() { return bytes_; }
  const std::uint8_t* data() const { return bytes_.data(); }
  static constexpr std::size_t size() { return N; }

 private:
  std::array<std::uint8_t, N> bytes_{};
};

}  // namespace spc
