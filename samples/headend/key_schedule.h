// TEK schedule of the sample head-end and the STKMs that announce it (shared/spec/stkm.md).
//
// TEK k is in use during period k; every STKM carries the TEK in use and the next one, so a
// terminal holds the next TEK one whole period before the media switches to it. No GLib, no
// GStreamer: the head-end's timers drive it and tests call it directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

namespace headend {

// TEK IDs count up from the first ID and wrap from 0xffff to 1: ID 0 is never used (a zero MKI is
// too easy to produce by accident).
std::uint16_t NextTekId(std::uint16_t id);
// The same in steps of `stride` (1 or 2), keeping the ID's parity across the wrap (0xfffe + 2 is
// 2): two schedules of one service, one on odd and one on even IDs, never share a TEK ID (the
// terminal's keyring holds TEKs by ID alone).
std::uint16_t NextTekId(std::uint16_t id, unsigned stride);

class KeySchedule {
 public:
  struct Config {
    spc::LongTermKey service_key;  // SEK/SAK of the service
    std::uint32_t cid_extension = 0;
    std::uint16_t first_tek_id = 1;
    unsigned tek_period_s = 10;
    bool traffic_authentication = true;  // the STKM's traffic_authentication_flag
    // kSrtp: random master salts, master_salt_flag 1. kIsmacryp: no salt (ISMACryp's k_s is 0 in
    // BCAST), master_salt_flag 0.
    spc::TrafficProtectionProtocol protocol = spc::TrafficProtectionProtocol::kSrtp;
    unsigned id_stride = 1;                       // see NextTekId
    std::uint8_t protection_after_reception = 0;  // 0..3
    std::uint8_t parental_rating = 0;             // access criteria 0x01; 0: no descriptor
    bool bad_mac = false;                         // fault: MakeStkm's MAC never verifies
  };

  explicit KeySchedule(Config config);
  ~KeySchedule();
  KeySchedule(const KeySchedule&) = delete;
  KeySchedule& operator=(const KeySchedule&) = delete;

  const spc::TrafficKey& current() const { return current_; }
  const spc::TrafficKey& next() const { return next_; }

  // A SEK change: STKMs from now on carry the TEKs under `service_key` with `cid_extension`.
  void SetServiceKey(const spc::LongTermKey& service_key, std::uint32_t cid_extension);

  // The next TEK comes into use and a fresh random one (key and salt) is announced after it.
  void Rotate();

  // traffic_key_lifetime: two periods (in use, and announced before) plus a margin for late STKMs.
  std::uint16_t tek_lifetime_s() const;

  // The STKM for the current and next TEK, MAC'd with the SAK. `unix_time` goes in the timestamp.
  std::vector<std::uint8_t> MakeStkm(std::uint64_t unix_time) const;

  // Fault injection. A copy of the genuine STKM announcing a random (wrong) TEK under the genuine
  // TEK ID, whose MAC does not verify: a terminal must drop it and keep the genuine TEK.
  std::vector<std::uint8_t> MakeForgedStkm(std::uint64_t unix_time) const;
  // A well-formed STKM for another content ID (extension + 1), keyed with random keys nobody holds.
  std::vector<std::uint8_t> MakeForeignStkm(std::uint64_t unix_time) const;

 private:
  spc::Stkm BaseStkm(std::uint64_t unix_time) const;
  spc::TrafficKey RandomTek(std::uint16_t id) const;
  bool srtp() const { return config_.protocol == spc::TrafficProtectionProtocol::kSrtp; }

  Config config_;
  spc::TrafficKey current_;
  spc::TrafficKey next_;
};

// A fresh random SEK/SAK for `content_id` in the key file format of stkm.md.
std::string MakeRandomKeyFile(const std::string& content_id, std::uint32_t key_domain_id);

}  // namespace headend
