// Result type for parsers and loaders: a value or an error that names the field and the byte
// offset. (std::expected is C++23; this is the small subset the project needs.)
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <variant>

namespace spc {

// Why a message was rejected. `field` is the wire-format field name of the spec note, `offset` the
// byte offset in the message where that field starts (or where the data ran out).
struct ParseError {
  std::string message;
  std::string field;
  std::size_t offset = 0;
};

template <class T, class E = ParseError>
class Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const E& error() const { return std::get<1>(v_); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, E> v_;
};

}  // namespace spc
