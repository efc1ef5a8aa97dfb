#include "tests/ltkm/test_pki.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <mutex>

namespace spc::test {
namespace {

std::vector<std::string>& Dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}

void RemoveDirs() {
  for (const auto& d : Dirs()) Run({"rm", "-rf", d});
}

std::unique_ptr<Pki> MakePki() {
  const char* script = std::getenv("MAKE_TEST_PKI");
  if (script == nullptr) {
    ADD_FAILURE() << "MAKE_TEST_PKI not set (run through meson test)";
    std::abort();
  }
  auto pki = std::make_unique<Pki>();
  pki->dir = TempDir();
  std::string out, err;
  if (!Run({script, pki->dir, "2"}, &out, &err)) {
    std::fprintf(stderr, "make-test-pki.sh failed: %s\n", err.c_str());
    std::abort();
  }
  auto cert = [&](const std::string& name) {
    auto c = LoadCertificateFile(pki->Path(name + ".pem"));
    if (!c) std::abort();
    return std::move(c).value();
  };
  auto key = [&](const std::string& name) {
    auto k = LoadPrivateKeyFile(pki->Path(name + ".key"));
    if (!k) std::abort();
    return std::move(k).value();
  };
  pki->root = cert("root");
  pki->ri = cert("ri");
  pki->ocsp = cert("ocsp");
  pki->root_key = key("root");
  pki->ri_key = key("ri");
  pki->ocsp_key = key("ocsp");
  for (int i = 1; i <= 2; ++i) {
    pki->devices.push_back(cert("device-" + std::to_string(i)));
    pki->device_keys.push_back(key("device-" + std::to_string(i)));
  }
  std::vector<X509Ptr> anchors;
  anchors.push_back(ShareCertificate(pki->root.get()));
  pki->anchors = MakeTrustStore(anchors);
  return pki;
}

}  // namespace

std::vector<X509Ptr> Pki::RiChain() const {
  std::vector<X509Ptr> chain;
  chain.push_back(ShareCertificate(ri.get()));
  return chain;
}

const Pki& SharedPki() {
  static const std::unique_ptr<Pki> pki = MakePki();
  return *pki;
}

const Pki& OtherPki() {
  static const std::unique_ptr<Pki> pki = MakePki();
  return *pki;
}

bool Run(const std::vector<std::string>& argv, std::string* out, std::string* err) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  gchar* o = nullptr;
  gchar* e = nullptr;
  gint status = 0;
  g_autoptr(GError) error = nullptr;
  bool spawned = g_spawn_sync(nullptr, args.data(), nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr,
                              &o, &e, &status, &error);
  if (out != nullptr && o != nullptr) *out = o;
  if (err != nullptr) *err = e != nullptr ? e : (error != nullptr ? error->message : "");
  g_free(o);
  g_free(e);
  return spawned && g_spawn_check_wait_status(status, nullptr);
}

std::string TempDir() {
  static std::once_flag once;
  // Dirs() first: its destructor then runs after RemoveDirs (reverse order of registration).
  std::call_once(once, [] {
    Dirs();
    std::atexit(RemoveDirs);
  });
  g_autoptr(GError) error = nullptr;
  gchar* dir = g_dir_make_tmp("ltkm-XXXXXX", &error);
  if (dir == nullptr) std::abort();
  std::string d = dir;
  g_free(dir);
  Dirs().push_back(d);
  return d;
}

void WriteBytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  g_autoptr(GError) error = nullptr;
  if (!g_file_set_contents(path.c_str(), reinterpret_cast<const char*>(bytes.data()),
                           static_cast<gssize>(bytes.size()), &error)) {
    ADD_FAILURE() << error->message;
  }
}

std::vector<std::uint8_t> ReadBytes(const std::string& path) {
  gchar* data = nullptr;
  gsize len = 0;
  if (!g_file_get_contents(path.c_str(), &data, &len, nullptr)) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  std::vector<std::uint8_t> v(reinterpret_cast<std::uint8_t*>(data),
                              reinterpret_cast<std::uint8_t*>(data) + len);
  g_free(data);
  return v;
}

}  // namespace spc::test
