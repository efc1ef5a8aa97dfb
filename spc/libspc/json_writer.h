// A tiny streaming JSON writer (json-glib is not a dependency): one line of JSON Lines output per
// object, correct string escaping, byte strings as lowercase hex. Misuse (a value without a key
// inside an object, unbalanced End*) is a programming error and is not diagnosed.
//
//   JsonWriter w;
//   w.BeginObject().Member("field", "x").Member("offset", 3).Key("list").BeginArray();
//   w.Uint(1).EndArray().EndObject();
//   puts(w.str().c_str());   // {"field":"x","offset":3,"list":[1]}
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace spc {

// `s` as a quoted JSON string. Invalid UTF-8 is replaced by U+FFFD so the output stays valid JSON.
std::string JsonQuote(std::string_view s);

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();

  JsonWriter& Key(std::string_view key);

  JsonWriter& String(std::string_view s);
  JsonWriter& Bool(bool b);
  JsonWriter& Int(std::int64_t v);
  JsonWriter& Uint(std::uint64_t v);
  JsonWriter& Double(double v);  // NaN and infinities become null
  JsonWriter& Null();
  JsonWriter& Hex(std::span<const std::uint8_t> bytes);  // lowercase hex string

  // Key(key) followed by the value of the matching type.
  JsonWriter& Member(std::string_view key, std::string_view s) { return Key(key).String(s); }
  JsonWriter& Member(std::string_view key, const char* s) { return Key(key).String(s); }
  JsonWriter& Member(std::string_view key, const std::string& s) { return Key(key).String(s); }
  JsonWriter& Member(std::string_view key, bool b) { return Key(key).Bool(b); }
  template <class T>
  requires(std::is_integral_v<T> &&
           !std::is_same_v<T, bool>) JsonWriter& Member(std::string_view key, T v) {
    if constexpr (std::is_signed_v<T>) {
      return Key(key).Int(v);
    } else {
      return Key(key).Uint(v);
    }
  }
  JsonWriter& HexMember(std::string_view key, std::span<const std::uint8_t> bytes) {
    return Key(key).Hex(bytes);
  }

  const std::string& str() const { return out_; }
  std::string Take();

 private:
  void BeforeValue();

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace spc
