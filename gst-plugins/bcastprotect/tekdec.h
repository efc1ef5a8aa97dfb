// tekdec: the key stream's sink. Turns each STKM into TEKs (current and next) and puts them into
// the pipeline's keyring (GstContext "openbcast.keyring") for the media decryptors.
#pragma once

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

#include "gst-plugins/bcastprotect/keyring.h"

G_BEGIN_DECLS

#define GST_TYPE_TEK_DEC (gst_tek_dec_get_type())
G_DECLARE_FINAL_TYPE(GstTekDec, gst_tek_dec, GST, TEK_DEC, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE(tekdec);

G_END_DECLS

#ifdef __cplusplus
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "spc/libspc/result.h"

namespace bcast {

// The "STKM → TEKs" step of tekdec, behind one interface so that the key source can change without
// touching the element: the key file (SEK/SAK in the process, for conformance runs) or the SP-C
// daemon over D-Bus (ProcessStkmFor), where the long-term keys never enter the pipeline.
struct OpenedStkm {
  std::string content_id;
  BcastTek current{};
  std::optional<BcastTek> next;
};

// The D-Bus error short names of spcd (kebab case in messages), plus kUnavailable when spcd could
// not be reached.
enum class StkmRejectReason {
  kMalformed,
  kNoRights,
  kBadMac,
  kReplay,
  kExpired,
  kNotPermitted,
  kInvalidArgs,
  kFailed,
  kUnavailable,
};

struct StkmRejection {
  StkmRejectReason reason = StkmRejectReason::kMalformed;
  std::string content_id;  // empty when the STKM could not be parsed
  std::string detail;      // names the field/offset or the content ID; never key bytes
  std::uint16_t tek_id = 0;
};

// Where a TekSource delivers its answers. Called from the thread that submitted the STKM (key
// file) or from the source's own threads (spcd), never with a source lock held; implementations
// do their own locking.
class TekSourceListener {
 public:
  virtual ~TekSourceListener() = default;
  // `keys` may be wiped by the callee.
  virtual void OnOpened(OpenedStkm& keys) = 0;
  virtual void OnRejected(const StkmRejection& rejection) = 0;
  // spcd left the bus or stopped answering (available = false), or answers again.
  virtual void OnAvailability(bool available, const std::string& detail) = 0;
  // Smartcard Profile: spcd's CardChanged (card inserted / removed in `reader`). held_until:
  // when the TEKs already held are expected to run out (seconds since 1970, 0 = unknown).
  virtual void OnCardChanged(bool present, const std::string& reader, std::int64_t held_until) {
    (void)present;
    (void)reader;
    (void)held_until;
  }
};

enum class SubmitResult {
  kSubmitted,  // an answer will reach the listener
  kInFlight,   // the same bytes (and base CID) are being processed: this copy is not sent again
  kDropped,    // the source is unavailable; the STKM is kept to be sent when it is back
};

class TekSource {
 public:
  virtual ~TekSource() = default;
  // Called from the streaming thread, once per STKM; never blocks on I/O.
  virtual SubmitResult Submit(std::span<const std::uint8_t> stkm, std::string_view base_cid) = 0;
  // Where the keys come from, for messages ("the key file /path", "spcd (org.openbcast.SPC1 on the
  // system bus)").
  virtual std::string Describe() const = 0;
};

// Loads the key file of stkm.md. Error text names the group and line.
spc::Result<std::unique_ptr<TekSource>, std::string> MakeKeyFileTekSource(
    const std::string& path, TekSourceListener* listener);

struct SpcdSourceOptions {
  enum class Bus { kSystem, kSession, kAddress };
  Bus bus = Bus::kSystem;
  std::string address;                          // for Bus::kAddress
  std::string bus_name = "org.openbcast.SPC1";  // well-known name of spcd
  int timeout_ms = 10000;                       // per D-Bus call
  bool auto_start = true;                       // D-Bus activation of spcd
  bool record = false;                          // ProcessStkmFor purpose "record" (else "play")
};

// "the system bus", "the session bus" or "the bus at ADDRESS".
std::string DescribeBus(const SpcdSourceOptions& options);

// Connects to the bus and checks that spcd answers (a blocking Status call, which may D-Bus
// activate it). The error text is the reason only; the caller names bus and name.
spc::Result<std::unique_ptr<TekSource>, std::string> MakeSpcdTekSource(
    const SpcdSourceOptions& options, TekSourceListener* listener);

// "malformed", "no-rights", "bad-mac", "replay", "expired", "not-permitted", "invalid-args",
// "failed", "unavailable".
const char* StkmRejectReasonName(StkmRejectReason reason);

}  // namespace bcast
#endif
