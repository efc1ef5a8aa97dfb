#include "gst-plugins/bcastprotect/srtp/openssl_srtp.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include <climits>
#include <cstring>

namespace bcast::srtp {

OpensslSrtpTransform::OpensslSrtpTransform(const SrtpSessionKeys& keys)
    : cipher_(EVP_CIPHER_CTX_new()), salt_(keys.salt) {
  if (!cipher_ || Aes128Ctr() == nullptr || Hmac() == nullptr) return;
  // AES-CM increments only the low 16 bits of the counter; every SRTP IV has them at zero and no
  // packet needs 2^16 blocks, so OpenSSL's 128-bit CTR gives the same keystream.
  if (EVP_DecryptInit_ex2(cipher_.get(), Aes128Ctr(), keys.encryption_key.data(), nullptr,
                          nullptr) != 1) {
    return;
  }
  mac_.reset(EVP_MAC_CTX_new(Hmac()));
  char digest[] = "SHA1";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  if (!mac_ || EVP_MAC_init(mac_.get(), keys.auth_key.data(), keys.auth_key.size(), params) != 1) {
    return;
  }
  ok_ = true;
}

OpensslSrtpTransform::~OpensslSrtpTransform() { OPENSSL_cleanse(salt_.data(), salt_.size()); }

bool OpensslSrtpTransform::Verify(std::span<std::uint8_t> packet, std::size_t portion_length,
                                  std::uint32_t roc, std::size_t tag_at, std::size_t tag_length) {
  if (!ok_ || tag_length == 0 || tag_length > 20 || portion_length > packet.size() ||
      tag_at > packet.size() || packet.size() - tag_at < tag_length) {
    return false;
  }
  const std::uint8_t roc_be[kRocLength] = {
      static_cast<std::uint8_t>(roc >> 24), static_cast<std::uint8_t>(roc >> 16),
      static_cast<std::uint8_t>(roc >> 8), static_cast<std::uint8_t>(roc)};
  // The tag may lie in the bytes borrowed for the ROC.
  std::uint8_t tag[20];
  std::memcpy(tag, packet.data() + tag_at, tag_length);
  std::uint8_t full[EVP_MAX_MD_SIZE];
  std::size_t out = 0;
  // A NULL key restarts HMAC with the key already set (no new key schedule).
  bool mac_ok = EVP_MAC_init(mac_.get(), nullptr, 0, nullptr) == 1;
  std::uint8_t* const after = packet.data() + portion_length;
  if (packet.size() - portion_length >= kRocLength) {
    std::uint8_t saved[kRocLength];
    std::memcpy(saved, after, kRocLength);
    std::memcpy(after, roc_be, kRocLength);
    mac_ok = mac_ok && EVP_MAC_update(mac_.get(), packet.data(), portion_length + kRocLength) == 1;
    std::memcpy(after, saved, kRocLength);
  } else {
    mac_ok = mac_ok && EVP_MAC_update(mac_.get(), packet.data(), portion_length) == 1 &&
             EVP_MAC_update(mac_.get(), roc_be, kRocLength) == 1;
  }
  if (!mac_ok || EVP_MAC_final(mac_.get(), full, &out, sizeof full) != 1 || out != 20) {
    return false;
  }
  // The MAC of a packet is no secret (the sender puts it on the wire): no cleanse.
  return CRYPTO_memcmp(full, tag, tag_length) == 0;
}

bool OpensslSrtpTransform::Transform(std::uint32_t ssrc, std::uint64_t index,
                                     std::span<std::uint8_t> data) {
  if (!ok_) return false;
  // RFC 3711 §4.1.1 IV = (k_s · 2^16) XOR (SSRC · 2^64) XOR (i · 2^16), as AesCmIv builds it.
  std::uint8_t iv[16] = {};
  std::memcpy(iv, salt_.data(), salt_.size());
  iv[4] ^= static_cast<std::uint8_t>(ssrc >> 24);
  iv[5] ^= static_cast<std::uint8_t>(ssrc >> 16);
  iv[6] ^= static_cast<std::uint8_t>(ssrc >> 8);
  iv[7] ^= static_cast<std::uint8_t>(ssrc);
  iv[8] ^= static_cast<std::uint8_t>(index >> 40);
  iv[9] ^= static_cast<std::uint8_t>(index >> 32);
  iv[10] ^= static_cast<std::uint8_t>(index >> 24);
  iv[11] ^= static_cast<std::uint8_t>(index >> 16);
  iv[12] ^= static_cast<std::uint8_t>(index >> 8);
  iv[13] ^= static_cast<std::uint8_t>(index);
  if (EVP_DecryptInit_ex2(cipher_.get(), nullptr, nullptr, iv, nullptr) != 1) return false;
  if (data.empty()) return true;
  if (data.size() > INT_MAX) return false;  // an RTP packet is below 64 KiB
  int out = 0;
  return EVP_DecryptUpdate(cipher_.get(), data.data(), &out, data.data(),
                           static_cast<int>(data.size())) == 1 &&
         static_cast<std::size_t>(out) == data.size();
}

}  // namespace bcast::srtp
