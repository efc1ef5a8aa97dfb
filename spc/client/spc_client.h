// Client of spcd (org.openbcast.SPC1) on the proxy that gdbus-codegen makes from
// spc/daemon/org.openbcast.SPC1.xml.
//
// Threading: a Client runs its own GLib thread ("spc-client") with its own GMainContext. Every
// method may be called from any thread (a GStreamer streaming thread included). ProcessStkmAsync
// never blocks: its callback runs on the client's thread, except for a repeat the answer cache
// holds, which completes on the calling thread before ProcessStkmAsync returns (no hop to the
// client's thread and back for an answer that is already here). Callbacks and signal handlers must
// not block for long and must do their own locking; the caller of ProcessStkmAsync must not hold a
// lock its callback takes. The blocking methods wait for the answer (at most the timeout) on the
// calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/keys.h"

namespace spc::client {

enum class Bus { kSystem, kSession, kAddress };

// The answer cache's TTL for the players (tekdec, bcast-player): longer than stkmparse's
// repeat-timeout (10 s), so that the repeats it lets through are answered in the process.
inline constexpr int kDefaultAnswerCacheMs = 15000;

struct Options {
  Bus bus = Bus::kSystem;
  std::string address;     // for Bus::kAddress (e.g. a test's private bus)
  int timeout_ms = 10000;  // per D-Bus call
  // Let the bus start spcd by D-Bus activation when it is not running.
  bool auto_start = true;
  // Well-known name of spcd; empty = org.openbcast.SPC1.
  std::string bus_name;
  // Answers to byte-identical repeated STKMs kept in this process for this long, and never longer
  // than the TEK's lifetime (answer_cache.h; cleared on RightsChanged, a restart of spcd and this
  // client's own changing calls). tekdec and bcast-player: kDefaultAnswerCacheMs.
  // 0 (default): off, every STKM goes to spcd, which answers repeats from its own cache.
  int answer_cache_ms = 0;
  std::size_t answer_cache_entries = 256;
};

// Error of a call: the D-Bus error of spcd, or kUnavailable when spcd could not be reached (not
// running, bus gone, timeout, client shutting down).
enum class Error {
  kNone,
  kFailed,
  kMalformed,
  kNoRights,
  kBadMac,
  kReplay,
  kExpired,
  kNotPermitted,
  kInvalidArgs,
  kInvalidKeyFile,
  kUnavailable,
};
const char* ErrorString(Error e);  // "NoRights", "Unavailable", ...

enum class Purpose { kPlay, kRecord };

// Answer of ProcessStkm: what tekdec puts into the keyring. Key bytes are wiped on destruction.
struct TekResult {
  Error error = Error::kNone;
  std::string error_name;  // "org.openbcast.SPC1.Error.NoRights", or the D-Bus error's name
  std::string message;     // spcd's reason (field/offset, content ID...)

  std::string content_id;      // the rights used (and for kNoRights: the missing content ID)
  TrafficKey current;          // id = traffic_key_id, key = TEK, salt = master salt (zero if none)
  std::uint16_t lifetime = 0;  // traffic_key_lifetime, seconds
  std::uint8_t protocol = 0;   // traffic_protection_protocol: 0 IPsec, 1 SRTP, 2 ISMACryp
  bool authenticated = false;  // traffic_authentication_flag
  std::optional<TrafficKey> next;

  bool ok() const { return error == Error::kNone; }
  TekResult() = default;
  TekResult(const TekResult&) = default;
  TekResult(TekResult&&) = default;
  TekResult& operator=(const TekResult&) = default;
  TekResult& operator=(TekResult&&) = default;
  ~TekResult();
};

struct RightsInfo {
  std::string content_id;
  std::uint32_t key_domain_id = 0;
  std::string kind;             // "service" or "programme"
  std::int64_t not_before = 0;  // seconds since 1970 UTC, 0 = no limit
  std::int64_t not_after = 0;
  bool play = false;
  bool record = false;
  std::string source;
};

struct StatusInfo {
  std::string version;
  std::string key_store;
  std::uint32_t schema_version = 0;
  std::uint32_t rights = 0;
  std::uint8_t parental_rating = 255;
  std::uint32_t replay_tolerance = 0;
  std::uint64_t stkms_processed = 0;
  std::uint64_t stkms_cached = 0;
  std::uint64_t stkms_rejected = 0;
  std::uint64_t stkms_bad_mac = 0;
  std::uint64_t uptime = 0;
  // Terminals with an interaction channel (ROAP); empty / 0 from an spcd without them.
  std::string roap_state;  // no-device-identity / unregistered / registering / registered
  std::string roap_ri_id;
  std::string roap_ri_url;
  std::string roap_last_error;
  std::uint64_t roap_acquisitions = 0;
  std::uint64_t roap_failures = 0;
  std::uint64_t interaction_requests = 0;
  bool auto_acquire = false;
  // Smartcard Profile (spcd --smartcard); false / empty / 0 otherwise.
  bool smartcard = false;
  bool card_present = false;
  std::string card_reader;
  std::string card_btid;
  std::vector<std::string> card_msks;  // "KEYDOMAIN:MSKID" hex, IDs only
  std::uint64_t card_mtks = 0;
  std::map<std::string, std::uint64_t> card_refusals;  // CardReplay, CardBadMac, ... → count
};

// One TEK of HeldTeks (spcd's key prefetch). Key bytes are wiped on destruction.
struct HeldTekInfo {
  std::uint16_t id = 0;
  Key128 key{};
  MasterSalt salt{};
  std::uint16_t lifetime = 0;
  std::uint8_t protocol = 0;  // traffic_protection_protocol (1 SRTP, 2 ISMACryp)
  bool authenticated = false;
  HeldTekInfo() = default;
  HeldTekInfo(const HeldTekInfo&) = default;
  HeldTekInfo& operator=(const HeldTekInfo&) = default;
  ~HeldTekInfo();
};

// Result of the management calls.
struct CallStatus {
  Error error = Error::kNone;
  std::string error_name;
  std::string message;
  bool ok() const { return error == Error::kNone; }
};

class Client {
 public:
  using TekCallback = std::function<void(TekResult)>;

