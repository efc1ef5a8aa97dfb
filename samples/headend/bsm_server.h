// The head-end's BSM as the MBMS NAF (3GPP TS 33.246 §6.3.2): MSK delivery over HTTP in the
// project's format (spc/libspc/smartcard/msk_request.h).
//
//   POST <bsm-url>/bcast/msk-request  (mskRequest XML)
//     no or stale Authorization → 401 WWW-Authenticate: Digest realm="3GPP-bootstrapping@<FQDN>",
//                                 nonce, algorithm=MD5, qop="auth-int"
//     Authorization: Digest username=<B-TID>, password base64(Ks_ext_NAF) (TS 33.222)
//     → 200 MIKEY bundle: one MSK message per requested MSK the BSM holds, under the MUK
//       (Ks_int_NAF), IDi = the NAF's FQDN, IDr = B-TID; 404 when it holds none of them;
//       403 when the BSM has services (AddService) and the B-TID registered none of them.
//   POST <bsm-url>/bcast/register  (mbmsRegister XML, same digest; TS 33.246 §6.3.2.1 MBMS user
//     service registration) → 200 mbmsRegisterResponse: "ok" for the BSM's services (base CIDs),
//     "unknown" for others; a BSM without services (none added) takes every ID.
//
// The NAF keys come from the BSF (Zn in-process). The NAF_Id is FQDN ‖ the MBMS Ua identifier
// (GbaNafId); the FQDN is --naf-fqdn when given, else whichever of the digest realm's host, the
// request's Host and the BSM URL's host the terminal's digest verifies with (a terminal derives
// its keys for the host it addressed).
#pragma once

#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "samples/headend/bsf_server.h"
#include "samples/headend/mikey_key_stream.h"

namespace headend {

struct BsmServerOptions {
  std::string bind = "127.0.0.1";
  int port = 0;
  std::string naf_fqdn;  // empty: the host the terminal addressed
  spc::smartcard::KeyDomainId key_domain{};
  std::uint8_t permissions = 1;  // MSK permissions: bit 0 play, bit 1 record
};

class BsmServer {
 public:
  // `msk_of` answers the MSK with this ID (nullptr when the BSM holds none).
  using MskLookup = std::function<const MskEntry*(std::uint32_t msk_id)>;
  static std::unique_ptr<BsmServer> Create(const BsmServerOptions& options, BsfServer* bsf,
                                           MskLookup msk_of, std::string* error);
  ~BsmServer();
  BsmServer(const BsmServer&) = delete;
  BsmServer& operator=(const BsmServer&) = delete;

  // http://<bind>:<port> (the SDP's a=bcast-bsm-url; requests go to url() + kMskRequestPath).
  const std::string& url() const { return url_; }

  // An MBMS user service of the BSM's key domain (its base CID, SDP a=bcast-basecid). Once one
  // is added, MSK requests need a registration to one of them first.
  void AddService(const std::string& service_id) { services_.insert(service_id); }
  bool Registered(const std::string& btid, const std::string& service_id) const;

  struct Counters {
    std::uint64_t requests = 0;
    std::uint64_t challenges = 0;
    std::uint64_t msk_messages = 0;
    std::uint64_t refused = 0;
    std::uint64_t registrations = 0;
  };
  const Counters& counters() const { return counters_; }

  std::function<void(const std::string& line)> on_event;

  struct Token {
   private:
    Token() = default;
    friend class BsmServer;
  };
  explicit BsmServer(Token) {}

 private:
  static void OnRequest(SoupServer* server, SoupServerMessage* msg, const char* path,
                        GHashTable* query, gpointer self);
  void Handle(SoupServerMessage* msg);
  void HandleRegister(SoupServerMessage* msg, SoupMessageHeaders* headers, const std::string& btid,
                      const std::string& impi, const std::string& entity);
  void Challenge(SoupServerMessage* msg, const std::string& fqdn, bool stale);
  void Refuse(SoupServerMessage* msg, guint status, const std::string& reason);
  void Event(const std::string& line);

  BsmServerOptions options_;
  BsfServer* bsf_ = nullptr;
  MskLookup msk_of_;
  SoupServer* server_ = nullptr;
  std::string url_;
  std::string url_host_;
  std::map<std::string, std::int64_t> nonces_;  // issued nonce → expiry (monotonic µs)
  std::uint32_t counter_ = 0;                   // of the last MSK message
  std::set<std::string> services_;
  std::map<std::string, std::set<std::string>> registered_;  // B-TID → service IDs
  Counters counters_;
};

}  // namespace headend
