// spcd's broadcast-only key delivery (ltkm.md): device_registration_response() and BCRO
// processing against the key store, and the broadcast receive of the registration, BCRO and
// trigger streams of any number of services. No HTTP anywhere here: a broadcast-only terminal
// never uses the interaction channel.
//
// Every message ends in exactly one counted outcome: accepted / installed, or ignored with a
// named reason (LtkmErrorName's names plus "older-response", "repeat", "replayed-ro-id",
// "no-device-identity", "store-failed"). A failed check changes nothing in the store.
#pragma once

#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "channels/broadcast_receiver.h"
#include "channels/session_description.h"
#include "spc/libspc/ltkm/bcro.h"
#include "spc/libspc/ltkm/drr.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/store/key_store.h"

namespace spc::daemon {

// The terminal's device identity: key pair, certificate and the trust anchors its RIs chain to.
struct DeviceIdentity {
  X509Ptr certificate;
  EvpPkeyPtr private_key;
  X509StorePtr anchors;
  std::vector<X509Ptr> anchor_certificates;
  Sha1Digest device_id{};
};

// Loads the identity from spcd's state folder (device.pem, device.key, trust-anchors.pem),
// after installing it there from the given files when they are set (provisioning: the key file is
// written 0600 and checked against the certificate first). Returns null with `error` set when
// the identity is incomplete or inconsistent; an absent identity (no files, nothing given) gives
// null with an empty error.
std::unique_ptr<DeviceIdentity> LoadDeviceIdentity(const std::string& state_dir,
                                                   const std::string& cert_file,
                                                   const std::string& key_file,
                                                   const std::string& anchors_file,
                                                   std::string* error);

struct LtkmOutcome {
  bool accepted = false;  // DRR: registration stored or withdrawn; BCRO: rights installed
  std::string reason;     // "accepted", "installed", "withdrawn" or the ignore reason
  std::string message;    // for the log: names the field / RI / RO ID; never key bytes
  std::vector<std::string> content_ids;  // rights installed or removed
};

class BroadcastKeys {
 public:
  // `identity` may be null: every message is then ignored as "no-device-identity".
  BroadcastKeys(store::KeyStore& store, const DeviceIdentity* identity);
  ~BroadcastKeys();

  LtkmOutcome ProcessDrr(std::span<const std::uint8_t> message, std::time_t now);
  LtkmOutcome ProcessBcro(std::span<const std::uint8_t> message, std::time_t now);

  // Listens to the registration, BCRO and trigger streams of `sd` (an endpoint already listened
  // to is shared: several services on one carousel). Returns the number of streams of `sd`, or
  // an error naming the stream.
  Result<unsigned, std::string> AddService(const channels::SessionDescription& sd);

  // Rights were installed or removed (spcd invalidates its STKM cache and signals).
  std::function<void(const std::vector<std::string>& content_ids)> on_rights_changed;

  // A datagram of a ROAP trigger stream (spcd hands it to its ROAP client).
  std::function<void(std::span<const std::uint8_t> trigger)> on_trigger;

  // Why the terminal may lack rights it had: "registration with RI <id> revoked by a
  // device_registration_response of <time>" for each withdrawn broadcast registration; empty when
  // none.
  std::string WithdrawalNote() const;

  struct Counters {
    std::uint64_t drrs_received = 0;
    std::uint64_t drrs_accepted = 0;            // registrations stored or withdrawn
    std::uint64_t registrations_withdrawn = 0;  // verified "revoked" / "unknown device"
    std::uint64_t bcros_received = 0;
    std::uint64_t bcros_installed = 0;
    std::uint64_t triggers_received = 0;  // ROAP triggers are for terminals with an interaction
                                          // channel: counted, not acted on here
    std::map<std::string, std::uint64_t> drrs_ignored;   // reason → count
    std::map<std::string, std::uint64_t> bcros_ignored;  // reason → count
  };
  const Counters& counters() const { return counters_; }
  unsigned services() const { return services_; }
  std::size_t streams() const { return endpoints_.size(); }
  std::uint64_t datagrams() const { return receiver_.datagrams(); }

 private:
  LtkmOutcome Ignore(std::map<std::string, std::uint64_t>& counter, std::string reason,
                     std::string message);
  void RetryPending(std::time_t now);

  store::KeyStore& store_;
  const DeviceIdentity* identity_;
  Counters counters_;
  channels::BroadcastReceiver receiver_;
  std::set<std::string> endpoints_;  // "kind|address|port" listened to
  unsigned services_ = 0;
  // SHA-1 of messages already accepted: carousel repetitions cost no crypto.
  std::set<Sha1Digest> done_;
  // BCROs that failed only for want of a registration or group key ("unknown-ri",
  // "unknown-generation", "other-group"): retried at once when a registration arrives, so a
  // BCRO received before its device_registration_response need not wait for its next repetition.
  std::deque<std::vector<std::uint8_t>> pending_;
};

}  // namespace spc::daemon
