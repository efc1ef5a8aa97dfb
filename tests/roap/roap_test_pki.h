// Test PKI of suite 'roap', made in-process with OpenSSL (nothing private on disk): root CA, RI,
// OCSP responder, two devices, an unrelated root, an RI certificate chained to that root, an
// expired RI certificate. Made once per test program.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/libspc/roap/session.h"

namespace spc::roap::test {

struct KeyCert {
  EvpPkeyPtr key;
  X509Ptr cert;
};

struct TestPki {
  KeyCert root, ri, ocsp, device, device2, other_root, other_device;
  X509Ptr ri_untrusted;  // RI key, issued by other_root
  X509Ptr ri_expired;    // RI key, issued by root, expired a year ago
};

const TestPki& Pki();

std::int64_t Now();

EvpPkeyPtr ShareKey(const EvpPkeyPtr& key);
X509Ptr Share(const X509Ptr& cert);

DeviceCredentials Device(const KeyCert& kc);
RiCredentials Ri(const X509Ptr& cert, const std::string& url = "http://127.0.0.1/roap");
TrustAnchors Anchors(const KeyCert& root);

// OCSP response for `cert` (issued by root) from the test responder.
Bytes Ocsp(X509* cert, OcspCertStatus status, std::span<const std::uint8_t> nonce);

// Writes `unsigned_message` (empty signature element) signed by `key` over prefix ‖ message
// without the signature: lets tests forge well-signed messages with chosen content.
std::string SignAs(EVP_PKEY* key, const std::string& prefix, const std::string& unsigned_message,
                   bool ro_response);

}  // namespace spc::roap::test
