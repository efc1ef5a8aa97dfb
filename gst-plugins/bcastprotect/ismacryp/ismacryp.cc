#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>

namespace bcast::ismacryp {
namespace {

spc::ParseError Err(std::string message, std::string field, std::size_t offset) {
  return spc::ParseError{std::move(message), std::move(field), offset};
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool FitsBits(std::uint64_t v, unsigned bits) { return bits >= 64 || (v >> bits) == 0; }

bool ParseHex(std::string_view s, Bytes* out) {
  if (s.size() % 2 != 0) return false;
  out->clear();
  for (std::size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    auto r = std::from_chars(s.data() + i, s.data() + i + 2, v, 16);
    if (r.ec != std::errc() || r.ptr != s.data() + i + 2) return false;
    out->push_back(static_cast<std::uint8_t>(v));
  }
  return true;
}

std::string ToHex(std::span<const std::uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s.push_back(kDigits[c >> 4]);
    s.push_back(kDigits[c & 15]);
  }
  return s;
}

bool ParseBase64(std::string_view s, Bytes* out) {
  if (s.empty() || s.size() % 4 != 0) return false;
  out->assign(s.size() / 4 * 3, 0);
  std::string in(s);
  int n = EVP_DecodeBlock(out->data(), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return false;
  std::size_t pad = 0;
  if (s.back() == '=') pad = (s[s.size() - 2] == '=') ? 2 : 1;
  out->resize(static_cast<std::size_t>(n) - pad);
  return true;
}

// MSB-first bit reader over [0, limit_bits) of a buffer.
class BitReader {
 public:
  BitReader(std::span<const std::uint8_t> data, std::size_t start_bit, std::size_t limit_bits)
      : data_(data), pos_(start_bit), limit_(limit_bits) {}
  // On failure nothing is read: pos() is still the start of the field that did not fit.
  bool Read(unsigned bits, std::uint64_t* v) {
    if (bits > 64 || pos_ + bits > limit_) return false;
    if (bits == 0) {
      *v = 0;
      return true;
    }
    const std::size_t byte = pos_ / 8;
    const unsigned shift = static_cast<unsigned>(pos_ % 8);
    if (shift + bits <= 64 && byte + 8 <= data_.size()) {
      // One 8-byte load per field (the AU-header section starts a 1400-byte payload, so all but
      // the last fields of a tiny packet are read so).
      std::uint64_t w = 0;
      std::memcpy(&w, data_.data() + byte, 8);
      if constexpr (std::endian::native == std::endian::little) w = __builtin_bswap64(w);
      *v = (w << shift) >> (64 - bits);
      pos_ += bits;
      return true;
    }
    std::uint64_t r = 0;
    while (bits > 0) {
      const unsigned in_byte = 8 - static_cast<unsigned>(pos_ % 8);
      const unsigned take = bits < in_byte ? bits : in_byte;
      const unsigned b = data_[pos_ / 8];
      const unsigned chunk = (b >> (in_byte - take)) & ((1u << take) - 1u);
      r = (r << take) | chunk;
      pos_ += take;
      bits -= take;
    }
    *v = r;
    return true;
  }
  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return limit_ - pos_; }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_;
  std::size_t limit_;
};

class BitWriter {
 public:
  void Write(std::uint64_t v, unsigned bits) {
    for (unsigned i = bits; i-- > 0;) {
      if (bit_ % 8 == 0) out_.push_back(0);
      if ((v >> i) & 1u) out_.back() |= static_cast<std::uint8_t>(0x80u >> (bit_ % 8));
      ++bit_;
    }
  }
  std::size_t bits() const { return bit_; }
  Bytes& bytes() { return out_; }

