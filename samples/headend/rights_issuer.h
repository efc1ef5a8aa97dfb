// The head-end's ROAP Rights Issuer (roap.md "The head-end's RI", interaction.md): a libsoup 3
// server on the default main context answering every ROAP PDU POSTed to /roap — deviceHello,
// registrationRequest (4-pass registration with an OCSP response for the RI certificate bound to
// the request nonce), roRequest (2-pass) — with spc/libspc/roap's RI helpers. It holds rights per
// service (content ID → SEK/SAK), makes roAcquisition triggers on a SEK change (sent on the
// trigger stream of sdp.md and written as files a test hands to spcd's HandleTrigger) and 1-pass
// roResponses.
//
// The test PKI comes from a folder made by scripts/make-test-pki.sh (root.pem/.key, ri.pem/.key,
// ocsp.pem/.key): nothing private is committed. Device certificates must chain to root.pem.
//
// Fault injection for the terminal's negative tests (SetMisbehaviour / --ri-misbehave MODE):
//   none                  behave
//   bad-signature         flip a bit of the signature of registrationResponse and roResponse
//   wrong-session-id      registrationResponse with another sessionId (validly signed)
//   expired-cert          registrationResponse with an expired RI certificate (same key)
//   untrusted-cert        registrationResponse with a self-signed RI certificate (same key)
//   revoked-cert          OCSP says the RI certificate is revoked
//   ocsp-other-nonce      OCSP response bound to another nonce
//   no-ocsp               no OCSP response on a first registration
//   wrong-nonce           roResponse nonce differs from the roRequest's (validly signed)
//   ro-other-device       the protected RO is encrypted to another device's key
//   ro-bad-mac            the protected RO's MAC is tampered (roResponse validly re-signed)
//   status:<Status>       every riHello / roResponse answers this non-Success status
//   http-503              every request answered 503
//   slow                  every answer held back --ri-slow-ms (default 30000)
//   truncated             the answer announces more bytes than it sends
//   wrong-content-type    the answer is text/html
#pragma once

#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "spc/libspc/keys.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/libspc/roap/session.h"

namespace headend {

struct RoapRiOptions {
  std::string pki_dir;  // --pki-dir: enables the RI
  std::string bind = "127.0.0.1";
  int port = 0;                    // --ri-port: 0 = any free port
  std::string misbehave;           // --ri-misbehave MODE
  unsigned slow_ms = 30000;        // --ri-slow-ms
  std::string trigger_dir;         // --trigger-dir: also write each trigger there as a file
  std::uint16_t trigger_port = 0;  // --trigger-port: the trigger stream (0: none)
  unsigned rights_days = 30;       // validity of the granted ROs
  bool enabled() const { return !pki_dir.empty(); }
};

// "--pki-dir", "--ri-port", ... as an option group of bcast-headend.
GOptionGroup* MakeRoapOptionGroup(RoapRiOptions* options);

enum class Misbehaviour {
  kNone,
  kBadSignature,
  kWrongSessionId,
  kExpiredCertificate,
  kUntrustedCertificate,
  kRevokedCertificate,
  kOcspOtherNonce,
  kNoOcsp,
  kWrongNonce,
  kRoForAnotherDevice,
  kBadRoMac,
  kStatus,
  kHttp503,
  kSlow,
  kTruncated,
  kWrongContentType,
};

class RightsIssuer {
 public:
  // Loads the PKI, listens. nullptr and `error` on failure.
  static std::unique_ptr<RightsIssuer> Create(const RoapRiOptions& options, std::string* error);
  ~RightsIssuer();
  RightsIssuer(const RightsIssuer&) = delete;
  RightsIssuer& operator=(const RightsIssuer&) = delete;

  // http://<bind>:<port>/roap
  const std::string& url() const { return url_; }
  std::uint16_t port() const { return port_; }
  const spc::roap::KeyId& ri_id() const { return ri_.ri_id; }
  std::string ri_id_hex() const;

  // The rights granted for `content_id` from now on (a SEK change replaces the old key for new
  // requests; ROs already sent stay valid at the terminal). Each call makes a new RO ID.
  void SetRights(const std::string& content_id, const spc::LongTermKey& key);
  void RemoveRights(const std::string& content_id);

