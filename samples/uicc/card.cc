#include "samples/uicc/card.h"

#include <glib.h>

#include <algorithm>
#include <cstdio>

#include "spc/libspc/crypto.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/milenage.h"

namespace bcast::uicc {

using namespace spc::smartcard;

namespace {

std::uint64_t Sqn48(std::span<const std::uint8_t, 6> s) {
  std::uint64_t v = 0;
  for (auto b : s) v = v << 8 | b;
  return v;
}

template <std::size_t N>
bool GetHex(GKeyFile* kf, const char* group, const char* key, std::array<std::uint8_t, N>& out) {
  g_autofree gchar* v = g_key_file_get_string(kf, group, key, nullptr);
  return v && spc::HexDecodeInto(v, out);
}

std::string Fqdn(std::span<const std::uint8_t> naf_id) {
  // NAF_Id = FQDN ‖ 5-byte Ua security protocol identifier.
  const std::size_t n = naf_id.size() > 5 ? naf_id.size() - 5 : naf_id.size();
  return std::string(naf_id.begin(), naf_id.begin() + n);
}

}  // namespace

MukEntry::~MukEntry() { spc::Cleanse(key); }
MskEntry::~MskEntry() { spc::Cleanse(key); }
CardState::~CardState() {
  spc::Cleanse(k);
  spc::Cleanse(opc);
  spc::Cleanse(ks);
}

std::string MskMapKey(const KeyDomainId& domain, std::uint32_t msk_id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", msk_id);
  return spc::HexEncode(domain) + buf;
}

bool LoadCardState(const std::string& path, CardState& st, std::string& error) {
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) gerr = nullptr;
  if (!g_key_file_load_from_file(kf, path.c_str(), G_KEY_FILE_NONE, &gerr)) {
    error = gerr->message;
    return false;
  }
  if (!GetHex(kf, "card", "k", st.k) || !GetHex(kf, "card", "opc", st.opc) ||
      !GetHex(kf, "card", "sqn", st.sqn)) {
    error = "[card] needs k, opc (16 bytes hex) and sqn (6 bytes hex)";
    return false;
  }
  st.have_ks = GetHex(kf, "gba", "rand", st.gba_rand) && GetHex(kf, "gba", "ks", st.ks);
  gsize n = 0;
  g_auto(GStrv) groups = g_key_file_get_groups(kf, &n);
  for (gsize i = 0; i < n; ++i) {
    std::string g = groups[i];
    if (g.rfind("muk ", 0) == 0) {
      MukEntry& m = st.muks[g.substr(4)];
      g_autofree gchar* key = g_key_file_get_string(kf, groups[i], "key", nullptr);
      auto bytes = key ? spc::HexDecode(key) : std::nullopt;
      if (!bytes || bytes->empty()) {
        error = "[" + g + "] key is not hex";
        return false;
      }
      m.key = std::move(*bytes);
      m.counter =
          static_cast<std::uint32_t>(g_key_file_get_uint64(kf, groups[i], "counter", nullptr));
    } else if (g.rfind("msk ", 0) == 0) {
      MskEntry& m = st.msks[g.substr(4)];
      if (!GetHex(kf, groups[i], "key", m.key)) {
        error = "[" + g + "] key is not 16 bytes hex";
        return false;
      }
      m.counter =
          static_cast<std::uint32_t>(g_key_file_get_uint64(kf, groups[i], "counter", nullptr));
      g_autofree gchar* naf = g_key_file_get_string(kf, groups[i], "naf", nullptr);
      m.naf = naf ? naf : "";
      m.permissions =
          static_cast<std::uint8_t>(g_key_file_get_integer(kf, groups[i], "permissions", nullptr));
      GetHex(kf, groups[i], "not_before", m.not_before);
      GetHex(kf, groups[i], "not_after", m.not_after);
    }
  }
  return true;
}

