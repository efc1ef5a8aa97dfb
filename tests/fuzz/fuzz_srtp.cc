// libFuzzer target: the SRTP receiver (bcastsrtpdec's core: RTP header, MKI/TEK lookup, RFC 4771
// ROC carrying, index estimation, replay window, libsrtp) on raw datagrams and on packets made by
// the head-end's SrtpSender and then damaged.
//
// Input: byte 0 the configuration (suite, MKI length, RFC 4771 mode), byte 1 the ROC rate R, then
// records [op][length: 2 bytes][bytes]:
//   op % 4 == 0  the bytes are a datagram for the receiver as they are;
//   op % 4 == 1  the bytes are a clear RTP packet: protected by the sender under TEK 1 (op bit 2
//                clear) or TEK 2, then byte (op >> 3) of the first 32 XORed with the last input
//                byte of the record when op bit 7 is set;
//   op % 4 == 2  the receiver drops TEK (bytes[0] % 3);
//   op % 4 == 3  the receiver gets TEK (bytes[0] % 3) again (TEK 0 is one the sender never uses).
// Checks: no crash; packets the receiver leaves alone are untouched; what it decrypts from the
// sender equals the clear packet; a damaged packet under an authenticated TEK whose tag covers the
// damage is never passed on.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "gst-plugins/bcastprotect/srtp/libsrtp_session.h"
#include "gst-plugins/bcastprotect/srtp/srtp_receiver.h"
#include "gst-plugins/bcastprotect/srtp/srtp_sender.h"
#include "gst-plugins/bcastprotect/srtp/srtp_types.h"

namespace srtp = bcast::srtp;

