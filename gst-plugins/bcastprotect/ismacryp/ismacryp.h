// ISMACryp 1.1 over RTP (payload format enc-mpeg4-generic) without GStreamer: the one parser and
// the one writer of the AU-header section (RFC 3640 fields with the ISMACryp fields in front),
// AES-128-CTR positioned by byte stream offset (OpenSSL EVP), and the RTP payload packetizer that
// the head-end uses. See shared/spec/ismacryp.md.
//
// Conventions used throughout:
//  - BSO = byte stream offset: the position of a byte in the concatenation of every AU of the
//    stream, encrypted or not. The counter block of AU byte b is salt ‖ (BSO(b) / 16) and the key
//    stream of that block is used from byte BSO(b) mod 16 on.
//  - The IV of the first AU header of a packet is the BSO of the first AU byte in that packet
//    (for a continuation fragment: of the fragment). For later AUs of the packet,
//    BSO(n) = BSO(n-1) + size(n-1) + delta IV (delta IV = 0 when ISMACrypDeltaIVLength is 0).
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spc/libspc/result.h"

namespace bcast::ismacryp {

using Bytes = std::vector<std::uint8_t>;
using Tek = std::array<std::uint8_t, 16>;
using Salt = std::array<std::uint8_t, 8>;

// The SDP fmtp parameters that shape the payload. Lengths of ISMACryp fields are in bytes, RFC 3640
// lengths in bits, as in the SDP.
struct Fmtp {
  // ISMACryp
  unsigned iv_length = 4;             // ISMACrypIVLength (0..8)
  unsigned delta_iv_length = 0;       // ISMACrypDeltaIVLength (0..8)
  unsigned key_indicator_length = 0;  // ISMACrypKeyIndicatorLength (0..255)
  bool key_indicator_per_au = false;  // ISMACrypKeyIndicatorPerAU
  bool selective_encryption = false;  // ISMACrypSelectiveEncryption
  Salt salt{};                        // ISMACrypSalt (k_s); zero in BCAST
  // RFC 3640
  std::string mode;                         // mode, e.g. "AAC-hbr", "avc-video"
  int stream_type = -1;                     // streamType (-1: absent)
  Bytes config;                             // config (hex in the SDP)
  unsigned size_length = 0;                 // sizeLength (0..32)
  unsigned index_length = 0;                // indexLength (0..32)
  unsigned index_delta_length = 0;          // indexDeltaLength (0..32)
  unsigned cts_delta_length = 0;            // CTSDeltaLength (0..32)
  unsigned dts_delta_length = 0;            // DTSDeltaLength (0..32)
  bool random_access_indication = false;    // randomAccessIndication
  unsigned stream_state_indication = 0;     // streamStateIndication (bits, 0..32)
  unsigned auxiliary_data_size_length = 0;  // auxiliaryDataSizeLength (0..32)
  std::uint32_t constant_size = 0;          // constantSize (used when sizeLength = 0)
  std::uint32_t constant_duration = 0;      // constantDuration (clock ticks per AU)
  std::string sprop_parameter_sets;         // H.264 parameter sets (base64, comma separated)

