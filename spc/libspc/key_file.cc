#include "spc/libspc/key_file.h"

#include <glib.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "spc/libspc/crypto.h"
#include "spc/libspc/hex.h"

namespace spc {
namespace {

constexpr const char* kKeyDomain = "key-domain";
constexpr const char* kSek = "sek";
constexpr const char* kSak = "sak";
constexpr const char* kPek = "pek";
constexpr const char* kPak = "pak";

// Key values are secrets: wipe GLib's copies before they go back to the allocator.
struct CleansingGFree {
  void operator()(char* s) const {
    if (s != nullptr) Cleanse(s, std::strlen(s));
    g_free(s);
  }
};
using SecretString = std::unique_ptr<char, CleansingGFree>;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && g_ascii_isspace(s.front())) s.remove_prefix(1);
  while (!s.empty() && g_ascii_isspace(s.back())) s.remove_suffix(1);
  return s;
}

// 1-based line of `[group]`, or of `key=` inside it when key is given; 0 if not found. GKeyFile
// does not report positions, and a line number is what a person editing the file needs.
std::size_t LineOf(std::string_view text, std::string_view group, std::string_view key = {}) {
  std::size_t line = 0;
  bool in_group = false;
  std::size_t group_line = 0;
  while (!text.empty()) {
    ++line;
    std::size_t nl = text.find('\n');
    std::string_view l = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!l.empty() && l.front() == '[' && l.back() == ']') {
      in_group = l.substr(1, l.size() - 2) == group;
      if (in_group && group_line == 0) group_line = line;
      if (in_group && key.empty()) return line;
      continue;
    }
    if (in_group && !key.empty()) {
      std::size_t eq = l.find('=');
      if (eq != std::string_view::npos && Trim(l.substr(0, eq)) == key) return line;
    }
  }
  return group_line;
}

ParseError GroupError(std::string_view text, const std::string& group, const char* key,
                      const std::string& what) {
  std::string message = "[" + group + "]";
  if (key != nullptr) message += std::string(" ") + key;
  message += ": " + what;
  return ParseError{std::move(message), group,
                    key != nullptr ? LineOf(text, group, key) : LineOf(text, group)};
}

struct GKeyFileDeleter {
  void operator()(GKeyFile* f) const { g_key_file_unref(f); }
};
using KeyFilePtr = std::unique_ptr<GKeyFile, GKeyFileDeleter>;

std::optional<ParseError> ReadKey128(GKeyFile* file, std::string_view text,
                                     const std::string& group, const char* key, Key128& out) {
  SecretString value(g_key_file_get_value(file, group.c_str(), key, nullptr));
  if (!value) {
    return GroupError(text, group, key, std::string("missing (") + key + "= with 32 hex digits)");
  }
  if (!HexDecodeInto(Trim(value.get()), out)) {
    return GroupError(text, group, key, "must be 32 hex digits (a 128-bit key)");
  }
  return std::nullopt;
}

}  // namespace

Result<KeyTable> ParseKeyFile(std::string_view text) {
  KeyFilePtr file(g_key_file_new());
  g_autoptr(GError) error = nullptr;
  if (!g_key_file_load_from_data(file.get(), text.data(), text.size(), G_KEY_FILE_NONE, &error)) {
    return ParseError{std::string("key file syntax: ") + error->message, "", 0};
  }
  KeyTable table;
  gsize n_groups = 0;
  g_auto(GStrv) groups = g_key_file_get_groups(file.get(), &n_groups);
  for (gsize g = 0; g < n_groups; ++g) {
    std::string group = groups[g];
    if (Trim(group).empty()) return GroupError(text, group, nullptr, "empty content ID");
    gsize n_keys = 0;
    g_auto(GStrv) keys = g_key_file_get_keys(file.get(), group.c_str(), &n_keys, nullptr);
    bool service = false;
    bool programme = false;
    for (gsize k = 0; k < n_keys; ++k) {
      std::string_view key = keys[k];
      if (key == kSek || key == kSak) {
        service = true;
      } else if (key == kPek || key == kPak) {
        programme = true;
      } else if (key != kKeyDomain) {
        return GroupError(text, group, keys[k],
                          "unknown key (expected key-domain, sek and sak, or pek and pak)");
      }
    }

    LongTermKey ltk;
    g_autofree char* domain = g_key_file_get_value(file.get(), group.c_str(), kKeyDomain, nullptr);
    if (domain == nullptr) {
      return GroupError(text, group, kKeyDomain, "missing (key-domain= with 6 hex digits)");
    }
    std::string_view d = Trim(domain);
    std::uint32_t domain_id = 0;
    bool domain_ok = !d.empty() && d.size() <= 6;
    for (char c : d) {
      if (!g_ascii_isxdigit(c)) domain_ok = false;
      domain_id = (domain_id << 4) | static_cast<std::uint32_t>(g_ascii_xdigit_value(c) & 0x0f);
    }
    if (!domain_ok) {
      return GroupError(text, group, kKeyDomain,
                        "must be 1 to 6 hex digits (24-bit key_domain_id)");
    }
    ltk.key_domain_id = domain_id;

    if (service && programme) {
      return GroupError(text, group, nullptr,
                        "mixes service keys (sek/sak) and programme keys (pek/pak)");
    }
    if (!service && !programme) {
      return GroupError(text, group, kSek, "missing (a group needs sek and sak, or pek and pak)");
    }
    ltk.programme = programme;
    if (auto e = ReadKey128(file.get(), text, group, programme ? kPek : kSek, ltk.encryption_key)) {
      return *e;
    }
    if (auto e =
            ReadKey128(file.get(), text, group, programme ? kPak : kSak, ltk.authentication_key)) {
      return *e;
    }
    table.insert_or_assign(std::move(group), ltk);
    Cleanse(ltk.encryption_key);
    Cleanse(ltk.authentication_key);
  }
  return table;
}

Result<KeyTable> LoadKeyFile(const std::string& path) {
  g_autoptr(GError) error = nullptr;
  gchar* contents = nullptr;
  gsize length = 0;
  if (!g_file_get_contents(path.c_str(), &contents, &length, &error)) {
    return ParseError{std::string("cannot read key file: ") + error->message, path, 0};
  }
  SecretString owned(contents);
  auto result = ParseKeyFile(std::string_view(contents, length));
  if (!result) {
    ParseError e = result.error();
    e.message = path + ": " + e.message;
    return e;
  }
  return result;
}

std::string WriteKeyFile(const KeyTable& keys) {
  KeyFilePtr file(g_key_file_new());
  for (const auto& [cid, ltk] : keys) {
    char domain[16];
    std::snprintf(domain, sizeof domain, "%06x", ltk.key_domain_id & 0xffffff);
    g_key_file_set_value(file.get(), cid.c_str(), kKeyDomain, domain);
    std::string enc = HexEncode(ltk.encryption_key);
    std::string auth = HexEncode(ltk.authentication_key);
    g_key_file_set_value(file.get(), cid.c_str(), ltk.programme ? kPek : kSek, enc.c_str());
    g_key_file_set_value(file.get(), cid.c_str(), ltk.programme ? kPak : kSak, auth.c_str());
    Cleanse(enc.data(), enc.size());
    Cleanse(auth.data(), auth.size());
  }
  gsize length = 0;
  SecretString data(g_key_file_to_data(file.get(), &length, nullptr));
  return std::string(data.get(), length);
}

}  // namespace spc
