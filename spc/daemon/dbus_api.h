// Names of spcd's D-Bus API (org.openbcast.SPC1.xml) and its error domain, shared by spcd, the
// client library and spcctl.
#pragma once

#include <gio/gio.h>

#include <string_view>

namespace spc::daemon {

inline constexpr char kBusName[] = "org.openbcast.SPC1";
inline constexpr char kObjectPath[] = "/org/openbcast/SPC1";
inline constexpr char kInterface[] = "org.openbcast.SPC1";

// GError codes of SpcDaemonError() = the order of the D-Bus error names below.
enum class Code {
  kFailed = 0,
  kMalformed,
  kNoRights,
  kBadMac,
  kReplay,
  kExpired,
  kNotPermitted,
  kInvalidArgs,
  kInvalidKeyFile,
};
inline constexpr int kCodeCount = 9;

// "org.openbcast.SPC1.Error.<Name>".
const char* ErrorName(Code code);
// The GError domain, registered with GDBus so that errors cross the bus by name.
GQuark SpcDaemonError();

}  // namespace spc::daemon
