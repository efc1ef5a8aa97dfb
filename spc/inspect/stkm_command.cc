// bcast-inspect stkm: each FILE holds one STKM (raw bytes).
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spc/inspect/inspect.h"
#include "spc/libspc/json_writer.h"
#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

namespace spc::inspect {
namespace {

constexpr char kUsage[] =
    "usage: bcast-inspect stkm [--base-cid CID [--keys FILE]] FILE...\n"
    "  FILE            one raw STKM per file; - reads standard input\n"
    "  --base-cid CID  base content ID of the service: adds content_id\n"
    "  --keys FILE     key file (stkm.md; needs --base-cid): adds mac_valid, and traffic_key and\n"
    "                  next_traffic_key when the MAC is valid\n";

int Usage(const std::string& why) {
  std::fprintf(stderr, "bcast-inspect stkm: %s\n%s", why.c_str(), kUsage);
  return kExitUsage;
}

void WriteFields(JsonWriter& w, const Stkm& s) {
  w.Member("protocol_version", s.protocol_version)
      .Member("protection_after_reception", s.protection_after_reception)
      .Member("access_criteria_flag", s.access_criteria_flag)
      .Member("master_salt_flag", s.master_salt_flag)
      .Member("traffic_protection_protocol", s.traffic_protection_protocol)
      .Member("traffic_authentication_flag", s.traffic_authentication_flag)
      .Member("next_traffic_key_flag", s.next_traffic_key_flag)
      .Member("timestamp_flag", s.timestamp_flag)
      .Member("programme_flag", s.programme_flag)
      .Member("service_flag", s.service_flag)
      .Member("key_domain_id", s.key_domain_id);
  if (s.service_flag) w.Member("service_CID_extension", s.service_CID_extension);
  if (s.programme_flag) w.Member("programme_CID_extension", s.programme_CID_extension);
  w.Member("traffic_key_id", s.traffic_key_id)
      .Member("traffic_key_lifetime", s.traffic_key_lifetime);
  if (s.timestamp_flag) w.Member("timestamp", s.timestamp);
  if (s.master_salt_flag) w.HexMember("master_salt", s.master_salt);
  w.HexMember("encrypted_traffic_key_material", s.encrypted_traffic_key_material);
  if (s.next_traffic_key_flag) {
    w.Member("next_traffic_key_id", s.next_traffic_key_id)
        .HexMember("next_encrypted_traffic_key_material", s.next_encrypted_traffic_key_material);
    if (s.master_salt_flag) w.HexMember("next_master_salt", s.next_master_salt);
  }
  if (s.access_criteria_flag) {
    w.Key("access_criteria").BeginArray();
    for (const auto& d : s.access_criteria) {
      w.BeginObject()
          .Member("tag", d.tag)
          .Member("length", d.data.size())
          .HexMember("data", d.data)
          .EndObject();
    }
    w.EndArray();
  }
  w.HexMember("MAC", s.MAC);
}

}  // namespace

int StkmCommand(const std::vector<std::string>& args) {
  std::optional<std::string> keys_path;
  std::optional<std::string> base_cid;
  std::vector<std::string> files;
  if (auto done = ParseArguments(args, {{"--keys", &keys_path}, {"--base-cid", &base_cid}}, kUsage,
                                 Usage, files))
    return *done;
  if (files.empty()) return Usage("no FILE given");
  if (keys_path && !base_cid) return Usage("--keys needs --base-cid to form content IDs");

  KeyTable keys;
  if (keys_path) {
    auto loaded = LoadKeyFile(*keys_path);
    if (!loaded) {
      const ParseError& e = loaded.error();
      std::fprintf(stderr, "bcast-inspect stkm: %s\n", e.message.c_str());
      return e.offset == 0 && e.field == *keys_path ? kExitNoInput : kExitDataError;
    }
    keys = std::move(*loaded);
  }

  return ForEachInput(files, [&](JsonWriter& w, std::span<const std::uint8_t> message) {
    auto parsed = ParseStkm(message);
    if (!parsed) return WriteMalformed(w, parsed.error());
    WriteFields(w, *parsed);
    if (base_cid) {
      std::string cid = StkmContentId(*parsed, *base_cid);
      w.Member("content_id", cid);
      if (keys_path) {
        auto it = keys.find(cid);
        auto opened =
            OpenStkmWithKey(message, *parsed, cid, it == keys.end() ? nullptr : &it->second);
        if (opened) {
          w.Member("mac_valid", true).HexMember("traffic_key", opened->current.key);
          if (opened->next) w.HexMember("next_traffic_key", opened->next->key);
        } else if (opened.error().code == StkmError::kBadMac) {
          w.Member("mac_valid", false);
        } else {
          // No key to check the MAC with: say why instead of guessing a mac_valid value.
          w.Member("key_error", opened.error().message);
        }
      }
    }
    return kExitOk;
  });
}

}  // namespace spc::inspect