 private:
  Bytes out_;
  std::size_t bit_ = 0;
};

// Reads one AU header; on failure `field` names the field that ran out and `field_bit` is where
// it starts. Fills every field of *h (it may hold a previous packet's header: its storage is
// reused). The names are only worked out on failure: this runs for every packet.
bool ReadHeader(const Fmtp& f, bool first, BitReader* r, AuHeader* h, const char** field,
                std::size_t* field_bit) {
  std::uint64_t v = 0;
  auto fail = [&](const char* name, std::size_t bit) {
    *field = name;
    *field_bit = bit;
    return false;
  };
  h->encrypted = true;
  h->has_key_indicator = false;
  h->cts_delta.reset();
  h->dts_delta.reset();
  h->rap = false;
  h->stream_state = 0;
  if (f.selective_encryption) {
    if (!r->Read(8, &v)) return fail("AU_is_encrypted", r->pos());
    h->encrypted = (v & 0x80u) != 0;
  }
  if (!r->Read(8 * (first ? f.iv_length : f.delta_iv_length), &v)) {
    return fail(first ? "IV" : "delta IV", r->pos());
  }
  h->iv = v;
  if (f.key_indicator_length > 0 && (first || f.key_indicator_per_au)) {
    h->has_key_indicator = true;
    h->key_indicator.resize(f.key_indicator_length);
    const std::size_t start = r->pos();
    if (f.key_indicator_length <= 8) {
      if (!r->Read(8 * f.key_indicator_length, &v)) return fail("key indicator", start);
      for (unsigned i = f.key_indicator_length; i-- > 0; v >>= 8) {
        h->key_indicator[i] = static_cast<std::uint8_t>(v);
      }
    } else {
      for (unsigned i = 0; i < f.key_indicator_length; ++i) {
        if (!r->Read(8, &v)) return fail("key indicator", start);
        h->key_indicator[i] = static_cast<std::uint8_t>(v);
      }
    }
  } else {
    h->key_indicator.clear();
  }
  if (f.size_length > 0) {
    if (!r->Read(f.size_length, &v)) return fail("AU-size", r->pos());
    h->size = static_cast<std::uint32_t>(v);
  } else {
    h->size = f.constant_size;
  }
  if (!r->Read(first ? f.index_length : f.index_delta_length, &v)) {
    return fail(first ? "AU-Index" : "AU-Index-delta", r->pos());
  }
  h->index = static_cast<std::uint32_t>(v);
  if (f.cts_delta_length > 0) {
    if (!r->Read(1, &v)) return fail("CTS-flag", r->pos());
    if (v) {
      if (!r->Read(f.cts_delta_length, &v)) return fail("CTS-delta", r->pos());
      h->cts_delta = static_cast<std::uint32_t>(v);
    }
  }
  if (f.dts_delta_length > 0) {
    if (!r->Read(1, &v)) return fail("DTS-flag", r->pos());
    if (v) {
      if (!r->Read(f.dts_delta_length, &v)) return fail("DTS-delta", r->pos());
      h->dts_delta = static_cast<std::uint32_t>(v);
    }
  }
  if (f.random_access_indication) {
    if (!r->Read(1, &v)) return fail("RAP-flag", r->pos());
    h->rap = v != 0;
  }
  if (f.stream_state_indication > 0) {
    if (!r->Read(f.stream_state_indication, &v)) return fail("Stream-state", r->pos());
    h->stream_state = static_cast<std::uint32_t>(v);
  }
  return true;
}

}  // namespace

unsigned Fmtp::MinFirstHeaderBits() const {
  unsigned bits = (selective_encryption ? 8 : 0) + 8 * iv_length + 8 * key_indicator_length +
                  size_length + index_length + (cts_delta_length ? 1 : 0) +
                  (dts_delta_length ? 1 : 0) + (random_access_indication ? 1 : 0) +
                  stream_state_indication;
  return bits;
}

unsigned Fmtp::MinLaterHeaderBits() const {
  unsigned bits = (selective_encryption ? 8 : 0) + 8 * delta_iv_length +
                  (key_indicator_per_au ? 8 * key_indicator_length : 0) + size_length +
                  index_delta_length + (cts_delta_length ? 1 : 0) + (dts_delta_length ? 1 : 0) +
                  (random_access_indication ? 1 : 0) + stream_state_indication;
  return bits;
}

spc::Result<Fmtp> ParseFmtp(const std::vector<std::pair<std::string, std::string>>& params) {
  Fmtp f;
  for (const auto& [raw_name, raw_value] : params) {
    std::string_view name = Trim(raw_name);
    std::string_view value = Trim(raw_value);
    auto number = [&](unsigned max, auto* out) -> bool {
      std::uint64_t v = 0;
      auto r = std::from_chars(value.data(), value.data() + value.size(), v);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size() || v > max) return false;
      *out = static_cast<std::remove_pointer_t<decltype(out)>>(v);
      return true;
    };
    auto flag = [&](bool* out) -> bool {
      unsigned v = 0;
      if (!number(1, &v)) return false;
      *out = v != 0;
      return true;
    };
    bool ok = true;
    if (IEquals(name, "ISMACrypCryptoSuite")) {
      ok = IEquals(value, "AES_CTR_128");
    } else if (IEquals(name, "ISMACrypIVLength")) {
      ok = number(8, &f.iv_length);
    } else if (IEquals(name, "ISMACrypDeltaIVLength")) {
      ok = number(8, &f.delta_iv_length);
    } else if (IEquals(name, "ISMACrypKeyIndicatorLength")) {
      ok = number(255, &f.key_indicator_length);
    } else if (IEquals(name, "ISMACrypKeyIndicatorPerAU")) {
      ok = flag(&f.key_indicator_per_au);
    } else if (IEquals(name, "ISMACrypSelectiveEncryption")) {
      ok = flag(&f.selective_encryption);
    } else if (IEquals(name, "ISMACrypSalt")) {
      Bytes b;
      ok = (value.size() == 16 && ParseHex(value, &b)) || (ParseBase64(value, &b) && b.size() == 8);
      if (ok) std::copy(b.begin(), b.end(), f.salt.begin());
    } else if (IEquals(name, "mode")) {
      f.mode = value;
    } else if (IEquals(name, "streamType")) {
      unsigned v = 0;
      ok = number(255, &v);
      f.stream_type = static_cast<int>(v);
    } else if (IEquals(name, "config")) {
      ok = ParseHex(value, &f.config);
    } else if (IEquals(name, "sizeLength")) {
      ok = number(32, &f.size_length);
    } else if (IEquals(name, "indexLength")) {
      ok = number(32, &f.index_length);
    } else if (IEquals(name, "indexDeltaLength")) {
      ok = number(32, &f.index_delta_length);
    } else if (IEquals(name, "CTSDeltaLength")) {
      ok = number(32, &f.cts_delta_length);
    } else if (IEquals(name, "DTSDeltaLength")) {
      ok = number(32, &f.dts_delta_length);
    } else if (IEquals(name, "randomAccessIndication")) {
      ok = flag(&f.random_access_indication);
    } else if (IEquals(name, "streamStateIndication")) {
      ok = number(32, &f.stream_state_indication);
    } else if (IEquals(name, "auxiliaryDataSizeLength")) {
      ok = number(32, &f.auxiliary_data_size_length);
    } else if (IEquals(name, "constantSize")) {
      ok = number(std::numeric_limits<std::uint32_t>::max(), &f.constant_size);
    } else if (IEquals(name, "constantDuration")) {
      ok = number(std::numeric_limits<std::uint32_t>::max(), &f.constant_duration);
    } else if (IEquals(name, "sprop-parameter-sets")) {
      f.sprop_parameter_sets = value;
    }
    if (!ok) {
      return Err("bad value \"" + std::string(value) + "\"", std::string(name), 0);
    }
  }
  return f;
}

