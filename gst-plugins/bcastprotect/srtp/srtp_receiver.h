// SRTP receiver keyed by BCAST TEKs: picks the TEK by MKI (TEK ID), keeps the packet index (ROC)
// and the replay window per SSRC itself so that neither is lost when the TEK changes, reads the
// ROC from RFC 4771 ROC-carrying packets, and decrypts in place: by default on OpenSSL EVP (one
// keyed AES-CTR and HMAC context per TEK), or with libsrtp2 (one session per SSRC and TEK), the
// reference the OpenSSL engine is cross-checked against. No GStreamer; not thread-safe (the
// element serialises calls).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "gst-plugins/bcastprotect/srtp/srtp_types.h"

namespace bcast::srtp {

class LibsrtpSession;
class ReplayWindow;

enum class Decision : std::uint8_t {
  kDecrypted,
  kAuthFailure,  // tag (or RFC 4771 MAC) does not verify
  kReplay,       // index already received or older than the replay window
  kUnknownMki,   // the MKI names a TEK the receiver does not have (packet untouched)
  kMalformed,    // not an RTP/SRTP packet of the configured layout (packet untouched)
  kRocUnknown,   // RFC 4771 signalled but no ROC-carrying packet seen yet for this SSRC
};
std::string_view DecisionName(Decision decision);

// Who does the per-packet cryptography. Index, ROC, RFC 4771 and the replay window are the
// receiver's own with either engine.
//  kOpenssl: OpenSSL EVP contexts keyed once per TEK, no allocation per packet (default).
//  kLibsrtp: libsrtp2 srtp_unprotect_mki (reference; on Debian it runs on NSS and costs a cipher
//            context per packet).
enum class Engine : std::uint8_t { kOpenssl, kLibsrtp };
std::string_view EngineName(Engine engine);
std::optional<Engine> ParseEngine(std::string_view name);  // "openssl", "libsrtp"

struct ReceiverConfig {
  Engine engine = Engine::kOpenssl;
  SrtpAuth auth = SrtpAuth::kHmacSha1_80;
  std::size_t mki_length = 2;  // 0..4, 6; 0: every packet uses the default TEK (SetDefaultKey)
  RccMode rcc_mode = RccMode::kNone;
  std::uint16_t roc_tx_rate = 1;             // R, ≥ 1
  std::optional<std::uint32_t> initial_roc;  // ROC of a stream's first packet (else 0, or RCC)
  std::size_t replay_window = 128;           // 64..32768 packets
};

struct UnprotectResult {
  Decision decision = Decision::kMalformed;
  std::uint32_t ssrc = 0;
  std::optional<KeyId> tek_id;  // MKI read from the packet (or the default TEK)
  // kUnknownMki with an authenticated suite: the MKI read as if the packet had no tag (a TEK
  // whose STKM says "no authentication"); either ID can be the one the packet names.
  std::optional<KeyId> alt_tek_id;
  std::uint64_t index = 0;       // 48-bit packet index used (ROC · 2^16 + SEQ)
  bool roc_from_packet = false;  // RFC 4771 ROC taken from this packet
  std::size_t length = 0;        // RTP length after a kDecrypted
};

class SrtpReceiver {
 public:
  explicit SrtpReceiver(const ReceiverConfig& config);
  ~SrtpReceiver();
  SrtpReceiver(const SrtpReceiver&) = delete;
  SrtpReceiver& operator=(const SrtpReceiver&) = delete;

  const ReceiverConfig& config() const { return config_; }

  // Adds or replaces a TEK (replacing with other key material drops its libsrtp sessions; the
  // per-SSRC index and replay state are kept). At most kMaxKeys are held; the oldest go first.
  // False when this very TEK was held already (nothing changed).
  bool AddKey(KeyId tek_id, std::span<const std::uint8_t, kMasterKeyLength> key,
              std::span<const std::uint8_t, kMasterSaltLength> salt, bool authenticated = true);
  void RemoveKey(KeyId tek_id);
  bool HasKey(KeyId tek_id) const;
  // TEK used when mki_length is 0.
  void SetDefaultKey(KeyId tek_id) { default_key_ = tek_id; }
  std::optional<KeyId> default_key() const { return default_key_; }

  // Verifies, replay-checks and decrypts one SRTP packet in place. On kDecrypted the RTP packet is
  // packet[0, result.length). kUnknownMki and kMalformed leave the packet and all state untouched,
  // so the caller can retry it once the TEK is known.
  UnprotectResult Unprotect(std::span<std::uint8_t> packet);

  // ROC of the highest index accepted on `ssrc`.
  std::optional<std::uint32_t> Roc(std::uint32_t ssrc) const;

  static constexpr std::size_t kMaxKeys = 32;
  static constexpr std::size_t kMaxStreams = 64;

 private:
  struct Key;
  struct Stream;
  struct Layout;
  // The per-packet path is kept short (in instructions and in code bytes: with GStreamer's and
  // OpenSSL's code around it, the element's code per packet is larger than L1i); what is rare
  // (another TEK or SSRC than the previous packet's, no layout, the reference engine) is out of
  // line.
  std::optional<Layout> ResolveLayout(std::span<const std::uint8_t> packet,
                                      const RtpHeaderInfo& rtp, UnprotectResult& result) const;
  [[gnu::noinline, gnu::cold]] std::optional<Layout> ResolveLayoutSlow(
      std::span<const std::uint8_t> packet, const RtpHeaderInfo& rtp,
      UnprotectResult& result) const;
  [[gnu::noinline, gnu::cold]] Decision NoLayoutDecision(const UnprotectResult& result) const;
  Stream& StreamFor(std::uint32_t ssrc);
  [[gnu::noinline, gnu::cold]] Stream& FindStream(std::uint32_t ssrc);
  [[gnu::noinline]] bool DecryptLibsrtp(std::span<std::uint8_t> packet, const RtpHeaderInfo& rtp,
                                        const Layout& layout, Stream& stream, std::uint64_t index,
                                        UnprotectResult& result);
  bool DecryptOpenssl(std::span<std::uint8_t> packet, const RtpHeaderInfo& rtp,
                      const Layout& layout, std::uint64_t index, UnprotectResult& result);

  ReceiverConfig config_;
  TagField rtp_tag_;  // the suite's RFC 3711 tag field (no RFC 4771 ROC)
  std::map<KeyId, std::unique_ptr<Key>> keys_;
  mutable const Key* last_key_ = nullptr;  // the key of the previous packet (skips the map)
  std::uint64_t key_serial_ = 0;
  std::optional<KeyId> default_key_;
  std::map<std::uint32_t, std::unique_ptr<Stream>> streams_;
  std::uint64_t stream_serial_ = 0;
  // The stream of the previous packet (almost always the next one's): skips the map lookup.
  Stream* last_stream_ = nullptr;
  std::uint32_t last_ssrc_ = 0;
};

}  // namespace bcast::srtp
