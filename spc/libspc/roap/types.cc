#include "spc/libspc/roap/types.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <ctime>

namespace spc::roap {

namespace {

constexpr std::array<std::string_view, kStatusCount> kStatusNames = {
    "Success",
    "UnknownError",
    "Abort",
    "NotSupported",
    "AccessDenied",
    "NotFound",
    "MalformedRequest",
    "UnknownRequest",
    "UnknownCriticalExtension",
    "UnsupportedVersion",
    "UnsupportedAlgorithm",
    "NoCertificateChain",
    "InvalidCertificateChain",
    "TrustedRootCertificateNotPresent",
    "SignatureError",
    "DeviceTimeError",
    "NotRegistered",
    "InvalidDCFHash",
    "InvalidDomain",
    "DomainFull",
};

bool IsXmlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::string_view StatusName(Status status) {
  auto i = static_cast<std::size_t>(status);
  return i < kStatusNames.size() ? kStatusNames[i] : std::string_view("UnknownError");
}

std::optional<Status> StatusFromName(std::string_view name) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == name) return static_cast<Status>(i);
  }
  return std::nullopt;
}

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kMalformed:
      return "Malformed";
    case ErrorCode::kStatusNotSuccess:
      return "StatusNotSuccess";
    case ErrorCode::kBadSignature:
      return "BadSignature";
    case ErrorCode::kWrongNonce:
      return "WrongNonce";
    case ErrorCode::kWrongSessionId:
      return "WrongSessionId";
    case ErrorCode::kWrongDeviceId:
      return "WrongDeviceId";
    case ErrorCode::kWrongRiId:
      return "WrongRiId";
    case ErrorCode::kUntrustedCertificate:
      return "UntrustedCertificate";
    case ErrorCode::kExpiredCertificate:
      return "ExpiredCertificate";
    case ErrorCode::kRevokedCertificate:
      return "RevokedCertificate";
    case ErrorCode::kOcspMissing:
      return "OcspMissing";
    case ErrorCode::kOcspNonceMismatch:
      return "OcspNonceMismatch";
    case ErrorCode::kOcspInvalid:
      return "OcspInvalid";
    case ErrorCode::kRoForAnotherDevice:
      return "RoForAnotherDevice";
    case ErrorCode::kBadRoDigest:
      return "BadRoDigest";
    case ErrorCode::kBadRoMac:
      return "BadRoMac";
    case ErrorCode::kKeyUnwrapFailed:
      return "KeyUnwrapFailed";
    case ErrorCode::kUnknownRi:
      return "UnknownRi";
    case ErrorCode::kNotRegistered:
      return "NotRegistered";
    case ErrorCode::kDeviceTimeError:
      return "DeviceTimeError";
    case ErrorCode::kBadState:
      return "BadState";
    case ErrorCode::kUnsupported:
      return "Unsupported";
  }
  return "Unknown";
}

std::string ErrorName(const Error& error) {
  std::string name(ErrorCodeName(error.code));
  if (error.code == ErrorCode::kStatusNotSuccess) {
    name += "(" + std::string(StatusName(error.status)) + ")";
  } else if (error.code == ErrorCode::kMalformed) {
    name += "(" + error.field + ")";
  }
  return name;
}

Error MakeError(ErrorCode code, std::string message, std::string field, std::size_t offset) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  e.field = std::move(field);
  e.offset = offset;
  return e;
}

Error Malformed(std::string field, std::size_t offset, std::string message) {
  return MakeError(ErrorCode::kMalformed, std::move(message), std::move(field), offset);
}

Error StatusError(Status status) {
  Error e = MakeError(ErrorCode::kStatusNotSuccess,
                      "peer answered status " + std::string(StatusName(status)), "status");
  e.status = status;
  return e;
}

std::string Base64Encode(std::span<const std::uint8_t> data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                          static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<Bytes> Base64Decode(std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (char c : text) {
    if (IsXmlSpace(c)) continue;
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=';
    if (!ok) return std::nullopt;
    clean.push_back(c);
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < clean.size(); ++i) {
    if (clean[i] == '=') {
      // Padding only in the last two positions of the last group.
      if (i + 2 < clean.size()) return std::nullopt;
      ++pad;
    } else if (pad > 0) {
      return std::nullopt;
    }
  }
  if (clean.empty()) return Bytes{};
  Bytes out(clean.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  out.resize(static_cast<std::size_t>(n) - pad);
  // Canonical form only: what decodes must re-encode to the same text, so one value has one
  // encoding (non-zero pad bits would otherwise be silently dropped).
  if (Base64Encode(out) != clean) return std::nullopt;
  return out;
}

std::string FormatTime(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<std::int64_t> ParseTime(std::string_view s) {
  // Exactly YYYY-MM-DDThh:mm:ssZ.
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') {
    return std::nullopt;
  }
  auto num = [&](std::size_t pos, std::size_t len) -> int {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  int year = num(0, 4), month = num(5, 2), day = num(8, 2);
  int hour = num(11, 2), minute = num(14, 2), second = num(17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 59) {
    return std::nullopt;
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int max_day = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  if (day > max_day) return std::nullopt;
  // Days from civil (proleptic Gregorian), no dependence on the TZ environment.
  int y = year - (month <= 2 ? 1 : 0);
  int era = y / 400;
  int yoe = y - era * 400;
  int mp = (month + 9) % 12;
  int doy = (153 * mp + 2) / 5 + day - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace spc::roap
