#include "spc/libspc/smartcard/apdu.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "spc/libspc/crypto.h"

namespace spc::smartcard {
namespace {

ParseError Err(std::string message, std::string field, std::size_t offset) {
  return ParseError{std::move(message), std::move(field), offset};
}

std::vector<std::uint8_t> Tlv1(std::uint8_t tag, std::span<const std::uint8_t> value) {
  std::vector<std::uint8_t> out{tag};
  AppendBerLength(out, value.size());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

// An MBMS response: 53 L DB ‖ rest.
std::vector<std::uint8_t> MbmsSuccess(std::span<const std::uint8_t> rest) {
  std::vector<std::uint8_t> inner{kTagSuccess};
  inner.insert(inner.end(), rest.begin(), rest.end());
  return Tlv1(kTagMbms, inner);
}

// The value of the one 53 TLV of an MBMS response, after its leading DB byte.
Result<std::span<const std::uint8_t>> MbmsSuccessValue(std::span<const std::uint8_t> data,
                                                       std::size_t& value_offset) {
  std::size_t pos = 0;
  auto tlv = ReadTlv(data, pos, "MBMS");
  if (!tlv) return tlv.error();
  if (tlv->tag != kTagMbms) return Err("response is not an MBMS data object (53)", "MBMS.tag", 0);
  if (pos != data.size()) return Err("bytes after the MBMS data object", "trailing_data", pos);
  if (tlv->value.empty() || tlv->value[0] != kTagSuccess) {
    return Err("MBMS response does not start with DB", "MBMS.result", tlv->value_offset);
  }
  value_offset = tlv->value_offset + 1;
  return tlv->value.subspan(1);
}

}  // namespace

std::string StatusWordName(std::uint16_t sw) {
  switch (sw) {
    case kSwOk:
      return "ok";
    case kSwMoreData:
      return "more-data";
    case kSwBadMac:
      return "bad-mac";
    case kSwKeyFreshness:
      return "key-freshness-failure";
    case kSwNoMemoryMsk:
      return "no-memory-for-msk";
    case kSwNoMemoryMuk:
      return "no-memory-for-muk";
    case kSwKeyNotFound:
      return "key-not-found";
    case kSwWrongLength:
      return "wrong-length";
    case kSwConditionsNotSatisfied:
      return "conditions-not-satisfied";
    case kSwWrongData:
      return "wrong-data";
    case kSwWrongP1P2:
      return "wrong-p1-p2";
    case kSwInsNotSupported:
      return "ins-not-supported";
    case kSwClaNotSupported:
      return "cla-not-supported";
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "sw-%04x", sw);
  return buf;
}

Result<CommandApdu> ParseCommandApdu(std::span<const std::uint8_t> b) {
  if (b.size() < 4) return Err("command shorter than its 4-byte header", "header", b.size());
  CommandApdu a{b[0], b[1], b[2], b[3], {}, std::nullopt};
  const std::size_t n = b.size();
  if (n == 4) return a;
  if (n == 5) {
    a.le = b[4] == 0 ? 256u : b[4];
    return a;
  }
  if (b[4] != 0) {
    const std::size_t lc = b[4];
    if (n != 5 + lc && n != 6 + lc) {
      return Err("Lc disagrees with the command length", "Lc", 4);
    }
    a.data.assign(b.begin() + 5, b.begin() + 5 + lc);
    if (n == 6 + lc) a.le = b[n - 1] == 0 ? 256u : b[n - 1];
    return a;
  }
  if (n < 7) return Err("extended length truncated", "Lc", 4);
  const std::size_t l = static_cast<std::size_t>(b[5] << 8 | b[6]);
  if (n == 7) {
    a.le = l == 0 ? 65536u : static_cast<std::uint32_t>(l);
    return a;
  }
  if (l == 0) return Err("extended Lc of zero", "Lc", 5);
  if (n != 7 + l && n != 9 + l)
    return Err("extended Lc disagrees with the command length", "Lc", 5);
  a.data.assign(b.begin() + 7, b.begin() + 7 + l);
  if (n == 9 + l) {
    const std::uint32_t le = static_cast<std::uint32_t>(b[n - 2] << 8 | b[n - 1]);
    a.le = le == 0 ? 65536u : le;
  }
  return a;
}

std::vector<std::uint8_t> WriteCommandApdu(const CommandApdu& a) {
  std::vector<std::uint8_t> out{a.cla, a.ins, a.p1, a.p2};
  const bool extended = a.data.size() > 255 || (a.le && *a.le > 256);
  if (!extended) {
    if (!a.data.empty()) {
      out.push_back(static_cast<std::uint8_t>(a.data.size()));
      out.insert(out.end(), a.data.begin(), a.data.end());
    }
    if (a.le) out.push_back(static_cast<std::uint8_t>(*a.le & 0xff));
    return out;
  }
  out.push_back(0);
  if (!a.data.empty()) {
    out.push_back(static_cast<std::uint8_t>(a.data.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(a.data.size()));
    out.insert(out.end(), a.data.begin(), a.data.end());
  }
  if (a.le) {
    out.push_back(static_cast<std::uint8_t>((*a.le >> 8) & 0xff));
    out.push_back(static_cast<std::uint8_t>(*a.le & 0xff));
  }
  return out;
}

Result<ResponseApdu> ParseResponseApdu(std::span<const std::uint8_t> b) {
  if (b.size() < 2) return Err("response shorter than its status word", "SW1SW2", b.size());
  ResponseApdu r;
  r.data.assign(b.begin(), b.end() - 2);
  r.sw = static_cast<std::uint16_t>(b[b.size() - 2] << 8 | b[b.size() - 1]);
  return r;
}

std::vector<std::uint8_t> WriteResponseApdu(std::span<const std::uint8_t> data, std::uint16_t sw) {
  std::vector<std::uint8_t> out(data.begin(), data.end());
  out.push_back(static_cast<std::uint8_t>(sw >> 8));
  out.push_back(static_cast<std::uint8_t>(sw));
  return out;
}

void AppendBerLength(std::vector<std::uint8_t>& out, std::size_t length) {
  if (length < 0x80) {
    out.push_back(static_cast<std::uint8_t>(length));
  } else if (length <= 0xff) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(length));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(length >> 8));
    out.push_back(static_cast<std::uint8_t>(length));
  }
}