bool SaveCardState(const std::string& path, const CardState& st, std::string& error) {
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_key_file_set_comment(kf, nullptr, nullptr,
                         " bcast-uicc card state: subscriber key, GBA_U Ks, MUKs, MSKs (secret)",
                         nullptr);
  g_key_file_set_string(kf, "card", "k", spc::HexEncode(st.k).c_str());
  g_key_file_set_string(kf, "card", "opc", spc::HexEncode(st.opc).c_str());
  g_key_file_set_string(kf, "card", "sqn", spc::HexEncode(st.sqn).c_str());
  if (st.have_ks) {
    g_key_file_set_string(kf, "gba", "rand", spc::HexEncode(st.gba_rand).c_str());
    g_key_file_set_string(kf, "gba", "ks", spc::HexEncode(st.ks).c_str());
  }
  for (const auto& [naf, m] : st.muks) {
    const std::string g = "muk " + naf;
    g_key_file_set_string(kf, g.c_str(), "key", spc::HexEncode(m.key).c_str());
    g_key_file_set_uint64(kf, g.c_str(), "counter", m.counter);
  }
  for (const auto& [id, m] : st.msks) {
    const std::string g = "msk " + id;
    g_key_file_set_string(kf, g.c_str(), "key", spc::HexEncode(m.key).c_str());
    g_key_file_set_uint64(kf, g.c_str(), "counter", m.counter);
    g_key_file_set_string(kf, g.c_str(), "naf", m.naf.c_str());
    g_key_file_set_integer(kf, g.c_str(), "permissions", m.permissions);
    g_key_file_set_string(kf, g.c_str(), "not_before", spc::HexEncode(m.not_before).c_str());
    g_key_file_set_string(kf, g.c_str(), "not_after", spc::HexEncode(m.not_after).c_str());
  }
  gsize len = 0;
  g_autofree gchar* data = g_key_file_to_data(kf, &len, nullptr);
  g_autoptr(GError) gerr = nullptr;
  const bool ok = g_file_set_contents_full(path.c_str(), data, static_cast<gssize>(len),
                                           G_FILE_SET_CONTENTS_CONSISTENT, 0600, &gerr);
  spc::Cleanse(data, len);
  if (!ok) error = gerr->message;
  return ok;
}

Card::Card(CardState state, std::string state_path)
    : state_(std::move(state)), state_path_(std::move(state_path)) {}

bool Card::Persist() {
  if (state_path_.empty()) return true;
  std::string error;
  if (SaveCardState(state_path_, state_, error)) return true;
  std::fprintf(stderr, "bcast-uicc: cannot save card state: %s\n", error.c_str());
  return false;
}

Card::Response Card::Fail(std::uint16_t sw, std::string why) {
  last_event_ = std::move(why);
  return {{}, sw};
}

std::vector<std::uint8_t> Card::Process(std::span<const std::uint8_t> command) {
  Response r;
  auto cmd = ParseCommandApdu(command);
  if (!cmd) {
    r = Fail(kSwWrongLength, "malformed command APDU: " + cmd.error().field + " at offset " +
                                 std::to_string(cmd.error().offset) + ": " + cmd.error().message);
  } else {
    auto req = ParseAuthenticateCommand(*cmd);
    if (!req) {
      const auto& e = req.error();
      const std::uint16_t sw = e.field == "CLA"    ? kSwClaNotSupported
                               : e.field == "INS"  ? kSwInsNotSupported
                               : e.field == "P1P2" ? kSwWrongP1P2
                               : e.field == "Lc"   ? kSwWrongLength
                                                   : kSwWrongData;
      r = Fail(sw, "refused command: " + e.field + " at offset " + std::to_string(e.offset) + ": " +
                       e.message);
    } else {
      switch (req->kind) {
        case AuthenticateRequest::Kind::kGbaBootstrap:
          r = GbaBootstrap(*req);
          break;
        case AuthenticateRequest::Kind::kGbaNafDerivation:
          r = GbaNaf(*req);
          break;
        case AuthenticateRequest::Kind::kMskUpdate:
          r = MskUpdate(*req);
          break;
        case AuthenticateRequest::Kind::kMtkGeneration:
          r = MtkGeneration(*req);
          break;
        case AuthenticateRequest::Kind::kMskDeletion:
          r = MskDeletion(*req);
          break;
      }
    }
  }
  auto out = WriteResponseApdu(r.first, r.second);
  spc::Cleanse(r.first);
  return out;
}

