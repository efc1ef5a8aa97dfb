// spcd's Smartcard Profile backend (shared/spec/smartcard.md): the (U)SIM holds Ks, the MUK and
// the MSKs; spcd only moves messages. It follows the PC/SC reader (card_watcher.h), bootstraps
// with the BSF (GBA_U over HTTP Digest AKA, gba_ub.h), registers to the service's MBMS user
// service (TS 33.246 §6.3.2.1) and asks the BSM for MSKs (msk_request.h) and hands MIKEY MTK
// messages to the card, which answers with the TEK (MTK) and salt.
//
// Every refusal has a name, which is also the D-Bus error spcd answers with
// (org.openbcast.SPC1.Error.<name>): NoCard, MikeyMalformed, CardReplay (98 65), CardBadMac
// (98 62), MskUnknown (6A 88 after the MSK request), CardNoMemory (98 66/98 67), CardRefused,
// CardMalformedResponse, BootstrapFailed, RegistrationFailed, MskRequestFailed, InvalidArgs.
#pragma once

#include <glib.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "channels/interaction_channel.h"
#include "spc/daemon/card_watcher.h"
#include "spc/libspc/result.h"
#include "spc/libspc/smartcard/apdu.h"
#include "spc/libspc/smartcard/mikey.h"

namespace spc::daemon {

struct SmartcardOptions {
  std::string reader_filter;  // substring of the reader name, "" = any
  std::string impi = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org";
  std::string default_bsf_url;  // used before a service names one
  channels::InteractionOptions http;
};

// What a Smartcard Profile service says about itself (its SDP, via tekdec).
struct SmartcardService {
  std::string bsf_url;
  std::string bsm_url;  // base URL; the MSK request goes to <bsm_url>/bcast/msk-request
  std::optional<smartcard::KeyDomainId> key_domain;
  std::uint16_t tek_lifetime = 0;  // s, 0 = no limit
  // The MBMS user service ID registered to before the first MSK request (the base CID);
  // empty: no registration.
  std::string service_id;
};

// Parses the ProcessMtk service dictionary ("bsf-url", "bsm-url", "key-domain", "tek-lifetime").
Result<SmartcardService, std::string> ParseSmartcardService(
    const std::map<std::string, std::string>& dict);

struct SmartcardFailure {
  std::string name;  // "CardReplay", ...
  std::string message;
  std::string dbus_name() const { return "org.openbcast.SPC1.Error." + name; }
};

struct MtkAnswer {
  std::array<std::uint8_t, 6> mki{};  // MSK ID ‖ MTK ID
  std::array<std::uint8_t, 16> tek{};
  std::array<std::uint8_t, 14> salt{};
  std::uint32_t msk_id = 0;
  std::uint16_t mtk_id = 0;
  std::uint16_t lifetime = 0;
  std::uint8_t protocol = 1;  // SRTP
  bool authenticated = true;
  MtkAnswer() = default;
  MtkAnswer(const MtkAnswer&) = default;
  MtkAnswer& operator=(const MtkAnswer&) = default;
  ~MtkAnswer();
};

class SmartcardBackend {
 public:
  // Starts following the reader at once; callbacks run on `context` (nullptr: the thread-default).
  explicit SmartcardBackend(SmartcardOptions options, GMainContext* context = nullptr);
  ~SmartcardBackend();
  SmartcardBackend(const SmartcardBackend&) = delete;
  SmartcardBackend& operator=(const SmartcardBackend&) = delete;

  using MtkDone = std::function<void(Result<MtkAnswer, SmartcardFailure>)>;
  // One MIKEY MTK message. `done` runs once, on the context, never inside this call.
  void ProcessMtk(std::vector<std::uint8_t> message, const SmartcardService& service, MtkDone done);

  // Card inserted (true) / removed (false), after spcd connected to / dropped it.
  std::function<void(bool present, const std::string& reader)> on_card_changed;

