// GBA bootstrapping over Ub (3GPP TS 33.220 / 24.109, HTTP Digest AKA) without the HTTP: the
// BSF's logic (subscriber database, AKA vectors with Milenage, digest check, resynchronisation,
// B-TID sessions, NAF keys for the BSM over Zn) and the terminal's answer to a challenge with
// the card. The head-end and spcd add only the HTTP requests around them.
//
//   terminal                                   BSF
//   GET /  Authorization: UbInitialAuthorization(IMPI)  →  Bsf::Challenge → 401 WWW-Authenticate
//   AnswerUbChallenge(usim, WWW-Authenticate)  →  GET /  Authorization
//                                               Bsf::Authenticate → 200 BootstrappingInfo
//                                               (or, after AUTS, a new 401 challenge)
//   Usim::GbaNafDerivation(NAF_Id, IMPI)       Bsf::NafKeys(B-TID, NAF_Id) → MUK for the BSM
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "spc/libspc/result.h"
#include "spc/libspc/smartcard/digest_aka.h"
#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/usim.h"

namespace spc::smartcard {

inline constexpr char kUbUri[] = "/";

// ---- BSF ----

struct Subscriber {
  std::array<std::uint8_t, 16> k{};
  std::array<std::uint8_t, 16> opc{};
  std::uint64_t sqn = 0;  // last SQN used (48 bits)
};

enum class BsfError {
  kUnknownSubscriber,  // 403
  kNoChallenge,        // no pending challenge for this user / nonce mismatch: 401 anew
  kBadResponse,        // digest does not verify: 403
  kBadAuts,            // AUTS MAC-S does not verify: 403
  kMalformed,          // Authorization header does not parse: 400
  kUnknownBtid,        // Zn: no (live) session
};
const char* BsfErrorName(BsfError e);
struct BsfFailure {
  BsfError code;
  std::string message;
};

struct BsfOutcome {
  bool resync = false;           // true: answer 401 with `www_authenticate` again
  std::string www_authenticate;  // resync only
  BootstrappingInfo info;        // success: the 200 body is WriteBootstrappingInfo(info)
};

struct NafKeys {
  GbaKey ks_int_naf{};  // the MUK
  GbaKey ks_ext_naf{};
  std::string impi;
  ~NafKeys();
};

class Bsf {
 public:
  // `name`: the BSF's server name (Digest realm and B-TID domain).
  Bsf(std::string name, std::chrono::seconds key_lifetime);
  ~Bsf();

  void AddSubscriber(const std::string& impi, const Subscriber& s);
  // GKeyFile with one group per IMPI: k=, opc= (or op=) as hex, optional sqn= (decimal).
  Result<std::size_t> LoadSubscribers(const std::string& path);

  // The WWW-Authenticate value for the first request of `impi` (fresh RAND, SQN + 1).
  Result<std::string, BsfFailure> Challenge(const std::string& impi);
  // The second request's Authorization value (method/uri/body as received, for auth-int).
  Result<BsfOutcome, BsfFailure> Authenticate(std::string_view authorization,
                                              std::string_view method, std::string_view uri,
                                              std::string_view body,
                                              std::chrono::system_clock::time_point now);
  // Zn: the NAF keys of a live bootstrapping session.
  Result<NafKeys, BsfFailure> GetNafKeys(const std::string& btid,
                                         std::span<const std::uint8_t> naf_id,
                                         std::chrono::system_clock::time_point now);

  const std::string& name() const { return name_; }
  std::optional<std::uint64_t> SubscriberSqn(const std::string& impi) const;

 private:
  struct Pending {
    std::array<std::uint8_t, 16> rand{};
    std::string nonce;
    std::vector<std::uint8_t> xres;
    GbaKey ks{};
  };
  struct Session {
    std::string impi;
    std::array<std::uint8_t, 16> rand{};
    GbaKey ks{};
    std::chrono::system_clock::time_point expiry;
  };
  std::string name_;
  std::chrono::seconds lifetime_;
  std::map<std::string, Subscriber> subscribers_;
  std::map<std::string, Pending> pending_;   // by IMPI
  std::map<std::string, Session> sessions_;  // by B-TID
};

// ---- terminal ----

// The first request's Authorization: username only, empty nonce and response (TS 24.109).
std::string UbInitialAuthorization(const std::string& impi, const std::string& realm);

struct UbAnswer {
  std::string authorization;  // the header value for the retry
  bool sync_failure = false;  // the card answered AUTS: expect a new challenge
};
enum class UbClientError { kMalformedChallenge, kCard };
struct UbClientFailure {
  UbClientError code;
  std::string message;
  std::optional<UsimFailure> card;  // kCard
};
// Runs GBA bootstrapping on the card with the challenge's RAND/AUTN and builds the
// Authorization (AKAv1-MD5, qop auth-int when offered) with RES as password, or with auts.
Result<UbAnswer, UbClientFailure> AnswerUbChallenge(Usim& usim, const std::string& impi,
                                                    std::string_view www_authenticate,
                                                    std::string_view method, std::string_view uri,
                                                    std::string_view body);

}  // namespace spc::smartcard
