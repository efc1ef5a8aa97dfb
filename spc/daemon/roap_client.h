// spcd's ROAP client (roap.md, interaction.md): 4-pass registration, 2-pass RO acquisition,
// 1-pass ROs and triggers over the interaction channel, on spcd's main loop (never blocking it).
// Every byte-level decision is spc/libspc/roap's; this file moves bytes, keeps the device
// identity's credentials, and writes to the key store only after every check of a response
// passed: a failed exchange changes nothing.
//
// Failures carry a name that is also the D-Bus error spcd answers with:
//   org.openbcast.SPC1.Error.Roap.<ErrorCode>          BadSignature, WrongNonce, WrongSessionId,
//                                                      UntrustedCertificate, ExpiredCertificate,
//                                                      RevokedCertificate, OcspNonceMismatch,
//                                                      RoForAnotherDevice, BadRoMac, Malformed, ...
//   org.openbcast.SPC1.Error.Roap.Status.<Status>      the RI answered a non-Success status
//   org.openbcast.SPC1.Error.Interaction.<Name>        Unreachable, Timeout, ServerError,
//                                                      ClientError, Truncated, WrongContentType,
//                                                      ...
//   org.openbcast.SPC1.Error.Roap.NoDeviceIdentity     spcd has no device key/certificate
//   org.openbcast.SPC1.Error.Roap.NotRegistered        no RI context to acquire from
//   org.openbcast.SPC1.Error.Failed                    key store failure
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "channels/interaction_channel.h"
#include "spc/daemon/broadcast_keys.h"
#include "spc/libspc/result.h"
#include "spc/libspc/roap/session.h"
#include "spc/store/key_store.h"

namespace spc::daemon {

struct RoapFailure {
  std::string name;       // "BadSignature", "Status.AccessDenied", "Interaction.Timeout", ...
  std::string dbus_name;  // "org.openbcast.SPC1.Error.Roap.BadSignature", ...
  std::string message;    // for the user and the log; never key bytes
};

class RoapClient {
 public:
  struct Options {
    bool auto_acquire = true;  // acquire rights an STKM names and the store lacks
    // An automatic acquisition for one content ID is not tried again sooner than this after a
    // failure (seconds).
    std::int64_t auto_retry_s = 15;
    channels::InteractionOptions http;
  };

  // `identity` may be null: every operation then fails with NoDeviceIdentity.
  RoapClient(store::KeyStore& store, const DeviceIdentity* identity, Options options);
  ~RoapClient();
  RoapClient(const RoapClient&) = delete;
  RoapClient& operator=(const RoapClient&) = delete;

  template <class T>
  using Done = std::function<void(Result<T, RoapFailure>)>;

  // 4-pass registration with the RI at `url`; on success the RI context is stored (source "roap")
  // and the callback gets the RI ID (hex).
  void Register(const std::string& url, Done<std::string> done,
                std::optional<std::string> trigger_nonce = std::nullopt);
  // 2-pass acquisition of `content_ids` (and/or `ro_ids`) from the RI `ri_id_hex` (empty: the
  // newest ROAP registration). Installs every RO of the response or none (one store
  // transaction); the callback gets the content IDs installed. An RI that answers NotRegistered
  // while the store holds its context (it lost the registration, e.g. restarted without it) gets
  // one new registration at the stored URL and the request once more.
  void Acquire(std::vector<std::string> content_ids, std::vector<std::string> ro_ids,
               std::string ri_id_hex, Done<std::vector<std::string>> done,
               std::optional<std::string> trigger_nonce = std::nullopt);
  // A roapTrigger (registrationRequest / roAcquisition; an roAcquisition for an RI the terminal
  // is not registered with registers first) or a 1-pass roResponse. The callback gets a summary
  // ("registered <ri>", "installed <cids>", "repeat").
  void HandleTrigger(std::span<const std::uint8_t> bytes, Done<std::string> done);
  // From the STKM path: an STKM named rights the store lacks.
  void OnRightsMissing(const std::string& content_id);

  // Rights were installed (spcd invalidates its cache and emits RightsChanged).
  std::function<void(const std::vector<std::string>& content_ids)> on_rights_changed;
  // A background operation (trigger from the broadcast stream, automatic acquisition) failed.
  std::function<void(const std::string& operation, const RoapFailure& failure)> on_failure;

  // For Status(): "no-device-identity", "unregistered", "registering", "registered".
  std::string state() const;
  // The newest ROAP RI context in the store, if any.
  std::optional<store::RiContext> CurrentRi() const;
  struct Counters {
    std::uint64_t registrations = 0;
    std::uint64_t acquisitions = 0;  // successful 2-pass/1-pass exchanges
    std::uint64_t ros_installed = 0;
    std::uint64_t triggers = 0;
    std::uint64_t failures = 0;
    std::uint64_t auto_acquisitions = 0;
    std::string last_error;  // D-Bus name: message
  };
  const Counters& counters() const { return counters_; }
  const channels::InteractionChannel& channel() const { return channel_; }
  const Options& options() const { return options_; }

 private:
  struct RegistrationOp;
  struct AcquisitionOp;
  void Post(const std::string& url, const std::string& pdu,
            std::function<void(Result<std::string, RoapFailure>)> done);
  // Acquire; on an roResponse status NotRegistered (and may_register_again) registers again at
  // the stored RI URL and acquires once more.
  void AcquireOnce(std::vector<std::string> content_ids, std::vector<std::string> ro_ids,
                   std::string ri_id_hex, Done<std::vector<std::string>> done,
                   std::optional<std::string> trigger_nonce, bool may_register_again);
  bool CheckIdentity(RoapFailure* failure) const;
  void Fail(RoapFailure failure);
  Result<std::vector<std::string>, RoapFailure> Install(
      const std::vector<roap::LtkmEntry>& entries);
  std::optional<store::Registration> FindRoapRegistration(const std::string& ri_id_hex,
                                                          RoapFailure* failure) const;

  store::KeyStore& store_;
  const DeviceIdentity* identity_;
  Options options_;
  channels::InteractionChannel channel_;
  std::optional<roap::DeviceCredentials> device_;
  std::optional<roap::TrustAnchors> anchors_;
  unsigned registering_ = 0;
  std::set<std::string> auto_in_flight_;
  std::map<std::string, std::int64_t> auto_failed_at_;
  std::set<std::string> trigger_nonces_seen_;
  Counters counters_;
};

// The failure for a ROAP error / an interaction error.
RoapFailure FailureFromRoap(const roap::Error& error);
RoapFailure FailureFromInteraction(const channels::InteractionError& error);

}  // namespace spc::daemon
