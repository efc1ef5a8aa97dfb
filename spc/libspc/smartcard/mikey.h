// MIKEY (RFC 3830) MSK and MTK messages of 3GPP MBMS security as OMA BCAST's Smartcard Profile
// uses them (shared/spec/smartcard.md "[project] MIKEY message layouts"): one parser and one
// writer for HDR, EXT key ID (RFC 4563), T (COUNTER), RAND, ID (IDi/IDr), EXT OMA BCAST (RFC
// 5410), KEMAC (AES-CM-128 + HMAC-SHA-1-160) and, for verification messages, V.
//
// Why not GstMIKEYMessage: GStreamer 1.22's gst_mikey_message_new_from_data neither decrypts nor
// MACs a KEMAC (it parses the ciphertext as if it were clear sub-payloads) and its parser stops
// advancing on ID, V and general-extension payloads (the `case` only breaks), so every message
// of this profile, which has an EXT right after HDR, never returns. Its payload framing is the
// same RFC 3830 framing as here; tests/smartcard checks this writer's generic payloads against it.
//
// Parsing is two steps: ParseMikey checks the structure (every length, every code this profile
// allows) and names the field and byte offset of the first problem; OpenMikeyKemac then takes the
// envelope key, checks the MAC in constant time and decrypts the key data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/result.h"