namespace {

std::array<std::uint8_t, srtp::kMasterKeyLength> KeyOf(std::uint16_t id) {
  std::array<std::uint8_t, srtp::kMasterKeyLength> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(id * 31 + i);
  return k;
}
std::array<std::uint8_t, srtp::kMasterSaltLength> SaltOf(std::uint16_t id) {
  std::array<std::uint8_t, srtp::kMasterSaltLength> s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(id * 7 + 3 * i);
  return s;
}
// TEK 1 authenticates, TEK 2 does not (STKM traffic_authentication_flag 0), TEK 0 only the
// receiver knows.
bool Authenticated(std::uint16_t id) { return id != 2; }

void AddKey(srtp::SrtpReceiver& r, std::uint16_t id) {
  const auto k = KeyOf(id);
  const auto s = SaltOf(id);
  r.AddKey(id, k, s, Authenticated(id));
}

// libsrtp on NSS (Debian's build) opens an NSS context for every cipher it allocates, and closing
// the last one shuts NSS down and unloads softokn: each input's sender would load NSS again (70 %
// of the instructions per input). This session, made once and never used, keeps NSS loaded for the
// run without carrying anything from one input to the next.
void KeepLibsrtpBackendLoaded() {
  static const srtp::LibsrtpSession kept(true, srtp::SrtpAuth::kNull, KeyOf(0), SaltOf(0), 0, {},
                                         64);
  if (!kept.ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  KeepLibsrtpBackendLoaded();
  if (size < 2) return 0;
  const std::uint8_t c = data[0];
  const auto auth = static_cast<srtp::SrtpAuth>(c % 3);
  const std::size_t mki_length = (c >> 2) % 5;
  const auto rcc = static_cast<srtp::RccMode>((c >> 5) & 3);
  const std::uint16_t rate = std::max<std::uint16_t>(1, data[1]);

  srtp::ReceiverConfig config;
  config.auth = auth;
  config.mki_length = mki_length;
  config.rcc_mode = rcc;
  config.roc_tx_rate = rate;
  if (c & 0x80) config.initial_roc = 0;
  srtp::SrtpReceiver receiver(config);
  for (std::uint16_t id = 0; id < 3; ++id) AddKey(receiver, id);
  // The sender and each of its TEKs are made when a record first protects under that TEK: a TEK
  // added before its first packet leaves the sender as if it had been there from the start, and
  // most inputs use one TEK or none (every AddKey derives the session keys).
  std::optional<srtp::SrtpSender> sender;
  std::array<bool, 3> sender_has{};
  auto sender_with = [&](std::uint16_t tek) -> srtp::SrtpSender& {
    if (!sender) sender.emplace(auth, mki_length, rcc, rate);
    if (!sender_has[tek]) {
      const auto k = KeyOf(tek);
      const auto s = SaltOf(tek);
      if (!sender->AddKey(tek, k, s, Authenticated(tek))) std::abort();
      sender_has[tek] = true;
    }
    return *sender;
  };
  if (mki_length == 0) receiver.SetDefaultKey(1);

  std::size_t pos = 2;
  while (pos + 3 <= size) {
    const std::uint8_t op = data[pos];
    const std::size_t len =
        std::min<std::size_t>((std::size_t{data[pos + 1]} << 8) | data[pos + 2], size - pos - 3);
    std::span<const std::uint8_t> bytes(data + pos + 3, len);
    pos += 3 + len;

    switch (op % 4) {
      case 0: {
        std::vector<std::uint8_t> packet(bytes.begin(), bytes.end());
        const auto result = receiver.Unprotect(packet);
        if (result.decision == srtp::Decision::kUnknownMki ||
            result.decision == srtp::Decision::kMalformed) {
          if (!std::equal(packet.begin(), packet.end(), bytes.begin())) std::abort();
        }
        if (result.decision == srtp::Decision::kDecrypted &&
            (result.length > bytes.size() || result.length < 12)) {
          std::abort();
        }
        break;
      }
      case 1: {
        const std::uint16_t tek = (op & 4) || mki_length == 0 ? 1 : 2;
        std::vector<std::uint8_t> clear(bytes.begin(), bytes.end());
        std::vector<std::uint8_t> packet = clear;
        if (!sender_with(tek).Protect(packet, tek)) break;
        const auto rtp = srtp::ParseRtpHeader(clear);
        if (!rtp) std::abort();  // the sender protected it, so it was RTP
        const srtp::TagField tag = srtp::TagFieldFor(auth, Authenticated(tek), rcc, rate, rtp->seq);
        bool damaged = false;
        std::size_t at = 0;
        if ((op & 0x80) && len > 0) {
          at = std::min<std::size_t>((op >> 3) & 0x0f, packet.size() - 1);
          const std::uint8_t x = bytes[len - 1];
          if (x != 0) {
            packet[at] ^= x;
            damaged = true;
          }
        }
        const std::vector<std::uint8_t> sent = packet;
        const auto result = receiver.Unprotect(packet);
        if (result.decision == srtp::Decision::kUnknownMki ||
            result.decision == srtp::Decision::kMalformed) {
          if (packet != sent) std::abort();
        }
        if (result.decision != srtp::Decision::kDecrypted) break;
        // Under a TEK the receiver does not hold, the last bytes of the tag can spell the ID of a
        // held TEK without authentication (MKI at the no-tag position): nothing can tell that
        // packet from one under that TEK, and it decrypts to other bytes.
        if (result.tek_id != tek) break;
        if (!damaged) {
          // Raw records from another sender can leave the receiver on another ROC for this SSRC:
          // a null-auth packet then decrypts to other bytes, as it would on the air.
          if (sender->GetRoc(rtp->ssrc) != static_cast<std::uint32_t>(result.index >> 16)) break;
          if (result.length != clear.size() ||
              !std::equal(clear.begin(), clear.end(), packet.begin())) {
            std::abort();
          }
          break;
        }
        // Damage to the header or payload of a packet whose tag field carries a MAC (under the
        // damaged sequence number too) must be caught. The MKI is not covered by an RFC 4771 MAC,
        // and an altered MKI or tag may name the TEK without authentication.
        const std::size_t mki_at = sent.size() - tag.length - mki_length;
        const auto damaged_rtp = srtp::ParseRtpHeader(sent);
        const bool covered =
            at < mki_at && tag.mac_length > 0 && damaged_rtp && receiver.HasKey(tek) &&
            srtp::TagFieldFor(auth, true, rcc, rate, damaged_rtp->seq).mac_length > 0;
        if (covered) std::abort();
        break;
      }
      case 2:
        if (len > 0) receiver.RemoveKey(bytes[0] % 3);
        break;
      case 3:
        if (len > 0) AddKey(receiver, bytes[0] % 3);
        break;
    }
  }
  return 0;
}
