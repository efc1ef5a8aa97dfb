#include "gst-plugins/bcastprotect/srtp/srtp_receiver.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <vector>

#include "gst-plugins/bcastprotect/srtp/libsrtp_session.h"
#include "gst-plugins/bcastprotect/srtp/openssl_srtp.h"
#include "gst-plugins/bcastprotect/srtp/srtp_keys.h"

namespace bcast::srtp {

// Replay window over 48-bit indices relative to the highest accepted index, kept per SSRC (not per
// libsrtp session) so that it spans key changes. Ring of bits addressed by index modulo size.
class ReplayWindow {
 public:
  explicit ReplayWindow(std::size_t size)
      : size_(size), pow2_((size & (size - 1)) == 0), bits_((size + 63) / 64, 0) {}

  // True when `index` may be accepted given the highest accepted index.
  bool IsNew(std::uint64_t index, std::uint64_t highest) const {
    if (index > highest) return true;
    if (highest - index >= size_) return false;  // older than the window
    return !Get(index);
  }
  void Add(std::uint64_t index, std::uint64_t highest_before, bool had_highest) {
    // The next index in order (the usual case) clears nothing.
    if (!had_highest || index > highest_before + 1) [[unlikely]] {
      Advance(index, highest_before, had_highest);
    }
    Set(index);
  }

 private:
  [[gnu::noinline, gnu::cold]] void Advance(std::uint64_t index, std::uint64_t highest_before,
                                            bool had_highest) {
    if (!had_highest || index - highest_before >= size_) {
      std::fill(bits_.begin(), bits_.end(), 0);
    } else {
      for (std::uint64_t i = highest_before + 1; i < index; ++i) Clear(i);
    }
  }
  std::size_t Slot(std::uint64_t index) const {
    // A power-of-two window (the default 128) masks instead of dividing, once per packet.
    return static_cast<std::size_t>(pow2_ ? index & (size_ - 1) : index % size_);
  }
  bool Get(std::uint64_t i) const { return (bits_[Slot(i) / 64] >> (Slot(i) % 64)) & 1; }
  void Set(std::uint64_t i) { bits_[Slot(i) / 64] |= std::uint64_t{1} << (Slot(i) % 64); }
  void Clear(std::uint64_t i) { bits_[Slot(i) / 64] &= ~(std::uint64_t{1} << (Slot(i) % 64)); }

  std::size_t size_;
  bool pow2_;
  std::vector<std::uint64_t> bits_;
};

struct SrtpReceiver::Key {
  KeyId id = 0;
  std::array<std::uint8_t, kMasterKeyLength> key{};
  std::array<std::uint8_t, kMasterSaltLength> salt{};
  bool authenticated = true;
  SrtpSessionKeys session;                          // for RFC 4771 MACs checked outside libsrtp
  std::unique_ptr<OpensslSrtpTransform> transform;  // Engine::kOpenssl
  std::uint64_t serial = 0;
  ~Key() {
    OPENSSL_cleanse(key.data(), key.size());
    OPENSSL_cleanse(salt.data(), salt.size());
  }
};

struct SrtpReceiver::Stream {
  explicit Stream(std::size_t window) : replay(window) {}
  bool have_index = false;
  std::uint64_t highest = 0;
  ReplayWindow replay;
  std::uint64_t serial = 0;
  // (TEK ID, AES-CM-only session) → libsrtp session
  std::map<std::pair<KeyId, bool>, std::unique_ptr<LibsrtpSession>> sessions;
};

struct SrtpReceiver::Layout {
  const Key* key = nullptr;
  TagField tag;
  std::size_t srtp_length = 0;  // bytes of header ‖ payload ‖ MKI ‖ tag field
};

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kDecrypted:
      return "decrypted";
    case Decision::kAuthFailure:
      return "auth-failure";
    case Decision::kReplay:
      return "replay";
    case Decision::kUnknownMki:
      return "unknown-mki";
    case Decision::kMalformed:
      return "malformed";
    case Decision::kRocUnknown:
      return "roc-unknown";
  }
  return "malformed";
}

