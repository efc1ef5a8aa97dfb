#include "gst-plugins/bcastprotect/srtp/srtp_sender.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>

#include "gst-plugins/bcastprotect/srtp/libsrtp_session.h"
#include "gst-plugins/bcastprotect/srtp/srtp_keys.h"

namespace bcast::srtp {

struct SrtpSender::Key {
  std::array<std::uint8_t, kMasterKeyLength> key{};
  std::array<std::uint8_t, kMasterSaltLength> salt{};
  bool authenticated = true;
  std::vector<std::uint8_t> mki;  // empty: tek_id in mki_length_ bytes
  SrtpSessionKeys session;
  ~Key() {
    OPENSSL_cleanse(key.data(), key.size());
    OPENSSL_cleanse(salt.data(), salt.size());
  }
};

struct SrtpSender::Stream {
  bool have_index = false;
  std::uint64_t highest = 0;
  std::uint64_t last = 0;      // index of the last packet protected: a late one is below `highest`
  std::uint32_t next_roc = 0;  // ROC of the first packet after SetRoc / of a new stream
  // (TEK ID, AES-CM-only) → libsrtp session
  std::map<std::pair<std::uint16_t, bool>, std::unique_ptr<LibsrtpSession>> sessions;
};

SrtpSender::SrtpSender(SrtpAuth auth, std::size_t mki_length, RccMode rcc_mode,
                       std::uint16_t roc_tx_rate)
    : auth_(auth),
      mki_length_(std::min(mki_length, kMaxMkiLength)),
      rcc_mode_(rcc_mode),
      roc_tx_rate_(roc_tx_rate == 0 ? 1 : roc_tx_rate) {
  EnsureLibsrtpInitialised();
}

SrtpSender::~SrtpSender() = default;

bool SrtpSender::AddKey(std::uint16_t tek_id, std::span<const std::uint8_t, kMasterKeyLength> key,
                        std::span<const std::uint8_t, kMasterSaltLength> salt, bool authenticated) {
  RemoveKey(tek_id);
  auto k = std::make_unique<Key>();
  std::copy(key.begin(), key.end(), k->key.begin());
  std::copy(salt.begin(), salt.end(), k->salt.begin());
  k->authenticated = authenticated && auth_ != SrtpAuth::kNull;
  k->session = DeriveSessionKeys(key, salt);
  keys_[tek_id] = std::move(k);
  return true;
}

bool SrtpSender::AddKey(std::uint16_t tek_id, std::span<const std::uint8_t, kMasterKeyLength> key,
                        std::span<const std::uint8_t, kMasterSaltLength> salt, bool authenticated,
                        std::span<const std::uint8_t> mki) {
  if (mki.size() > kMaxSenderMkiLength) return false;
  AddKey(tek_id, key, salt, authenticated);
  keys_[tek_id]->mki.assign(mki.begin(), mki.end());
  return true;
}

void SrtpSender::RemoveKey(std::uint16_t tek_id) {
  keys_.erase(tek_id);
  for (auto& [ssrc, stream] : streams_) {
    stream.sessions.erase({tek_id, false});
    stream.sessions.erase({tek_id, true});
  }
}

void SrtpSender::SetRoc(std::uint32_t ssrc, std::uint32_t roc) {
  Stream& s = streams_[ssrc];
  s.have_index = false;
  s.next_roc = roc;
}

std::optional<std::uint32_t> SrtpSender::GetRoc(std::uint32_t ssrc) const {
  auto it = streams_.find(ssrc);
  if (it == streams_.end() || !it->second.have_index) return std::nullopt;
  return static_cast<std::uint32_t>(it->second.last >> 16);
}

bool SrtpSender::Protect(std::vector<std::uint8_t>& pkt, std::uint16_t tek_id) {
  const auto rtp = ParseRtpHeader(pkt);
  if (!rtp) return false;
  auto kit = keys_.find(tek_id);
  if (kit == keys_.end()) return false;
  const Key& key = *kit->second;
  Stream& stream = streams_[rtp->ssrc];
  const std::uint64_t index = stream.have_index
                                  ? EstimatePacketIndex(stream.highest, rtp->seq)
                                  : (static_cast<std::uint64_t>(stream.next_roc) << 16) | rtp->seq;
  const auto roc = static_cast<std::uint32_t>(index >> 16);
  const TagField tag = TagFieldFor(auth_, key.authenticated, rcc_mode_, roc_tx_rate_, rtp->seq);
  const bool cm_only = tag.carries_roc || tag.length == 0;

  const std::size_t mki_length = key.mki.empty() ? mki_length_ : key.mki.size();
  auto& session = stream.sessions[{tek_id, cm_only}];
  if (!session) {
    std::vector<std::uint8_t> mki = key.mki;
    if (mki.empty()) {
      for (std::size_t i = 0; i < mki_length_; ++i) {
        mki.push_back(static_cast<std::uint8_t>(tek_id >> (8 * (mki_length_ - 1 - i))));
      }
    }
    session = std::make_unique<LibsrtpSession>(true, cm_only ? SrtpAuth::kNull : auth_, key.key,
                                               key.salt, rtp->ssrc, mki, 0x400);
  }
  if (!session->ok() || !session->PrepareIndex(index)) {
    stream.sessions.erase({tek_id, cm_only});
    return false;
  }
  const std::size_t rtp_len = pkt.size();
  pkt.resize(rtp_len + kMaxOverhead + 16);  // libsrtp writes MKI and tag after the payload
  int len = static_cast<int>(rtp_len);
  if (session->Protect(pkt.data(), &len) != srtp_err_status_ok) {
    pkt.resize(rtp_len);
    return false;
  }
  session->Accepted(index);
  std::size_t out = static_cast<std::size_t>(len);
  if (tag.carries_roc) {
    // RFC 4771: tag field = ROC ‖ MAC(header ‖ encrypted payload ‖ ROC) truncated.
    const std::size_t portion = out - mki_length;
    const std::uint8_t roc_be[4] = {
        static_cast<std::uint8_t>(roc >> 24), static_cast<std::uint8_t>(roc >> 16),
        static_cast<std::uint8_t>(roc >> 8), static_cast<std::uint8_t>(roc)};
    std::copy(roc_be, roc_be + 4, pkt.begin() + static_cast<std::ptrdiff_t>(out));
    if (tag.mac_length > 0) {
      const auto mac =
          SrtpAuthTag(key.session, std::span<const std::uint8_t>(pkt.data(), portion), roc);
      std::copy(mac.begin(), mac.begin() + static_cast<std::ptrdiff_t>(tag.mac_length),
                pkt.begin() + static_cast<std::ptrdiff_t>(out + kRocLength));
    }
    out += tag.length;
  }
  pkt.resize(out);
  if (!stream.have_index || index > stream.highest) stream.highest = index;
  stream.last = index;
  stream.have_index = true;
  return true;
}

}  // namespace bcast::srtp
