#include "spc/libspc/smartcard/gba_ub.h"

#include <glib.h>

#include <cstdio>

#include "spc/libspc/crypto.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/smartcard/milenage.h"

namespace spc::smartcard {
namespace {

std::array<std::uint8_t, 6> SqnBytes(std::uint64_t sqn) {
  std::array<std::uint8_t, 6> s{};
  for (int i = 0; i < 6; ++i) s[i] = static_cast<std::uint8_t>(sqn >> (40 - 8 * i));
  return s;
}

std::uint64_t SqnValue(std::span<const std::uint8_t, 6> s) {
  std::uint64_t v = 0;
  for (auto b : s) v = v << 8 | b;
  return v;
}

std::string Base64(std::span<const std::uint8_t> b) {
  gchar* s = g_base64_encode(b.data(), b.size());
  std::string out(s);
  g_free(s);
  return out;
}

std::string RandomHex(std::size_t n) {
  std::vector<std::uint8_t> b(n);
  RandomBytes(b);
  return HexEncode(b);
}

}  // namespace

const char* BsfErrorName(BsfError e) {
  switch (e) {
    case BsfError::kUnknownSubscriber:
      return "unknown-subscriber";
    case BsfError::kNoChallenge:
      return "no-challenge";
    case BsfError::kBadResponse:
      return "bad-response";
    case BsfError::kBadAuts:
      return "bad-auts";
    case BsfError::kMalformed:
      return "malformed";
    case BsfError::kUnknownBtid:
      return "unknown-btid";
  }
  return "unknown";
}

NafKeys::~NafKeys() {
  Cleanse(ks_int_naf);
  Cleanse(ks_ext_naf);
}

Bsf::Bsf(std::string name, std::chrono::seconds key_lifetime)
    : name_(std::move(name)), lifetime_(key_lifetime) {}

Bsf::~Bsf() {
  for (auto& [k, s] : subscribers_) {
    Cleanse(s.k);
    Cleanse(s.opc);
  }
  for (auto& [k, p] : pending_) Cleanse(p.ks);
  for (auto& [k, s] : sessions_) Cleanse(s.ks);
}

void Bsf::AddSubscriber(const std::string& impi, const Subscriber& s) { subscribers_[impi] = s; }

std::optional<std::uint64_t> Bsf::SubscriberSqn(const std::string& impi) const {
  auto it = subscribers_.find(impi);
  if (it == subscribers_.end()) return std::nullopt;
  return it->second.sqn;
}

Result<std::size_t> Bsf::LoadSubscribers(const std::string& path) {
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) err = nullptr;
  if (!g_key_file_load_from_file(kf, path.c_str(), G_KEY_FILE_NONE, &err)) {
    return ParseError{err->message, path, 0};
  }
  gsize n = 0;
  g_auto(GStrv) groups = g_key_file_get_groups(kf, &n);
  for (gsize i = 0; i < n; ++i) {
    Subscriber s;
    g_autofree gchar* k = g_key_file_get_string(kf, groups[i], "k", nullptr);
    g_autofree gchar* opc = g_key_file_get_string(kf, groups[i], "opc", nullptr);
    g_autofree gchar* op = g_key_file_get_string(kf, groups[i], "op", nullptr);
    if (!k || !HexDecodeInto(k, s.k)) {
      return ParseError{"k is not 32 hex digits", std::string(groups[i]) + ".k", 0};
    }
    if (opc && HexDecodeInto(opc, s.opc)) {
    } else if (std::array<std::uint8_t, 16> o{}; op && HexDecodeInto(op, o)) {
      s.opc = MilenageOpc(s.k, o);
    } else {
      return ParseError{"needs opc or op (32 hex digits)", std::string(groups[i]) + ".opc", 0};
    }
    s.sqn = g_key_file_get_uint64(kf, groups[i], "sqn", nullptr);
    subscribers_[groups[i]] = s;
  }
  return static_cast<std::size_t>(n);
}

