// The head-end's broadcast key delivery for broadcast-only terminals (ltkm.md): a carousel of
// device_registration_response() messages and BCROs on their own UDP streams, one broadcast group
// with key generations, SEK changes announced by new BCROs ahead of the switch, and device
// revocation by re-keying the group without the device. Device data (the device certificate)
// arrives out-of-band: --device-cert FILE, or POST /device-data on a small libsoup 3 server.
//
// Events on stdout (one per line):
//   ltkm ready registration=<port> bcro=<port> http=<port|off>
//   device-added id=<hex device ID>
//   drr-sent device=<hex> status=<ok|revoked> generation=<n> timestamp=<t> repetition=<k>
//   bcro-sent ro=<RO ID> cid=<content ID> group=<g> generation=<n> repetition=<k>
//   sek-announce cid=<content ID> switch-in=<s>
//   sek-switch cid=<content ID>
//   rekey generation=<n> group=<g> without=<hex device ID>
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "channels/session_description.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/ltkm/drr.h"
#include "spc/libspc/ltkm/ltkm_crypto.h"

namespace headend {

struct LtkmOptions {
  std::string ri_key_file;   // --ri-key: the RI's private key (enables the carousel)
  std::string ri_cert_file;  // --ri-cert: RI certificate chain, PEM, leaf first
  std::vector<std::string> device_cert_files;            // --device-cert (repeat)
  std::uint16_t registration_port = 4358;                // --registration-port
  std::uint16_t bcro_port = channels::kDefaultBcroPort;  // --bcro-port (4359, IANA omabcastltkm)
  unsigned repetition_ms = 1000;   // --ltkm-repetition: ms between two carousel cycles
  std::uint32_t group_id = 1;      // --broadcast-group
  unsigned sek_period_s = 0;       // --sek-period: a new SEK every S seconds (0: never)
  unsigned sek_lead_s = 3;         // --sek-lead: BCROs of a new SEK go out S seconds before use
  std::string revoke_device_file;  // --revoke-device: certificate of the device to revoke
  unsigned revoke_at_s = 0;        // --revoke-at: seconds after start
  int http_port = -1;              // --http-port: POST /device-data (-1: no server, 0: any port)
  unsigned registration_days = 30;
  bool enabled() const { return !ri_key_file.empty(); }
};

// The option group of these options (added to bcast-headend's context) and their checks.
GOptionGroup* MakeLtkmOptionGroup(LtkmOptions* options);
bool CheckLtkmOptions(const LtkmOptions& options, std::string* error);

class LtkmCarousel {
 public:
  // Called at a SEK change's switch time: the key streams use `key` with `cid_extension` from
  // now on.
  using SekSwitch = std::function<void(const spc::LongTermKey& key, std::uint32_t cid_extension)>;

  static std::unique_ptr<LtkmCarousel> Create(const LtkmOptions& options, const std::string& dest,
                                              const spc::LongTermKey& service_key,
                                              const std::string& base_cid,
                                              std::uint32_t cid_extension, SekSwitch on_switch,
                                              std::string* error);
  ~LtkmCarousel();
  LtkmCarousel(const LtkmCarousel&) = delete;
  LtkmCarousel& operator=(const LtkmCarousel&) = delete;

  // The registration and BCRO streams of the session description.
  void Describe(channels::SessionDescription* sd, int ttl) const;
  // Socket, HTTP server, timers (default main context).
  bool Start(std::string* error);

  // A device's certificate (device data): registers it in the group at the current generation.
  // A known device is not added twice.
  bool AddDevice(std::span<const std::uint8_t> certificate_pem_or_der, std::string* error);
  // Re-keys the group without the device and changes the SEK; the device's revocation response
  // goes out at the switch.
  bool Revoke(const spc::Sha1Digest& device_id, std::string* error);
  // A new SEK: its BCRO now, the switch sek_lead_s later.
  void ChangeSek();
  // Called when a SEK change is announced (before its switch) with the new key and extension:
  // the ROAP RI grants it and triggers the terminals with an interaction channel.
  std::function<void(const spc::LongTermKey& key, std::uint32_t cid_extension)> on_sek_announce;

  struct Impl;

 private:
  explicit LtkmCarousel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace headend
