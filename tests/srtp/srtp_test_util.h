// Helpers for the SRTP tests: RTP packets, hex, libsrtp reference sessions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace srtp_test {

inline std::vector<std::uint8_t> Hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  std::string digits;
  for (char c : hex) {
    if (c != ' ' && c != '\n') digits += c;
  }
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// RTP packet, PT 96, payload derived from (seq, fill).
inline std::vector<std::uint8_t> MakeRtp(std::uint16_t seq, std::uint32_t ssrc,
                                         std::size_t payload_len = 40, std::uint8_t fill = 0) {
  std::vector<std::uint8_t> p(12 + payload_len);
  p[0] = 0x80;
  p[1] = 96;
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  const std::uint32_t ts = seq * 3000u;
  for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) p[8 + i] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * i));
  for (std::size_t i = 0; i < payload_len; ++i) {
    p[12 + i] = static_cast<std::uint8_t>(i * 7 + seq + fill);
  }
  return p;
}

inline std::array<std::uint8_t, 16> TestKey(std::uint8_t base) {
  std::array<std::uint8_t, 16> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(base + i * 3);
  return k;
}
inline std::array<std::uint8_t, 14> TestSalt(std::uint8_t base) {
  std::array<std::uint8_t, 14> s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(base ^ (i * 11));
  return s;
}

}  // namespace srtp_test
