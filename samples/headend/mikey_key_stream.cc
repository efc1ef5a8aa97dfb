#include "samples/headend/mikey_key_stream.h"

#include "samples/headend/key_schedule.h"
#include "spc/libspc/crypto.h"

namespace headend {

namespace sc = spc::smartcard;

MikeyKeyStream::MikeyKeyStream(Config config) : config_(config) {
  counter_ = config_.first_counter == 0 ? 0 : config_.first_counter - 1;
  MskEntry msk;
  msk.id = config_.first_msk_id;
  spc::RandomBytes(msk.key);
  msks_.push_back(msk);
  spc::Cleanse(msk.key);
  current_ = MakeMtk(config_.first_mtk_id, msks_.back().id);
  next_ = MakeMtk(NextTekId(config_.first_mtk_id), msks_.back().id);
}

MikeyKeyStream::~MikeyKeyStream() {
  for (auto& m : msks_) spc::Cleanse(m.key);
  for (MtkEntry* m : {&current_, &next_}) {
    spc::Cleanse(m->key);
    spc::Cleanse(m->salt);
  }
}

const MskEntry* MikeyKeyStream::FindMsk(std::uint32_t msk_id) const {
  for (const auto& m : msks_) {
    if (m.id == msk_id) return &m;
  }
  return nullptr;
}

MtkEntry MikeyKeyStream::MakeMtk(std::uint16_t id, std::uint32_t msk_id) const {
  MtkEntry m;
  m.msk_id = msk_id;
  m.mtk_id = id;
  spc::RandomBytes(m.key);
  spc::RandomBytes(m.salt);
  return m;
}

void MikeyKeyStream::Rotate() {
  current_ = next_;
  next_ = MakeMtk(NextTekId(current_.mtk_id), msks_.back().id);
}

const MskEntry& MikeyKeyStream::NewMsk() {
  MskEntry msk;
  const std::uint32_t group = msks_.back().id & 0xffff0000u;
  std::uint16_t low = static_cast<std::uint16_t>(msks_.back().id + 1);
  if (low == 0) low = 1;  // MSK ID 0 in a key group is not used
  msk.id = group | low;
  spc::RandomBytes(msk.key);
  msks_.push_back(msk);
  spc::Cleanse(msk.key);
  // The card holds at most two MSKs per key group; so does the BSM.
  while (msks_.size() > 2) {
    spc::Cleanse(msks_.front().key);
    msks_.erase(msks_.begin());
  }
  next_ = MakeMtk(next_.mtk_id, msks_.back().id);
  return msks_.back();
}

std::vector<std::uint8_t> MikeyKeyStream::Write(const MtkEntry& mtk) {
  const MskEntry* msk = FindMsk(mtk.msk_id);
  if (msk == nullptr) return {};
  sc::BcastStkmExt ext;
  ext.protection_after_reception = config_.protection_after_reception;
  ext.traffic_protection_protocol = 1;  // SRTP
  ext.traffic_authentication_flag = config_.traffic_authentication ? 1 : 0;
  if (config_.parental_rating != 0)
    ext.access_criteria.push_back({0x01, {config_.parental_rating}});
  return sc::MakeMikeyMtkMessage(config_.key_domain, mtk.msk_id, mtk.mtk_id, ++counter_, mtk.key,
                                 mtk.salt, msk->key, ext);
}

std::vector<std::uint8_t> MikeyKeyStream::MakeMessage(bool next) {
  std::vector<std::uint8_t> m = Write(next ? next_ : current_);
  sent_.push_back(m);
  if (sent_.size() > kReplayDepth) sent_.pop_front();
  return m;
}

std::vector<std::uint8_t> MikeyKeyStream::ReplayedMessage() const {
  return sent_.empty() ? std::vector<std::uint8_t>{} : sent_.front();
}

std::vector<std::uint8_t> MikeyKeyStream::MakeBadMacMessage() {
  // For an MTK not announced yet: a terminal that skips messages of MTKs it already holds still
  // hands this one to its card.
  MtkEntry future = MakeMtk(NextTekId(next_.mtk_id), msks_.back().id);
  std::vector<std::uint8_t> m = Write(future);
  spc::Cleanse(future.key);
  spc::Cleanse(future.salt);
  // The MAC is the message's last 20 bytes.
  if (!m.empty()) m.back() ^= 0x01;
  return m;
}

}  // namespace headend