Result<Tlv> ReadTlv(std::span<const std::uint8_t> b, std::size_t& pos, const std::string& field) {
  if (pos >= b.size()) return Err("data ends before the tag", field + ".tag", pos);
  Tlv t;
  t.tag = b[pos];
  const std::size_t len_at = pos + 1;
  if (len_at >= b.size()) return Err("data ends before the length", field + ".length", len_at);
  std::size_t len = b[len_at];
  std::size_t value_at = len_at + 1;
  if (len == 0x81 || len == 0x82) {
    const std::size_t count = len & 0x7f;
    if (b.size() - value_at < count) {
      return Err("BER length bytes run past the end", field + ".length", len_at);
    }
    len = 0;
    for (std::size_t i = 0; i < count; ++i) len = len << 8 | b[value_at + i];
    value_at += count;
  } else if (len >= 0x80) {
    return Err("BER length form not allowed here", field + ".length", len_at);
  }
  if (b.size() - value_at < len) {
    return Err("BER length runs past the end of the data", field + ".length", len_at);
  }
  t.value_offset = value_at;
  t.value = b.subspan(value_at, len);
  pos = value_at + len;
  return t;
}

CommandApdu MakeGbaBootstrapCommand(std::span<const std::uint8_t, 16> rand,
                                    std::span<const std::uint8_t, 16> autn) {
  CommandApdu a{0x00, kInsAuthenticate, 0x00, kP2Gba, {kTagGbaBootstrap, 16}, 0u};
  a.data.insert(a.data.end(), rand.begin(), rand.end());
  a.data.push_back(16);
  a.data.insert(a.data.end(), autn.begin(), autn.end());
  a.le = 256;  // "00": as much as the card has
  return a;
}