Result<std::string, BsfFailure> Bsf::Challenge(const std::string& impi) {
  auto it = subscribers_.find(impi);
  if (it == subscribers_.end()) {
    return BsfFailure{BsfError::kUnknownSubscriber, "no subscriber " + impi};
  }
  Subscriber& s = it->second;
  s.sqn = (s.sqn + 1) & 0xFFFFFFFFFFFFull;
  Pending p;
  RandomBytes(p.rand);
  const Amf amf{0x80, 0x00};  // separation bit set, as for non-EPS use
  Autn autn = MilenageMakeAutn(s.k, s.opc, p.rand, SqnBytes(s.sqn), amf);
  MilenageF2345Out f = MilenageF2345(s.k, s.opc, p.rand);
  p.xres.assign(f.res.begin(), f.res.end());
  p.ks = GbaKs(f.ck, f.ik);
  p.nonce = AkaNonce(p.rand, autn);
  const std::string header = FormatDigestHeader({{"realm", name_},
                                                 {"nonce", p.nonce},
                                                 {"algorithm", "AKAv1-MD5"},
                                                 {"qop", "auth-int"},
                                                 {"opaque", RandomHex(8)}});
  pending_[impi] = std::move(p);
  return header;
}

Result<BsfOutcome, BsfFailure> Bsf::Authenticate(std::string_view authorization,
                                                 std::string_view method, std::string_view uri,
                                                 std::string_view body,
                                                 std::chrono::system_clock::time_point now) {
  auto params = ParseDigestParams(authorization);
  if (!params) {
    return BsfFailure{BsfError::kMalformed, "Authorization: " + params.error().message};
  }
  auto get = [&](const char* k) -> std::string {
    auto it = params->find(k);
    return it == params->end() ? std::string() : it->second;
  };
  const std::string impi = get("username");
  auto sub = subscribers_.find(impi);
  if (sub == subscribers_.end()) {
    return BsfFailure{BsfError::kUnknownSubscriber, "no subscriber " + impi};
  }
  auto pit = pending_.find(impi);
  if (pit == pending_.end() || pit->second.nonce != get("nonce")) {
    return BsfFailure{BsfError::kNoChallenge, "no pending challenge with this nonce"};
  }
  Pending& p = pit->second;
  const std::string qop = get("qop");
  const std::string auts_b64 = get("auts");
  // RFC 3310 §3.4: with auts the password is empty, otherwise it is RES.
  const std::span<const std::uint8_t> password =
      auts_b64.empty() ? std::span<const std::uint8_t>(p.xres) : std::span<const std::uint8_t>();
  const std::string expected = DigestResponse(impi, password, get("realm"), method, uri, p.nonce,
                                              get("nc"), get("cnonce"), qop, body);
  if (get("realm") != name_ || get("uri") != uri ||
      !ConstantTimeEqual(
          std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(expected.data()),
                                        expected.size()),
          std::span<const std::uint8_t>(
              reinterpret_cast<const std::uint8_t*>(get("response").data()),
              get("response").size()))) {
    pending_.erase(pit);
    return BsfFailure{BsfError::kBadResponse, "digest response does not verify"};
  }
  if (!auts_b64.empty()) {
    gsize len = 0;
    guchar* raw = g_base64_decode(auts_b64.c_str(), &len);
    std::array<std::uint8_t, 14> auts{};
    const bool sized = len == auts.size();
    if (sized) std::copy_n(raw, auts.size(), auts.begin());
    g_free(raw);
    Sqn sqn_ms{};
    if (!sized || !MilenageResync(sub->second.k, sub->second.opc, p.rand, auts, sqn_ms)) {
      pending_.erase(pit);
      return BsfFailure{BsfError::kBadAuts, "AUTS does not verify"};
    }
    sub->second.sqn = SqnValue(sqn_ms);
    pending_.erase(pit);
    auto again = Challenge(impi);
    if (!again) return again.error();
    BsfOutcome out;
    out.resync = true;
    out.www_authenticate = std::move(*again);
    return out;
  }
  Session s;
  s.impi = impi;
  s.rand = p.rand;
  s.ks = p.ks;
  s.expiry = now + lifetime_;
  BsfOutcome out;
  out.info.btid = GbaBtid(p.rand, name_);
  const std::time_t t = std::chrono::system_clock::to_time_t(s.expiry);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  out.info.lifetime = buf;
  sessions_[out.info.btid] = s;
  Cleanse(s.ks);
  pending_.erase(pit);
  return out;
}