  // Connects to the bus (not to spcd: a missing spcd shows as kUnavailable on the calls).
  // nullptr and *error set when the bus cannot be reached.
  static std::unique_ptr<Client> Connect(const Options& options, std::string* error);
  // Pending ProcessStkmAsync callbacks are called with kUnavailable before this returns. Do not
  // destroy the Client from one of its own callbacks.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Non-blocking; `done` runs once: on the calling thread before this returns for a repeat the
  // answer cache holds, otherwise on the client's thread.
  void ProcessStkmAsync(std::span<const std::uint8_t> stkm, const std::string& base_cid,
                        Purpose purpose, TekCallback done);
  // Blocking.
  TekResult ProcessStkm(std::span<const std::uint8_t> stkm, const std::string& base_cid,
                        Purpose purpose = Purpose::kPlay);

  CallStatus ImportKeys(const std::string& key_file_text, std::uint32_t* imported);
  CallStatus Status(StatusInfo* out);
  CallStatus ListRights(std::vector<RightsInfo>* out);
  CallStatus SetParentalRating(std::uint8_t max_age);
  // Broadcast-only terminals: the device certificate (DER) and device ID (hex) for the BSM, and
  // the registration/BCRO streams of a session description (SDP text or a path spcd reads).
  CallStatus DeviceData(std::vector<std::uint8_t>* certificate_der, std::string* device_id);
  CallStatus AddBroadcastService(const std::string& description, std::uint32_t* streams);
  // Terminals with an interaction channel (ROAP). They wait for the whole exchange with the RI,
  // at most `timeout_ms`. Failures: error kFailed with error_name
  // "org.openbcast.SPC1.Error.Roap.<...>" / ".Interaction.<...>" (spc/daemon/roap_client.h).
  CallStatus Register(const std::string& ri_url, std::string* ri_id, int timeout_ms = 120000);
  CallStatus AcquireRights(const std::vector<std::string>& content_ids,
                           std::vector<std::string>* installed, int timeout_ms = 120000);
  CallStatus HandleTrigger(std::span<const std::uint8_t> trigger, std::string* outcome,
                           int timeout_ms = 120000);

  // STKM fetching and key prefetch (spc/daemon/key_prefetch.h). FetchStkm waits for the whole
  // exchange with the BSM (retries included), at most `timeout_ms`; key_domain "" = the one the
  // service's SDP names. Failures: error_name org.openbcast.SPC1.Error.Interaction.<E> /
  // .Fetch.<E> (error kFailed), or the STKM check that refused them (kBadMac, kReplay, ...).
  CallStatus FetchStkm(const std::string& base_cid, const std::string& key_domain,
                       std::uint32_t* accepted, std::vector<std::uint16_t>* tek_ids,
                       int timeout_ms = 120000);
  // The TEKs spcd holds for the base CID, checked for `purpose`; error_name
  // org.openbcast.SPC1.Error.NoTeksHeld when none.
  CallStatus HeldTeks(const std::string& base_cid, Purpose purpose, std::vector<HeldTekInfo>* out);
  CallStatus SetChannelList(const std::vector<std::string>& sdps, int current);

  // Signal handlers (run on the client's thread). Set them before the calls whose effects you
  // want to see; replacing a handler is thread-safe.
  // Repeated STKMs answered from the answer cache so far.
  std::uint64_t AnswerCacheHits();

  void OnRightsMissing(std::function<void(const std::string& content_id)> handler);
  void OnRightsChanged(std::function<void(const std::vector<std::string>& content_ids)> handler);

  struct Impl;

  explicit Client(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace spc::client