std::string FormatFmtp(const Fmtp& f) {
  std::string s;
  auto add = [&s](std::string_view k, const std::string& v) {
    if (!s.empty()) s += "; ";
    s += k;
    s += '=';
    s += v;
  };
  if (f.stream_type >= 0) add("streamType", std::to_string(f.stream_type));
  if (!f.mode.empty()) add("mode", f.mode);
  if (!f.config.empty()) add("config", ToHex(f.config));
  if (!f.sprop_parameter_sets.empty()) add("sprop-parameter-sets", f.sprop_parameter_sets);
  auto add_n = [&](std::string_view k, unsigned v) {
    if (v) add(k, std::to_string(v));
  };
  add_n("sizeLength", f.size_length);
  add_n("indexLength", f.index_length);
  add_n("indexDeltaLength", f.index_delta_length);
  add_n("CTSDeltaLength", f.cts_delta_length);
  add_n("DTSDeltaLength", f.dts_delta_length);
  add_n("randomAccessIndication", f.random_access_indication ? 1 : 0);
  add_n("streamStateIndication", f.stream_state_indication);
  add_n("auxiliaryDataSizeLength", f.auxiliary_data_size_length);
  add_n("constantSize", f.constant_size);
  add_n("constantDuration", f.constant_duration);
  add("ISMACrypCryptoSuite", "AES_CTR_128");
  add("ISMACrypIVLength", std::to_string(f.iv_length));
  add("ISMACrypDeltaIVLength", std::to_string(f.delta_iv_length));
  add("ISMACrypKeyIndicatorLength", std::to_string(f.key_indicator_length));
  add("ISMACrypKeyIndicatorPerAU", f.key_indicator_per_au ? "1" : "0");
  add("ISMACrypSelectiveEncryption", f.selective_encryption ? "1" : "0");
  if (std::any_of(f.salt.begin(), f.salt.end(), [](std::uint8_t b) { return b != 0; })) {
    add("ISMACrypSalt", ToHex(f.salt));
  }
  return s;
}

