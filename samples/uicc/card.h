// The card logic of bcast-uicc: a USIM that answers AUTHENTICATE in GBA context (GBA_U
// bootstrapping with Milenage, NAF derivation keeping Ks_int_NAF = MUK inside) and MBMS context
// (MSK update, MTK generation, MSK deletion), with its state persisted in a file after every
// change. No I/O besides the state file: main.cc speaks vpcd, tests drive Process() directly.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "spc/libspc/smartcard/apdu.h"
#include "spc/libspc/smartcard/mikey.h"

namespace bcast::uicc {

struct MukEntry {
  std::vector<std::uint8_t> key;  // Ks_int_NAF (32 bytes)
  std::uint32_t counter = 0;      // highest MSK message counter accepted under this MUK
  ~MukEntry();
};

struct MskEntry {
  std::array<std::uint8_t, 16> key{};
  std::uint32_t counter = 0;  // highest MTK message counter accepted under this MSK
  std::string naf;            // the MUK (NAF FQDN) that delivered it
  std::uint8_t permissions = 0;
  std::array<std::uint8_t, 5> not_before{};
  std::array<std::uint8_t, 5> not_after{};
  ~MskEntry();
};

struct CardState {
  std::array<std::uint8_t, 16> k{};
  std::array<std::uint8_t, 16> opc{};
  std::array<std::uint8_t, 6> sqn{};  // highest SQN accepted (SQN_MS)
  // GBA_U bootstrapping result (Ks never leaves the card).
  bool have_ks = false;
  std::array<std::uint8_t, 16> gba_rand{};
  std::array<std::uint8_t, 32> ks{};
  // MUKs by NAF FQDN (NAF_Id without its 5-byte Ua protocol identifier).
  std::map<std::string, MukEntry> muks;
  // MSKs by key domain ‖ MSK ID (hex).
  std::map<std::string, MskEntry> msks;
  ~CardState();
};

inline constexpr std::size_t kMaxMuks = 4;
inline constexpr std::size_t kMaxMsksPerGroup = 2;  // per key domain and key group (TS 31.102)

// State file: GKeyFile, written atomically with mode 0600.
bool LoadCardState(const std::string& path, CardState& state, std::string& error);
bool SaveCardState(const std::string& path, const CardState& state, std::string& error);

class Card {
 public:
  // `state_path` empty: state kept in memory only.
  Card(CardState state, std::string state_path);

  // One command APDU in, one response APDU (data ‖ SW1 SW2) out. Never throws; malformed
  // commands get 6A 80 / 67 00 / 6A 86 / 6D 00 / 6E 00.
  std::vector<std::uint8_t> Process(std::span<const std::uint8_t> command);

  // The last operation and its outcome, for the card's log (never key bytes).
  const std::string& last_event() const { return last_event_; }
  const CardState& state() const { return state_; }

 private:
  using Response = std::pair<std::vector<std::uint8_t>, std::uint16_t>;
  Response GbaBootstrap(const spc::smartcard::AuthenticateRequest& r);
  Response GbaNaf(const spc::smartcard::AuthenticateRequest& r);
  Response MskUpdate(const spc::smartcard::AuthenticateRequest& r);
  Response MtkGeneration(const spc::smartcard::AuthenticateRequest& r);
  Response MskDeletion(const spc::smartcard::AuthenticateRequest& r);
  Response Fail(std::uint16_t sw, std::string why);
  bool Persist();

  CardState state_;
  std::string state_path_;
  std::string last_event_;
};

std::string MskMapKey(const spc::smartcard::KeyDomainId& domain, std::uint32_t msk_id);

}  // namespace bcast::uicc