Card::Response Card::GbaBootstrap(const AuthenticateRequest& r) {
  MilenageF2345Out f = MilenageF2345(state_.k, state_.opc, r.rand);
  Sqn sqn{};
  for (int i = 0; i < 6; ++i) sqn[i] = r.autn[i] ^ f.ak[i];
  const Amf amf{r.autn[6], r.autn[7]};
  MilenageF1Out f1 = MilenageF1(state_.k, state_.opc, r.rand, sqn, amf);
  if (!spc::ConstantTimeEqual(f1.mac_a, std::span<const std::uint8_t>(r.autn).subspan(8, 8))) {
    return Fail(kSwBadMac, "GBA bootstrap: AUTN MAC does not verify");
  }
  if (Sqn48(sqn) <= Sqn48(state_.sqn)) {
    Auts auts = MilenageMakeAuts(state_.k, state_.opc, r.rand, state_.sqn);
    last_event_ = "GBA bootstrap: SQN not fresh, synchronisation failure (AUTS)";
    return {MakeGbaSyncFailureResponse(auts), kSwOk};
  }
  state_.sqn = sqn;
  state_.have_ks = true;
  state_.gba_rand = r.rand;
  state_.ks = GbaKs(f.ck, f.ik);
  if (!Persist()) return Fail(kSwNoMemoryMuk, "GBA bootstrap: state not saved");
  last_event_ = "GBA bootstrap: ok";
  return {MakeGbaBootstrapResponse(f.res), kSwOk};
}

Card::Response Card::GbaNaf(const AuthenticateRequest& r) {
  if (!state_.have_ks) {
    return Fail(kSwConditionsNotSatisfied, "GBA NAF derivation: no bootstrapping yet");
  }
  GbaKey ext = GbaNafKey(state_.ks, GbaNafKeyKind::kExt, state_.gba_rand, r.impi, r.naf_id);
  GbaKey in = GbaNafKey(state_.ks, GbaNafKeyKind::kInt, state_.gba_rand, r.impi, r.naf_id);
  const std::string naf = Fqdn(r.naf_id);
  auto it = state_.muks.find(naf);
  if (it == state_.muks.end() && state_.muks.size() >= kMaxMuks) {
    spc::Cleanse(in);
    spc::Cleanse(ext);
    return Fail(kSwNoMemoryMuk, "GBA NAF derivation: no room for another MUK");
  }
  MukEntry& m = state_.muks[naf];
  const bool same = m.key.size() == in.size() && std::equal(in.begin(), in.end(), m.key.begin());
  if (!same) {
    m.key.assign(in.begin(), in.end());
    m.counter = 0;  // a new MUK: MSK messages under it count from scratch
  }
  spc::Cleanse(in);
  if (!Persist()) {
    spc::Cleanse(ext);
    return Fail(kSwNoMemoryMuk, "GBA NAF derivation: state not saved");
  }
  last_event_ = "GBA NAF derivation: MUK for " + naf;
  auto out = MakeGbaNafResponse(ext);
  spc::Cleanse(ext);
  return {out, kSwOk};
}

Card::Response Card::MskUpdate(const AuthenticateRequest& r) {
  auto msg = ParseMikey(r.mikey);
  if (!msg) {
    return Fail(kSwWrongData, "MSK update: malformed MIKEY: " + msg.error().field + " at offset " +
                                  std::to_string(msg.error().offset) + ": " + msg.error().message);
  }
  if (msg->data_type != kMikeyDataTypePsk || msg->key_id.type != MikeyKeyIdType::kMsk) {
    return Fail(kSwWrongData, "MSK update: not an MSK message");
  }
  // The MUK is named by IDi (the BSM's FQDN); without IDi, the only MUK.
  MukEntry* muk = nullptr;
  std::string naf;
  if (msg->idi) {
    auto it = state_.muks.find(msg->idi->value);
    if (it != state_.muks.end()) {
      naf = it->first;
      muk = &it->second;
    }
  } else if (state_.muks.size() == 1) {
    naf = state_.muks.begin()->first;
    muk = &state_.muks.begin()->second;
  }
  if (!muk) return Fail(kSwKeyNotFound, "MSK update: no MUK for this NAF");
  auto kd = OpenMikeyKemac(*msg, muk->key);
  if (!kd && kd.error().code == MikeyOpenError::kBadMac) {
    return Fail(kSwBadMac, "MSK update: MAC does not verify");
  }
  if (msg->counter <= muk->counter) {
    return Fail(kSwKeyFreshness, "MSK update: counter " + std::to_string(msg->counter) +
                                     " not above " + std::to_string(muk->counter));
  }
  if (!kd) {
    return Fail(kSwWrongData, std::string("MSK update: ") + MikeyOpenErrorName(kd.error().code) +
                                  ": " + kd.error().detail.message);
  }
  const std::string id = MskMapKey(msg->key_id.key_domain, msg->key_id.msk_id);
  if (!state_.msks.count(id)) {
    // At most two MSKs per key domain and key group: a newer MSK ID replaces the oldest.
    const std::string group_prefix = id.substr(0, 10);
    std::vector<std::string> same_group;
    for (const auto& [k, v] : state_.msks) {
      if (k.compare(0, 10, group_prefix) == 0) same_group.push_back(k);
    }
    if (same_group.size() >= kMaxMsksPerGroup) {
      if (same_group.front() > id) {
        return Fail(kSwNoMemoryMsk, "MSK update: key group full of newer MSKs");
      }
      state_.msks.erase(same_group.front());
    }
  }
  MskEntry& e = state_.msks[id];
  std::copy_n(kd->key.begin(), 16, e.key.begin());
  e.naf = naf;
  if (msg->ltkm_ext) {
    e.permissions = msg->ltkm_ext->permissions;
    e.not_before = msg->ltkm_ext->not_before;
    e.not_after = msg->ltkm_ext->not_after;
  }
  muk->counter = msg->counter;
  if (!Persist()) return Fail(kSwNoMemoryMsk, "MSK update: state not saved");
  last_event_ = "MSK update: MSK " + id.substr(6) + " stored";
  std::vector<std::uint8_t> verification;
  if (msg->v) verification = WriteMikeyVerification(*msg, muk->key);
  return {MakeMskUpdateResponse(verification), kSwOk};
}

