// Pure (no I/O) ROAP state helpers: the device side (4-pass registration, 2-pass and 1-pass RO
// acquisition) and the RI side (parse requests, build responses) with the same crypto. spcd's HTTP
// client and the head-end's libsoup RI carry the bytes; everything that decides lives here.
//
// Every byte that is signed is kept exactly as sent or received: a session stores the deviceHello,
// riHello and signed registrationRequest bytes it exchanged and signs/verifies their
// concatenation (roap.md "What each signature covers").
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/libspc/roap/messages.h"
#include "spc/libspc/roap/protected_ro.h"
#include "spc/libspc/roap/types.h"

namespace spc::roap {

// The algorithms this implementation speaks (deviceHello supportedAlgorithm, riHello
// selectedAlgorithm).
std::vector<std::string> DefaultAlgorithms();

KeyId ToKeyId(const Sha1Digest& d);
KeyId CertificateKeyId(X509* cert);  // SHA-1 of the SPKI

// A device's identity: its private key and certificate chain (leaf first).
struct DeviceCredentials {
  EvpPkeyPtr key;
  std::vector<X509Ptr> chain;
  KeyId device_id{};  // filled by MakeDeviceCredentials
};
RoapResult<DeviceCredentials> MakeDeviceCredentials(EvpPkeyPtr key, std::vector<X509Ptr> chain);

// What a successful registration leaves on the device (the key store's RI context).
struct RiContext {
  KeyId ri_id{};
  std::string ri_url;
  std::vector<Bytes> certificate_chain;  // DER, leaf first, as received
  std::int64_t registered_at = 0;        // device time of the registration
  std::int64_t certificate_not_after = 0;
  // OCSP state of the RI certificate at registration.
  bool ocsp_checked = false;
  std::int64_t ocsp_produced_at = 0;
  std::optional<std::int64_t> ocsp_next_update;
  // Trusted time from an OCSP response bound to our nonce (the device may set its clock from it).
  std::optional<std::int64_t> trusted_time;
};

// Trust anchors of the terminal (roots of the RI and OCSP responder chains).
struct TrustAnchors {
  std::vector<X509Ptr> roots;
  X509StorePtr store;
};
TrustAnchors MakeTrustAnchors(std::vector<X509Ptr> roots);

// ---- Device side -------------------------------------------------------------------------------

// The session classes keep references to the credentials, anchors and RI context they are given:
// those must outlive the session.
//
// 4-pass registration. Call in order: DeviceHello, OnRiHello, RegistrationRequest,
// OnRegistrationResponse; an out-of-order call gives BadState.
class RegistrationSession {
 public:
  struct Options {
    std::optional<std::string> trigger_nonce;  // from a registrationRequest trigger
    // First registration with this RI: the response must carry the RI chain and an OCSP response
    // for the RI certificate bound to our nonce (roap.md). A re-registration may omit them.
    bool first_registration = true;
    bool send_certificate_chain = true;
  };
  RegistrationSession(const DeviceCredentials& device, const TrustAnchors& anchors,
                      Options options);

  std::string DeviceHello();
  // Status (StatusNotSuccess), sessionId, riID, riNonce.
  RoapResult<RiHello> OnRiHello(std::string_view bytes);
  // Signed over deviceHello ‖ riHello ‖ the request without its signature.
  RoapResult<std::string> RegistrationRequest(std::int64_t now);
  // Status, sessionId, RI chain (riID = SPKI SHA-1 of the RI cert, chain to the anchors at `now`),
  // signature over the signed request ‖ the response without its signature, OCSP (present on
  // first registration, good, nonce = request nonce).
  RoapResult<RiContext> OnRegistrationResponse(std::string_view bytes, std::int64_t now);

  const Bytes& nonce() const { return nonce_; }

 private:
  enum class Step { kStart, kHelloSent, kRiHello, kRequestSent, kDone };
  const DeviceCredentials& device_;
  const TrustAnchors& anchors_;
  Options options_;
  Step step_ = Step::kStart;
  std::string device_hello_;
  std::string ri_hello_;
  RiHello ri_hello_parsed_;
  std::string request_;
  Bytes nonce_;
};

// 2-pass RO acquisition with a registered RI.
class RoAcquisition {
 public:
  struct Options {
    std::vector<std::string> ro_ids;
    std::vector<std::string> content_ids;
    std::optional<std::string> trigger_nonce;  // from an roAcquisition trigger
    std::optional<std::string> domain_id;
    bool send_certificate_chain = false;
  };
  RoAcquisition(const DeviceCredentials& device, const RiContext& ri, Options options);

