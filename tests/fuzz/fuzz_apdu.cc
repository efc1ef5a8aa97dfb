// libFuzzer target: command APDU parsing and writing, AUTHENTICATE request parsing, every
// response parser of the terminal side, the Ub (HTTP Digest AKA) text parsers, and the virtual
// card (bcast-uicc's logic) answering the bytes as a command.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "samples/uicc/card.h"
#include "spc/libspc/smartcard/apdu.h"
#include "spc/libspc/smartcard/digest_aka.h"
#include "spc/libspc/smartcard/msk_request.h"

using namespace spc::smartcard;

namespace {

template <class R>
void CheckResult(const R& r, std::size_t size) {
  // A rejection must say where.
  if (!r.ok() && (r.error().field.empty() || r.error().offset > size + 9)) std::abort();
}

// Every input meets a card in the same state (a crash reproduces from its input alone): a fresh
// card with the subscriber's K and OPc, no bootstrap, no MSK.
const bcast::uicc::CardState& FreshCardState() {
  static const bcast::uicc::CardState state = [] {
    bcast::uicc::CardState st;
    st.k.fill(0x46);
    st.opc.fill(0xcd);
    return st;
  }();
  return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);

  auto cmd = ParseCommandApdu(bytes);
  CheckResult(cmd, size);
  if (cmd) {
    // Written back (short or extended form), it parses to the same command.
    auto again = ParseCommandApdu(WriteCommandApdu(*cmd));
    if (!again || again->data != cmd->data || again->le != cmd->le || again->ins != cmd->ins) {
      std::abort();
    }
    auto req = ParseAuthenticateCommand(*cmd);
    CheckResult(req, size);
  }

  CheckResult(ParseResponseApdu(bytes), size);
  CheckResult(ParseGbaBootstrapResponse(bytes), size);
  CheckResult(ParseGbaNafResponse(bytes), size);
  CheckResult(ParseMskUpdateResponse(bytes), size);
  CheckResult(ParseMtkResponse(bytes), size);
  CheckResult(ParseMskDeletionResponse(bytes), size);
  std::size_t pos = 0;
  auto tlv = ReadTlv(bytes, pos, "TLV");
  CheckResult(tlv, size);
  if (tlv && (pos > size || tlv->value_offset + tlv->value.size() != pos)) std::abort();

  // The Ub text parsers (HTTP headers and the BootstrappingInfo body).
  std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckResult(ParseDigestParams(text), size);
  CheckResult(ParseAkaNonce(text), size);
  CheckResult(ParseBootstrappingInfo(text), size);
  CheckResult(ParseMskRequest(text), size);
  auto bundle = ParseMikeyBundle(bytes);
  CheckResult(bundle, size);
  if (bundle &&
      WriteMikeyBundle(*bundle) != std::vector<std::uint8_t>(bytes.begin(), bytes.end())) {
    std::abort();
  }
  if (auto p = ParseDigestParams(text); p) {
    auto again = ParseDigestParams(FormatDigestHeader(*p));
    if (!again || *again != *p) std::abort();
  }

  bcast::uicc::Card card(FreshCardState(), "");
  auto rsp = card.Process(bytes);
  if (rsp.size() < 2) std::abort();
  return 0;
}