std::optional<std::uint64_t> KeyIndicatorValue(std::span<const std::uint8_t> ki) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < ki.size(); ++i) {
    if (v >> 56) return std::nullopt;
    v = (v << 8) | ki[i];
  }
  return v;
}

spc::Result<ParsedPayload> ParsePayload(const Fmtp& f, std::span<const std::uint8_t> payload) {
  ParsedPayload out;
  if (auto error = ParsePayloadInto(f, payload, &out)) return *std::move(error);
  return out;
}

std::optional<spc::ParseError> ParsePayloadInto(const Fmtp& f,
                                                std::span<const std::uint8_t> payload,
                                                ParsedPayload* result) {
  ParsedPayload& out = *result;
  std::size_t n_headers = 0;  // out.headers[0, n) are this packet's; the rest is reused storage
  out.data_offset = 0;
  out.header_error.reset();
  const unsigned min_first = f.MinFirstHeaderBits();
  const unsigned min_later = f.MinLaterHeaderBits();
  std::size_t offset = 0;
  if (min_first == 0) {
    if (out.headers.empty()) out.headers.emplace_back();
    out.headers[0] = AuHeader{};
    n_headers = 1;
  } else {
    if (payload.size() < 2) {
      out.headers.clear();
      return Err("payload shorter than the AU-headers-length field", "AU-headers-length", 0);
    }
    const std::size_t section_bits = (std::size_t{payload[0]} << 8) | payload[1];
    const std::size_t section_bytes = (section_bits + 7) / 8;
    if (2 + section_bytes > payload.size()) {
      out.headers.clear();
      return Err("AU-headers-length of " + std::to_string(section_bits) + " bits runs past the " +
                     std::to_string(payload.size()) + "-byte payload",
                 "AU-headers-length", 0);
    }
    BitReader r(payload, 16, 16 + section_bits);
    bool first = true;
    // AU-headers-length excludes the padding: bits left over belong to a truncated header.
    while (first || (min_later > 0 && r.remaining() > 0)) {
      if (n_headers == out.headers.size()) out.headers.emplace_back();
      const char* field = "";
      std::size_t field_bit = r.pos();
      if (!ReadHeader(f, first, &r, &out.headers[n_headers], &field, &field_bit)) {
        out.header_error =
            Err("AU header " + std::to_string(n_headers) + " runs past the AU-headers-length",
                field, field_bit / 8);
        break;
      }
      ++n_headers;
      first = false;
    }
    offset = 2 + section_bytes;
  }
  if (f.auxiliary_data_size_length > 0) {
    BitReader r(payload, offset * 8, payload.size() * 8);
    std::uint64_t aux_bits = 0;
    if (!r.Read(f.auxiliary_data_size_length, &aux_bits) || aux_bits > r.remaining()) {
      out.headers.clear();
      return Err("auxiliary section runs past the payload", "auxiliary-data-size", offset);
    }
    offset = (r.pos() + aux_bits + 7) / 8;
  }
  out.data_offset = offset;
  out.headers.resize(n_headers);  // shrinking keeps the vector's capacity
  if (f.size_length == 0 && f.constant_size == 0 && !out.headers.empty()) {
    // No size signalled: one AU, the rest of the packet.
    out.headers.resize(1);
    out.headers[0].size = static_cast<std::uint32_t>(payload.size() - offset);
  }
  return std::nullopt;
}