  RoapResult<std::string> Request(std::int64_t now);
  // Status, deviceID, riID, nonce equal to the request's, RI signature, then every protectedRO
  // opened (first failing RO fails the whole response: nothing is installed from a response
  // with a bad RO).
  RoapResult<std::vector<LtkmEntry>> OnResponse(std::string_view bytes);

  const Bytes& nonce() const { return nonce_; }

 private:
  const DeviceCredentials& device_;
  const RiContext& ri_;
  Options options_;
  bool sent_ = false;
  Bytes nonce_;
};

// 1-pass: an roResponse pushed without a request (no nonce), only for a registered RI and this
// device.
RoapResult<std::vector<LtkmEntry>> OpenPushedRoResponse(std::string_view bytes,
                                                        const DeviceCredentials& device,
                                                        const RiContext& ri);

// Verifies an roResponse's signature and ROs; `expected_nonce` nullopt = 1-pass (must be absent).
RoapResult<std::vector<LtkmEntry>> VerifyRoResponse(std::string_view bytes,
                                                    const DeviceCredentials& device,
                                                    const RiContext& ri,
                                                    const std::optional<Bytes>& expected_nonce);

// ---- RI side -----------------------------------------------------------------------------------

struct RiCredentials {
  EvpPkeyPtr key;
  std::vector<X509Ptr> chain;  // leaf first
  KeyId ri_id{};
  std::string ri_url;
};
RoapResult<RiCredentials> MakeRiCredentials(EvpPkeyPtr key, std::vector<X509Ptr> chain,
                                            std::string ri_url);

// The ROAP status an RI answers for a failed request check.
Status StatusForError(const Error& error);

// State the RI keeps between riHello and registrationRequest (keyed by sessionId).
struct RiSession {
  std::string session_id;
  std::string device_hello;  // exact bytes received
  std::string ri_hello;      // exact bytes sent
  KeyId device_id{};
  Bytes ri_nonce;
};

struct RiHelloOutcome {
  std::string response;              // riHello to send (Success or an error status)
  std::optional<RiSession> session;  // on Success
  std::optional<Error> error;        // why not Success
};
// `session_id` is chosen by the caller (opaque, unique).
RiHelloOutcome RiHandleDeviceHello(const RiCredentials& ri, std::string_view device_hello,
                                   std::string session_id);

// A device registered with the RI.
struct RegisteredDevice {
  KeyId device_id{};
  std::vector<Bytes> certificate_chain;  // DER, leaf first
  EvpPkeyPtr public_key;
};

struct RegistrationOutcome {
  std::string response;  // registrationResponse to send
  std::optional<RegisteredDevice> device;
  std::optional<Error> error;
};
struct RiRegistrationOptions {
  // OCSP responses for the RI certificate bound to the request nonce (the head-end makes them with
  // MakeOcspResponse). Empty function: none sent.
  std::function<std::vector<Bytes>(std::span<const std::uint8_t> nonce)> ocsp_for_nonce;
  // |request time - now| above this → DeviceTimeError; 0 = not checked.
  std::int64_t max_time_skew = 0;
};
// Checks sessionId, the device chain (leaf SPKI SHA-1 = deviceHello deviceID, chain to
// `device_anchors` at `now`) and the signature over deviceHello ‖ riHello ‖ request; answers a
// signed registrationResponse (Success) or a status.
RegistrationOutcome RiHandleRegistrationRequest(const RiCredentials& ri, const RiSession& session,
                                                std::string_view request,
                                                X509_STORE* device_anchors, std::int64_t now,
                                                const RiRegistrationOptions& options);

// roRequest on the RI: parse, check riID is ours, look up the registered device by device ID
// (nullptr: NotRegistered) and verify the signature with its key.
struct VerifiedRoRequest {
  RoRequest request;
  std::string bytes;
};
RoapResult<VerifiedRoRequest> RiVerifyRoRequest(
    const RiCredentials& ri, std::string_view bytes,
    const std::function<const RegisteredDevice*(const KeyId&)>& lookup_device);

// Signed roResponse with one protected RO per grant; `nonce` set for 2-pass, nullopt for 1-pass.
RoapResult<std::string> RiBuildRoResponse(const RiCredentials& ri, const RegisteredDevice& device,
                                          const std::optional<Bytes>& nonce,
                                          const std::vector<RoGrant>& grants, std::int64_t now);
// An unsigned roResponse with a non-Success status.
std::string RiRoErrorResponse(Status status);

// Signature helpers over exact bytes (RSA-PSS SHA-1, MGF1-SHA1, salt 20).
RoapResult<Bytes> SignBytes(EVP_PKEY* key, std::string_view data);
bool VerifyBytes(EVP_PKEY* key, std::string_view data, std::span<const std::uint8_t> sig);

}  // namespace spc::roap
