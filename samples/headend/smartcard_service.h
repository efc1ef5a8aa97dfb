// The network side of a Smartcard Profile service (shared/spec/smartcard.md), as the head-end runs
// it with --profile smartcard: the BSF (bsf_server.h) with the subscribers of the command line,
// the BSM's MSK delivery (bsm_server.h), the MSK/MTK schedule whose MIKEY MTK messages go out on
// the key stream (mikey_key_stream.h), and the SDP's session-level attributes. The Headend drives
// the MTK changes and the SRTP senders (headend_smartcard.cc); the timers and signals of the
// re-keying and of the fault options live here so they go away with it.
#pragma once

#include <glib.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "samples/headend/bsf_server.h"
#include "samples/headend/bsm_server.h"
#include "samples/headend/mikey_key_stream.h"
#include "samples/headend/smartcard_options.h"

namespace headend {

enum class MtkFault { kReplay, kBadMac, kNewMsk };
const char* MtkFaultName(MtkFault fault);

class SmartcardService {
 public:
  static std::unique_ptr<SmartcardService> Create(const SmartcardOptions& options,
                                                  const MikeyKeyStream::Config& key_stream,
                                                  std::string* error);
  ~SmartcardService();
  SmartcardService(const SmartcardService&) = delete;
  SmartcardService& operator=(const SmartcardService&) = delete;

  MikeyKeyStream& keys() { return *keys_; }
  BsfServer& bsf() { return *bsf_; }
  BsmServer& bsm() { return *bsm_; }
  const SmartcardOptions& options() const { return options_; }

  // The SDP with a=bcast-profile:smartcard, a=bcast-bsf-url and a=bcast-bsm-url added at session
  // level (before the first m= line).
  std::string AddSdpAttributes(std::string_view sdp) const;

  // Timers and signals that call back into the head-end; removed with this object.
  void AddOneShot(unsigned seconds, std::function<void()> fn);
  void AddPeriodic(unsigned seconds, std::function<void()> fn);
  void AddSignal(int signum, std::function<void()> fn);

  struct Token {
   private:
    Token() = default;
    friend class SmartcardService;
  };
  explicit SmartcardService(Token) {}

 private:
  struct Callback {
    SmartcardService* owner = nullptr;
    std::function<void()> fn;
    bool once = false;
    guint id = 0;
  };
  static gboolean Fire(gpointer data);

  SmartcardOptions options_;
  std::unique_ptr<MikeyKeyStream> keys_;
  std::unique_ptr<BsfServer> bsf_;
  std::unique_ptr<BsmServer> bsm_;
  std::vector<std::unique_ptr<Callback>> callbacks_;
};

}  // namespace headend