std::string_view EngineName(Engine engine) {
  return engine == Engine::kLibsrtp ? "libsrtp" : "openssl";
}

std::optional<Engine> ParseEngine(std::string_view name) {
  if (name == "openssl") return Engine::kOpenssl;
  if (name == "libsrtp") return Engine::kLibsrtp;
  return std::nullopt;
}

SrtpReceiver::SrtpReceiver(const ReceiverConfig& config) : config_(config) {
  config_.mki_length = std::min(config_.mki_length, kMaxMkiLength);
  config_.replay_window = std::clamp<std::size_t>(config_.replay_window, 64, 0x7fff);
  if (config_.roc_tx_rate == 0) config_.roc_tx_rate = 1;
  rtp_tag_ = TagFieldFor(config_.auth, true, RccMode::kNone, 1, 0);
  EnsureLibsrtpInitialised();
}

SrtpReceiver::~SrtpReceiver() = default;

bool SrtpReceiver::AddKey(KeyId tek_id, std::span<const std::uint8_t, kMasterKeyLength> key,
                          std::span<const std::uint8_t, kMasterSaltLength> salt,
                          bool authenticated) {
  auto it = keys_.find(tek_id);
  if (it != keys_.end()) {
    const Key& k = *it->second;
    if (CRYPTO_memcmp(k.key.data(), key.data(), key.size()) == 0 &&
        CRYPTO_memcmp(k.salt.data(), salt.data(), salt.size()) == 0 &&
        k.authenticated == authenticated) {
      return false;  // STKMs repeat: same TEK again
    }
    RemoveKey(tek_id);
  }
  while (keys_.size() >= kMaxKeys) {
    auto oldest = std::min_element(keys_.begin(), keys_.end(), [](const auto& a, const auto& b) {
      return a.second->serial < b.second->serial;
    });
    RemoveKey(oldest->first);
  }
  auto k = std::make_unique<Key>();
  k->id = tek_id;
  std::copy(key.begin(), key.end(), k->key.begin());
  std::copy(salt.begin(), salt.end(), k->salt.begin());
  k->authenticated = authenticated && config_.auth != SrtpAuth::kNull;
  k->session = DeriveSessionKeys(key, salt);
  if (config_.engine == Engine::kOpenssl) {
    k->transform = std::make_unique<OpensslSrtpTransform>(k->session);
  }
  k->serial = ++key_serial_;
  last_key_ = nullptr;
  keys_[tek_id] = std::move(k);
  return true;
}

void SrtpReceiver::RemoveKey(KeyId tek_id) {
  last_key_ = nullptr;
  keys_.erase(tek_id);
  for (auto& [ssrc, stream] : streams_) {
    stream->sessions.erase({tek_id, false});
    stream->sessions.erase({tek_id, true});
  }
}

bool SrtpReceiver::HasKey(KeyId tek_id) const { return keys_.count(tek_id) != 0; }

std::optional<std::uint32_t> SrtpReceiver::Roc(std::uint32_t ssrc) const {
  auto it = streams_.find(ssrc);
  if (it == streams_.end() || !it->second->have_index) return std::nullopt;
  return static_cast<std::uint32_t>(it->second->highest >> 16);
}

SrtpReceiver::Stream& SrtpReceiver::StreamFor(std::uint32_t ssrc) {
  if (last_stream_ != nullptr && last_ssrc_ == ssrc) [[likely]] {
    last_stream_->serial = ++stream_serial_;
    return *last_stream_;
  }
  return FindStream(ssrc);
}

SrtpReceiver::Stream& SrtpReceiver::FindStream(std::uint32_t ssrc) {
  auto it = streams_.find(ssrc);
  if (it == streams_.end()) {
    if (streams_.size() >= kMaxStreams) {
      auto oldest = std::min_element(
          streams_.begin(), streams_.end(),
          [](const auto& a, const auto& b) { return a.second->serial < b.second->serial; });
      if (oldest->second.get() == last_stream_) last_stream_ = nullptr;
      streams_.erase(oldest);
    }
    it = streams_.emplace(ssrc, std::make_unique<Stream>(config_.replay_window)).first;
  }
  it->second->serial = ++stream_serial_;
  last_stream_ = it->second.get();
  last_ssrc_ = ssrc;
  return *it->second;
}