spc::Result<Bytes> WriteAuHeaderSection(const Fmtp& f, std::span<const AuHeader> headers) {
  BitWriter w;
  if (f.MinFirstHeaderBits() == 0) {
    if (headers.size() != 1) return Err("no AU-header section: one AU per packet", "AU-size", 0);
  } else {
    w.Write(0, 16);  // AU-headers-length, filled in below
    for (std::size_t i = 0; i < headers.size(); ++i) {
      const AuHeader& h = headers[i];
      const bool first = i == 0;
      auto put = [&](std::uint64_t v, unsigned bits, const char* field) -> bool {
        if (!FitsBits(v, bits)) return false;
        w.Write(v, bits);
        (void)field;
        return true;
      };
      auto fail = [&](const char* field) {
        return Err("value does not fit in AU header " + std::to_string(i), field, w.bits() / 8);
      };
      if (f.selective_encryption) w.Write(h.encrypted ? 0x80 : 0x00, 8);
      // Without an IV field (ISMACrypIVLength=0) the receiver counts the BSO itself.
      if (first ? (f.iv_length > 0 && !put(h.iv, 8 * f.iv_length, "IV"))
                : !put(h.iv, 8 * f.delta_iv_length, "delta IV")) {
        return fail(first ? "IV" : "delta IV");
      }
      if (f.key_indicator_length > 0 && (first || f.key_indicator_per_au)) {
        if (h.key_indicator.size() != f.key_indicator_length) return fail("key indicator");
        for (auto b : h.key_indicator) w.Write(b, 8);
      }
      if (f.size_length > 0 && !put(h.size, f.size_length, "AU-size")) return fail("AU-size");
      if (!put(h.index, first ? f.index_length : f.index_delta_length, "AU-Index")) {
        return fail(first ? "AU-Index" : "AU-Index-delta");
      }
      if (f.cts_delta_length > 0) {
        w.Write(h.cts_delta ? 1 : 0, 1);
        if (h.cts_delta && !put(*h.cts_delta, f.cts_delta_length, "CTS-delta")) {
          return fail("CTS-delta");
        }
      }
      if (f.dts_delta_length > 0) {
        w.Write(h.dts_delta ? 1 : 0, 1);
        if (h.dts_delta && !put(*h.dts_delta, f.dts_delta_length, "DTS-delta")) {
          return fail("DTS-delta");
        }
      }
      if (f.random_access_indication) w.Write(h.rap ? 1 : 0, 1);
      if (f.stream_state_indication > 0 &&
          !put(h.stream_state, f.stream_state_indication, "Stream-state")) {
        return fail("Stream-state");
      }
    }
    const std::size_t section_bits = w.bits() - 16;
    if (section_bits > 0xffff) return Err("AU-header section too long", "AU-headers-length", 0);
    w.bytes()[0] = static_cast<std::uint8_t>(section_bits >> 8);
    w.bytes()[1] = static_cast<std::uint8_t>(section_bits);
  }
  if (f.auxiliary_data_size_length > 0) {
    // Byte-align after the AU headers, then an empty auxiliary section.
    while (w.bits() % 8) w.Write(0, 1);
    w.Write(0, f.auxiliary_data_size_length);
  }
  return std::move(w.bytes());
}

