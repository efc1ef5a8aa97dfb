// bcast-inspect subcommands. Each takes the arguments after its name and returns the exit status.
#pragma once

#include <string>
#include <vector>

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

}  // namespace spc::inspect
