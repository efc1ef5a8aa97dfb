#include "spc/libspc/keys.h"

#include <cstdio>

#include "spc/libspc/crypto.h"

namespace spc {
namespace {

std::string DomainHex(std::uint32_t domain) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06x", domain);
  return buf;
}

StkmFailure NoRights(std::string content_id, std::string why) {
  StkmFailure f;
  f.code = StkmError::kNoRights;
  f.message = "no rights for " + content_id + why;
  f.content_id = std::move(content_id);
  return f;
}

TrafficKey Decrypt(const Key128& sek, std::uint16_t id,
                   const std::array<std::uint8_t, 16>& encrypted, bool has_salt,
                   const MasterSalt& salt) {
  TrafficKey k;
  k.id = id;
  k.key = DecryptTrafficKey(sek, encrypted);
  if (has_salt) k.salt = salt;
  return k;
}

}  // namespace

std::string ContentId(std::string_view base_cid, std::uint32_t cid_extension) {
  char ext[9];
  std::snprintf(ext, sizeof ext, "%08x", cid_extension);
  std::string cid(base_cid);
  cid += ext;
  return cid;
}

std::string StkmContentId(const Stkm& stkm, std::string_view base_cid) {
  return ContentId(base_cid,
                   stkm.programme_flag ? stkm.programme_CID_extension : stkm.service_CID_extension);
}

Key128 EncryptTrafficKey(std::span<const std::uint8_t, 16> sek,
                         std::span<const std::uint8_t, 16> tek) {
  return Aes128EcbEncryptBlock(sek, tek);
}

Key128 DecryptTrafficKey(std::span<const std::uint8_t, 16> sek,
                         std::span<const std::uint8_t, 16> encrypted_tek) {
  return Aes128EcbDecryptBlock(sek, encrypted_tek);
}

Result<StkmKeys, StkmFailure> OpenStkmWithKey(std::span<const std::uint8_t> message,
                                              const Stkm& parsed, std::string content_id,
                                              const LongTermKey* key) {
  if (key == nullptr) return NoRights(std::move(content_id), "");
  if (key->key_domain_id != parsed.key_domain_id) {
    std::string why = ": the rights are for key domain " + DomainHex(key->key_domain_id) +
                      " but the STKM is from key domain " + DomainHex(parsed.key_domain_id);
    return NoRights(std::move(content_id), why);
  }
  if (key->programme != parsed.programme_flag) {
    std::string why = key->programme
                          ? ": the rights hold a programme key (PEK) but the STKM is for a service"
                          : ": the rights hold a service key (SEK) but the STKM is for a programme";
    return NoRights(std::move(content_id), why);
  }
  // Nothing is decrypted before the MAC holds: a forged STKM must not turn into a key.
  if (!VerifyStkmMac(message, key->authentication_key)) {
    StkmFailure f;
    f.code = StkmError::kBadMac;
    f.message = "MAC of the STKM for " + content_id + " does not verify with its " +
                (parsed.programme_flag ? "PAK" : "SAK");
    f.content_id = std::move(content_id);
    return f;
  }
  StkmKeys out;
  out.stkm = parsed;
  out.current =
      Decrypt(key->encryption_key, parsed.traffic_key_id, parsed.encrypted_traffic_key_material,
              parsed.master_salt_flag, parsed.master_salt);
  if (parsed.next_traffic_key_flag) {
    out.next = Decrypt(key->encryption_key, parsed.next_traffic_key_id,
                       parsed.next_encrypted_traffic_key_material, parsed.master_salt_flag,
                       parsed.next_master_salt);
  }
  out.content_id = std::move(content_id);
  return out;
}

}  // namespace spc
