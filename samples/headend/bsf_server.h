// The head-end's BSF (GBA bootstrapping server function, 3GPP TS 33.220 / 24.109) over HTTP: a
// libsoup 3 server around spc::smartcard::Bsf (gba_ub.h), which holds the subscriber database and
// does AKA with Milenage, the digest check, AUTS resynchronisation and the B-TID sessions.
//
//   GET <bsf-url>  Authorization: Digest username="IMPI", nonce=""  → 401 WWW-Authenticate
//   GET <bsf-url>  Authorization: Digest ... response=<RES digest>  → 200 BootstrappingInfo (B-TID)
//                  (with auts: the SQN is resynchronised and a new 401 challenge comes back)
//
// The BSM asks it for the NAF keys of a B-TID in-process (Zn without the wire).
#pragma once

#include <libsoup/soup.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "spc/libspc/smartcard/gba_ub.h"

namespace headend {

struct BsfServerOptions {
  std::string bind = "127.0.0.1";
  int port = 0;                             // 0: any free port
  std::string name = "bsf.openbcast.test";  // Digest realm and B-TID domain
  std::chrono::seconds key_lifetime{3600};
};

class BsfServer {
 public:
  // Listens; nullptr and `error` on failure. Subscribers are added before or after.
  static std::unique_ptr<BsfServer> Create(const BsfServerOptions& options, std::string* error);
  ~BsfServer();
  BsfServer(const BsfServer&) = delete;
  BsfServer& operator=(const BsfServer&) = delete;

  spc::smartcard::Bsf& bsf() { return *bsf_; }
  // http://<bind>:<port>/
  const std::string& url() const { return url_; }

  struct Counters {
    std::uint64_t requests = 0;
    std::uint64_t challenges = 0;
    std::uint64_t bootstraps = 0;
    std::uint64_t resyncs = 0;
    std::uint64_t refused = 0;
  };
  const Counters& counters() const { return counters_; }

  // One line per challenge, bootstrap, resynchronisation and refusal (never a key); default:
  // stdout, flushed.
  std::function<void(const std::string& line)> on_event;

  struct Token {
   private:
    Token() = default;
    friend class BsfServer;
  };
  explicit BsfServer(Token) {}

 private:
  static void OnRequest(SoupServer* server, SoupServerMessage* msg, const char* path,
                        GHashTable* query, gpointer self);
  void Handle(SoupServerMessage* msg);
  void Challenge(SoupServerMessage* msg, const std::string& impi);
  void Refuse(SoupServerMessage* msg, guint status, const std::string& reason);
  void Event(const std::string& line);

  BsfServerOptions options_;
  std::unique_ptr<spc::smartcard::Bsf> bsf_;
  SoupServer* server_ = nullptr;
  std::string url_;
  Counters counters_;
};

// Listens on `bind`:`port` with `handler` for every path; the port it got in `*port_out`.
// Shared by the BSF and the BSM. nullptr and `error` on failure.
SoupServer* ListenHttp(const std::string& what, const std::string& bind, int port,
                       SoupServerCallback handler, gpointer self, std::uint16_t* port_out,
                       std::string* error);
// "http://<bind>:<port>" (IPv6 in brackets).
std::string HttpBase(const std::string& bind, std::uint16_t port);

}  // namespace headend