  struct Counters {
    std::uint64_t mtks = 0;  // TEKs returned
    std::uint64_t bootstraps = 0;
    std::uint64_t msk_requests = 0;
    std::uint64_t registrations = 0;
    std::map<std::string, std::uint64_t> refusals;  // failure name → count
  };
  const Counters& counters() const { return counters_; }
  bool card_present() const { return present_; }
  const std::string& reader() const { return reader_; }
  const std::string& btid() const { return btid_; }
  // "KEYDOMAIN:MSKID" (hex) of the MSKs known to be on the card (IDs only).
  std::vector<std::string> MskIds() const;
  // The MBMS user services registered to under the current B-TID.
  std::vector<std::string> RegisteredServices() const;
  const channels::InteractionChannel& channel() const { return *http_; }

 private:
  struct MtkJob;
  using Done = std::function<void(std::optional<SmartcardFailure>)>;
  using GbaDone = std::function<void(Result<channels::HttpResponse, SmartcardFailure>)>;

  void OnCardEvent(bool present, const std::string& reader);
  void TryMtk(std::shared_ptr<MtkJob> job);
  void MtkRefused(std::shared_ptr<MtkJob> job, const smartcard::UsimFailure& f);
  void Finish(std::shared_ptr<MtkJob> job, Result<MtkAnswer, SmartcardFailure> r);
  SmartcardFailure Count(SmartcardFailure f);

  // Bootstraps when no live B-TID exists (coalesced: one exchange at a time).
  void EnsureBootstrap(const std::string& bsf_url, Done done);
  void BootstrapStep(const std::string& bsf_url, const std::string& authorization, int round);
  void BootstrapDone(std::optional<SmartcardFailure> f);
  // Requests MSKs of a key domain from a BSM and loads the answer into the card.
  void RequestMsks(const SmartcardService& service, smartcard::KeyDomainId domain,
                   std::vector<std::uint32_t> msk_ids, Done done);
  void RequestMsksWithBtid(const SmartcardService& service, smartcard::KeyDomainId domain,
                           std::vector<std::uint32_t> msk_ids, Done done);
  void Register(const SmartcardService& service, std::vector<std::uint8_t> ks_ext, Done done);
  // A POST to the BSM with the GBA digest (answering one 401); failures carry `failure_name`.
  void PostGba(const std::string& url, const std::string& content_type, const std::string& accept,
               const std::string& body, std::vector<std::uint8_t> ks_ext,
               const std::string& authorization, int round, const std::string& failure_name,
               GbaDone done);
  void LoadBundle(std::vector<std::uint8_t> body, Done done);
  void RefreshAfterInsertion();

  SmartcardOptions options_;
  GMainContext* context_;
  std::unique_ptr<channels::InteractionChannel> http_;
  std::unique_ptr<CardWorker> worker_;
  std::unique_ptr<CardWatcher> watcher_;
  std::shared_ptr<std::atomic<bool>> alive_;

  bool present_ = false;
  bool watched_present_ = false;  // the watcher's last word (a connect may finish after it)
  std::string reader_;
  std::uint64_t card_generation_ = 0;
  std::string btid_;
  std::chrono::system_clock::time_point btid_expiry_{};
  bool bootstrapping_ = false;
  std::vector<Done> bootstrap_waiters_;
  // One MSK request per (key domain, MSK ID) at a time: the key stream's next messages under the
  // same unknown MSK wait for it instead of loading the MSK into the card again.
  std::map<std::pair<smartcard::KeyDomainId, std::uint32_t>, std::vector<Done>> msk_waiters_;
  // Services seen (by BSM URL) and the MSKs their MTK messages named: re-requested on insertion.
  std::map<std::string, SmartcardService> services_;
  std::map<std::string, std::set<std::pair<std::string, std::uint32_t>>> wanted_msks_;  // by BSM
  std::set<std::pair<std::string, std::uint32_t>> card_msks_;  // (domain hex, MSK ID)
  // (BSM URL, service ID) registered to under `registered_btid_`: a new B-TID registers again.
  std::string registered_btid_;
  std::set<std::pair<std::string, std::string>> registered_;
  Counters counters_;
};

}  // namespace spc::daemon
