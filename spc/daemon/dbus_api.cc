#include "spc/daemon/dbus_api.h"

namespace spc::daemon {
namespace {

const GDBusErrorEntry kEntries[] = {
    {static_cast<gint>(Code::kFailed), "org.openbcast.SPC1.Error.Failed"},
    {static_cast<gint>(Code::kMalformed), "org.openbcast.SPC1.Error.Malformed"},
    {static_cast<gint>(Code::kNoRights), "org.openbcast.SPC1.Error.NoRights"},
    {static_cast<gint>(Code::kBadMac), "org.openbcast.SPC1.Error.BadMac"},
    {static_cast<gint>(Code::kReplay), "org.openbcast.SPC1.Error.Replay"},
    {static_cast<gint>(Code::kExpired), "org.openbcast.SPC1.Error.Expired"},
    {static_cast<gint>(Code::kNotPermitted), "org.openbcast.SPC1.Error.NotPermitted"},
    {static_cast<gint>(Code::kInvalidArgs), "org.openbcast.SPC1.Error.InvalidArgs"},
    {static_cast<gint>(Code::kInvalidKeyFile), "org.openbcast.SPC1.Error.InvalidKeyFile"},
};
static_assert(G_N_ELEMENTS(kEntries) == kCodeCount);

}  // namespace

const char* ErrorName(Code code) {
  int i = static_cast<int>(code);
  return (i >= 0 && i < kCodeCount) ? kEntries[i].dbus_error_name : kEntries[0].dbus_error_name;
}

GQuark SpcDaemonError() {
  static gsize quark = 0;
  g_dbus_error_register_error_domain("spc-daemon-error-quark", &quark, kEntries,
                                     G_N_ELEMENTS(kEntries));
  return static_cast<GQuark>(quark);
}

}  // namespace spc::daemon
