#include "spc/store/key_import.h"

#include <glib.h>
#include <openssl/crypto.h>

#include <charconv>
#include <string>

#include "spc/libspc/key_file.h"

namespace spc::store {
namespace {

// The optional keys this file adds to the stkm.md key file; ParseKeyFile sees the text without
// them.
constexpr const char* kExtraKeys[] = {"not-before", "not-after", "play", "record"};

struct GFreeDeleter {
  void operator()(gchar* p) const { g_free(p); }
};

// The stripped key-file text holds key hex: wipe it before freeing.
void CleanseString(std::string& s) {
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

std::optional<std::int64_t> ParseTime(std::string_view text) {
  std::string t(text);
  g_strstrip(t.data());
  t.resize(std::char_traits<char>::length(t.c_str()));
  if (t.empty()) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec == std::errc() && end == t.data() + t.size())
    return v < 0 ? std::nullopt : std::optional(v);
  g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(t.c_str(), nullptr);
  if (!dt) return std::nullopt;
  return static_cast<std::int64_t>(g_date_time_to_unix(dt));
}

Result<std::vector<Rights>> ParseRightsFile(std::string_view text) {
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) gerr = nullptr;
  if (!g_key_file_load_from_data(kf, text.data(), text.size(), G_KEY_FILE_KEEP_COMMENTS, &gerr)) {
    return ParseError{std::string("key file: ") + gerr->message, "", 0};
  }
  gsize n_groups = 0;
  g_auto(GStrv) groups = g_key_file_get_groups(kf, &n_groups);
  if (n_groups == 0) return ParseError{"key file has no groups", "", 0};

  std::vector<Rights> out;
  out.reserve(n_groups);
  for (gsize i = 0; i < n_groups; ++i) {
    Rights r;
    r.content_id = groups[i];
    for (const char* name : kExtraKeys) {
      if (!g_key_file_has_key(kf, groups[i], name, nullptr)) continue;
      g_autofree gchar* raw = g_key_file_get_value(kf, groups[i], name, nullptr);
      std::string_view key(name);
      if (key == "not-before" || key == "not-after") {
        auto t = ParseTime(raw ? raw : "");
        if (!t) {
          return ParseError{std::string("bad ") + name + " (ISO 8601 or seconds since 1970)",
                            r.content_id, 0};
        }
        (key == "not-before" ? r.not_before : r.not_after) = *t;
      } else {
        g_autoptr(GError) berr = nullptr;
        gboolean b = g_key_file_get_boolean(kf, groups[i], name, &berr);
        if (berr) return ParseError{std::string("bad ") + name + " (true/false)", r.content_id, 0};
        (key == "play" ? r.play : r.record) = b;
      }
      g_key_file_remove_key(kf, groups[i], name, nullptr);
    }
    if (r.not_before && r.not_after && r.not_after < r.not_before) {
      return ParseError{"not-after is before not-before", r.content_id, 0};
    }
    out.push_back(std::move(r));
  }

  gsize len = 0;
  std::unique_ptr<gchar, GFreeDeleter> stripped(g_key_file_to_data(kf, &len, nullptr));
  std::string stripped_text(stripped.get(), len);
  OPENSSL_cleanse(stripped.get(), len);
  auto table = ParseKeyFile(stripped_text);
  CleanseString(stripped_text);
  if (!table) return table.error();
  for (Rights& r : out) {
    auto it = table->find(r.content_id);
    if (it == table->end()) return ParseError{"no keys in group", r.content_id, 0};
    r.key = it->second;
  }
  for (auto& [cid, key] : *table) {
    OPENSSL_cleanse(key.encryption_key.data(), key.encryption_key.size());
    OPENSSL_cleanse(key.authentication_key.data(), key.authentication_key.size());
  }
  return out;
}

}  // namespace spc::store
