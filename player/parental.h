// The terminal's parental setting and PIN, kept in the player's config file (GKeyFile, mode 0600):
//
//   [parental]
//   max-age=12                       highest minimum age shown without the PIN (255: no limit)
//   pin=pbkdf2-sha256:ITERATIONS:SALT_HEX:HASH_HEX
//
// The PIN itself is never stored: PBKDF2-HMAC-SHA256 (OpenSSL) with a random 16-byte salt, and
// the check compares in constant time.
#pragma once

#include <string>

namespace player {

struct ParentalConfig {
  unsigned max_age = 255;
  std::string pin_hash;  // "" = no PIN set: a blocked programme cannot be unlocked
};

// Default path: $XDG_CONFIG_HOME/openbcast/player.ini.
std::string DefaultConfigPath();
// A missing file is the default config (no limit, no PIN). Errors name the key.
bool LoadParentalConfig(const std::string& path, ParentalConfig* config, std::string* error);
// Writes the file with mode 0600 (its directory is created 0700).
bool SaveParentalConfig(const std::string& path, const ParentalConfig& config, std::string* error);

std::string HashPin(const std::string& pin);  // "" when OpenSSL fails
bool VerifyPin(const std::string& pin, const std::string& stored_hash);
// 4 to 12 digits.
bool ValidPin(const std::string& pin);

}  // namespace player
