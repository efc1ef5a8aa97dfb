// The Smartcard Profile's key stream (shared/spec/smartcard.md): MSKs of one key domain and key
// group, and the MTK schedule whose MIKEY MTK messages go out on the key stream, each message
// with a counter above every earlier one. No GLib, no GStreamer: the head-end's timers drive it
// and tests call it directly.
//
// MTK k protects the media during period k; the key stream alternates the messages of the MTK in
// use and of the next one, so a terminal holds the next MTK a whole period before the media
// switches to it. An MSK change (re-keying) takes effect at an MTK boundary: the next MTK is made
// under the new MSK at once and announced, so the terminal has one period to fetch the new MSK
// (its card answers 6A 88 until then) before the media needs it.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "spc/libspc/smartcard/mikey.h"

namespace headend {

struct MskEntry {
  std::uint32_t id = 0;
  std::array<std::uint8_t, 16> key{};
};

// One MTK with the MSK it is sent under; `mki` = MSK ID ‖ MTK ID.
struct MtkEntry {
  std::uint32_t msk_id = 0;
  std::uint16_t mtk_id = 0;
  std::array<std::uint8_t, 16> key{};
  std::array<std::uint8_t, 14> salt{};
  std::array<std::uint8_t, 6> mki() const { return spc::smartcard::SrtpMkiFor(msk_id, mtk_id); }
};

class MikeyKeyStream {
 public:
  struct Config {
    spc::smartcard::KeyDomainId key_domain{};
    std::uint32_t first_msk_id = 0x00010001;
    std::uint16_t first_mtk_id = 1;
    // The STKM extension's traffic fields (RFC 5410 subtype 2): SRTP, authenticated or not.
    std::uint8_t protection_after_reception = 0;
    bool traffic_authentication = true;
    std::uint8_t parental_rating = 0;  // access criteria descriptor 0x01; 0: none
    // First message counter. The card refuses a counter not above the last one it accepted for
    // the MSK, so a restarted head-end must not count from 1 again: the default is the time.
    std::uint32_t first_counter = 1;
  };

  explicit MikeyKeyStream(Config config);
  ~MikeyKeyStream();
  MikeyKeyStream(const MikeyKeyStream&) = delete;
  MikeyKeyStream& operator=(const MikeyKeyStream&) = delete;

  const MtkEntry& current() const { return current_; }
  const MtkEntry& next() const { return next_; }
  const MskEntry& msk() const { return msks_.back(); }
  // The MSKs a terminal may still ask the BSM for (the current one and the one before).
  const std::vector<MskEntry>& msks() const { return msks_; }
  const MskEntry* FindMsk(std::uint32_t msk_id) const;

  // The next MTK comes into use; a fresh one under the current MSK is announced after it.
  void Rotate();
  // Re-keying: a new MSK (ID + 1 in the key group, random key) and the announced next MTK made
  // anew under it (same MTK ID, fresh key). The previous MSK stays available to the BSM.
  const MskEntry& NewMsk();

  // The MIKEY MTK message for the MTK in use (`next` false) or the announced one, with the next
  // counter.
  std::vector<std::uint8_t> MakeMessage(bool next);
  // Faults. A message sent before, byte for byte (the card's counter is past it: 98 65): the
  // oldest of the last kReplayDepth, so that a terminal's filter of recent duplicates (tekdec
  // remembers 16) does not swallow it and the card sees it. Empty when nothing was sent yet.
  static constexpr std::size_t kReplayDepth = 48;
  std::vector<std::uint8_t> ReplayedMessage() const;
  // A fresh message for the MTK after the announced one whose MAC does not verify (one MAC bit
  // flipped: 98 62).
  std::vector<std::uint8_t> MakeBadMacMessage();

  std::uint32_t counter() const { return counter_; }

 private:
  MtkEntry MakeMtk(std::uint16_t id, std::uint32_t msk_id) const;
  std::vector<std::uint8_t> Write(const MtkEntry& mtk);

  Config config_;
  std::vector<MskEntry> msks_;  // oldest first, at most two
  MtkEntry current_;
  MtkEntry next_;
  std::uint32_t counter_ = 0;  // of the last message made
  // The last kReplayDepth messages, oldest first, for ReplayedMessage.
  std::deque<std::vector<std::uint8_t>> sent_;
};

}  // namespace headend
