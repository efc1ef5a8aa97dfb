// Test helpers of suite 'ltkm': a test PKI made by scripts/make-test-pki.sh (path in
// MAKE_TEST_PKI, set by meson) in a temporary directory, once per test program, and a runner for
// the openssl command line.
#pragma once

#include <string>
#include <vector>

#include "spc/libspc/ltkm/ltkm_crypto.h"

namespace spc::test {

struct Pki {
  std::string dir;
  X509Ptr root, ri, ocsp;
  EvpPkeyPtr root_key, ri_key, ocsp_key;
  std::vector<X509Ptr> devices;
  std::vector<EvpPkeyPtr> device_keys;
  X509StorePtr anchors;  // {root}

  std::string Path(const std::string& name) const { return dir + "/" + name; }
  std::vector<X509Ptr> RiChain() const;  // {ri}
};

// The shared PKI (2 devices) and a second, independent one (its root is not trusted by the
// first). Both are removed when the program ends.
const Pki& SharedPki();
const Pki& OtherPki();

// Runs argv; true when it exits 0. stdout/stderr captured when non-null.
bool Run(const std::vector<std::string>& argv, std::string* out = nullptr,
         std::string* err = nullptr);

// A fresh temporary directory (removed at exit) and file helpers.
std::string TempDir();
void WriteBytes(const std::string& path, const std::vector<std::uint8_t>& bytes);
std::vector<std::uint8_t> ReadBytes(const std::string& path);

}  // namespace spc::test
