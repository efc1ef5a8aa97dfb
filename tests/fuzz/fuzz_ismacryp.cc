// libFuzzer target: the ISMACryp fmtp parser and AU-header section parser (the library code that
// ismacrypdec runs on every packet), the writer on what parses, and the AES-CTR walk the element
// does over the AUs the headers locate.
// Input: an fmtp value ("name=value; ...") up to the first '\n', then one RTP payload.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"

namespace ism = bcast::ismacryp;

namespace {

std::vector<std::pair<std::string, std::string>> SplitFmtp(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!text.empty()) {
    const std::size_t semi = text.find(';');
    std::string_view item = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      params.emplace_back(std::string(item), std::string());
    } else {
      params.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    }
  }
  return params;
}

bool SameHeader(const ism::AuHeader& a, const ism::AuHeader& b, bool compare_size) {
  return a.encrypted == b.encrypted && a.iv == b.iv && a.has_key_indicator == b.has_key_indicator &&
         a.key_indicator == b.key_indicator && (!compare_size || a.size == b.size) &&
         a.index == b.index && a.cts_delta == b.cts_delta && a.dts_delta == b.dts_delta &&
         a.rap == b.rap && a.stream_state == b.stream_state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> input(data, size);
  const auto newline = std::find(input.begin(), input.end(), std::uint8_t{'\n'});
  if (newline == input.end()) return 0;
  const std::string_view fmtp_text(reinterpret_cast<const char*>(data),
                                   static_cast<std::size_t>(newline - input.begin()));
  const std::span<const std::uint8_t> payload =
      input.subspan(static_cast<std::size_t>(newline - input.begin()) + 1);

  auto fmtp = ism::ParseFmtp(SplitFmtp(fmtp_text));
  if (!fmtp) {
    if (fmtp.error().field.empty()) std::abort();
    return 0;
  }
  // The head-end's text form of the same parameters must parse to them again.
  auto refmtp = ism::ParseFmtp(SplitFmtp(ism::FormatFmtp(*fmtp)));
  if (!refmtp || refmtp->iv_length != fmtp->iv_length ||
      refmtp->key_indicator_length != fmtp->key_indicator_length ||
      refmtp->size_length != fmtp->size_length ||
      refmtp->MinFirstHeaderBits() != fmtp->MinFirstHeaderBits() ||
      refmtp->MinLaterHeaderBits() != fmtp->MinLaterHeaderBits()) {
    std::abort();
  }

  auto parsed = ism::ParsePayload(*fmtp, payload);
  if (!parsed) {
    if (parsed.error().field.empty() || parsed.error().offset > payload.size()) std::abort();
    return 0;
  }
  if (parsed->data_offset > payload.size()) std::abort();
  if (parsed->header_error &&
      (parsed->header_error->field.empty() || parsed->header_error->offset > payload.size())) {
    std::abort();
  }
  // No complete AU header only when the first one is cut short (the packet is then dropped).
  if (parsed->headers.empty()) {
    if (!parsed->header_error) std::abort();
    return 0;
  }

  // What the parser read must write back to a section that parses to the same headers.
  const bool sizes_signalled = fmtp->size_length > 0 || fmtp->constant_size > 0;
  auto section = ism::WriteAuHeaderSection(*fmtp, parsed->headers);
  if (!section) std::abort();
  auto reparsed = ism::ParsePayload(*fmtp, *section);
  if (!reparsed || reparsed->header_error || reparsed->data_offset != section->size() ||
      reparsed->headers.size() != parsed->headers.size()) {
    std::abort();
  }
  for (std::size_t i = 0; i < parsed->headers.size(); ++i) {
    if (!SameHeader(parsed->headers[i], reparsed->headers[i], sizes_signalled)) std::abort();
  }

  // ismacrypdec's walk over complete AUs: BSO from the IV / delta IVs, TEK ID from the key
  // indicator, AES-CTR over every AU that lies inside the packet.
  static ism::CtrCipher cipher;
  const ism::Tek tek = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  std::vector<std::uint8_t> au_data(
      payload.begin() + static_cast<std::ptrdiff_t>(parsed->data_offset), payload.end());
  std::uint64_t bso = 0;
  std::size_t off = 0;
  for (std::size_t i = 0; i < parsed->headers.size(); ++i) {
    const ism::AuHeader& h = parsed->headers[i];
    bso = i == 0 ? h.iv : bso + h.iv;
    if (h.has_key_indicator) (void)ism::KeyIndicatorValue(h.key_indicator);
    if (h.size > au_data.size() - off) break;
    if (h.encrypted &&
        !cipher.Apply(tek, fmtp->salt, bso, std::span(au_data).subspan(off, h.size))) {
      std::abort();
    }
    off += h.size;
    bso += h.size;
  }
  return 0;
}
