#include "gst-plugins/bcastprotect/srtp/libsrtp_session.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <mutex>

namespace bcast::srtp {

void EnsureLibsrtpInitialised() {
  static std::once_flag once;
  std::call_once(once, [] { srtp_init(); });
}

std::uint64_t LibsrtpEstimate(std::uint64_t lib_index, std::uint16_t seq) {
  if (lib_index <= 0x8000) return seq;
  return EstimatePacketIndex(lib_index, seq);
}

LibsrtpSession::LibsrtpSession(bool sender, SrtpAuth auth,
                               std::span<const std::uint8_t, kMasterKeyLength> key,
                               std::span<const std::uint8_t, kMasterSaltLength> salt,
                               std::uint32_t ssrc, std::span<const std::uint8_t> mki,
                               std::size_t window)
    : sender_(sender),
      auth_(auth),
      ssrc_(ssrc),
      mki_(mki.begin(), mki.end()),
      window_(std::clamp<std::size_t>(window, 64, 0x7fff)) {
  std::copy(key.begin(), key.end(), key_salt_.begin());
  std::copy(salt.begin(), salt.end(), key_salt_.begin() + kMasterKeyLength);
  EnsureLibsrtpInitialised();
  Create();
}

LibsrtpSession::~LibsrtpSession() {
  Destroy();
  OPENSSL_cleanse(key_salt_.data(), key_salt_.size());
}

bool LibsrtpSession::Create() {
  srtp_policy_t policy{};
  switch (auth_) {
    case SrtpAuth::kHmacSha1_80:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
      break;
    case SrtpAuth::kHmacSha1_32:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
      break;
    case SrtpAuth::kNull:
      srtp_crypto_policy_set_aes_cm_128_null_auth(&policy.rtp);
      break;
  }
  srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  policy.ssrc.type = ssrc_specific;
  policy.ssrc.value = ssrc_;
  policy.window_size = window_;
  policy.allow_repeat_tx = sender_ ? 1 : 0;
  srtp_master_key_t master{};
  srtp_master_key_t* masters[1] = {&master};
  if (mki_.empty()) {
    policy.key = key_salt_.data();
  } else {
    master.key = key_salt_.data();
    master.mki_id = mki_.data();
    master.mki_size = static_cast<unsigned>(mki_.size());
    policy.keys = masters;
    policy.num_master_keys = 1;
  }
  policy.next = nullptr;
  if (srtp_create(&session_, &policy) != srtp_err_status_ok) {
    session_ = nullptr;
    return false;
  }
  lib_index_ = 0;
  return true;
}

void LibsrtpSession::Destroy() {
  if (session_ != nullptr) srtp_dealloc(session_);
  session_ = nullptr;
}

bool LibsrtpSession::PrepareIndex(std::uint64_t index) {
  if (session_ == nullptr) return false;
  const auto roc = static_cast<std::uint32_t>(index >> 16);
  const auto seq = static_cast<std::uint16_t>(index & 0xffff);
  bool recreate = false;
  // libsrtp rejects indices more than its window (or 2^15) behind its own highest index.
  if (index + std::min<std::uint64_t>(window_ - 1, 0x8000) < lib_index_) recreate = true;
  // With ROC 0, srtp_set_stream_roc means "no ROC set": libsrtp then estimates by itself.
  if (roc == 0 && LibsrtpEstimate(lib_index_, seq) != index) recreate = true;
  if (recreate) {
    Destroy();
    if (!Create()) return false;
  }
  return srtp_set_stream_roc(session_, ssrc_, roc) == srtp_err_status_ok;
}

void LibsrtpSession::Accepted(std::uint64_t index) { lib_index_ = std::max(lib_index_, index); }

srtp_err_status_t LibsrtpSession::Unprotect(std::uint8_t* packet, int* length) {
  if (session_ == nullptr) return srtp_err_status_no_ctx;
  return srtp_unprotect_mki(session_, packet, length, mki_.empty() ? 0 : 1);
}

srtp_err_status_t LibsrtpSession::Protect(std::uint8_t* packet, int* length) {
  if (session_ == nullptr) return srtp_err_status_no_ctx;
  return srtp_protect_mki(session_, packet, length, mki_.empty() ? 0 : 1, 0);
}

}  // namespace bcast::srtp
