#include "spc/libspc/smartcard/mikey.h"

#include <algorithm>
#include <utility>

#include "spc/libspc/crypto.h"
#include "spc/libspc/smartcard/mikey_crypto.h"

namespace spc::smartcard {
namespace {

ParseError Err(std::string message, std::string field, std::size_t offset) {
  return ParseError{std::move(message), std::move(field), offset};
}

std::uint16_t Be16(std::span<const std::uint8_t> d, std::size_t at) {
  return static_cast<std::uint16_t>(d[at] << 8 | d[at + 1]);
}
std::uint32_t Be32(std::span<const std::uint8_t> d, std::size_t at) {
  return static_cast<std::uint32_t>(d[at]) << 24 | static_cast<std::uint32_t>(d[at + 1]) << 16 |
         static_cast<std::uint32_t>(d[at + 2]) << 8 | d[at + 3];
}
void Put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void Put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

// Fails with "truncated" naming `field` when fewer than `n` bytes remain at `pos`.
std::optional<ParseError> Need(std::span<const std::uint8_t> d, std::size_t pos, std::size_t n,
                               const char* field) {
  if (pos > d.size() || d.size() - pos < n) {
    return Err("message ends inside " + std::string(field), field, std::min(pos, d.size()));
  }
  return std::nullopt;
}

#define SPC_NEED(pos, n, field)                      \
  do {                                               \
    if (auto e = Need(bytes, (pos), (n), (field))) { \
      return *e;                                     \
    }                                                \
  } while (0)

Result<bool> ParseKeyIdExt(std::span<const std::uint8_t> bytes, std::size_t at, std::size_t len,
                           MikeyKeyId& out) {
  // key ID type (1) ‖ key ID length (2) ‖ key ID
  if (len < 3) return Err("key ID extension shorter than its header", "EXT.length", at - 2);
  const std::uint8_t type = bytes[at];
  const std::size_t id_len = Be16(bytes, at + 1);
  if (id_len != len - 3) {
    return Err("key ID length disagrees with the extension length", "EXT.key_ID_length", at + 1);
  }
  if (type == static_cast<std::uint8_t>(MikeyKeyIdType::kMsk)) {
    if (id_len != 7) return Err("MSK key ID must be 7 bytes", "EXT.key_ID_length", at + 1);
  } else if (type == static_cast<std::uint8_t>(MikeyKeyIdType::kMtk)) {
    if (id_len != 9) return Err("MTK key ID must be 9 bytes", "EXT.key_ID_length", at + 1);
  } else {
    return Err("key ID type is neither MSK (1) nor MTK (2)", "EXT.key_ID_type", at);
  }
  out.type = static_cast<MikeyKeyIdType>(type);
  std::copy_n(bytes.begin() + at + 3, 3, out.key_domain.begin());
  out.msk_id = Be32(bytes, at + 6);
  out.mtk_id = out.type == MikeyKeyIdType::kMtk ? Be16(bytes, at + 10) : 0;
  return true;
}

Result<bool> ParseBcastExt(std::span<const std::uint8_t> bytes, std::size_t at, std::size_t len,
                           MikeyMessage& msg) {
  if (len < 1) return Err("OMA BCAST extension without subtype", "EXT.length", at - 2);
  const std::uint8_t subtype = bytes[at];
  if (subtype == 1) {
    if (len != 12) return Err("LTKM extension must be 12 bytes", "EXT.length", at - 2);
    BcastLtkmExt e;
    e.permissions = bytes[at + 1];
    std::copy_n(bytes.begin() + at + 2, 5, e.not_before.begin());
    std::copy_n(bytes.begin() + at + 7, 5, e.not_after.begin());
    msg.ltkm_ext = e;
    return true;
  }
  if (subtype != 2)
    return Err("OMA BCAST subtype is neither LTKM (1) nor STKM (2)", "EXT.subtype", at);
  if (len < 5) return Err("STKM extension shorter than its fixed part", "EXT.length", at - 2);
  BcastStkmExt e;
  e.protection_after_reception = bytes[at + 1];
  e.traffic_protection_protocol = bytes[at + 2];
  e.traffic_authentication_flag = bytes[at + 3];
  const std::size_t count = bytes[at + 4];
  std::size_t p = at + 5;
  const std::size_t end = at + len;
  for (std::size_t i = 0; i < count; ++i) {
    if (end - p < 2)
      return Err("access criteria descriptor truncated", "EXT.access_criteria_descriptor", p);
    AccessCriteriaDescriptor d;
    d.tag = bytes[p];
    const std::size_t dlen = bytes[p + 1];
    if (end - p - 2 < dlen) {
      return Err("access criteria descriptor length runs past the extension",
                 "EXT.access_criteria_descriptor.length", p + 1);
    }
    d.data.assign(bytes.begin() + p + 2, bytes.begin() + p + 2 + dlen);
    e.access_criteria.push_back(std::move(d));
    p += 2 + dlen;
  }
  if (p != end) return Err("bytes after the last access criteria descriptor", "EXT.length", at - 2);
  msg.stkm_ext = std::move(e);
  return true;
}

void PutKeyIdExt(std::vector<std::uint8_t>& out, std::uint8_t next, const MikeyKeyId& id) {
  const bool mtk = id.type == MikeyKeyIdType::kMtk;
  const std::uint16_t id_len = mtk ? 9 : 7;
  out.push_back(next);
  out.push_back(kMikeyExtKeyId);
  Put16(out, static_cast<std::uint16_t>(3 + id_len));
  out.push_back(static_cast<std::uint8_t>(id.type));
  Put16(out, id_len);
  out.insert(out.end(), id.key_domain.begin(), id.key_domain.end());
  Put32(out, id.msk_id);
  if (mtk) Put16(out, id.mtk_id);
}

void PutHdr(std::vector<std::uint8_t>& out, const MikeyMessage& msg, std::uint8_t data_type,
            bool v) {
  out.push_back(kMikeyVersion);
  out.push_back(data_type);
  out.push_back(kMikeyPtGenExt);  // EXT key ID always comes first
  out.push_back(static_cast<std::uint8_t>((v ? 0x80 : 0) | (msg.prf & 0x7f)));
  Put32(out, msg.csb_id);
  out.push_back(0);  // #CS
  out.push_back(1);  // CS ID map type: empty map
}

void PutT(std::vector<std::uint8_t>& out, std::uint8_t next, std::uint32_t counter) {
  out.push_back(next);
  out.push_back(kMikeyTsCounter);
  Put32(out, counter);
}

std::vector<std::uint8_t> VerificationMacInput(std::span<const std::uint8_t> own,
                                               const MikeyMessage& sent) {
  std::vector<std::uint8_t> in(own.begin(), own.end());
  if (sent.idi) in.insert(in.end(), sent.idi->value.begin(), sent.idi->value.end());
  if (sent.idr) in.insert(in.end(), sent.idr->value.begin(), sent.idr->value.end());
  Put32(in, sent.counter);
  return in;
}

}  // namespace

MikeyKeyData::~MikeyKeyData() {
  Cleanse(key);
  Cleanse(salt);
}

const char* MikeyOpenErrorName(MikeyOpenError e) {
  switch (e) {
    case MikeyOpenError::kBadMac:
      return "bad-mac";
    case MikeyOpenError::kMalformedKeyData:
      return "malformed-key-data";
    case MikeyOpenError::kKeyIdMismatch:
      return "key-id-mismatch";
    case MikeyOpenError::kNotKemac:
      return "not-kemac";
  }
  return "unknown";
}

Result<MikeyMessage> ParseMikey(std::span<const std::uint8_t> bytes) {
  MikeyMessage msg;
  SPC_NEED(0, 10, "HDR");
  if (bytes[0] != kMikeyVersion) return Err("MIKEY version is not 1", "HDR.version", 0);
  msg.data_type = bytes[1];
  if (msg.data_type != kMikeyDataTypePsk && msg.data_type != kMikeyDataTypeVerification) {
    return Err("data type is neither pre-shared (0) nor verification (1)", "HDR.data_type", 1);
  }
  std::uint8_t next = bytes[2];
  msg.v = (bytes[3] & 0x80) != 0;
  msg.prf = bytes[3] & 0x7f;
  if (msg.prf != kMikeyPrfHmacSha1 && msg.prf != kMikeyPrfHmacSha256) {
    return Err("PRF function is neither MIKEY-1 (0) nor HMAC-SHA-256 (1)", "HDR.PRF_func", 3);
  }
  msg.csb_id = Be32(bytes, 4);
  if (bytes[8] != 0) return Err("#CS must be 0", "HDR.#CS", 8);
  if (bytes[9] != 1) return Err("CS ID map type must be 1 (empty)", "HDR.CS_ID_map_type", 9);

  bool have_key_id = false, have_t = false, have_kemac = false, have_v = false;
  std::size_t pos = 10;
  std::size_t next_at = 2;  // offset of the next-payload byte that named the current payload
  while (next != kMikeyPtLast) {
    if (have_kemac || have_v) {
      return Err("payload after the KEMAC/V payload", "next_payload", next_at);
    }
    const std::size_t start = pos;
    switch (next) {
      case kMikeyPtGenExt: {
        SPC_NEED(pos, 4, "EXT");
        const std::uint8_t type = bytes[pos + 1];
        const std::size_t len = Be16(bytes, pos + 2);
        SPC_NEED(pos + 4, len, "EXT.data");
        if (type == kMikeyExtKeyId) {
          if (have_key_id) return Err("second key ID extension", "EXT.type", pos + 1);
          if (auto r = ParseKeyIdExt(bytes, pos + 4, len, msg.key_id); !r) return r.error();
          have_key_id = true;
        } else if (type == kMikeyExtOmaBcast) {
          if (msg.ltkm_ext || msg.stkm_ext) {
            return Err("second OMA BCAST extension", "EXT.type", pos + 1);
          }
          if (auto r = ParseBcastExt(bytes, pos + 4, len, msg); !r) return r.error();
        } else {
          return Err("extension type is neither key ID (6) nor OMA BCAST (5)", "EXT.type", pos + 1);
        }
        pos += 4 + len;
        break;
      }
      case kMikeyPtT: {
        SPC_NEED(pos, 2, "T");
        if (have_t) return Err("second T payload", "next_payload", next_at);
        if (bytes[pos + 1] != kMikeyTsCounter) {
          return Err("timestamp type is not COUNTER (2)", "T.TS_type", pos + 1);
        }
        SPC_NEED(pos + 2, 4, "T.TS_value");
        msg.counter = Be32(bytes, pos + 2);
        have_t = true;
        pos += 6;
        break;
      }
      case kMikeyPtRand: {
        SPC_NEED(pos, 2, "RAND");
        if (!msg.rand.empty()) return Err("second RAND payload", "next_payload", next_at);
        const std::size_t len = bytes[pos + 1];
        if (len < 16) return Err("RAND shorter than 16 bytes", "RAND.RAND_len", pos + 1);
        SPC_NEED(pos + 2, len, "RAND.RAND");
        msg.rand.assign(bytes.begin() + pos + 2, bytes.begin() + pos + 2 + len);
        pos += 2 + len;
        break;
      }
      case kMikeyPtId: {
        SPC_NEED(pos, 4, "ID");
        if (msg.idr) return Err("third ID payload", "next_payload", next_at);
        MikeyIdPayload id;
        id.id_type = bytes[pos + 1];
        if (id.id_type > 1)
          return Err("ID type is neither NAI (0) nor URI (1)", "ID.ID_type", pos + 1);
        const std::size_t len = Be16(bytes, pos + 2);
        SPC_NEED(pos + 4, len, "ID.ID_data");
        id.value.assign(bytes.begin() + pos + 4, bytes.begin() + pos + 4 + len);
        (msg.idi ? msg.idr : msg.idi) = std::move(id);
        pos += 4 + len;
        break;
      }
      case kMikeyPtKemac: {
        SPC_NEED(pos, 4, "KEMAC");
        if (msg.data_type != kMikeyDataTypePsk) {
          return Err("KEMAC in a verification message", "next_payload", next_at);
        }
        msg.enc_alg = bytes[pos + 1];
        if (msg.enc_alg != kMikeyEncAesCm128) {
          return Err("encryption algorithm is not AES-CM-128 (1)", "KEMAC.encr_alg", pos + 1);
        }
        const std::size_t len = Be16(bytes, pos + 2);
        SPC_NEED(pos + 4, len, "KEMAC.encr_data");
        msg.encrypted_key_data.assign(bytes.begin() + pos + 4, bytes.begin() + pos + 4 + len);
        const std::size_t mac_alg_at = pos + 4 + len;
        SPC_NEED(mac_alg_at, 1, "KEMAC.mac_alg");
        msg.mac_alg = bytes[mac_alg_at];
        if (msg.mac_alg != kMikeyMacHmacSha1) {
          return Err("MAC algorithm is not HMAC-SHA-1-160 (1)", "KEMAC.mac_alg", mac_alg_at);
        }
        SPC_NEED(mac_alg_at + 1, kMikeyMacLength, "KEMAC.MAC");
        msg.mac_offset = mac_alg_at + 1;
        std::copy_n(bytes.begin() + msg.mac_offset, kMikeyMacLength, msg.mac.begin());
        have_kemac = true;
        pos = msg.mac_offset + kMikeyMacLength;
        break;
      }
      case kMikeyPtV: {
        SPC_NEED(pos, 2, "V");
        if (msg.data_type != kMikeyDataTypeVerification) {
          return Err("V payload in a pre-shared key message", "next_payload", next_at);
        }
        msg.mac_alg = bytes[pos + 1];
        if (msg.mac_alg != kMikeyMacHmacSha1) {
          return Err("MAC algorithm is not HMAC-SHA-1-160 (1)", "V.mac_alg", pos + 1);
        }
        SPC_NEED(pos + 2, kMikeyMacLength, "V.MAC");
        msg.mac_offset = pos + 2;
        std::copy_n(bytes.begin() + msg.mac_offset, kMikeyMacLength, msg.mac.begin());
        have_v = true;
        pos = msg.mac_offset + kMikeyMacLength;
        break;
      }
      default:
        return Err("payload type " + std::to_string(next) + " is not part of this profile",
                   "next_payload", next_at);
    }
    next_at = start;
    next = bytes[start];
  }
  if (pos != bytes.size()) return Err("bytes after the last payload", "trailing_data", pos);
  if (!have_key_id) return Err("no key ID extension", "EXT.key_ID", pos);
  if (!have_t) return Err("no T payload", "T", pos);
  if (msg.data_type == kMikeyDataTypePsk) {
    if (msg.rand.empty()) return Err("no RAND payload", "RAND", pos);
    if (!have_kemac) return Err("no KEMAC payload", "KEMAC", pos);
  } else if (!have_v) {
    return Err("verification message without V payload", "V", pos);
  }
  if (msg.csb_id != msg.key_id.msk_id) {
    return Err("CSB ID is not the MSK ID of the key ID extension", "HDR.CSB_ID", 4);
  }
  if ((msg.key_id.type == MikeyKeyIdType::kMsk && msg.stkm_ext) ||
      (msg.key_id.type == MikeyKeyIdType::kMtk && msg.ltkm_ext)) {
    return Err("OMA BCAST extension subtype does not match the key ID type", "EXT.subtype", pos);
  }
  msg.mac_input.assign(bytes.begin(), bytes.begin() + msg.mac_offset);
  return msg;
}

#undef SPC_NEED

Result<MikeyKeyData, MikeyOpenFailure> OpenMikeyKemac(const MikeyMessage& msg,
                                                      std::span<const std::uint8_t> envelope_key) {
  if (msg.data_type != kMikeyDataTypePsk) {
    return MikeyOpenFailure{MikeyOpenError::kNotKemac, Err("no KEMAC", "KEMAC", 0)};
  }
  MikeyMessageKeys keys = MikeyDeriveMessageKeys(msg.prf, envelope_key, msg.csb_id, msg.rand);
  Sha1Digest mac = HmacSha1(keys.authentication, msg.mac_input);
  if (!ConstantTimeEqual(mac, msg.mac)) {
    return MikeyOpenFailure{MikeyOpenError::kBadMac,
                            Err("MAC does not verify", "KEMAC.MAC", msg.mac_offset)};
  }
  std::vector<std::uint8_t> plain =
      MikeyAesCm(keys.encryption, keys.salt, msg.csb_id, msg.counter, msg.encrypted_key_data);
  CleanseGuard guard(plain);
  auto malformed = [](std::string m, std::string f, std::size_t o) {
    return MikeyOpenFailure{MikeyOpenError::kMalformedKeyData, Err(std::move(m), std::move(f), o)};
  };
  // next payload (1) ‖ type (4 bits) KV (4 bits) ‖ key data len (2) ‖ key ‖ [salt len (2) ‖
  // salt] ‖ [SPI len (1) ‖ SPI]; offsets are within the decrypted data.
  const std::span<const std::uint8_t> d = plain;
  if (d.size() < 4) return malformed("key data truncated", "KEY_DATA", 0);
  if (d[0] != kMikeyPtLast)
    return malformed("more than one key data sub-payload", "KEY_DATA.next_payload", 0);
  MikeyKeyData kd;
  kd.type = d[1] >> 4;
  kd.kv_type = d[1] & 0x0f;
  if (kd.type > kMikeyKeyDataTekSalt) return malformed("unknown key data type", "KEY_DATA.type", 1);
  if (kd.kv_type > kMikeyKvSpi)
    return malformed("KV type is neither null nor SPI", "KEY_DATA.KV", 1);
  std::size_t p = 2;
  const std::size_t key_len = Be16(d, p);
  p += 2;
  if (d.size() - p < key_len)
    return malformed("key runs past the data", "KEY_DATA.key_data_len", 2);
  kd.key.assign(d.begin() + p, d.begin() + p + key_len);
  p += key_len;
  if (kd.type & 1) {
    if (d.size() - p < 2) return malformed("salt length missing", "KEY_DATA.salt_len", p);
    const std::size_t salt_len = Be16(d, p);
    if (d.size() - p - 2 < salt_len)
      return malformed("salt runs past the data", "KEY_DATA.salt_len", p);
    kd.salt.assign(d.begin() + p + 2, d.begin() + p + 2 + salt_len);
    p += 2 + salt_len;
  }
  if (kd.kv_type == kMikeyKvSpi) {
    if (d.size() - p < 1) return malformed("SPI length missing", "KEY_DATA.SPI_len", p);
    const std::size_t spi_len = d[p];
    if (d.size() - p - 1 < spi_len)
      return malformed("SPI runs past the data", "KEY_DATA.SPI_len", p);
    kd.spi.assign(d.begin() + p + 1, d.begin() + p + 1 + spi_len);
    p += 1 + spi_len;
  }
  if (p != d.size()) return malformed("bytes after the key data", "KEY_DATA", p);

  auto mismatch = [](std::string m, std::string f) {
    return MikeyOpenFailure{MikeyOpenError::kKeyIdMismatch, Err(std::move(m), std::move(f), 0)};
  };
  if (kd.key.size() != 16) return mismatch("key is not 16 bytes", "KEY_DATA.key_data_len");
  if (msg.key_id.type == MikeyKeyIdType::kMsk) {
    if (kd.type != kMikeyKeyDataTgk)
      return mismatch("MSK message key data is not a TGK", "KEY_DATA.type");
    std::vector<std::uint8_t> want;
    Put32(want, msg.key_id.msk_id);
    if (kd.spi != want) return mismatch("SPI is not the MSK ID", "KEY_DATA.SPI");
  } else {
    if (kd.type != kMikeyKeyDataTek && kd.type != kMikeyKeyDataTekSalt) {
      return mismatch("MTK message key data is not a TEK", "KEY_DATA.type");
    }
    if (kd.type == kMikeyKeyDataTekSalt && kd.salt.size() != 14) {
      return mismatch("salt is not 14 bytes", "KEY_DATA.salt_len");
    }
    std::vector<std::uint8_t> want;
    Put16(want, msg.key_id.mtk_id);
    if (kd.spi != want) return mismatch("SPI is not the MTK ID", "KEY_DATA.SPI");
  }
  return kd;
}

std::vector<std::uint8_t> WriteMikey(const MikeyMessage& msg, const MikeyKeyData& key_data,
                                     std::span<const std::uint8_t> envelope_key) {
  std::vector<std::uint8_t> out;
  PutHdr(out, msg, kMikeyDataTypePsk, msg.v);
  PutKeyIdExt(out, kMikeyPtT, msg.key_id);
  PutT(out, kMikeyPtRand, msg.counter);
  const bool has_ext = msg.ltkm_ext || msg.stkm_ext;
  const std::uint8_t after_rand = msg.idi ? kMikeyPtId : has_ext ? kMikeyPtGenExt : kMikeyPtKemac;
  out.push_back(after_rand);
  out.push_back(static_cast<std::uint8_t>(msg.rand.size()));
  out.insert(out.end(), msg.rand.begin(), msg.rand.end());
  const MikeyIdPayload* ids[] = {msg.idi ? &*msg.idi : nullptr, msg.idr ? &*msg.idr : nullptr};
  for (int i = 0; i < 2; ++i) {
    if (!ids[i]) continue;
    const bool more_id = i == 0 && ids[1];
    out.push_back(more_id ? kMikeyPtId : has_ext ? kMikeyPtGenExt : kMikeyPtKemac);
    out.push_back(ids[i]->id_type);
    Put16(out, static_cast<std::uint16_t>(ids[i]->value.size()));
    out.insert(out.end(), ids[i]->value.begin(), ids[i]->value.end());
  }
  if (msg.ltkm_ext) {
    out.push_back(kMikeyPtKemac);
    out.push_back(kMikeyExtOmaBcast);
    Put16(out, 12);
    out.push_back(1);
    out.push_back(msg.ltkm_ext->permissions);
    out.insert(out.end(), msg.ltkm_ext->not_before.begin(), msg.ltkm_ext->not_before.end());
    out.insert(out.end(), msg.ltkm_ext->not_after.begin(), msg.ltkm_ext->not_after.end());
  } else if (msg.stkm_ext) {
    const BcastStkmExt& e = *msg.stkm_ext;
    std::vector<std::uint8_t> data = {2, e.protection_after_reception,
                                      e.traffic_protection_protocol, e.traffic_authentication_flag,
                                      static_cast<std::uint8_t>(e.access_criteria.size())};
    for (const auto& d : e.access_criteria) {
      data.push_back(d.tag);
      data.push_back(static_cast<std::uint8_t>(d.data.size()));
      data.insert(data.end(), d.data.begin(), d.data.end());
    }
    out.push_back(kMikeyPtKemac);
    out.push_back(kMikeyExtOmaBcast);
    Put16(out, static_cast<std::uint16_t>(data.size()));
    out.insert(out.end(), data.begin(), data.end());
  }

  std::vector<std::uint8_t> plain;
  plain.push_back(kMikeyPtLast);
  plain.push_back(static_cast<std::uint8_t>(key_data.type << 4 | (key_data.kv_type & 0x0f)));
  Put16(plain, static_cast<std::uint16_t>(key_data.key.size()));
  plain.insert(plain.end(), key_data.key.begin(), key_data.key.end());
  if (key_data.type & 1) {
    Put16(plain, static_cast<std::uint16_t>(key_data.salt.size()));
    plain.insert(plain.end(), key_data.salt.begin(), key_data.salt.end());
  }
  if (key_data.kv_type == kMikeyKvSpi) {
    plain.push_back(static_cast<std::uint8_t>(key_data.spi.size()));
    plain.insert(plain.end(), key_data.spi.begin(), key_data.spi.end());
  }
  CleanseGuard guard(plain);
  MikeyMessageKeys keys = MikeyDeriveMessageKeys(msg.prf, envelope_key, msg.csb_id, msg.rand);
  std::vector<std::uint8_t> enc =
      MikeyAesCm(keys.encryption, keys.salt, msg.csb_id, msg.counter, plain);
  out.push_back(kMikeyPtLast);
  out.push_back(kMikeyEncAesCm128);
  Put16(out, static_cast<std::uint16_t>(enc.size()));
  out.insert(out.end(), enc.begin(), enc.end());
  out.push_back(kMikeyMacHmacSha1);
  Sha1Digest mac = HmacSha1(keys.authentication, out);
  out.insert(out.end(), mac.begin(), mac.end());
  return out;
}

std::vector<std::uint8_t> MakeMikeyMskMessage(const KeyDomainId& key_domain, std::uint32_t msk_id,
                                              std::uint32_t counter,
                                              std::span<const std::uint8_t, 16> msk,
                                              std::span<const std::uint8_t> muk,
                                              const std::string& naf_id, const std::string& btid,
                                              const BcastLtkmExt& ext, bool want_verification) {
  MikeyMessage m;
  m.v = want_verification;
  m.csb_id = msk_id;
  m.key_id = {MikeyKeyIdType::kMsk, key_domain, msk_id, 0};
  m.counter = counter;
  m.rand.resize(16);
  RandomBytes(m.rand);
  m.idi = MikeyIdPayload{1, naf_id};
  m.idr = MikeyIdPayload{1, btid};
  m.ltkm_ext = ext;
  MikeyKeyData kd;
  kd.type = kMikeyKeyDataTgk;
  kd.kv_type = kMikeyKvSpi;
  kd.key.assign(msk.begin(), msk.end());
  Put32(kd.spi, msk_id);
  return WriteMikey(m, kd, muk);
}

std::vector<std::uint8_t> MakeMikeyMtkMessage(const KeyDomainId& key_domain, std::uint32_t msk_id,
                                              std::uint16_t mtk_id, std::uint32_t counter,
                                              std::span<const std::uint8_t, 16> mtk,
                                              std::span<const std::uint8_t, 14> salt,
                                              std::span<const std::uint8_t, 16> msk,
                                              const BcastStkmExt& ext) {
  MikeyMessage m;
  m.csb_id = msk_id;
  m.key_id = {MikeyKeyIdType::kMtk, key_domain, msk_id, mtk_id};
  m.counter = counter;
  m.rand.resize(16);
  RandomBytes(m.rand);
  m.stkm_ext = ext;
  MikeyKeyData kd;
  kd.type = kMikeyKeyDataTekSalt;
  kd.kv_type = kMikeyKvSpi;
  kd.key.assign(mtk.begin(), mtk.end());
  kd.salt.assign(salt.begin(), salt.end());
  Put16(kd.spi, mtk_id);
  return WriteMikey(m, kd, msk);
}

std::array<std::uint8_t, 6> SrtpMkiFor(std::uint32_t msk_id, std::uint16_t mtk_id) {
  return {static_cast<std::uint8_t>(msk_id >> 24), static_cast<std::uint8_t>(msk_id >> 16),
          static_cast<std::uint8_t>(msk_id >> 8),  static_cast<std::uint8_t>(msk_id),
          static_cast<std::uint8_t>(mtk_id >> 8),  static_cast<std::uint8_t>(mtk_id)};
}

std::vector<std::uint8_t> WriteMikeyVerification(const MikeyMessage& received,
                                                 std::span<const std::uint8_t> envelope_key) {
  std::vector<std::uint8_t> out;
  PutHdr(out, received, kMikeyDataTypeVerification, false);
  PutKeyIdExt(out, kMikeyPtT, received.key_id);
  PutT(out, kMikeyPtV, received.counter);
  out.push_back(kMikeyPtLast);
  out.push_back(kMikeyMacHmacSha1);
  MikeyMessageKeys keys =
      MikeyDeriveMessageKeys(received.prf, envelope_key, received.csb_id, received.rand);
  Sha1Digest mac = HmacSha1(keys.authentication, VerificationMacInput(out, received));
  out.insert(out.end(), mac.begin(), mac.end());
  return out;
}

bool CheckMikeyVerification(const MikeyMessage& verification, const MikeyMessage& sent,
                            std::span<const std::uint8_t> envelope_key) {
  if (verification.data_type != kMikeyDataTypeVerification) return false;
  if (verification.csb_id != sent.csb_id || verification.counter != sent.counter) return false;
  MikeyMessageKeys keys = MikeyDeriveMessageKeys(sent.prf, envelope_key, sent.csb_id, sent.rand);
  Sha1Digest mac =
      HmacSha1(keys.authentication, VerificationMacInput(verification.mac_input, sent));
  return ConstantTimeEqual(mac, verification.mac);
}

}  // namespace spc::smartcard
