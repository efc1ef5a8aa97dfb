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
// touching the element: today the key file (SEK/SAK in the process), next the SP-C daemon over
// D-Bus (ProcessStkm), where the long-term keys never enter the pipeline.
struct OpenedStkm {
  std::string content_id;
  BcastTek current{};
  std::optional<BcastTek> next;
};

enum class StkmRejectReason { kMalformed, kNoRights, kBadMac };

struct StkmRejection {
  StkmRejectReason reason = StkmRejectReason::kMalformed;
  std::string content_id;  // empty when the STKM could not be parsed
  std::string detail;      // names the field/offset or the content ID; never key bytes
  std::uint16_t tek_id = 0;
};

class TekSource {
 public:
  virtual ~TekSource() = default;
  // Called from the streaming thread, once per STKM; may block (a D-Bus source waits for spcd).
  virtual spc::Result<OpenedStkm, StkmRejection> Open(std::span<const std::uint8_t> stkm,
                                                      std::string_view base_cid) = 0;
  // Where the keys come from, for messages ("key file /path", "spcd").
  virtual std::string Describe() const = 0;
};

// Loads the key file of stkm.md. Error text names the group and line.
spc::Result<std::unique_ptr<TekSource>, std::string> MakeKeyFileTekSource(const std::string& path);

const char* StkmRejectReasonName(StkmRejectReason reason);  // "malformed" | "no-rights" | "bad-mac"

}  // namespace bcast
#endif
