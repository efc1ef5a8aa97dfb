// bcast-headend: the sample OMA BCAST head-end (see --help).
#include <gst/gst.h>

#include <cstdio>
#include <string>

#include "samples/headend/headend.h"
#include "samples/headend/options.h"
#include "spc/libspc/crypto.h"

int main(int argc, char** argv) {
  spc::KeepOpensslStateUntilExit();  // the encrypting streaming threads outlive gst_deinit
  gst_init(&argc, &argv);
  headend::Options options;
  std::string error;
  if (!headend::ParseOptions(argc, argv, &options, &error)) {
    std::fprintf(stderr, "bcast-headend: %s (see --help)\n", error.c_str());
    return 2;
  }
  if (!options.write_key_file.empty()) return headend::WriteKeyFileAndExit(options);
  int rc = 0;
  {
    headend::Headend headend(std::move(options));
    rc = headend.Run();
  }
  gst_deinit();
  return rc;
}