CommandApdu MakeGbaNafDerivationCommand(std::span<const std::uint8_t> naf_id,
                                        const std::string& impi) {
  CommandApdu a{0x00, kInsAuthenticate, 0x00, kP2Gba, {kTagGbaNaf}, 256u};
  a.data.push_back(static_cast<std::uint8_t>(naf_id.size()));
  a.data.insert(a.data.end(), naf_id.begin(), naf_id.end());
  a.data.push_back(static_cast<std::uint8_t>(impi.size()));
  a.data.insert(a.data.end(), impi.begin(), impi.end());
  return a;
}

namespace {
CommandApdu MbmsCommand(MbmsMode mode, std::span<const std::uint8_t> rest) {
  std::vector<std::uint8_t> value{static_cast<std::uint8_t>(mode)};
  value.insert(value.end(), rest.begin(), rest.end());
  return CommandApdu{0x00, kInsAuthenticateOdd, 0x80, kP2Mbms, Tlv1(kTagMbms, value), 256u};
}
}  // namespace

CommandApdu MakeMskUpdateCommand(std::span<const std::uint8_t> mikey) {
  return MbmsCommand(MbmsMode::kMskUpdate, mikey);
}
CommandApdu MakeMtkGenerationCommand(std::span<const std::uint8_t> mikey) {
  return MbmsCommand(MbmsMode::kMtkGeneration, mikey);
}
CommandApdu MakeMskDeletionCommand(const KeyDomainId& key_domain, std::uint16_t key_group) {
  std::vector<std::uint8_t> rest(key_domain.begin(), key_domain.end());
  rest.push_back(static_cast<std::uint8_t>(key_group >> 8));
  rest.push_back(static_cast<std::uint8_t>(key_group));
  return MbmsCommand(MbmsMode::kMskDeletion, rest);
}

Result<AuthenticateRequest> ParseAuthenticateCommand(const CommandApdu& a) {
  if ((a.cla & 0xfc) != 0) return Err("class byte is not 00 (channels 0-3)", "CLA", 0);
  if (a.ins != kInsAuthenticate && a.ins != kInsAuthenticateOdd) {
    return Err("instruction is not AUTHENTICATE", "INS", 1);
  }
  AuthenticateRequest r;
  const auto& d = a.data;
  // Offsets below are within the command APDU: the data field starts at 5 (short form).
  const std::size_t base = a.data.size() > 255 ? 7 : 5;
  if (a.p2 == kP2Gba) {
    if (a.p1 != 0x00) return Err("GBA context needs P1 00", "P1P2", 2);
    if (d.empty()) return Err("no GBA data", "GBA.tag", base);
    if (d[0] == kTagGbaBootstrap) {
      r.kind = AuthenticateRequest::Kind::kGbaBootstrap;
      if (d.size() < 2 || d[1] != 16)
        return Err("RAND length is not 16", "GBA.RAND_length", base + 1);
      if (d.size() < 19 || d[18] != 16)
        return Err("AUTN length is not 16", "GBA.AUTN_length", base + 18);
      if (d.size() != 35) return Err("GBA bootstrap data is not 35 bytes", "Lc", 4);
      std::copy_n(d.begin() + 2, 16, r.rand.begin());
      std::copy_n(d.begin() + 19, 16, r.autn.begin());
      return r;
    }
    if (d[0] == kTagGbaNaf) {
      r.kind = AuthenticateRequest::Kind::kGbaNafDerivation;
      if (d.size() < 2) return Err("NAF_ID length missing", "GBA.NAF_ID_length", base + 1);
      const std::size_t nl = d[1];
      if (nl == 0 || d.size() - 2 < nl) {
        return Err("NAF_ID length runs past the data", "GBA.NAF_ID_length", base + 1);
      }
      const std::size_t il_at = 2 + nl;
      if (d.size() <= il_at) return Err("IMPI length missing", "GBA.IMPI_length", base + il_at);
      const std::size_t il = d[il_at];
      if (il == 0 || d.size() - il_at - 1 != il) {
        return Err("IMPI length disagrees with the data", "GBA.IMPI_length", base + il_at);
      }
      r.naf_id.assign(d.begin() + 2, d.begin() + 2 + nl);
      r.impi.assign(d.begin() + il_at + 1, d.end());
      return r;
    }
    return Err("GBA data tag is neither DD nor DE", "GBA.tag", base);
  }
  if (a.p2 == kP2Mbms) {
    if (a.p1 != 0x80) return Err("MBMS context needs P1 80", "P1P2", 2);
    std::size_t pos = 0;
    auto tlv = ReadTlv(d, pos, "MBMS");
    if (!tlv) {
      auto e = tlv.error();
      e.offset += base;
      return e;
    }
    if (tlv->tag != kTagMbms) return Err("MBMS data object tag is not 53", "MBMS.tag", base);
    if (pos != d.size())
      return Err("bytes after the MBMS data object", "trailing_data", base + pos);
    const auto v = tlv->value;
    const std::size_t vat = base + tlv->value_offset;
    if (v.empty()) return Err("MBMS data object without mode", "MBMS.mode", vat);
    switch (v[0]) {
      case static_cast<std::uint8_t>(MbmsMode::kMskUpdate):
      case static_cast<std::uint8_t>(MbmsMode::kMtkGeneration):
        r.kind = v[0] == 1 ? AuthenticateRequest::Kind::kMskUpdate
                           : AuthenticateRequest::Kind::kMtkGeneration;
        if (v.size() < 2) return Err("no MIKEY message", "MBMS.MIKEY", vat + 1);
        r.mikey.assign(v.begin() + 1, v.end());
        return r;
      case static_cast<std::uint8_t>(MbmsMode::kMskDeletion):
        r.kind = AuthenticateRequest::Kind::kMskDeletion;
        if (v.size() != 6)
          return Err("MSK deletion needs key domain and key group", "MBMS.length", vat);
        std::copy_n(v.begin() + 1, 3, r.key_domain.begin());
        r.key_group = static_cast<std::uint16_t>(v[4] << 8 | v[5]);
        return r;
      default:
        return Err("MBMS mode is not 01, 02 or 03", "MBMS.mode", vat);
    }
  }
  return Err("P2 names neither the GBA (84) nor the MBMS (85) context", "P1P2", 3);
}

