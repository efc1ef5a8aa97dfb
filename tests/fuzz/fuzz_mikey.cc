// libFuzzer target: the MIKEY MSK/MTK/verification parser, the KEMAC opening (MAC check, AES-CM,
// key data sub-payload) and the writer. Random bytes almost never carry a valid MAC, so each
// parsed message is also re-sealed: its encrypted key data is taken as the plaintext, encrypted
// and MACed under a fixed envelope key, which drives the key data parser with fuzzed bytes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "spc/libspc/crypto.h"
#include "spc/libspc/smartcard/mikey.h"
#include "spc/libspc/smartcard/mikey_crypto.h"

using namespace spc::smartcard;

namespace {

const std::vector<std::uint8_t> kEnvelope(32, 0x5c);

void CheckError(const spc::ParseError& e, std::size_t size) {
  // A rejection must say where.
  if (e.field.empty() || e.offset > size) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> message(data, size);
  auto parsed = ParseMikey(message);
  if (!parsed) {
    CheckError(parsed.error(), size);
    return 0;
  }
  const MikeyMessage& m = *parsed;
  if (m.mac_input.size() != m.mac_offset || m.mac_offset + kMikeyMacLength > size) std::abort();

  if (m.data_type == kMikeyDataTypeVerification) {
    (void)CheckMikeyVerification(m, m, kEnvelope);
    if (OpenMikeyKemac(m, kEnvelope).ok()) std::abort();
    return 0;
  }
  // Only a message whose MAC holds may yield a key.
  auto opened = OpenMikeyKemac(m, kEnvelope);
  if (opened.ok()) {
    spc::Sha1Digest mac = spc::HmacSha1(
        MikeyDeriveMessageKeys(m.prf, kEnvelope, m.csb_id, m.rand).authentication, m.mac_input);
    if (!spc::ConstantTimeEqual(mac, m.mac)) std::abort();
  }

  // Re-seal with the fuzzed encrypted bytes as plaintext.
  std::vector<std::uint8_t> sealed(message.begin(), message.end());
  const std::size_t enc_at = m.mac_offset - 1 - m.encrypted_key_data.size();
  MikeyMessageKeys keys = MikeyDeriveMessageKeys(m.prf, kEnvelope, m.csb_id, m.rand);
  auto enc = MikeyAesCm(keys.encryption, keys.salt, m.csb_id, m.counter, m.encrypted_key_data);
  std::copy(enc.begin(), enc.end(), sealed.begin() + static_cast<std::ptrdiff_t>(enc_at));
  spc::Sha1Digest mac = spc::HmacSha1(keys.authentication,
                                      std::span<const std::uint8_t>(sealed.data(), m.mac_offset));
  std::copy(mac.begin(), mac.end(), sealed.begin() + static_cast<std::ptrdiff_t>(m.mac_offset));
  auto resealed = ParseMikey(sealed);
  if (!resealed) std::abort();
  auto kd = OpenMikeyKemac(*resealed, kEnvelope);
  if (!kd) {
    if (kd.error().code == MikeyOpenError::kBadMac) std::abort();
    CheckError(kd.error().detail, m.encrypted_key_data.size());
    return 0;
  }
  if (kd->key != std::vector<std::uint8_t>(m.encrypted_key_data.begin() + 4,
                                           m.encrypted_key_data.begin() + 20)) {
    std::abort();
  }
  // The writer's message parses back to the same keys and identifiers.
  auto rewritten = WriteMikey(m, *kd, kEnvelope);
  auto reparsed = ParseMikey(rewritten);
  if (!reparsed) std::abort();
  if (reparsed->csb_id != m.csb_id || reparsed->counter != m.counter || reparsed->rand != m.rand ||
      reparsed->key_id.mtk_id != m.key_id.mtk_id ||
      reparsed->key_id.key_domain != m.key_id.key_domain) {
    std::abort();
  }
  auto reopened = OpenMikeyKemac(*reparsed, kEnvelope);
  if (!reopened || reopened->key != kd->key || reopened->salt != kd->salt) std::abort();
  return 0;
}
