// The terminal's view of the USIM's AUTHENTICATE operations, over any transport that moves one
// command APDU to the card and one response APDU back (PC/SC in spcd: see pcsc.h; the in-process
// card in tests). Decodes the responses and turns status words into named failures; collects
// "more data" (62 F3) by the MBMS fetch command 00 89 A0 00 00.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/result.h"
#include "spc/libspc/smartcard/apdu.h"

namespace spc::smartcard {

enum class UsimError {
  kTransport,          // the transport failed (card removed, reader gone): see `message`
  kMalformedResponse,  // the card's response does not parse: see `detail`
  kBadMac,             // 98 62 (MIKEY MAC, or AUTN MAC in GBA bootstrapping)
  kReplay,             // 98 65 key freshness failure
  kKeyNotFound,        // 6A 88: for an MTK message, fetch the MSK from the BSM
  kNoMemory,           // 98 66 / 98 67
  kRefused,            // any other status word
};
const char* UsimErrorName(UsimError e);

struct UsimFailure {
  UsimError code = UsimError::kTransport;
  std::uint16_t sw = 0;  // the status word, 0 for transport failures
  std::string message;
  ParseError detail;  // kMalformedResponse
};

// One exchange: the raw command APDU in, the raw response APDU (data ‖ SW1 SW2) out, or a
// transport error message.
using ApduTransport =
    std::function<Result<std::vector<std::uint8_t>, std::string>(std::span<const std::uint8_t>)>;

class Usim {
 public:
  explicit Usim(ApduTransport transport) : transport_(std::move(transport)) {}

  // RES, or the AUTS of a synchronisation failure (GbaBootstrapResult::sync_failure).
  Result<GbaBootstrapResult, UsimFailure> GbaBootstrap(std::span<const std::uint8_t, 16> rand,
                                                       std::span<const std::uint8_t, 16> autn);
  // Ks_ext_NAF; the card keeps Ks_int_NAF (the MUK).
  Result<std::vector<std::uint8_t>, UsimFailure> GbaNafDerivation(
      std::span<const std::uint8_t> naf_id, const std::string& impi);
  // The verification message (empty when the MSK message did not ask for one).
  Result<std::vector<std::uint8_t>, UsimFailure> MskUpdate(std::span<const std::uint8_t> mikey);
  Result<MtkResult, UsimFailure> MtkGeneration(std::span<const std::uint8_t> mikey);
  Result<bool, UsimFailure> MskDeletion(const KeyDomainId& key_domain, std::uint16_t key_group);

  // One command, "more data" collected; status word checked against 90 00.
  Result<std::vector<std::uint8_t>, UsimFailure> Exchange(const CommandApdu& command);

 private:
  ApduTransport transport_;
};

}  // namespace spc::smartcard
