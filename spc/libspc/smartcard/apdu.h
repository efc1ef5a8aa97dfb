// ISO 7816-4 APDUs and BER-TLV lengths for USIM AUTHENTICATE in GBA and MBMS security contexts
// (shared/spec/smartcard.md "USIM AUTHENTICATE over PC/SC"). Both sides use it: the terminal
// (spcd) builds commands and parses responses, the virtual card parses commands and builds
// responses. Malformed input is refused with the field and byte offset.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/result.h"
#include "spc/libspc/smartcard/mikey.h"

namespace spc::smartcard {

// Status words.
inline constexpr std::uint16_t kSwOk = 0x9000;
inline constexpr std::uint16_t kSwMoreData = 0x62F3;  // fetch with 00 89 A0 00 00 [project]
inline constexpr std::uint16_t kSwBadMac = 0x9862;
inline constexpr std::uint16_t kSwKeyFreshness = 0x9865;
inline constexpr std::uint16_t kSwNoMemoryMsk = 0x9866;
inline constexpr std::uint16_t kSwNoMemoryMuk = 0x9867;
inline constexpr std::uint16_t kSwKeyNotFound = 0x6A88;
inline constexpr std::uint16_t kSwWrongLength = 0x6700;
inline constexpr std::uint16_t kSwConditionsNotSatisfied = 0x6985;
inline constexpr std::uint16_t kSwWrongData = 0x6A80;
inline constexpr std::uint16_t kSwWrongP1P2 = 0x6A86;
inline constexpr std::uint16_t kSwInsNotSupported = 0x6D00;
inline constexpr std::uint16_t kSwClaNotSupported = 0x6E00;

// "ok", "bad-mac", "key-freshness-failure", "key-not-found", ... ("sw-XXXX" for others).
std::string StatusWordName(std::uint16_t sw);

struct CommandApdu {
  std::uint8_t cla = 0, ins = 0, p1 = 0, p2 = 0;
  std::vector<std::uint8_t> data;
  std::optional<std::uint32_t> le;  // 0..256 short, 0..65536 extended; nullopt: no Le
};

// ISO 7816-3 cases 1-4, short and extended length.
Result<CommandApdu> ParseCommandApdu(std::span<const std::uint8_t> bytes);
// Short form when data <= 255 bytes and Le <= 256, extended otherwise.
std::vector<std::uint8_t> WriteCommandApdu(const CommandApdu& apdu);

struct ResponseApdu {
  std::vector<std::uint8_t> data;
  std::uint16_t sw = 0;
};
Result<ResponseApdu> ParseResponseApdu(std::span<const std::uint8_t> bytes);
std::vector<std::uint8_t> WriteResponseApdu(std::span<const std::uint8_t> data, std::uint16_t sw);

// BER-TLV definite length: 1 byte below 128, 81 xx up to 255, 82 xx xx up to 65535.
void AppendBerLength(std::vector<std::uint8_t>& out, std::size_t length);
struct Tlv {
  std::uint8_t tag = 0;
  std::size_t value_offset = 0;  // in the buffer that was parsed
  std::span<const std::uint8_t> value;
};
// One single-byte-tag TLV at `pos` of `bytes`; `field` names it in errors. Advances `pos`.
Result<Tlv> ReadTlv(std::span<const std::uint8_t> bytes, std::size_t& pos,
                    const std::string& field);

// AUTHENTICATE (INS 88 / odd 89) in the two security contexts.
inline constexpr std::uint8_t kInsAuthenticate = 0x88;
inline constexpr std::uint8_t kInsAuthenticateOdd = 0x89;
inline constexpr std::uint8_t kP2Gba = 0x84;
inline constexpr std::uint8_t kP2Mbms = 0x85;
inline constexpr std::uint8_t kTagGbaBootstrap = 0xDD;
inline constexpr std::uint8_t kTagGbaNaf = 0xDE;
inline constexpr std::uint8_t kTagSuccess = 0xDB;
inline constexpr std::uint8_t kTagSyncFailure = 0xDC;
inline constexpr std::uint8_t kTagMbms = 0x53;
inline constexpr std::uint8_t kTagBcastContainer = 0xAE;

enum class MbmsMode : std::uint8_t { kMskUpdate = 1, kMtkGeneration = 2, kMskDeletion = 3 };

// Terminal side: command builders.
CommandApdu MakeGbaBootstrapCommand(std::span<const std::uint8_t, 16> rand,
                                    std::span<const std::uint8_t, 16> autn);
CommandApdu MakeGbaNafDerivationCommand(std::span<const std::uint8_t> naf_id,
                                        const std::string& impi);
CommandApdu MakeMskUpdateCommand(std::span<const std::uint8_t> mikey_msk_message);
CommandApdu MakeMtkGenerationCommand(std::span<const std::uint8_t> mikey_mtk_message);
CommandApdu MakeMskDeletionCommand(const KeyDomainId& key_domain, std::uint16_t key_group);

// Card side: what an AUTHENTICATE command asks for.
struct AuthenticateRequest {
  enum class Kind { kGbaBootstrap, kGbaNafDerivation, kMskUpdate, kMtkGeneration, kMskDeletion };
  Kind kind = Kind::kGbaBootstrap;
  std::array<std::uint8_t, 16> rand{};  // bootstrap
  std::array<std::uint8_t, 16> autn{};  // bootstrap
  std::vector<std::uint8_t> naf_id;     // NAF derivation
  std::string impi;                     // NAF derivation
  std::vector<std::uint8_t> mikey;      // MSK update / MTK generation
  KeyDomainId key_domain{};             // MSK deletion
  std::uint16_t key_group = 0;          // MSK deletion
};
// Refuses with field/offset (the card answers 6A 80, or 6A 86 / 6D 00 / 6E 00 for the header
// fields "P1P2", "INS", "CLA").
Result<AuthenticateRequest> ParseAuthenticateCommand(const CommandApdu& apdu);

// Card side: response data builders (the status word is added by WriteResponseApdu).
std::vector<std::uint8_t> MakeGbaBootstrapResponse(std::span<const std::uint8_t> res);
std::vector<std::uint8_t> MakeGbaSyncFailureResponse(std::span<const std::uint8_t, 14> auts);
std::vector<std::uint8_t> MakeGbaNafResponse(std::span<const std::uint8_t> ks_ext_naf);
std::vector<std::uint8_t> MakeMskUpdateResponse(std::span<const std::uint8_t> verification);
std::vector<std::uint8_t> MakeMtkResponse(std::span<const std::uint8_t, 16> mtk,
                                          std::span<const std::uint8_t, 14> salt);
std::vector<std::uint8_t> MakeMskDeletionResponse();

// Terminal side: response data parsers (call after checking SW 90 00).
struct GbaBootstrapResult {
  bool sync_failure = false;
  std::vector<std::uint8_t> res;  // 4..16 bytes
  std::array<std::uint8_t, 14> auts{};
};
Result<GbaBootstrapResult> ParseGbaBootstrapResponse(std::span<const std::uint8_t> data);
Result<std::vector<std::uint8_t>> ParseGbaNafResponse(std::span<const std::uint8_t> data);
// The verification message (empty when the card sent none).
Result<std::vector<std::uint8_t>> ParseMskUpdateResponse(std::span<const std::uint8_t> data);
struct MtkResult {
  std::array<std::uint8_t, 16> mtk{};
  std::array<std::uint8_t, 14> salt{};  // zero when the card returned no salt
  bool has_salt = false;
  std::vector<std::uint8_t> parental_control;  // BCAST container tag 88
  std::vector<std::uint8_t> management_data;   // BCAST container tag 80
  ~MtkResult();
};
// Both forms: 53 L DB ‖ MTK ‖ [salt], and the BCAST container AE L {86 TEK, 87 salt, 88, 80}.
Result<MtkResult> ParseMtkResponse(std::span<const std::uint8_t> data);
Result<bool> ParseMskDeletionResponse(std::span<const std::uint8_t> data);

}  // namespace spc::smartcard