Result<NafKeys, BsfFailure> Bsf::GetNafKeys(const std::string& btid,
                                            std::span<const std::uint8_t> naf_id,
                                            std::chrono::system_clock::time_point now) {
  auto it = sessions_.find(btid);
  if (it == sessions_.end() || it->second.expiry <= now) {
    return BsfFailure{BsfError::kUnknownBtid, "no live bootstrapping session " + btid};
  }
  NafKeys k;
  k.impi = it->second.impi;
  k.ks_int_naf = GbaNafKey(it->second.ks, GbaNafKeyKind::kInt, it->second.rand, k.impi, naf_id);
  k.ks_ext_naf = GbaNafKey(it->second.ks, GbaNafKeyKind::kExt, it->second.rand, k.impi, naf_id);
  return k;
}

std::string UbInitialAuthorization(const std::string& impi, const std::string& realm) {
  return FormatDigestHeader(
      {{"username", impi}, {"realm", realm}, {"nonce", ""}, {"uri", kUbUri}, {"response", ""}});
}

Result<UbAnswer, UbClientFailure> AnswerUbChallenge(Usim& usim, const std::string& impi,
                                                    std::string_view www_authenticate,
                                                    std::string_view method, std::string_view uri,
                                                    std::string_view body) {
  auto ch = ParseDigestParams(www_authenticate);
  if (!ch) return UbClientFailure{UbClientError::kMalformedChallenge, ch.error().message, {}};
  auto get = [&](const char* k) -> std::string {
    auto it = ch->find(k);
    return it == ch->end() ? std::string() : it->second;
  };
  if (g_ascii_strcasecmp(get("algorithm").c_str(), "AKAv1-MD5") != 0) {
    return UbClientFailure{UbClientError::kMalformedChallenge, "algorithm is not AKAv1-MD5", {}};
  }
  auto nonce = ParseAkaNonce(get("nonce"));
  if (!nonce) return UbClientFailure{UbClientError::kMalformedChallenge, nonce.error().message, {}};
  auto boot = usim.GbaBootstrap(nonce->rand, nonce->autn);
  if (!boot) return UbClientFailure{UbClientError::kCard, boot.error().message, boot.error()};

  // qop: auth-int when offered (TS 24.109 prefers it), else auth, else none.
  const std::string offered = get("qop");
  const std::string qop = offered.find("auth-int") != std::string::npos ? "auth-int"
                          : offered.find("auth") != std::string::npos   ? "auth"
                                                                        : "";
  const std::string nc = "00000001";
  const std::string cnonce = RandomHex(8);
  std::map<std::string, std::string> a = {{"username", impi},
                                          {"realm", get("realm")},
                                          {"nonce", get("nonce")},
                                          {"uri", std::string(uri)},
                                          {"algorithm", "AKAv1-MD5"}};
  if (!get("opaque").empty()) a["opaque"] = get("opaque");
  if (!qop.empty()) {
    a["qop"] = qop;
    a["nc"] = nc;
    a["cnonce"] = cnonce;
  }
  UbAnswer ans;
  std::span<const std::uint8_t> password;
  if (boot->sync_failure) {
    ans.sync_failure = true;
    a["auts"] = Base64(boot->auts);
  } else {
    password = boot->res;
  }
  a["response"] = DigestResponse(impi, password, get("realm"), method, uri, get("nonce"), nc,
                                 cnonce, qop, body);
  ans.authorization = FormatDigestHeader(a);
  return ans;
}

}  // namespace spc::smartcard