CtrCipher::CtrCipher() : ctx_(EVP_CIPHER_CTX_new()) {}

bool CtrCipher::Apply(const Tek& key, const Salt& salt, std::uint64_t bso,
                      std::span<std::uint8_t> data) {
  return Apply(key, salt, bso, data, data);
}

bool CtrCipher::Apply(const Tek& key, const Salt& salt, std::uint64_t bso,
                      std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  if (!ctx_ || out.size() < in.size()) return false;
  const bool same_key = have_key_ && CRYPTO_memcmp(key.data(), key_.data(), key.size()) == 0;
  // The key stream continues where the last call ended (the next fragment, the next AU of the
  // stream): no new IV, no partial block to skip.
  const bool continues = same_key && next_bso_ && *next_bso_ == bso && salt == salt_;
  if (!continues) {
    std::array<std::uint8_t, 16> iv{};
    std::copy(salt.begin(), salt.end(), iv.begin());
    const std::uint64_t block = bso / 16;
    for (int i = 0; i < 8; ++i) iv[15 - i] = static_cast<std::uint8_t>(block >> (8 * i));
    next_bso_.reset();
    if (!EVP_EncryptInit_ex(ctx_.get(), same_key ? nullptr : EVP_aes_128_ctr(), nullptr,
                            same_key ? nullptr : key.data(), iv.data())) {
      have_key_ = false;
      return false;
    }
    if (!same_key) {
      key_ = key;
      have_key_ = true;
    }
    salt_ = salt;
    int outl = 0;
    if (const int skip = static_cast<int>(bso % 16); skip > 0) {
      std::array<std::uint8_t, 16> scratch{};
      if (!EVP_EncryptUpdate(ctx_.get(), scratch.data(), &outl, scratch.data(), skip)) {
        return false;
      }
    }
  }
  next_bso_.reset();
  std::size_t done = 0;
  while (done < in.size()) {
    const int n = static_cast<int>(std::min<std::size_t>(in.size() - done, 1 << 20));
    int outl = 0;
    if (!EVP_EncryptUpdate(ctx_.get(), out.data() + done, &outl, in.data() + done, n)) {
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  next_bso_ = bso + in.size();
  return true;
}

// ---- Packetizer ----

Packetizer::Packetizer(const Fmtp& fmtp, const PacketizerOptions& options)
    : fmtp_(fmtp), options_(options) {}

spc::Result<Packetizer> Packetizer::Create(const Fmtp& fmtp, const PacketizerOptions& options) {
  if (options.max_aus_per_packet == 0) {
    return Err("max_aus_per_packet must be at least 1", "max_aus_per_packet", 0);
  }
  if (options.max_aus_per_packet > 1 &&
      (fmtp.MinFirstHeaderBits() == 0 || (fmtp.size_length == 0 && fmtp.constant_size == 0))) {
    return Err("aggregation needs AU headers with an AU-size (sizeLength or constantSize)",
               "sizeLength", 0);
  }
  const std::size_t first_header_bytes =
      2 + (fmtp.MinFirstHeaderBits() + fmtp.cts_delta_length + fmtp.dts_delta_length + 7) / 8 +
      (fmtp.auxiliary_data_size_length + 7) / 8 + 1;
  if (options.max_payload_size <= first_header_bytes) {
    return Err("max_payload_size leaves no room for AU data", "max_payload_size", 0);
  }
  return Packetizer(fmtp, options);
}

std::size_t Packetizer::HeaderSectionSize(std::span<const AuHeader> headers) const {
  auto section = WriteAuHeaderSection(fmtp_, headers);
  return section ? section->size() : std::numeric_limits<std::size_t>::max() / 2;
}

spc::Result<RtpPayload> Packetizer::Build(std::span<const Pending> aus) const {
  std::vector<AuHeader> headers;
  for (const Pending& p : aus) headers.push_back(p.header);
  auto section = WriteAuHeaderSection(fmtp_, headers);
  if (!section) return section.error();
  RtpPayload out;
  out.bytes = std::move(section.value());
  for (const Pending& p : aus) out.bytes.insert(out.bytes.end(), p.data.begin(), p.data.end());
  out.marker = true;
  out.rtp_timestamp = aus.front().cts;
  out.n_aus = static_cast<unsigned>(aus.size());
  return out;
}

spc::Result<std::vector<RtpPayload>> Packetizer::Push(const AccessUnit& au) {
  const Fmtp& f = fmtp_;
  const std::uint64_t bso = au.bso.value_or(next_bso_);
  const std::uint32_t index = au.index.value_or(next_index_);
  const std::size_t size = au.data.size();
  if (f.iv_length == 0 && bso != next_bso_) {
    return Err("without IV the byte stream cannot jump", "IV", 0);
  }
  if (!au.encrypt && !f.selective_encryption) {
    return Err("a clear AU needs ISMACrypSelectiveEncryption=1", "AU_is_encrypted", 0);
  }
  if (f.size_length > 0 && !FitsBits(size, f.size_length)) {
    return Err("AU of " + std::to_string(size) + " bytes does not fit sizeLength", "AU-size", 0);
  }
  if (f.size_length == 0 && f.constant_size != 0 && size != f.constant_size) {
    return Err("AU size differs from constantSize", "AU-size", 0);
  }
  if (f.key_indicator_length < 8 && !FitsBits(au.key_indicator, 8 * f.key_indicator_length)) {
    return Err("key indicator does not fit ISMACrypKeyIndicatorLength", "key indicator", 0);
  }
  if (!FitsBits(bso + size, 8 * f.iv_length) && f.iv_length > 0) {
    return Err("BSO does not fit ISMACrypIVLength", "IV", 0);
  }
  if (au.dts && f.dts_delta_length > 0 &&
      !FitsBits(static_cast<std::uint32_t>(au.rtp_timestamp - *au.dts), f.dts_delta_length)) {
    return Err("CTS - DTS does not fit DTSDeltaLength", "DTS-delta", 0);
  }

  Pending p;
  p.data.assign(au.data.begin(), au.data.end());
  if (au.encrypt && !cipher_.Apply(au.tek, f.salt, bso, p.data)) {
    return Err("AES-128-CTR failed", "AU", 0);
  }
  p.bso = bso;
  p.cts = au.rtp_timestamp;
  p.index = index;
  AuHeader& h = p.header;
  h.encrypted = au.encrypt;
  h.size = static_cast<std::uint32_t>(size);
  h.rap = au.rap;
  Bytes ki(f.key_indicator_length, 0);
  for (std::size_t i = 0; i < ki.size() && i < 8; ++i) {
    ki[ki.size() - 1 - i] = static_cast<std::uint8_t>(au.key_indicator >> (8 * i));
  }
  if (au.dts && f.dts_delta_length > 0 && *au.dts != au.rtp_timestamp) {
    h.dts_delta = au.rtp_timestamp - *au.dts;
  }

  std::vector<RtpPayload> out;
  auto flush = [&]() -> bool {
    if (pending_.empty()) return true;
    auto built = Build(pending_);
    pending_.clear();
    if (!built) return false;
    out.push_back(std::move(built.value()));
    return true;
  };

  // Try to join the pending aggregate as a later AU.
  if (!pending_.empty()) {
    const Pending& prev = pending_.back();
    const Pending& head = pending_.front();
    bool join = pending_.size() < options_.max_aus_per_packet;
    const std::uint64_t expected = prev.bso + prev.data.size();
    const std::uint64_t delta_iv = bso - expected;
    join = join && bso >= expected && FitsBits(delta_iv, 8 * f.delta_iv_length);
    const bool same_ki = head.header.key_indicator == ki;
    join = join && (f.key_indicator_per_au || same_ki);
    const std::uint64_t index_delta = std::uint64_t{index} - prev.index - 1;
    join = join && index > prev.index && FitsBits(index_delta, f.index_delta_length);
    const std::uint32_t cts_delta = au.rtp_timestamp - head.cts;
    join = join && (f.cts_delta_length == 0 || FitsBits(cts_delta, f.cts_delta_length));
    if (join) {
      Pending later = p;
      later.header.iv = delta_iv;
      later.header.index = static_cast<std::uint32_t>(index_delta);
      if (f.key_indicator_per_au) later.header.key_indicator = ki;
      if (f.cts_delta_length > 0) later.header.cts_delta = cts_delta;
      std::vector<AuHeader> headers;
      std::size_t data_bytes = later.data.size();
      for (const Pending& q : pending_) {
        headers.push_back(q.header);
        data_bytes += q.data.size();
      }
      headers.push_back(later.header);
      if (HeaderSectionSize(headers) + data_bytes <= options_.max_payload_size) {
        pending_.push_back(std::move(later));
        next_bso_ = bso + size;
        next_index_ = index + 1;
        if (pending_.size() >= options_.max_aus_per_packet && !flush()) {
          return Err("AU header does not fit", "AU header", 0);
        }
        return out;
      }
    }
    if (!flush()) return Err("AU header does not fit", "AU header", 0);
  }

  // First AU of a packet: alone, or fragmented.
  h.iv = bso;
  // AU-Index is the AU's sequence number modulo the field size.
  h.index = f.index_length >= 32
                ? index
                : static_cast<std::uint32_t>(index & ((1ull << f.index_length) - 1));
  h.key_indicator = ki;
  h.has_key_indicator = f.key_indicator_length > 0;
  const AuHeader one[] = {h};
  const std::size_t section = HeaderSectionSize(one);
  if (section + size <= options_.max_payload_size) {
    pending_.push_back(std::move(p));
    if (pending_.size() >= options_.max_aus_per_packet && !flush()) {
      return Err("AU header does not fit", "AU header", 0);
    }
  } else {
    // RFC 3640 fragments: one AU header per packet carrying the whole AU's size; the IV is the BSO
    // of the fragment so that a receiver can resume after a lost packet.
    const std::size_t chunk = options_.max_payload_size - section;
    for (std::size_t off = 0; off < size; off += chunk) {
      const std::size_t n = std::min(chunk, size - off);
      AuHeader fh = h;
      fh.iv = bso + off;
      const AuHeader frag[] = {fh};
      auto sec = WriteAuHeaderSection(f, frag);
      if (!sec) return sec.error();
      RtpPayload rp;
      rp.bytes = std::move(sec.value());
      rp.bytes.insert(rp.bytes.end(), p.data.begin() + static_cast<std::ptrdiff_t>(off),
                      p.data.begin() + static_cast<std::ptrdiff_t>(off + n));
      rp.marker = off + n == size;
      rp.rtp_timestamp = au.rtp_timestamp;
      rp.n_aus = 1;
      out.push_back(std::move(rp));
    }
  }
  next_bso_ = bso + size;
  next_index_ = index + 1;
  return out;
}

std::vector<RtpPayload> Packetizer::Flush() {
  std::vector<RtpPayload> out;
  if (!pending_.empty()) {
    auto built = Build(pending_);
    if (built) out.push_back(std::move(built.value()));
    pending_.clear();
  }
  return out;
}

}  // namespace bcast::ismacryp
