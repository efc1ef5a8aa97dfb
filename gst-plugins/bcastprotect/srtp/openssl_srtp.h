// The per-packet SRTP transform on OpenSSL 3 EVP (the receiver's default engine): one keyed
// AES-128-CTR context and one keyed HMAC-SHA1 context per master key, reused for every packet —
// only the IV and the HMAC state are reset — so a packet costs no allocation of ours and no key
// schedule. libsrtp2 stays the reference (SrtpReceiver with Engine::kLibsrtp); the cross-check
// test requires both to give identical output and decisions.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "gst-plugins/bcastprotect/srtp/srtp_keys.h"
#include "gst-plugins/bcastprotect/srtp/srtp_types.h"

namespace bcast::srtp {

class OpensslSrtpTransform {
 public:
  // From the session keys of one master key (RFC 3711 §4.3, key derivation rate 0).
  explicit OpensslSrtpTransform(const SrtpSessionKeys& keys);
  ~OpensslSrtpTransform();
  OpensslSrtpTransform(const OpensslSrtpTransform&) = delete;
  OpensslSrtpTransform& operator=(const OpensslSrtpTransform&) = delete;

  bool ok() const { return ok_; }

  // Constant-time check of the tag packet[tag_at, tag_at + tag_length) (1..20 bytes) against
  // HMAC-SHA1(k_a, packet[0, portion_length) ‖ ROC) truncated to the tag's length (RFC 3711 §4.2;
  // RFC 4771 §3.1 with the carried ROC). The 4 bytes after the authenticated portion (MKI and tag
  // field, which the MAC does not cover) hold the ROC while the MAC runs, so that the MAC is one
  // update; they are restored before returning, whatever the result.
  bool Verify(std::span<std::uint8_t> packet, std::size_t portion_length, std::uint32_t roc,
              std::size_t tag_at, std::size_t tag_length);

  // AES-CM (RFC 3711 §4.1.1) of `data` in place for packet `index` of `ssrc`.
  bool Transform(std::uint32_t ssrc, std::uint64_t index, std::span<std::uint8_t> data);

 private:
  struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  };
  struct MacCtxFree {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
  };
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> cipher_;
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> mac_;
  std::array<std::uint8_t, kMasterSaltLength> salt_{};
  bool ok_ = false;
};

}  // namespace bcast::srtp
