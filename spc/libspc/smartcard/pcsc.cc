#include "spc/libspc/smartcard/pcsc.h"

#include <PCSC/winscard.h>

#include <algorithm>

namespace spc::smartcard {
namespace {

PcscFailure Fail(LONG rv, const std::string& what) {
  return PcscFailure{static_cast<long>(rv), what + ": " + PcscErrorText(rv)};
}

}  // namespace

std::string PcscErrorText(long rv) { return pcsc_stringify_error(static_cast<LONG>(rv)); }

Result<std::unique_ptr<PcscContext>, PcscFailure> PcscContext::Establish() {
  SCARDCONTEXT ctx = 0;
  LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx);
  if (rv != SCARD_S_SUCCESS) return Fail(rv, "SCardEstablishContext");
  return std::unique_ptr<PcscContext>(new PcscContext(static_cast<std::intptr_t>(ctx)));
}

PcscContext::~PcscContext() { SCardReleaseContext(static_cast<SCARDCONTEXT>(ctx_)); }

void PcscContext::Cancel() { SCardCancel(static_cast<SCARDCONTEXT>(ctx_)); }

Result<std::vector<std::string>, PcscFailure> PcscContext::Readers() {
  DWORD len = 0;
  LONG rv = SCardListReaders(static_cast<SCARDCONTEXT>(ctx_), nullptr, nullptr, &len);
  if (rv == SCARD_E_NO_READERS_AVAILABLE) return std::vector<std::string>{};
  if (rv != SCARD_S_SUCCESS) return Fail(rv, "SCardListReaders");
  std::string buf(len, '\0');
  rv = SCardListReaders(static_cast<SCARDCONTEXT>(ctx_), nullptr, buf.data(), &len);
  if (rv != SCARD_S_SUCCESS) return Fail(rv, "SCardListReaders");
  std::vector<std::string> out;
  for (std::size_t p = 0; p < buf.size() && buf[p] != '\0';) {
    out.emplace_back(buf.c_str() + p);
    p += out.back().size() + 1;
  }
  return out;
}

Result<bool, PcscFailure> PcscContext::WaitForCard(const std::string& reader, bool present,
                                                   std::chrono::milliseconds timeout) {
  SCARD_READERSTATE rs{};
  rs.szReader = reader.c_str();
  rs.dwCurrentState = SCARD_STATE_UNAWARE;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    LONG rv =
        SCardGetStatusChange(static_cast<SCARDCONTEXT>(ctx_),
                             static_cast<DWORD>(std::max<long long>(left.count(), 0)), &rs, 1);
    if (rv == SCARD_E_TIMEOUT) return false;
    if (rv != SCARD_S_SUCCESS) return Fail(rv, "SCardGetStatusChange");
    if (rs.dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE)) {
      return PcscFailure{static_cast<long>(SCARD_E_UNKNOWN_READER),
                         "reader " + reader + " is gone"};
    }
    if (((rs.dwEventState & SCARD_STATE_PRESENT) != 0) == present) return true;
    if (left.count() <= 0) return false;
    rs.dwCurrentState = rs.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
  }
}

Result<std::unique_ptr<PcscCard>, PcscFailure> PcscContext::Connect(const std::string& reader) {
  SCARDHANDLE h = 0;
  DWORD proto = 0;
  LONG rv = SCardConnect(static_cast<SCARDCONTEXT>(ctx_), reader.c_str(), SCARD_SHARE_SHARED,
                         SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h, &proto);
  if (rv != SCARD_S_SUCCESS) return Fail(rv, "SCardConnect " + reader);
  return std::unique_ptr<PcscCard>(
      new PcscCard(static_cast<std::intptr_t>(h), proto == SCARD_PROTOCOL_T0));
}

PcscCard::~PcscCard() { SCardDisconnect(static_cast<SCARDHANDLE>(handle_), SCARD_LEAVE_CARD); }

Result<std::vector<std::uint8_t>, PcscFailure> PcscCard::Raw(std::span<const std::uint8_t> c) {
  std::vector<std::uint8_t> out(65538);
  DWORD len = static_cast<DWORD>(out.size());
  LONG rv = SCardTransmit(static_cast<SCARDHANDLE>(handle_), t0_ ? SCARD_PCI_T0 : SCARD_PCI_T1,
                          c.data(), static_cast<DWORD>(c.size()), nullptr, out.data(), &len);
  if (rv != SCARD_S_SUCCESS) return Fail(rv, "SCardTransmit");
  out.resize(len);
  return out;
}

Result<std::vector<std::uint8_t>, PcscFailure> PcscCard::Transmit(
    std::span<const std::uint8_t> command) {
  auto r = Raw(command);
  if (!r || !t0_ || command.size() < 4) return r;
  std::vector<std::uint8_t> data;
  // T=0 leaves case 2/4 responses to the terminal: 6C xx asks to repeat with Le = xx, 61 xx
  // says xx bytes wait for GET RESPONSE. Bounded rounds: a card looping on them is broken.
  for (int round = 0; round < 64 && r && r->size() == 2; ++round) {
    const std::uint8_t sw1 = (*r)[0], sw2 = (*r)[1];
    if (sw1 == 0x6C) {
      std::vector<std::uint8_t> again(command.begin(), command.end());
      again.back() = sw2;
      r = Raw(again);
    } else if (sw1 == 0x61) {
      const std::uint8_t get_response[] = {command[0], 0xC0, 0x00, 0x00, sw2};
      r = Raw(get_response);
      if (r && r->size() >= 2) {
        data.insert(data.end(), r->begin(), r->end() - 2);
        r->erase(r->begin(), r->end() - 2);
      }
    } else {
      break;
    }
  }
  if (!r) return r;
  data.insert(data.end(), r->begin(), r->end());
  return data;
}

ApduTransport PcscCard::Transport() {
  return [this](std::span<const std::uint8_t> c) -> Result<std::vector<std::uint8_t>, std::string> {
    auto r = Transmit(c);
    if (!r) return r.error().message;
    return std::move(*r);
  };
}

}  // namespace spc::smartcard