namespace {

// The MKI in front of a `tag_len`-byte tag, as a number; none when the packet is too short for
// header, MKI and tag.
inline std::optional<KeyId> ReadMki(std::span<const std::uint8_t> p, std::size_t header_length,
                                    std::size_t mki_len, std::size_t tag_len) {
  if (p.size() < header_length + mki_len + tag_len) return std::nullopt;
  KeyId v = 0;
  const std::size_t at = p.size() - tag_len - mki_len;
  for (std::size_t i = 0; i < mki_len; ++i) v = (v << 8) | p[at + i];
  return v;
}

}  // namespace

// Where the MKI sits depends on the tag field, which depends on whether the TEK authenticates —
// known only once the MKI is read. The configured suite's layout is tried first; a TEK whose STKM
// says "no authentication" is then looked for at the no-tag position. So a packet under a TEK not
// held yet is taken for one under a held TEK without authentication when its last tag bytes spell
// that TEK's ID (1 in 2^(8 · MKI length) per such TEK): without authentication nothing can tell,
// as with any damaged packet under such a TEK.
std::optional<SrtpReceiver::Layout> SrtpReceiver::ResolveLayout(std::span<const std::uint8_t> p,
                                                                const RtpHeaderInfo& rtp,
                                                                UnprotectResult& result) const {
  // Almost every packet: RFC 3711 tags (no RFC 4771 ROC) and the previous packet's TEK, so the
  // layout is known without reading more than the MKI.
  const std::size_t mki_len = config_.mki_length;
  const Key* key = last_key_;
  if (config_.rcc_mode == RccMode::kNone && key != nullptr) [[likely]] {
    if (mki_len == 0) {
      const TagField tag = key->authenticated ? rtp_tag_ : TagField{};
      if (default_key_ == key->id && p.size() >= rtp.header_length + tag.length) {
        result.tek_id = default_key_;
        return Layout{key, tag, p.size()};
      }
    } else if (const auto id = ReadMki(p, rtp.header_length, mki_len, rtp_tag_.length);
               id && key->id == *id && (key->authenticated || rtp_tag_.length == 0)) {
      return Layout{key, rtp_tag_, p.size()};
    }
  }
  return ResolveLayoutSlow(p, rtp, result);
}

// Every other case, also when the MKI names another TEK than the previous packet's.
std::optional<SrtpReceiver::Layout> SrtpReceiver::ResolveLayoutSlow(std::span<const std::uint8_t> p,
                                                                    const RtpHeaderInfo& rtp,
                                                                    UnprotectResult& result) const {
  const std::size_t mki_len = config_.mki_length;
  // A 1..4-byte MKI carries a 16-bit TEK ID; the 6-byte one MSK ID ‖ MTK ID.
  const KeyId max_id = mki_len == 6 ? 0xFFFFFFFFFFFFull : 0xffffu;
  auto read_mki = [&](std::size_t tag_len) {
    return ReadMki(p, rtp.header_length, mki_len, tag_len);
  };
  auto find = [&](KeyId id) -> const Key* {
    if (id > max_id) return nullptr;
    if (last_key_ != nullptr && last_key_->id == id) return last_key_;
    auto it = keys_.find(id);
    if (it == keys_.end()) return nullptr;
    last_key_ = it->second.get();
    return last_key_;
  };

  if (mki_len == 0) {
    result.tek_id = default_key_;
    const Key* key = default_key_ ? find(*default_key_) : nullptr;
    if (key == nullptr) return std::nullopt;
    const TagField tag = TagFieldFor(config_.auth, key->authenticated, config_.rcc_mode,
                                     config_.roc_tx_rate, rtp.seq);
    if (p.size() < rtp.header_length + tag.length) return std::nullopt;
    return Layout{key, tag, p.size()};
  }

  const TagField auth_tag =
      TagFieldFor(config_.auth, true, config_.rcc_mode, config_.roc_tx_rate, rtp.seq);
  std::optional<KeyId> id_auth = read_mki(auth_tag.length);
  if (id_auth) {
    const Key* key = find(*id_auth);
    // A suite without authentication (or an RFC 4771 packet without tag field) puts the MKI at
    // the end whatever the TEK says.
    if (key != nullptr && (key->authenticated || auth_tag.length == 0)) {
      return Layout{key, auth_tag, p.size()};
    }
  }
  if (auth_tag.length != 0) {
    std::optional<KeyId> id_null = read_mki(0);
    if (id_null) {
      const Key* key = find(*id_null);
      if (key != nullptr && !key->authenticated) return Layout{key, TagField{}, p.size()};
    }
  }
  if (id_auth && *id_auth <= max_id) result.tek_id = *id_auth;
  if (auth_tag.length != 0) {
    std::optional<KeyId> id_null = read_mki(0);
    if (id_null && *id_null <= max_id) {
      result.alt_tek_id = *id_null;
      if (!result.tek_id) std::swap(result.tek_id, result.alt_tek_id);
    }
  }
  return std::nullopt;
}

