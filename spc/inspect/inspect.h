// bcast-inspect subcommands. Each takes the arguments after its name and returns the exit status.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spc/libspc/json_writer.h"
#include "spc/libspc/ltkm/drr.h"
#include "spc/libspc/result.h"

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

std::span<const std::uint8_t> Bytes(const std::string& s);

// An option that takes a value, as "--name VALUE" or "--name=VALUE".
struct ValueOption {
  std::string_view name;
  std::optional<std::string>* value;
};

// Splits a subcommand's arguments into `options` and `files` ("-" and anything after "--" are
// files). Returns an exit status when the command is done (usage error through `usage`, or
// --help printed `help`), nullopt to go on.
std::optional<int> ParseArguments(const std::vector<std::string>& args,
                                  std::initializer_list<ValueOption> options, const char* help,
                                  int (*usage)(const std::string& why),
                                  std::vector<std::string>& files);

// The "error", "field" and "offset" members every malformed message is reported with.
void WriteError(JsonWriter& w, const std::string& message, const ParseError& e);
int WriteMalformed(JsonWriter& w, const ParseError& e);  // e.message; returns kExitMalformed

// Prints one JSON line per file: {"file":...} then what `message` writes for the file's bytes, or
// the read error. `message` returns kExitMalformed when it reported a malformed message, kExitOk
// otherwise. Exit status: malformed wins over unreadable, which wins over ok.
int ForEachInput(
    const std::vector<std::string>& files,
    const std::function<int(JsonWriter& w, std::span<const std::uint8_t> message)>& message);

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
