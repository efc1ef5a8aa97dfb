// Internal to libspc: the big-endian field reader and writer of the binary layouts (stkm.cc, and
// ltkm/drr.cc and ltkm/bcro.cc for the [project] long-term-key messages).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/result.h"

namespace spc::wire {

// What a truncation error adds after "only N remain" when the caller has nothing better to say.
inline constexpr char kShortMessage[] = " (message truncated, or a count or length field is wrong)";

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> message)
      : Reader(message, message.size(), kShortMessage) {}
  // Reads fields only up to `end` (a trailer the caller takes itself follows), and says
  // `shortage` after "only N remain" when a field does not fit there.
  Reader(std::span<const std::uint8_t> message, std::size_t end, const char* shortage)
      : msg_(message.first(end)), shortage_(shortage) {}

  std::size_t pos() const { return pos_; }
  std::size_t end() const { return msg_.size(); }
  std::size_t left() const { return msg_.size() - pos_; }
  const ParseError& error() const { return error_; }

  // Reads `n` bytes as a big-endian number (n <= 8) or fails naming `field`.
  bool Uint(const char* field, std::size_t n, std::uint64_t& out) {
    if (!Need(field, n)) return false;
    out = 0;
    for (std::size_t i = 0; i < n; ++i) out = (out << 8) | msg_[pos_ + i];
    pos_ += n;
    return true;
  }
  template <class T>
  bool Number(const char* field, std::size_t n, T& out) {
    std::uint64_t v = 0;
    if (!Uint(field, n, v)) return false;
    out = static_cast<T>(v);
    return true;
  }
  // Fixed-size field into `out`.
  bool Bytes(const char* field, std::span<std::uint8_t> out) {
    if (!Need(field, out.size())) return false;
    std::copy_n(msg_.begin() + static_cast<std::ptrdiff_t>(pos_), out.size(), out.begin());
    pos_ += out.size();
    return true;
  }
  // `n` bytes (announced by a length field) appended to a container.
  template <class C>
  bool Take(const char* field, std::size_t n, C& out) {
    if (!Need(field, n)) return false;
    auto first = msg_.begin() + static_cast<std::ptrdiff_t>(pos_);
    out.assign(first, first + static_cast<std::ptrdiff_t>(n));
    pos_ += n;
    return true;
  }

  bool Fail(std::string message, std::string field, std::size_t offset) {
    error_ = ParseError{std::move(message), std::move(field), offset};
    return false;
  }

  // Prefix for messages inside a loop ("certificate 2 of 3: ").
  std::string context;

 private:
  bool Need(const char* field, std::size_t n) {
    if (n <= left()) return true;
    return Fail(std::string(field) + ": " + context + "needs " + std::to_string(n) +
                    " bytes at offset " + std::to_string(pos_) + " but only " +
                    std::to_string(left()) + " remain" + shortage_,
                field, pos_);
  }

  std::span<const std::uint8_t> msg_;
  const char* shortage_;
  std::size_t pos_ = 0;
  ParseError error_;
};

inline void PutUint(std::vector<std::uint8_t>& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

template <class C>
void PutBytes(std::vector<std::uint8_t>& out, const C& bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

}  // namespace spc::wire