Decision SrtpReceiver::NoLayoutDecision(const UnprotectResult& result) const {
  if (config_.mki_length == 0) {
    const bool have_default = default_key_ && HasKey(*default_key_);
    return have_default ? Decision::kMalformed : Decision::kUnknownMki;
  }
  return result.tek_id ? Decision::kUnknownMki : Decision::kMalformed;
}

UnprotectResult SrtpReceiver::Unprotect(std::span<std::uint8_t> packet) {
  UnprotectResult result;
  const auto rtp = ParseRtpHeader(packet);
  if (!rtp) [[unlikely]] {
    return result;  // kMalformed
  }
  result.ssrc = rtp->ssrc;

  const auto layout = ResolveLayout(packet, *rtp, result);
  if (!layout) [[unlikely]] {
    result.decision = NoLayoutDecision(result);
    return result;
  }
  const Key& key = *layout->key;
  result.tek_id = key.id;
  const TagField& tag = layout->tag;
  const std::size_t tag_start = packet.size() - tag.length;

  Stream& stream = StreamFor(rtp->ssrc);

  std::uint64_t index = 0;
  std::uint32_t carried_roc = 0;
  if (tag.carries_roc) [[unlikely]] {
    carried_roc = (static_cast<std::uint32_t>(packet[tag_start]) << 24) |
                  (static_cast<std::uint32_t>(packet[tag_start + 1]) << 16) |
                  (static_cast<std::uint32_t>(packet[tag_start + 2]) << 8) | packet[tag_start + 3];
    index = (static_cast<std::uint64_t>(carried_roc) << 16) | rtp->seq;
    result.roc_from_packet = true;
  } else if (stream.have_index) {
    index = EstimatePacketIndex(stream.highest, rtp->seq);
  } else if (config_.rcc_mode != RccMode::kNone && !config_.initial_roc &&
             TagLength(config_.auth) != 0 && key.authenticated) {
    result.decision = Decision::kRocUnknown;
    return result;
  } else {
    index = (static_cast<std::uint64_t>(config_.initial_roc.value_or(0)) << 16) | rtp->seq;
  }
  result.index = index;

  if (stream.have_index && !stream.replay.IsNew(index, stream.highest)) [[unlikely]] {
    result.decision = Decision::kReplay;
    return result;
  }

  const bool ok = config_.engine == Engine::kOpenssl
                      ? DecryptOpenssl(packet, *rtp, *layout, index, result)
                      : DecryptLibsrtp(packet, *rtp, *layout, stream, index, result);
  if (!ok) [[unlikely]] {
    return result;
  }
  stream.replay.Add(index, stream.highest, stream.have_index);
  if (!stream.have_index || index > stream.highest) stream.highest = index;
  stream.have_index = true;
  result.decision = Decision::kDecrypted;
  return result;
}

