// Command line of the head-end's Smartcard Profile (`--profile smartcard`): BSF subscribers, the
// BSM, MSK IDs and re-keying, and the key-stream faults the end-to-end tests use.
#pragma once

#include <glib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace headend {

struct SmartcardOptions {
  bool enabled = false;                         // --profile smartcard (default drm)
  std::vector<std::string> subscribers;         // --subscriber IMPI:K:OPc[:SQN] (repeatable)
  std::string subscribers_file;                 // --subscribers FILE (Bsf::LoadSubscribers format)
  std::string http_bind = "127.0.0.1";          // --sc-bind: BSF and BSM address
  int bsf_port = 0;                             // --bsf-port (0: any free)
  int bsm_port = 0;                             // --bsm-port (0: any free)
  std::string bsf_name = "bsf.openbcast.test";  // --bsf-name: realm and B-TID domain
  std::string naf_fqdn;                  // --naf-fqdn: the BSM's FQDN (default: host addressed)
  unsigned bootstrap_lifetime_s = 3600;  // --bootstrap-lifetime: B-TID validity
  std::uint32_t msk_id = 0x00010001;     // --msk-id: first MSK (key group = high 16 bits)
  unsigned msk_period_s = 0;             // --msk-period: new MSK every S s (0: never)
  unsigned msk_permissions = 3;          // --msk-permissions: bit 0 play, bit 1 record
  // Faults, each once at S seconds after the start (0: off); SIGUSR1 / SIGUSR2 / SIGHUP do the
  // same at any time.
  unsigned replay_mtk_at_s = 0;   // --replay-mtk-at: resend an earlier MTK message (98 65)
  unsigned bad_mtk_mac_at_s = 0;  // --bad-mtk-mac-at: an MTK message with a bad MAC (98 62)
  unsigned new_msk_at_s = 0;      // --new-msk-at: switch to an MSK nobody was given (6A 88)
};

// The "smartcard" option group; the values land in `options` after parsing.
GOptionGroup* MakeSmartcardOptionGroup(SmartcardOptions* options);

// Subscriber entry "IMPI:K:OPc[:SQN]" (K, OPc 32 hex digits, SQN decimal or 0x hex). The IMPI
// may contain ':' only before the last two (or three) fields: it is split from the right.
struct SubscriberSpec {
  std::string impi;
  std::string k_hex;
  std::string opc_hex;
  std::uint64_t sqn = 0;
};
bool ParseSubscriberSpec(const std::string& text, SubscriberSpec* out, std::string* error);

}  // namespace headend