  // Bits of the AU header of the first AU of a packet / of a later AU, without the optional
  // CTS/DTS deltas (their flags counted). 0 for the first means no AU-header section at all.
  unsigned MinFirstHeaderBits() const;
  unsigned MinLaterHeaderBits() const;
};

// Parses fmtp parameters (names case-insensitive: GStreamer lowercases them in caps). Unknown names
// are ignored. ISMACrypCryptoSuite other than AES_CTR_128 and out-of-range lengths are errors.
// ISMACrypSalt is 16 hex digits or the base64 of 8 bytes.
spc::Result<Fmtp> ParseFmtp(const std::vector<std::pair<std::string, std::string>>& params);
// The same parameters as an SDP fmtp value ("streamType=5; mode=AAC-hbr; ..."), for the head-end.
std::string FormatFmtp(const Fmtp& fmtp);

// One AU header as on the wire.
struct AuHeader {
  bool encrypted = true;  // AU_is_encrypted (always true without selective encryption)
  std::uint64_t iv = 0;   // first AU: IV = BSO; later AUs: delta IV
  bool has_key_indicator = false;
  Bytes key_indicator;      // key_indicator_length bytes when present
  std::uint32_t size = 0;   // AU-size (or constantSize / the rest of the packet)
  std::uint32_t index = 0;  // first AU: AU-Index; later AUs: AU-Index-delta
  std::optional<std::uint32_t> cts_delta;
  std::optional<std::uint32_t> dts_delta;
  bool rap = false;  // RAP-flag (false when not signalled)
  std::uint32_t stream_state = 0;
};

// Big-endian value of a key indicator (the TEK ID in BCAST). nullopt when it does not fit 64 bits.
std::optional<std::uint64_t> KeyIndicatorValue(std::span<const std::uint8_t> key_indicator);

// The parsed front of one RTP payload.
struct ParsedPayload {
  std::vector<AuHeader> headers;  // every AU header that parsed completely
  std::size_t data_offset = 0;    // where the AU data starts (after AU headers and auxiliary data)
  // Set when an AU header after `headers` ran past the AU-headers-length: that AU and the ones
  // after it are lost; the ones in `headers` can still be used (their data positions are known).
  std::optional<spc::ParseError> header_error;
};

// THE parser. Fails (whole packet unusable) when the AU-headers-length or the auxiliary section run
// past the payload. AU sizes are NOT checked against the data here: the caller knows about
// fragments.
spc::Result<ParsedPayload> ParsePayload(const Fmtp& fmtp, std::span<const std::uint8_t> payload);
// The same into *out, reusing its storage (no allocation per packet once the header count and
// key indicator length are steady): the receiver's per-packet form. The error, if any, is
// returned; *out then holds no headers.
std::optional<spc::ParseError> ParsePayloadInto(const Fmtp& fmtp,
                                                std::span<const std::uint8_t> payload,
                                                ParsedPayload* out);

// THE writer: AU-headers-length, the AU headers, padding to a byte, and an empty auxiliary section
// when auxiliaryDataSizeLength is set. headers[0] is written as a first AU header. Fails when a
// value does not fit its field.
spc::Result<Bytes> WriteAuHeaderSection(const Fmtp& fmtp, std::span<const AuHeader> headers);

// AES-128-CTR key stream positioned by BSO. Keeps one EVP context; reuses the key schedule while
// the key does not change, and the counter position when a call starts where the previous one
// ended (fragments, consecutive AUs). Not thread-safe; one per stream.
class CtrCipher {
 public:
  CtrCipher();
  // XORs data in place with the key stream from byte stream offset `bso` (encrypts or decrypts).
  // false only when OpenSSL fails.
  bool Apply(const Tek& key, const Salt& salt, std::uint64_t bso, std::span<std::uint8_t> data);
  // Out of place: out[i] = in[i] XOR key stream (out.size() >= in.size()); the decryptor writes
  // straight into its output buffer this way, one pass over the bytes.
  bool Apply(const Tek& key, const Salt& salt, std::uint64_t bso, std::span<const std::uint8_t> in,
             std::span<std::uint8_t> out);

 private:
  struct CtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  };
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx_;
  Tek key_{};
  Salt salt_{};
  bool have_key_ = false;
  std::optional<std::uint64_t> next_bso_;  // where the context's key stream stands
};

// ---- Packetizer (head-end side) ----

struct PacketizerOptions {
  std::size_t max_payload_size = 1400;  // RTP payload bytes (MTU minus IP, UDP and RTP headers)
  unsigned max_aus_per_packet = 1;      // aggregation (>1 needs CTSDeltaLength or consecutive AUs)
};

struct AccessUnit {
  std::span<const std::uint8_t> data;  // clear AU (AAC raw frame, or Annex B H.264 access unit)
  std::uint32_t rtp_timestamp = 0;     // CTS in RTP clock ticks
  std::optional<std::uint32_t> dts;    // DTS in RTP clock ticks when it differs from the CTS
  bool rap = false;                    // random access point
  std::uint64_t key_indicator = 0;     // TEK ID, written in key_indicator_length bytes
  Tek tek{};                           // the TEK with that ID
  bool encrypt = true;                 // false: sent in the clear (needs selective encryption)
  std::optional<std::uint64_t> bso;    // default: right after the previous AU (see set_bso)
  std::optional<std::uint32_t> index;  // AU-Index; default: previous + 1
};

struct RtpPayload {
  Bytes bytes;
  bool marker = false;  // last (or only) fragment / packet of complete AUs
  std::uint32_t rtp_timestamp = 0;
  unsigned n_aus = 0;  // AU headers in this payload (1 for a fragment)
};

class Packetizer {
 public:
  static spc::Result<Packetizer> Create(const Fmtp& fmtp, const PacketizerOptions& options);

  // Encrypts (unless au.encrypt is false) and queues one AU. Returns the payloads it completed:
  // the pending aggregate when the AU cannot join it, the AU's own fragments when it needs more
  // than one packet. Fails when a value does not fit its header field; then nothing is queued.
  spc::Result<std::vector<RtpPayload>> Push(const AccessUnit& au);
  // The pending aggregate, if any.
  std::vector<RtpPayload> Flush();

  void set_bso(std::uint64_t bso) { next_bso_ = bso; }
  std::uint64_t next_bso() const { return next_bso_; }

 private:
  struct Pending {
    AuHeader header;
    Bytes data;  // already encrypted
    std::uint64_t bso = 0;
    std::uint32_t cts = 0;
    std::uint32_t index = 0;
  };
  Packetizer(const Fmtp& fmtp, const PacketizerOptions& options);
  std::size_t HeaderSectionSize(std::span<const AuHeader> headers) const;
  spc::Result<RtpPayload> Build(std::span<const Pending> aus) const;

  Fmtp fmtp_;
  PacketizerOptions options_;
  CtrCipher cipher_;
  std::vector<Pending> pending_;
  std::uint64_t next_bso_ = 0;
  std::uint32_t next_index_ = 0;
};

}  // namespace bcast::ismacryp
