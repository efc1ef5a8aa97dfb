// The Headend's Smartcard Profile half (--profile smartcard): MIKEY MTK messages on the key stream
// instead of STKMs, SRTP keyed by MTK + salt with MKI = MSK ID ‖ MTK ID, the BSF and BSM, MSK
// changes and the key-stream faults. headend.cc calls these from its Setup/SendStkm/RotateTek.
#include <csignal>
#include <cstdio>
#include <ctime>

#include "samples/headend/headend.h"
#include "spc/libspc/hex.h"

namespace headend {
namespace {

void Event(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string Hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

bcast::srtp::SrtpAuth SenderAuth(SrtpAuth a) {
  switch (a) {
    case SrtpAuth::kHmacSha1_80:
      return bcast::srtp::SrtpAuth::kHmacSha1_80;
    case SrtpAuth::kHmacSha1_32:
      return bcast::srtp::SrtpAuth::kHmacSha1_32;
    case SrtpAuth::kNull:
      return bcast::srtp::SrtpAuth::kNull;
  }
  return bcast::srtp::SrtpAuth::kHmacSha1_80;
}

}  // namespace

bool Headend::SetupSmartcard(std::string* error) {
  MikeyKeyStream::Config config;
  config.key_domain = {static_cast<std::uint8_t>(options_.key_domain_id >> 16),
                       static_cast<std::uint8_t>(options_.key_domain_id >> 8),
                       static_cast<std::uint8_t>(options_.key_domain_id)};
  config.first_msk_id = options_.smartcard.msk_id;
  config.first_mtk_id = options_.first_tek_id;
  config.protection_after_reception =
      static_cast<std::uint8_t>(options_.protection_after_reception);
  config.traffic_authentication = options_.auth != SrtpAuth::kNull;
  config.parental_rating = static_cast<std::uint8_t>(options_.parental_rating);
  // A card refuses MTK messages whose counter is not above the last it accepted for the MSK;
  // counting from the time keeps a restarted head-end above its earlier self.
  config.first_counter = static_cast<std::uint32_t>(std::time(nullptr));
  smartcard_ = SmartcardService::Create(options_.smartcard, config, error);
  if (!smartcard_) return false;
  // The MBMS user service terminals register to before their MSK requests (TS 33.246 §6.3.2.1).
  smartcard_->bsm().AddService(options_.base_cid);

  KeyStreamOut ks;
  ks.id = "1";
  ks.port = options_.key_port;
  key_streams_.push_back(std::move(ks));

  const SmartcardOptions& o = options_.smartcard;
  SmartcardService& sc = *smartcard_;
  if (o.msk_period_s > 0) sc.AddPeriodic(o.msk_period_s, [this] { ChangeMsk("period"); });
  if (o.replay_mtk_at_s > 0) {
    sc.AddOneShot(o.replay_mtk_at_s, [this] { SendMtkFault(MtkFault::kReplay); });
  }
  if (o.bad_mtk_mac_at_s > 0) {
    sc.AddOneShot(o.bad_mtk_mac_at_s, [this] { SendMtkFault(MtkFault::kBadMac); });
  }
  if (o.new_msk_at_s > 0) {
    sc.AddOneShot(o.new_msk_at_s, [this] { SendMtkFault(MtkFault::kNewMsk); });
  }
  sc.AddSignal(SIGUSR1, [this] { SendMtkFault(MtkFault::kReplay); });
  sc.AddSignal(SIGUSR2, [this] { SendMtkFault(MtkFault::kBadMac); });
  sc.AddSignal(SIGHUP, [this] { SendMtkFault(MtkFault::kNewMsk); });
  Event("smartcard ready bsf=" + sc.bsf().url() + " bsm=" + sc.bsm().url() +
        " key-domain=" + spc::HexEncode(config.key_domain) + " msk=" + Hex32(sc.keys().msk().id));
  return true;
}

bool Headend::SetupSmartcardSender(OutStream& s, std::string* error) {
  const MikeyKeyStream& keys = smartcard_->keys();
  s.sender = std::make_unique<bcast::srtp::SrtpSender>(
      SenderAuth(options_.auth), 6, static_cast<bcast::srtp::RccMode>(options_.rcc_mode),
      static_cast<std::uint16_t>(options_.roc_tx_rate));
  s.sender->SetRoc(s.ssrc, options_.initial_roc);
  const bool authenticated = options_.auth != SrtpAuth::kNull;
  for (const MtkEntry* m : {&keys.current(), &keys.next()}) {
    const auto mki = m->mki();
    if (!s.sender->AddKey(m->mtk_id, m->key, m->salt, authenticated, mki)) {
      *error = "SRTP sender refused MTK " + std::to_string(m->mtk_id);
      return false;
    }
  }
  s.tek_id = keys.current().mtk_id;
  return true;
}

void Headend::SendSmartcardKeyMessages(const KeyStreamOut& ks) {
  MikeyKeyStream& keys = smartcard_->keys();
  // One MIKEY message per datagram: the MTK in use first, then the announced one.
  SendKeyDatagram(ks, keys.MakeMessage(false));
  SendKeyDatagram(ks, keys.MakeMessage(true));
}

void Headend::AnnounceSmartcardMtk() {
  const MikeyKeyStream& keys = smartcard_->keys();
  Event("mtk id=" + std::to_string(keys.current().mtk_id) + " msk=" + Hex32(keys.current().msk_id) +
        " next=" + std::to_string(keys.next().mtk_id) + " next-msk=" + Hex32(keys.next().msk_id));
}

void Headend::UpdateSmartcardSenders(std::uint16_t remove_id) {
  const MikeyKeyStream& keys = smartcard_->keys();
  const bool authenticated = options_.auth != SrtpAuth::kNull;
  const MtkEntry& next = keys.next();
  const auto mki = next.mki();
  for (auto& s : streams_) {
    if (!s.sender) continue;
    std::lock_guard lock(s.mutex);
    s.tek_id = keys.current().mtk_id;
    if (!s.sender->AddKey(next.mtk_id, next.key, next.salt, authenticated, mki)) {
      std::fprintf(stderr, "bcast-headend: SRTP sender refused MTK %u\n", next.mtk_id);
      Quit(1);
      return;
    }
    if (remove_id != 0 && remove_id != next.mtk_id && remove_id != s.tek_id) {
      s.sender->RemoveKey(remove_id);
    }
  }
}

void Headend::RotateSmartcardMtk() {
  MikeyKeyStream& keys = smartcard_->keys();
  const std::uint16_t old_id = keys.current().mtk_id;
  keys.Rotate();
  UpdateSmartcardSenders(old_id);
  AnnounceSmartcardMtk();
  // The new next MTK goes out at once rather than up to one interval later.
  if (!key_streams_.empty()) SendSmartcardKeyMessages(key_streams_.front());
}

void Headend::ChangeMsk(const char* why) {
  const MskEntry& msk = smartcard_->keys().NewMsk();
  // The announced MTK was made anew under the new MSK (same MTK ID): replace it in the senders
  // before any packet uses it.
  UpdateSmartcardSenders(0);
  Event("msk id=" + Hex32(msk.id) + " reason=" + why);
  AnnounceSmartcardMtk();
  if (!key_streams_.empty()) SendSmartcardKeyMessages(key_streams_.front());
}

void Headend::SendMtkFault(MtkFault fault) {
  if (key_streams_.empty()) return;
  MikeyKeyStream& keys = smartcard_->keys();
  switch (fault) {
    case MtkFault::kReplay: {
      const std::vector<std::uint8_t> m = keys.ReplayedMessage();
      if (m.empty()) return;
      SendKeyDatagram(key_streams_.front(), m);
      Event("mtk-fault replay sent");
      return;
    }
    case MtkFault::kBadMac:
      SendKeyDatagram(key_streams_.front(), keys.MakeBadMacMessage());
      Event("mtk-fault bad-mac sent");
      return;
    case MtkFault::kNewMsk:
      Event("mtk-fault new-msk sent");
      ChangeMsk("fault");
      return;
  }
}

}  // namespace headend
