// PC/SC (libpcsclite) for the Smartcard Profile terminal: a context, reader listing, waiting for
// card insertion and removal, and a connected card whose Transmit handles T=0's 61 xx (GET
// RESPONSE) and 6C xx (wrong Le) so that the USIM layer above sees whole responses. Kept apart
// from libspc_smartcard (libspc_pcsc) so the formats do not pull in libpcsclite.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/result.h"
#include "spc/libspc/smartcard/usim.h"

namespace spc::smartcard {

struct PcscFailure {
  long rv = 0;  // the PC/SC return value (SCARD_E_..., SCARD_W_...)
  std::string message;
};

class PcscCard;

class PcscContext {
 public:
  static Result<std::unique_ptr<PcscContext>, PcscFailure> Establish();
  ~PcscContext();
  PcscContext(const PcscContext&) = delete;
  PcscContext& operator=(const PcscContext&) = delete;

  Result<std::vector<std::string>, PcscFailure> Readers();
  // Waits until `reader` holds a card (present = true) or is empty (false). Returns false on
  // timeout, a failure when the reader disappears or the wait is cancelled.
  Result<bool, PcscFailure> WaitForCard(const std::string& reader, bool present,
                                        std::chrono::milliseconds timeout);
  // Ends a WaitForCard running on another thread (SCardCancel).
  void Cancel();
  Result<std::unique_ptr<PcscCard>, PcscFailure> Connect(const std::string& reader);

 private:
  explicit PcscContext(std::intptr_t ctx) : ctx_(ctx) {}
  std::intptr_t ctx_;
};

class PcscCard {
 public:
  ~PcscCard();
  PcscCard(const PcscCard&) = delete;
  PcscCard& operator=(const PcscCard&) = delete;

  // One command APDU, whole response APDU back (61 xx / 6C xx resolved for T=0 cards).
  Result<std::vector<std::uint8_t>, PcscFailure> Transmit(std::span<const std::uint8_t> command);
  bool t0() const { return t0_; }
  // An ApduTransport for Usim over this card.
  ApduTransport Transport();

 private:
  friend class PcscContext;
  PcscCard(std::intptr_t handle, bool t0) : handle_(handle), t0_(t0) {}
  Result<std::vector<std::uint8_t>, PcscFailure> Raw(std::span<const std::uint8_t> command);
  std::intptr_t handle_;
  bool t0_;
};

// "SCARD_W_REMOVED_CARD: ..." style text for a PC/SC return value.
std::string PcscErrorText(long rv);

}  // namespace spc::smartcard