// RFC 3711 §3.3 receiver steps 5-6 after the index and replay checks: the tag (or the RFC 4771
// MAC after the carried ROC) over header ‖ payload ‖ ROC, then AES-CM of the payload in place.
// The MKI and the tag field are cut off; the packet is untouched when the tag does not verify.
bool SrtpReceiver::DecryptOpenssl(std::span<std::uint8_t> packet, const RtpHeaderInfo& rtp,
                                  const Layout& layout, std::uint64_t index,
                                  UnprotectResult& result) {
  const Key& key = *layout.key;
  const TagField& tag = layout.tag;
  const std::size_t tag_start = packet.size() - tag.length;
  const std::size_t portion_len = tag_start - config_.mki_length;
  if (!key.transform || !key.transform->ok()) {
    result.decision = Decision::kMalformed;
    return false;
  }
  if (tag.mac_length > 0) {
    const std::size_t mac_at = tag_start + (tag.carries_roc ? kRocLength : 0);
    if (!key.transform->Verify(packet, portion_len, static_cast<std::uint32_t>(index >> 16), mac_at,
                               tag.mac_length)) [[unlikely]] {
      result.decision = Decision::kAuthFailure;
      return false;
    }
  }
  if (!key.transform->Transform(
          rtp.ssrc, index, packet.subspan(rtp.header_length, portion_len - rtp.header_length))) {
    result.decision = Decision::kMalformed;
    return false;
  }
  result.length = portion_len;
  return true;
}

bool SrtpReceiver::DecryptLibsrtp(std::span<std::uint8_t> packet, const RtpHeaderInfo& rtp,
                                  const Layout& layout, Stream& stream, std::uint64_t index,
                                  UnprotectResult& result) {
  const Key& key = *layout.key;
  const TagField& tag = layout.tag;
  const std::size_t tag_start = packet.size() - tag.length;
  const std::size_t portion_len = tag_start - config_.mki_length;
  // RFC 4771 ROC-carrying packet: the MAC covers header ‖ payload ‖ carried ROC (not the MKI);
  // checked here, then libsrtp only decrypts (AES-CM-only session).
  if (tag.carries_roc && tag.mac_length > 0 &&
      !SrtpAuthTagMatches(key.session, packet.first(portion_len),
                          static_cast<std::uint32_t>(index >> 16),
                          packet.subspan(tag_start + kRocLength, tag.mac_length))) {
    result.decision = Decision::kAuthFailure;
    return false;
  }

  const bool cm_only = tag.carries_roc || tag.length == 0;
  auto& session = stream.sessions[{key.id, cm_only}];
  if (!session) {
    std::array<std::uint8_t, kMaxMkiLength> mki{};
    for (std::size_t i = 0; i < config_.mki_length; ++i) {
      mki[i] = static_cast<std::uint8_t>(key.id >> (8 * (config_.mki_length - 1 - i)));
    }
    session = std::make_unique<LibsrtpSession>(
        false, cm_only ? SrtpAuth::kNull : config_.auth, key.key, key.salt, rtp.ssrc,
        std::span<const std::uint8_t>(mki.data(), config_.mki_length), config_.replay_window);
  }
  if (!session->ok() || !session->PrepareIndex(index)) {
    stream.sessions.erase({key.id, cm_only});
    result.decision = Decision::kMalformed;
    return false;
  }
  // The AES-CM-only session sees header ‖ payload ‖ MKI: the tag field is cut off.
  int len = static_cast<int>(cm_only ? tag_start : packet.size());
  const srtp_err_status_t status = session->Unprotect(packet.data(), &len);
  switch (status) {
    case srtp_err_status_ok:
      break;
    case srtp_err_status_auth_fail:
      result.decision = Decision::kAuthFailure;
      return false;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      result.decision = Decision::kReplay;
      return false;
    default:
      result.decision = Decision::kMalformed;
      return false;
  }
  session->Accepted(index);
  result.length = static_cast<std::size_t>(len);
  return true;
}

}  // namespace bcast::srtp
