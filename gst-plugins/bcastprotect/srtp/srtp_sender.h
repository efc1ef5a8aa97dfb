// SRTP sender for the head-end (SP-E): libsrtp2 srtp_protect_mki with MKI = TEK ID, several TEKs
// at once (a key change is just a different tek_id on the next packet), a configurable start ROC
// per SSRC and RFC 4771 ROC carrying on output. Not thread-safe: one sender per sending thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "gst-plugins/bcastprotect/srtp/srtp_types.h"

namespace bcast::srtp {

class LibsrtpSession;

class SrtpSender {
 public:
  // mki_length 0..4 (0: no MKI, only one TEK can then be told apart by the receiver);
  // roc_tx_rate R ≥ 1 is used when rcc_mode is not kNone.
  SrtpSender(SrtpAuth auth = SrtpAuth::kHmacSha1_80, std::size_t mki_length = 2,
             RccMode rcc_mode = RccMode::kNone, std::uint16_t roc_tx_rate = 1);
  ~SrtpSender();
  SrtpSender(const SrtpSender&) = delete;
  SrtpSender& operator=(const SrtpSender&) = delete;

  // Adds (or replaces) a TEK. authenticated=false (STKM traffic_authentication_flag 0) protects
  // packets under this TEK with AES-CM only, no tag. False when libsrtp refuses the key.
  bool AddKey(std::uint16_t tek_id, std::span<const std::uint8_t, kMasterKeyLength> key,
              std::span<const std::uint8_t, kMasterSaltLength> salt, bool authenticated = true);
  // The same with the MKI bytes given instead of derived from tek_id: the Smartcard Profile's MKI
  // is MSK ID (4) ‖ MTK ID (2), six bytes that tek_id alone cannot carry. `tek_id` stays the
  // handle for Protect/RemoveKey. False for an MKI longer than kMaxSenderMkiLength.
  bool AddKey(std::uint16_t tek_id, std::span<const std::uint8_t, kMasterKeyLength> key,
              std::span<const std::uint8_t, kMasterSaltLength> salt, bool authenticated,
              std::span<const std::uint8_t> mki);
  void RemoveKey(std::uint16_t tek_id);

  // The ROC of the next packet of `ssrc` (its index becomes roc·2^16 + SEQ); later packets follow
  // wraps by themselves. Without a call, a stream starts at ROC 0.
  void SetRoc(std::uint32_t ssrc, std::uint32_t roc);
  // ROC of the last packet protected for `ssrc`.
  std::optional<std::uint32_t> GetRoc(std::uint32_t ssrc) const;

  // Encrypts the RTP packet in place and appends MKI (= tek_id) and the tag field. False (packet
  // unchanged) for an unknown tek_id, a malformed RTP packet or a libsrtp error.
  bool Protect(std::vector<std::uint8_t>& rtp_packet, std::uint16_t tek_id);

  // Longest MKI a key may carry (the receiver's limit is kMaxMkiLength).
  static constexpr std::size_t kMaxSenderMkiLength = 8;
  // Most bytes Protect can append.
  static constexpr std::size_t kMaxOverhead = kMaxSenderMkiLength + kRocLength + kMaxTagLength;

 private:
  struct Key;
  struct Stream;
  SrtpAuth auth_;
  std::size_t mki_length_;
  RccMode rcc_mode_;
  std::uint16_t roc_tx_rate_;
  std::map<std::uint16_t, std::unique_ptr<Key>> keys_;
  std::map<std::uint32_t, Stream> streams_;
};

}  // namespace bcast::srtp
