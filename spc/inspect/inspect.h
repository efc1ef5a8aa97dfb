// bcast-inspect subcommands. Each takes the arguments after its name and returns the exit status.
#pragma once

#include <cstdint>
#include <ctime>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/ltkm/drr.h"

namespace spc::inspect {

// sysexits.h values the tool uses, and its own "some input was malformed".
inline constexpr int kExitOk = 0;
inline constexpr int kExitIoError = 1;
inline constexpr int kExitMalformed = 2;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitDataError = 65;
inline constexpr int kExitNoInput = 66;

// Reads a whole file, or standard input for "-". False with `error` set on failure.
bool ReadInput(const std::string& path, std::string& contents, std::string& error);

int StkmCommand(const std::vector<std::string>& args);
int DrrCommand(const std::vector<std::string>& args);
int BcroCommand(const std::vector<std::string>& args);
int MikeyCommand(const std::vector<std::string>& args);

// Seconds since 1970 (decimal, non-negative). False on anything else.
bool ParseTime(const std::string& text, std::time_t& out);

// The registration a device_registration_response gives `device_key` at `now`: VerifyDrr with
// `anchors`, or, when `anchors` is null, with the response's own RI certificate taken as trusted
// (for inspecting messages without the root).
Result<RegistrationMaterial, LtkmFailure> RegistrationFromDrr(std::span<const std::uint8_t> message,
                                                              EVP_PKEY* device_key,
                                                              X509_STORE* anchors, std::time_t now);

}  // namespace spc::inspect