namespace spc::smartcard {

inline constexpr std::uint8_t kMikeyVersion = 1;
inline constexpr std::uint8_t kMikeyDataTypePsk = 0;
inline constexpr std::uint8_t kMikeyDataTypeVerification = 1;

// Payload codes (RFC 3830 §6.1 table; 21 = general extension).
enum MikeyPayloadType : std::uint8_t {
  kMikeyPtLast = 0,
  kMikeyPtKemac = 1,
  kMikeyPtT = 5,
  kMikeyPtId = 6,
  kMikeyPtV = 9,
  kMikeyPtRand = 11,
  kMikeyPtKeyData = 20,
  kMikeyPtGenExt = 21,
};

inline constexpr std::uint8_t kMikeyExtKeyId = 6;     // RFC 4563
inline constexpr std::uint8_t kMikeyExtOmaBcast = 5;  // RFC 5410
inline constexpr std::uint8_t kMikeyTsCounter = 2;
inline constexpr std::uint8_t kMikeyEncAesCm128 = 1;
inline constexpr std::uint8_t kMikeyMacHmacSha1 = 1;
inline constexpr std::size_t kMikeyMacLength = 20;

inline constexpr std::uint8_t kMikeyKeyDataTgk = 0;
inline constexpr std::uint8_t kMikeyKeyDataTgkSalt = 1;
inline constexpr std::uint8_t kMikeyKeyDataTek = 2;
inline constexpr std::uint8_t kMikeyKeyDataTekSalt = 3;
inline constexpr std::uint8_t kMikeyKvNull = 0;
inline constexpr std::uint8_t kMikeyKvSpi = 1;

// EXT type 6 key ID: MSK ID for MSK messages, MSK ID + MTK ID for MTK messages.
enum class MikeyKeyIdType : std::uint8_t { kMsk = 1, kMtk = 2 };
using KeyDomainId = std::array<std::uint8_t, 3>;

struct MikeyKeyId {
  MikeyKeyIdType type = MikeyKeyIdType::kMsk;
  KeyDomainId key_domain{};
  std::uint32_t msk_id = 0;
  std::uint16_t mtk_id = 0;  // kMtk only
  std::uint16_t key_group() const { return static_cast<std::uint16_t>(msk_id >> 16); }
};

// OMA BCAST extension (RFC 5410), subtype 1: LTKM.
struct BcastLtkmExt {
  std::uint8_t permissions = 0;  // bit 0 play, bit 1 record
  std::array<std::uint8_t, 5> not_before{};
  std::array<std::uint8_t, 5> not_after{};
};

struct AccessCriteriaDescriptor {
  std::uint8_t tag = 0;
  std::vector<std::uint8_t> data;
};

// OMA BCAST extension (RFC 5410), subtype 2: STKM.
struct BcastStkmExt {
  std::uint8_t protection_after_reception = 0;
  std::uint8_t traffic_protection_protocol = 0;
  std::uint8_t traffic_authentication_flag = 0;
  std::vector<AccessCriteriaDescriptor> access_criteria;
};

struct MikeyIdPayload {
  std::uint8_t id_type = 1;  // RFC 3830: 0 NAI, 1 URI
  std::string value;
};

// A parsed (or to-be-written) message. For the writer, the KEMAC and V fields are outputs.
struct MikeyMessage {
  // HDR
  std::uint8_t data_type = kMikeyDataTypePsk;
  bool v = false;  // asks for a verification message
  std::uint8_t prf = 0;
  std::uint32_t csb_id = 0;
  // EXT key ID (required in MSK/MTK messages; present in our verification messages too)
  MikeyKeyId key_id;
  // T
  std::uint32_t counter = 0;
  // RAND (absent in a verification message)
  std::vector<std::uint8_t> rand;
  // IDi, IDr (MSK messages: NAF-ID, B-TID)
  std::optional<MikeyIdPayload> idi;
  std::optional<MikeyIdPayload> idr;
  // EXT OMA BCAST
  std::optional<BcastLtkmExt> ltkm_ext;
  std::optional<BcastStkmExt> stkm_ext;
  // KEMAC (data type 0) or V (data type 1)
  std::uint8_t enc_alg = kMikeyEncAesCm128;
  std::vector<std::uint8_t> encrypted_key_data;
  std::uint8_t mac_alg = kMikeyMacHmacSha1;
  std::array<std::uint8_t, kMikeyMacLength> mac{};
  // The bytes the MAC covers (the message up to the MAC field), kept for OpenMikeyKemac.
  std::vector<std::uint8_t> mac_input;
  std::size_t mac_offset = 0;
};

// Structure only; no key needed. Data types 0 (MSK/MTK message) and 1 (verification message).
Result<MikeyMessage> ParseMikey(std::span<const std::uint8_t> bytes);

// The key data sub-payload inside the KEMAC. Cleansed on destruction.
struct MikeyKeyData {
  std::uint8_t type = kMikeyKeyDataTekSalt;
  std::uint8_t kv_type = kMikeyKvSpi;
  std::vector<std::uint8_t> key;
  std::vector<std::uint8_t> salt;  // types 1 and 3 only
  std::vector<std::uint8_t> spi;   // kv_type 1 only
  MikeyKeyData() = default;
  MikeyKeyData(const MikeyKeyData&) = default;
  MikeyKeyData(MikeyKeyData&&) = default;
  MikeyKeyData& operator=(const MikeyKeyData&) = default;
  MikeyKeyData& operator=(MikeyKeyData&&) = default;
  ~MikeyKeyData();
};

enum class MikeyOpenError {
  kBadMac,            // the MAC does not verify with this envelope key
  kMalformedKeyData,  // MAC fine, but the decrypted sub-payload is not a key data payload
  kKeyIdMismatch,     // key data SPI or type disagrees with the EXT key ID
  kNotKemac,          // a verification message has no KEMAC
};
struct MikeyOpenFailure {
  MikeyOpenError code;
  ParseError detail;  // for kMalformedKeyData: field/offset inside the decrypted data
};
const char* MikeyOpenErrorName(MikeyOpenError e);

// MAC check (constant time), then AES-CM decryption and the key data sub-payload. Checks that an
// MSK message carries a TGK with SPI = MSK ID, an MTK message a TEK(+salt) with SPI = MTK ID.
Result<MikeyKeyData, MikeyOpenFailure> OpenMikeyKemac(const MikeyMessage& msg,
                                                      std::span<const std::uint8_t> envelope_key);

// Writes `msg` (HDR, EXT key ID, T, RAND, IDi, IDr, EXT BCAST, KEMAC in that order) with
// `key_data` encrypted and MACed under keys derived from `envelope_key`. Ignores the KEMAC/V
// output fields of `msg`. msg.data_type must be 0 and msg.rand non-empty (<= 255 bytes).
std::vector<std::uint8_t> WriteMikey(const MikeyMessage& msg, const MikeyKeyData& key_data,
                                     std::span<const std::uint8_t> envelope_key);

// Convenience: an MSK message (LTKM) and an MTK message (STKM) with fresh RANDs.
std::vector<std::uint8_t> MakeMikeyMskMessage(const KeyDomainId& key_domain, std::uint32_t msk_id,
                                              std::uint32_t counter,
                                              std::span<const std::uint8_t, 16> msk,
                                              std::span<const std::uint8_t> muk,
                                              const std::string& naf_id, const std::string& btid,
                                              const BcastLtkmExt& ext, bool want_verification);
std::vector<std::uint8_t> MakeMikeyMtkMessage(const KeyDomainId& key_domain, std::uint32_t msk_id,
                                              std::uint16_t mtk_id, std::uint32_t counter,
                                              std::span<const std::uint8_t, 16> mtk,
                                              std::span<const std::uint8_t, 14> salt,
                                              std::span<const std::uint8_t, 16> msk,
                                              const BcastStkmExt& ext);

// [project] SRTP MKI of a Smartcard Profile stream: MSK ID ‖ MTK ID (6 bytes, big-endian).
std::array<std::uint8_t, 6> SrtpMkiFor(std::uint32_t msk_id, std::uint16_t mtk_id);

// Verification message (data type 1) for a received message whose HDR has V = 1: HDR, EXT key
// ID, T (the received counter), V. The V MAC (HMAC-SHA-1 under the received message's
// authentication key) covers this message up to the MAC ‖ IDi ‖ IDr ‖ T of the received message
// (RFC 3830 §5.2; absent IDs contribute nothing, T is the 4-byte counter).
std::vector<std::uint8_t> WriteMikeyVerification(const MikeyMessage& received,
                                                 std::span<const std::uint8_t> envelope_key);
// The sender's check of such a verification message against the message it sent.
bool CheckMikeyVerification(const MikeyMessage& verification, const MikeyMessage& sent,
                            std::span<const std::uint8_t> envelope_key);

}  // namespace spc::smartcard
