#include "player/parental.h"

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace player {
namespace {

constexpr char kScheme[] = "pbkdf2-sha256";
constexpr unsigned kIterations = 200000;
constexpr std::size_t kSaltSize = 16;
constexpr std::size_t kHashSize = 32;

std::string Hex(const std::uint8_t* data, std::size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

bool Unhex(const std::string& text, std::vector<std::uint8_t>* out) {
  if (text.size() % 2 != 0) return false;
  out->clear();
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = g_ascii_xdigit_value(text[i]);
    const int lo = g_ascii_xdigit_value(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return true;
}

bool Derive(const std::string& pin, const std::vector<std::uint8_t>& salt, unsigned iterations,
            std::uint8_t* out, std::size_t size) {
  return PKCS5_PBKDF2_HMAC(pin.data(), static_cast<int>(pin.size()), salt.data(),
                           static_cast<int>(salt.size()), static_cast<int>(iterations),
                           EVP_sha256(), static_cast<int>(size), out) == 1;
}

}  // namespace

std::string DefaultConfigPath() {
  g_autofree gchar* path =
      g_build_filename(g_get_user_config_dir(), "openbcast", "player.ini", nullptr);
  return path;
}

bool ValidPin(const std::string& pin) {
  if (pin.size() < 4 || pin.size() > 12) return false;
  for (char c : pin) {
    if (!g_ascii_isdigit(c)) return false;
  }
  return true;
}

std::string HashPin(const std::string& pin) {
  std::vector<std::uint8_t> salt(kSaltSize);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) return "";
  std::array<std::uint8_t, kHashSize> hash{};
  if (!Derive(pin, salt, kIterations, hash.data(), hash.size())) return "";
  std::string out = std::string(kScheme) + ":" + std::to_string(kIterations) + ":" +
                    Hex(salt.data(), salt.size()) + ":" + Hex(hash.data(), hash.size());
  OPENSSL_cleanse(hash.data(), hash.size());
  return out;
}

bool VerifyPin(const std::string& pin, const std::string& stored) {
  g_auto(GStrv) parts = g_strsplit(stored.c_str(), ":", -1);
  if (g_strv_length(parts) != 4 || std::strcmp(parts[0], kScheme) != 0) return false;
  const guint64 iterations = g_ascii_strtoull(parts[1], nullptr, 10);
  if (iterations < 1000 || iterations > 10000000) return false;
  std::vector<std::uint8_t> salt, expected;
  if (!Unhex(parts[2], &salt) || !Unhex(parts[3], &expected) || expected.empty() ||
      expected.size() > 64) {
    return false;
  }
  std::vector<std::uint8_t> got(expected.size());
  if (!Derive(pin, salt, static_cast<unsigned>(iterations), got.data(), got.size())) return false;
  const bool same = CRYPTO_memcmp(got.data(), expected.data(), got.size()) == 0;
  OPENSSL_cleanse(got.data(), got.size());
  return same;
}

bool LoadParentalConfig(const std::string& path, ParentalConfig* config, std::string* error) {
  *config = ParentalConfig{};
  if (!g_file_test(path.c_str(), G_FILE_TEST_EXISTS)) return true;
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) err = nullptr;
  if (!g_key_file_load_from_file(kf, path.c_str(), G_KEY_FILE_NONE, &err)) {
    *error = path + ": " + err->message;
    return false;
  }
  if (g_key_file_has_key(kf, "parental", "max-age", nullptr)) {
    const gint age = g_key_file_get_integer(kf, "parental", "max-age", &err);
    if (err != nullptr || age < 0 || age > 255) {
      *error = path + ": [parental] max-age must be 0..255";
      return false;
    }
    config->max_age = static_cast<unsigned>(age);
  }
  g_autofree gchar* pin = g_key_file_get_string(kf, "parental", "pin", nullptr);
  if (pin != nullptr) config->pin_hash = pin;
  return true;
}

bool SaveParentalConfig(const std::string& path, const ParentalConfig& config, std::string* error) {
  g_autofree gchar* dir = g_path_get_dirname(path.c_str());
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    *error = std::string("cannot create ") + dir + ": " + std::strerror(errno);
    return false;
  }
  g_autoptr(GKeyFile) kf = g_key_file_new();
  // Keep whatever else the file holds.
  g_key_file_load_from_file(kf, path.c_str(), G_KEY_FILE_KEEP_COMMENTS, nullptr);
  g_key_file_set_integer(kf, "parental", "max-age", static_cast<gint>(config.max_age));
  if (config.pin_hash.empty()) {
    g_key_file_remove_key(kf, "parental", "pin", nullptr);
  } else {
    g_key_file_set_string(kf, "parental", "pin", config.pin_hash.c_str());
  }
  gsize length = 0;
  g_autofree gchar* data = g_key_file_to_data(kf, &length, nullptr);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  ::fchmod(fd, 0600);
  const bool written =
      ::write(fd, data, length) == static_cast<ssize_t>(length) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace player
