// bcast-inspect mikey: each FILE holds one MIKEY message of the Smartcard Profile (MSK message,
// MTK message or verification message; raw bytes). With the envelope key (--muk for MSK
// messages, --msk for MTK messages) the MAC is checked and the key data shown.
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spc/inspect/inspect.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/json_writer.h"
#include "spc/libspc/smartcard/mikey.h"

namespace spc::inspect {
namespace {

using namespace spc::smartcard;

constexpr char kUsage[] =
    "usage: bcast-inspect mikey [--msk HEX] [--muk HEX] FILE...\n"
    "  FILE       one raw MIKEY message per file; - reads standard input\n"
    "  --muk HEX  MUK (Ks_int_NAF): checks the MAC of MSK messages and shows the MSK\n"
    "  --msk HEX  MSK (16 bytes): checks the MAC of MTK messages and shows the MTK and salt\n";

int Usage(const std::string& why) {
  std::fprintf(stderr, "bcast-inspect mikey: %s\n%s", why.c_str(), kUsage);
  return kExitUsage;
}

void WriteFields(JsonWriter& w, const MikeyMessage& m) {
  const char* type = m.data_type == kMikeyDataTypeVerification ? "verification"
                     : m.key_id.type == MikeyKeyIdType::kMsk   ? "msk"
                                                               : "mtk";
  w.Member("message", type)
      .Member("data_type", m.data_type)
      .Member("V", m.v)
      .Member("PRF_func", m.prf)
      .Member("CSB_ID", m.csb_id)
      .Member("key_ID_type", static_cast<unsigned>(m.key_id.type))
      .HexMember("key_domain_id", m.key_id.key_domain)
      .Member("msk_id", m.key_id.msk_id)
      .Member("key_group", m.key_id.key_group());
  if (m.key_id.type == MikeyKeyIdType::kMtk) w.Member("mtk_id", m.key_id.mtk_id);
  w.Member("counter", m.counter);
  if (!m.rand.empty()) w.HexMember("RAND", m.rand);
  if (m.idi) w.Member("IDi", m.idi->value);
  if (m.idr) w.Member("IDr", m.idr->value);
  if (m.ltkm_ext) {
    w.Key("bcast_ltkm")
        .BeginObject()
        .Member("permissions", m.ltkm_ext->permissions)
        .HexMember("not_before", m.ltkm_ext->not_before)
        .HexMember("not_after", m.ltkm_ext->not_after)
        .EndObject();
  }
  if (m.stkm_ext) {
    const BcastStkmExt& e = *m.stkm_ext;
    w.Key("bcast_stkm")
        .BeginObject()
        .Member("protection_after_reception", e.protection_after_reception)
        .Member("traffic_protection_protocol", e.traffic_protection_protocol)
        .Member("traffic_authentication_flag", e.traffic_authentication_flag)
        .Key("access_criteria")
        .BeginArray();
    for (const auto& d : e.access_criteria) {
      w.BeginObject().Member("tag", d.tag).HexMember("data", d.data).EndObject();
    }
    w.EndArray().EndObject();
  }
  if (m.data_type == kMikeyDataTypePsk) {
    w.Member("encr_alg", m.enc_alg).HexMember("encrypted_key_data", m.encrypted_key_data);
  }
  w.Member("mac_alg", m.mac_alg).HexMember("MAC", m.mac);
}

}  // namespace

int MikeyCommand(const std::vector<std::string>& args) {
  std::optional<std::string> msk_hex, muk_hex;
  std::vector<std::string> files;
  if (auto done =
          ParseArguments(args, {{"--msk", &msk_hex}, {"--muk", &muk_hex}}, kUsage, Usage, files))
    return *done;
  if (files.empty()) return Usage("no FILE given");
  std::optional<std::vector<std::uint8_t>> msk, muk;
  if (msk_hex) {
    msk = HexDecode(*msk_hex);
    if (!msk || msk->size() != 16) return Usage("--msk needs 32 hex digits");
  }
  if (muk_hex) {
    muk = HexDecode(*muk_hex);
    if (!muk || muk->empty()) return Usage("--muk needs hex digits");
  }

  return ForEachInput(files, [&](JsonWriter& w, std::span<const std::uint8_t> message) {
    auto parsed = ParseMikey(message);
    if (!parsed) return WriteMalformed(w, parsed.error());
    WriteFields(w, *parsed);
    const std::optional<std::vector<std::uint8_t>>& key =
        parsed->key_id.type == MikeyKeyIdType::kMsk ? muk : msk;
    if (key && parsed->data_type == kMikeyDataTypePsk) {
      auto opened = OpenMikeyKemac(*parsed, *key);
      if (opened) {
        w.Member("mac_valid", true)
            .Key("key_data")
            .BeginObject()
            .Member("type", opened->type)
            .Member("KV", opened->kv_type)
            .HexMember("key", opened->key);
        if (!opened->salt.empty()) w.HexMember("salt", opened->salt);
        if (!opened->spi.empty()) w.HexMember("SPI", opened->spi);
        w.EndObject();
      } else if (opened.error().code == MikeyOpenError::kBadMac) {
        w.Member("mac_valid", false);
      } else {
        const ParseError& e = opened.error().detail;
        w.Member("mac_valid", true);
        WriteError(w, std::string(MikeyOpenErrorName(opened.error().code)) + ": " + e.message, e);
        return kExitMalformed;
      }
    }
    return kExitOk;
  });
}

}  // namespace spc::inspect