std::vector<std::uint8_t> MakeGbaBootstrapResponse(std::span<const std::uint8_t> res) {
  return Tlv1(kTagSuccess, res);
}
std::vector<std::uint8_t> MakeGbaSyncFailureResponse(std::span<const std::uint8_t, 14> auts) {
  return Tlv1(kTagSyncFailure, auts);
}
std::vector<std::uint8_t> MakeGbaNafResponse(std::span<const std::uint8_t> ks_ext_naf) {
  return Tlv1(kTagSuccess, ks_ext_naf);
}
std::vector<std::uint8_t> MakeMskUpdateResponse(std::span<const std::uint8_t> verification) {
  return MbmsSuccess(verification);
}
std::vector<std::uint8_t> MakeMtkResponse(std::span<const std::uint8_t, 16> mtk,
                                          std::span<const std::uint8_t, 14> salt) {
  std::vector<std::uint8_t> rest(mtk.begin(), mtk.end());
  rest.insert(rest.end(), salt.begin(), salt.end());
  auto out = MbmsSuccess(rest);
  Cleanse(rest);
  return out;
}
std::vector<std::uint8_t> MakeMskDeletionResponse() { return MbmsSuccess({}); }

MtkResult::~MtkResult() {
  Cleanse(mtk);
  Cleanse(salt);
}

Result<GbaBootstrapResult> ParseGbaBootstrapResponse(std::span<const std::uint8_t> data) {
  std::size_t pos = 0;
  auto tlv = ReadTlv(data, pos, "GBA");
  if (!tlv) return tlv.error();
  if (pos != data.size()) return Err("bytes after the GBA response", "trailing_data", pos);
  GbaBootstrapResult r;
  if (tlv->tag == kTagSuccess) {
    if (tlv->value.size() < 4 || tlv->value.size() > 16) {
      return Err("RES is not 4 to 16 bytes", "GBA.RES_length", 1);
    }
    r.res.assign(tlv->value.begin(), tlv->value.end());
    return r;
  }
  if (tlv->tag == kTagSyncFailure) {
    if (tlv->value.size() != 14) return Err("AUTS is not 14 bytes", "GBA.AUTS_length", 1);
    r.sync_failure = true;
    std::copy(tlv->value.begin(), tlv->value.end(), r.auts.begin());
    return r;
  }
  return Err("GBA response tag is neither DB nor DC", "GBA.tag", 0);
}

