// bcast-inspect: prints BCAST messages as JSON Lines, for people and for conformance scripts.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "spc/inspect/inspect.h"

namespace spc::inspect {
namespace {

struct Subcommand {
  const char* name;
  int (*run)(const std::vector<std::string>& args);
  const char* synopsis;
};

constexpr Subcommand kSubcommands[] = {
    {"stkm", StkmCommand, "stkm [--base-cid CID [--keys FILE]] FILE...  (- reads standard input)"},
    {"drr", DrrCommand, "drr [--device-key FILE [--anchors FILE] [--now SECONDS]] FILE..."},
    {"bcro", BcroCommand,
     "bcro [--drr FILE --device-key FILE [--anchors FILE] [--now SECONDS]] FILE..."},
    {"mikey", MikeyCommand, "mikey [--msk HEX] [--muk HEX] FILE...  (Smartcard Profile MIKEY)"},
};

void PrintUsage(FILE* out) {
  std::fprintf(out, "usage:\n");
  for (const auto& s : kSubcommands) std::fprintf(out, "  bcast-inspect %s\n", s.synopsis);
  std::fprintf(out,
               "\nOne JSON object per message per line. Exit status: 0 all messages read, 2 some\n"
               "message malformed, 1 some file unreadable, 64 usage error.\n");
}

}  // namespace

}  // namespace spc::inspect

int main(int argc, char** argv) {
  using namespace spc::inspect;
  if (argc < 2) {
    PrintUsage(stderr);
    return kExitUsage;
  }
  std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    PrintUsage(stdout);
    return kExitOk;
  }
  for (const auto& s : kSubcommands) {
    if (command == s.name) return s.run(std::vector<std::string>(argv + 2, argv + argc));
  }
  std::fprintf(stderr, "bcast-inspect: unknown subcommand '%s'\n", argv[1]);
  PrintUsage(stderr);
  return kExitUsage;
}
