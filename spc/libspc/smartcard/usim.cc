#include "spc/libspc/smartcard/usim.h"

#include "spc/libspc/crypto.h"

namespace spc::smartcard {
namespace {

UsimFailure FromSw(std::uint16_t sw) {
  UsimError code = UsimError::kRefused;
  switch (sw) {
    case kSwBadMac:
      code = UsimError::kBadMac;
      break;
    case kSwKeyFreshness:
      code = UsimError::kReplay;
      break;
    case kSwKeyNotFound:
      code = UsimError::kKeyNotFound;
      break;
    case kSwNoMemoryMsk:
    case kSwNoMemoryMuk:
      code = UsimError::kNoMemory;
      break;
  }
  return UsimFailure{code, sw, "card answered " + StatusWordName(sw), {}};
}

UsimFailure Malformed(const ParseError& e) {
  return UsimFailure{UsimError::kMalformedResponse, kSwOk,
                     "malformed response: " + e.field + " at offset " + std::to_string(e.offset) +
                         ": " + e.message,
                     e};
}

}  // namespace

const char* UsimErrorName(UsimError e) {
  switch (e) {
    case UsimError::kTransport:
      return "transport";
    case UsimError::kMalformedResponse:
      return "malformed-response";
    case UsimError::kBadMac:
      return "bad-mac";
    case UsimError::kReplay:
      return "replay";
    case UsimError::kKeyNotFound:
      return "key-not-found";
    case UsimError::kNoMemory:
      return "no-memory";
    case UsimError::kRefused:
      return "refused";
  }
  return "unknown";
}

Result<std::vector<std::uint8_t>, UsimFailure> Usim::Exchange(const CommandApdu& command) {
  std::vector<std::uint8_t> data;
  CommandApdu next = command;
  // Bounded: a card that never stops saying "more data" is broken, not patient.
  for (int round = 0; round < 64; ++round) {
    auto raw = transport_(WriteCommandApdu(next));
    if (!raw) return UsimFailure{UsimError::kTransport, 0, raw.error(), {}};
    auto rsp = ParseResponseApdu(*raw);
    if (!rsp) return Malformed(rsp.error());
    data.insert(data.end(), rsp->data.begin(), rsp->data.end());
    if (rsp->sw == kSwOk) return data;
    if (rsp->sw != kSwMoreData) return FromSw(rsp->sw);
    next = CommandApdu{0x00, kInsAuthenticateOdd, 0xA0, 0x00, {}, 256u};
  }
  return UsimFailure{UsimError::kRefused, kSwMoreData, "card keeps answering more data", {}};
}

Result<GbaBootstrapResult, UsimFailure> Usim::GbaBootstrap(std::span<const std::uint8_t, 16> rand,
                                                           std::span<const std::uint8_t, 16> autn) {
  auto data = Exchange(MakeGbaBootstrapCommand(rand, autn));
  if (!data) return data.error();
  auto r = ParseGbaBootstrapResponse(*data);
  if (!r) return Malformed(r.error());
  return std::move(*r);
}

Result<std::vector<std::uint8_t>, UsimFailure> Usim::GbaNafDerivation(
    std::span<const std::uint8_t> naf_id, const std::string& impi) {
  auto data = Exchange(MakeGbaNafDerivationCommand(naf_id, impi));
  if (!data) return data.error();
  auto r = ParseGbaNafResponse(*data);
  if (!r) return Malformed(r.error());
  return std::move(*r);
}

Result<std::vector<std::uint8_t>, UsimFailure> Usim::MskUpdate(
    std::span<const std::uint8_t> mikey) {
  auto data = Exchange(MakeMskUpdateCommand(mikey));
  if (!data) return data.error();
  auto r = ParseMskUpdateResponse(*data);
  if (!r) return Malformed(r.error());
  return std::move(*r);
}

Result<MtkResult, UsimFailure> Usim::MtkGeneration(std::span<const std::uint8_t> mikey) {
  auto data = Exchange(MakeMtkGenerationCommand(mikey));
  if (!data) return data.error();
  auto r = ParseMtkResponse(*data);
  Cleanse(*data);
  if (!r) return Malformed(r.error());
  return std::move(*r);
}

Result<bool, UsimFailure> Usim::MskDeletion(const KeyDomainId& key_domain,
                                            std::uint16_t key_group) {
  auto data = Exchange(MakeMskDeletionCommand(key_domain, key_group));
  if (!data) return data.error();
  auto r = ParseMskDeletionResponse(*data);
  if (!r) return Malformed(r.error());
  return true;
}

}  // namespace spc::smartcard