  // MODE as in the header comment; false and `error` for an unknown mode.
  bool SetMisbehaviour(const std::string& mode, std::string* error);
  Misbehaviour misbehaviour() const { return misbehaviour_; }

  // An roAcquisition trigger for `content_ids` (fresh nonce): sent on the trigger stream when one
  // is configured, written to the trigger folder when one is set. Returns the trigger bytes.
  std::string SendAcquisitionTrigger(const std::vector<std::string>& content_ids);
  // A registrationRequest trigger (not sent anywhere: the caller hands it over).
  std::string MakeRegistrationTrigger();
  // A 1-pass roResponse for a registered device (hex device ID) with the ROs of `content_ids`;
  // empty with `error` when the device is not registered or no rights match.
  std::string MakePushedRoResponse(const std::string& device_id_hex,
                                   const std::vector<std::string>& content_ids, std::string* error);

  // Where the trigger stream goes (UDP, same socket family as the address).
  void SetTriggerDestination(const std::string& address, std::uint16_t port);

  std::size_t registered_devices() const { return devices_.size(); }
  struct Counters {
    std::uint64_t requests = 0;
    std::uint64_t registrations = 0;
    std::uint64_t ro_responses = 0;  // Success roResponses
    std::uint64_t refused = 0;       // non-Success answers
    std::uint64_t triggers = 0;
  };
  const Counters& counters() const { return counters_; }

  // One event line per registration, RO response, refusal and trigger (see the head-end's
  // --help); default: stdout, flushed.
  std::function<void(const std::string& line)> on_event;

  // Only Create makes one.
  struct Token {
   private:
    Token() = default;
    friend class RightsIssuer;
  };
  explicit RightsIssuer(Token) {}

 private:
  static void OnRequest(SoupServer* server, SoupServerMessage* msg, const char* path,
                        GHashTable* query, gpointer self);
  void Handle(SoupServerMessage* msg);
  std::string Answer(const std::string& pdu, std::string* type_name);
  std::string OnDeviceHello(const std::string& pdu);
  std::string OnRegistrationRequest(const std::string& pdu);
  std::string OnRoRequest(const std::string& pdu);
  std::vector<spc::roap::RoGrant> Grants(const std::vector<std::string>& ro_ids,
                                         const std::vector<std::string>& content_ids) const;
  void Reply(SoupServerMessage* msg, const std::string& body);
  void Event(const std::string& line);
  std::string WriteTriggerFile(const std::string& trigger);

  RoapRiOptions options_;
  SoupServer* server_ = nullptr;
  std::string url_;
  std::uint16_t port_ = 0;
  spc::roap::RiCredentials ri_;
  spc::roap::RiCredentials ri_expired_;    // same key, expired certificate
  spc::roap::RiCredentials ri_untrusted_;  // same key, self-signed certificate
  spc::X509Ptr root_;
  spc::X509Ptr ocsp_cert_;
  spc::EvpPkeyPtr ocsp_key_;
  spc::X509StorePtr device_anchors_;
  spc::EvpPkeyPtr other_device_key_;  // for ro-other-device
  Misbehaviour misbehaviour_ = Misbehaviour::kNone;
  spc::roap::Status misbehaviour_status_ = spc::roap::Status::kAccessDenied;

  struct Grant {
    std::string ro_id;
    spc::LongTermKey key;
    std::int64_t not_before = 0;
    std::int64_t not_after = 0;
  };
  std::map<std::string, Grant> rights_;  // content ID → current grant
  std::map<std::string, spc::roap::RiSession> sessions_;
  std::map<spc::roap::KeyId, spc::roap::RegisteredDevice> devices_;
  std::uint64_t next_session_ = 1;
  std::uint64_t next_ro_ = 1;
  std::uint64_t next_trigger_ = 1;
  GSocket* trigger_socket_ = nullptr;
  GSocketAddress* trigger_address_ = nullptr;
  std::vector<guint> timers_;
  Counters counters_;
};

}  // namespace headend