Result<std::vector<std::uint8_t>> ParseGbaNafResponse(std::span<const std::uint8_t> data) {
  std::size_t pos = 0;
  auto tlv = ReadTlv(data, pos, "GBA");
  if (!tlv) return tlv.error();
  if (pos != data.size()) return Err("bytes after the GBA response", "trailing_data", pos);
  if (tlv->tag != kTagSuccess) return Err("NAF derivation response tag is not DB", "GBA.tag", 0);
  if (tlv->value.size() != 32) return Err("Ks_ext_NAF is not 32 bytes", "GBA.Ks_ext_NAF_length", 1);
  return std::vector<std::uint8_t>(tlv->value.begin(), tlv->value.end());
}

Result<std::vector<std::uint8_t>> ParseMskUpdateResponse(std::span<const std::uint8_t> data) {
  std::size_t at = 0;
  auto v = MbmsSuccessValue(data, at);
  if (!v) return v.error();
  return std::vector<std::uint8_t>(v->begin(), v->end());
}

Result<MtkResult> ParseMtkResponse(std::span<const std::uint8_t> data) {
  MtkResult r;
  if (!data.empty() && data[0] == kTagBcastContainer) {
    std::size_t pos = 0;
    auto outer = ReadTlv(data, pos, "BCAST");
    if (!outer) return outer.error();
    if (pos != data.size()) return Err("bytes after the BCAST container", "trailing_data", pos);
    bool have_tek = false;
    std::size_t ipos = 0;
    const auto v = outer->value;
    while (ipos < v.size()) {
      const std::size_t at = outer->value_offset + ipos;
      auto t = ReadTlv(v, ipos, "BCAST.item");
      if (!t) {
        auto e = t.error();
        e.offset += outer->value_offset;
        return e;
      }
      switch (t->tag) {
        case 0x86:
          if (t->value.size() != 16) return Err("TEK is not 16 bytes", "BCAST.TEK_length", at + 1);
          std::copy(t->value.begin(), t->value.end(), r.mtk.begin());
          have_tek = true;
          break;
        case 0x87:
          if (t->value.size() != 14)
            return Err("salt is not 14 bytes", "BCAST.salt_length", at + 1);
          std::copy(t->value.begin(), t->value.end(), r.salt.begin());
          r.has_salt = true;
          break;
        case 0x88:
          r.parental_control.assign(t->value.begin(), t->value.end());
          break;
        case 0x80:
          r.management_data.assign(t->value.begin(), t->value.end());
          break;
        default:
          return Err("unknown tag in the BCAST container", "BCAST.tag", at);
      }
    }
    if (!have_tek) return Err("BCAST container without TEK (86)", "BCAST.TEK", data.size());
    return r;
  }
  std::size_t at = 0;
  auto v = MbmsSuccessValue(data, at);
  if (!v) return v.error();
  if (v->size() != 16 && v->size() != 30) {
    return Err("MTK response is neither MTK (16) nor MTK ‖ salt (30)", "MBMS.length", 1);
  }
  std::copy_n(v->begin(), 16, r.mtk.begin());
  if (v->size() == 30) {
    std::copy_n(v->begin() + 16, 14, r.salt.begin());
    r.has_salt = true;
  }
  return r;
}

Result<bool> ParseMskDeletionResponse(std::span<const std::uint8_t> data) {
  std::size_t at = 0;
  auto v = MbmsSuccessValue(data, at);
  if (!v) return v.error();
  if (!v->empty()) return Err("MSK deletion response carries data", "MBMS.length", 1);
  return true;
}

}  // namespace spc::smartcard
