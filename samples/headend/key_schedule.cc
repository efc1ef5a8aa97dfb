#include "samples/headend/key_schedule.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <span>

#include "spc/libspc/key_file.h"

namespace headend {
namespace {

// Keys and salts only come from the CSPRNG; a failing RAND_bytes means a broken OpenSSL and no
// key may be made from whatever the buffer holds.
void Random(std::span<std::uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) std::abort();
}

}  // namespace

std::uint16_t NextTekId(std::uint16_t id) { return NextTekId(id, 1); }

std::uint16_t NextTekId(std::uint16_t id, unsigned stride) {
  if (stride == 0) stride = 1;
  const auto next = static_cast<std::uint16_t>((id + stride) & 0xffff);
  return next == 0 ? static_cast<std::uint16_t>(stride) : next;
}

KeySchedule::KeySchedule(Config config) : config_(std::move(config)) {
  if (config_.first_tek_id == 0) config_.first_tek_id = 1;
  if (config_.tek_period_s == 0) config_.tek_period_s = 1;
  current_ = RandomTek(config_.first_tek_id);
  next_ = RandomTek(NextTekId(current_.id, config_.id_stride));
}

KeySchedule::~KeySchedule() {
  OPENSSL_cleanse(&current_, sizeof current_);
  OPENSSL_cleanse(&next_, sizeof next_);
  OPENSSL_cleanse(&config_.service_key, sizeof config_.service_key);
}

spc::TrafficKey KeySchedule::RandomTek(std::uint16_t id) const {
  spc::TrafficKey k;
  k.id = id;
  Random(k.key);
  if (srtp()) Random(k.salt);
  return k;
}

void KeySchedule::Rotate() {
  current_ = next_;
  next_ = RandomTek(NextTekId(current_.id, config_.id_stride));
}

void KeySchedule::SetServiceKey(const spc::LongTermKey& service_key, std::uint32_t cid_extension) {
  config_.service_key = service_key;
  config_.cid_extension = cid_extension;
}

std::uint16_t KeySchedule::tek_lifetime_s() const {
  const unsigned lifetime = 2 * config_.tek_period_s + 5;
  return static_cast<std::uint16_t>(std::min<unsigned>(lifetime, 0xffff));
}

spc::Stkm KeySchedule::BaseStkm(std::uint64_t unix_time) const {
  spc::Stkm s;
  s.protocol_version = 1;
  s.protection_after_reception = config_.protection_after_reception & 0x03;
  if (config_.parental_rating != 0) {
    s.access_criteria_flag = true;
    s.access_criteria.push_back({spc::kAccessCriteriaParentalRating, {config_.parental_rating}});
  }
  s.master_salt_flag = srtp();
  s.traffic_protection_protocol = static_cast<std::uint8_t>(config_.protocol);
  s.traffic_authentication_flag = config_.traffic_authentication;
  s.next_traffic_key_flag = true;
  s.timestamp_flag = true;
  s.service_flag = true;
  s.programme_flag = false;
  s.key_domain_id = config_.service_key.key_domain_id & 0xffffff;
  s.service_CID_extension = config_.cid_extension;
  s.traffic_key_id = current_.id;
  s.traffic_key_lifetime = tek_lifetime_s();
  s.timestamp = unix_time & 0xffffffffffULL;
  s.master_salt = current_.salt;
  s.encrypted_traffic_key_material =
      spc::EncryptTrafficKey(config_.service_key.encryption_key, current_.key);
  s.next_traffic_key_id = next_.id;
  s.next_encrypted_traffic_key_material =
      spc::EncryptTrafficKey(config_.service_key.encryption_key, next_.key);
  s.next_master_salt = next_.salt;
  return s;
}

std::vector<std::uint8_t> KeySchedule::MakeStkm(std::uint64_t unix_time) const {
  std::vector<std::uint8_t> msg =
      spc::WriteStkm(BaseStkm(unix_time), config_.service_key.authentication_key);
  if (config_.bad_mac && !msg.empty()) msg.back() ^= 0xa5;
  return msg;
}

std::vector<std::uint8_t> KeySchedule::MakeForgedStkm(std::uint64_t unix_time) const {
  spc::Stkm s = BaseStkm(unix_time);
  Random(s.encrypted_traffic_key_material);
  Random(s.next_encrypted_traffic_key_material);
  std::vector<std::uint8_t> msg = spc::WriteStkm(s, config_.service_key.authentication_key);
  // The forger has no SAK: the MAC it can offer never matches.
  msg.back() ^= 0x5a;
  return msg;
}

std::vector<std::uint8_t> KeySchedule::MakeForeignStkm(std::uint64_t unix_time) const {
  spc::Stkm s = BaseStkm(unix_time);
  s.service_CID_extension = config_.cid_extension + 1;
  spc::Key128 sek{}, sak{}, tek{};
  Random(sek);
  Random(sak);
  Random(tek);
  s.encrypted_traffic_key_material = spc::EncryptTrafficKey(sek, tek);
  Random(tek);
  s.next_encrypted_traffic_key_material = spc::EncryptTrafficKey(sek, tek);
  auto msg = spc::WriteStkm(s, sak);
  OPENSSL_cleanse(sek.data(), sek.size());
  OPENSSL_cleanse(sak.data(), sak.size());
  OPENSSL_cleanse(tek.data(), tek.size());
  return msg;
}

std::string MakeRandomKeyFile(const std::string& content_id, std::uint32_t key_domain_id) {
  spc::LongTermKey key;
  key.key_domain_id = key_domain_id & 0xffffff;
  key.programme = false;
  Random(key.encryption_key);
  Random(key.authentication_key);
  spc::KeyTable table;
  table.emplace(content_id, key);
  std::string text = spc::WriteKeyFile(table);
  OPENSSL_cleanse(&key, sizeof key);
  return text;
}

}  // namespace headend