Card::Response Card::MtkGeneration(const AuthenticateRequest& r) {
  auto msg = ParseMikey(r.mikey);
  if (!msg) {
    return Fail(kSwWrongData, "MTK generation: malformed MIKEY: " + msg.error().field +
                                  " at offset " + std::to_string(msg.error().offset) + ": " +
                                  msg.error().message);
  }
  if (msg->data_type != kMikeyDataTypePsk || msg->key_id.type != MikeyKeyIdType::kMtk) {
    return Fail(kSwWrongData, "MTK generation: not an MTK message");
  }
  const std::string id = MskMapKey(msg->key_id.key_domain, msg->key_id.msk_id);
  auto it = state_.msks.find(id);
  // Without the MSK the MAC cannot be checked: "key not found" tells the terminal to fetch it.
  if (it == state_.msks.end())
    return Fail(kSwKeyNotFound, "MTK generation: MSK " + id.substr(6) + " not held");
  MskEntry& msk = it->second;
  auto kd = OpenMikeyKemac(*msg, msk.key);
  if (!kd && kd.error().code == MikeyOpenError::kBadMac) {
    return Fail(kSwBadMac, "MTK generation: MAC does not verify");
  }
  if (msg->counter <= msk.counter) {
    return Fail(kSwKeyFreshness, "MTK generation: counter " + std::to_string(msg->counter) +
                                     " not above " + std::to_string(msk.counter));
  }
  if (!kd) {
    return Fail(kSwWrongData, std::string("MTK generation: ") +
                                  MikeyOpenErrorName(kd.error().code) + ": " +
                                  kd.error().detail.message);
  }
  msk.counter = msg->counter;
  if (!Persist()) return Fail(kSwNoMemoryMsk, "MTK generation: state not saved");
  std::array<std::uint8_t, 16> mtk{};
  std::array<std::uint8_t, 14> salt{};
  std::copy_n(kd->key.begin(), 16, mtk.begin());
  if (kd->salt.size() == 14) std::copy_n(kd->salt.begin(), 14, salt.begin());
  auto out = MakeMtkResponse(mtk, salt);
  spc::Cleanse(mtk);
  spc::Cleanse(salt);
  last_event_ =
      "MTK generation: MTK " + std::to_string(msg->key_id.mtk_id) + " of MSK " + id.substr(6);
  return {out, kSwOk};
}

Card::Response Card::MskDeletion(const AuthenticateRequest& r) {
  char group[8];
  std::snprintf(group, sizeof group, "%04x", r.key_group);
  const std::string prefix = spc::HexEncode(r.key_domain) + group;
  std::size_t erased = 0;
  for (auto it = state_.msks.begin(); it != state_.msks.end();) {
    if (it->first.compare(0, prefix.size(), prefix) == 0) {
      it = state_.msks.erase(it);
      ++erased;
    } else {
      ++it;
    }
  }
  if (erased == 0) return Fail(kSwKeyNotFound, "MSK deletion: no MSK in key group " + prefix);
  if (!Persist()) return Fail(kSwNoMemoryMsk, "MSK deletion: state not saved");
  last_event_ = "MSK deletion: " + std::to_string(erased) + " MSK(s) of key group " + prefix;
  return {MakeMskDeletionResponse(), kSwOk};
}

}  // namespace bcast::uicc
