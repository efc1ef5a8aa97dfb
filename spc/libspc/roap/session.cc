#include "spc/libspc/roap/session.h"

#include <openssl/asn1.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdlib>

namespace spc::roap {

namespace {

std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

Bytes NewNonce() {
  Bytes n(32);
  RandomBytes(n);
  return n;
}

std::string Concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

// Writes `unsigned_message` (empty <signature></signature>), signs `prefix` ‖ the message without
// the signature element and puts the signature in. The result is never re-serialised.
RoapResult<std::string> SignMessage(EVP_PKEY* key, std::string_view prefix,
                                    const std::string& unsigned_message, bool ro_response) {
  auto cut = CutSignature(unsigned_message, ro_response);
  if (!cut) return MakeError(ErrorCode::kMalformed, "no signature element to fill", "signature");
  auto sig = SignBytes(key, Concat({prefix, *cut}));
  if (!sig) return sig.error();
  std::string out = InsertSignature(unsigned_message, *sig);
  if (out.empty()) return MakeError(ErrorCode::kMalformed, "no empty signature", "signature");
  return out;
}

Error ChainError(const CryptoError& e, std::string what) {
  ErrorCode code = ErrorCode::kUntrustedCertificate;
  if (e.code == CryptoErrorCode::kExpired) code = ErrorCode::kExpiredCertificate;
  return MakeError(code, what + ": " + e.message, "certificateChain");
}

RoapResult<std::vector<X509Ptr>> LoadChain(const std::vector<Bytes>& ders) {
  std::vector<X509Ptr> chain;
  for (std::size_t i = 0; i < ders.size(); ++i) {
    auto c = LoadCertificate(ders[i]);
    if (!c) {
      return Malformed(
          "certificate", 0,
          "certificate " + std::to_string(i) + " does not parse: " + c.error().message);
    }
    chain.push_back(std::move(*c));
  }
  return chain;
}

std::vector<Bytes> ChainDer(const std::vector<X509Ptr>& chain) {
  std::vector<Bytes> out;
  for (const X509Ptr& c : chain) out.push_back(CertificateDer(c.get()));
  return out;
}

// The issuer of `cert` among the rest of its chain and the trust anchors.
X509* FindIssuer(X509* cert, const std::vector<X509Ptr>& chain, const std::vector<X509Ptr>& roots) {
  for (const auto* list : {&chain, &roots}) {
    for (const X509Ptr& c : *list) {
      if (c.get() != cert && X509_check_issued(c.get(), cert) == X509_V_OK) return c.get();
    }
  }
  return nullptr;
}

std::int64_t NotAfter(X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

std::vector<std::string> DefaultAlgorithms() {
  return {std::string(kAlgSha1),   std::string(kAlgHmacSha1), std::string(kAlgRsaPss),
          std::string(kAlgRsaKem), std::string(kAlgKwAes128), std::string(kAlgExcC14n)};
}

KeyId ToKeyId(const Sha1Digest& d) {
  KeyId id;
  std::copy(d.begin(), d.end(), id.begin());
  return id;
}

KeyId CertificateKeyId(X509* cert) { return ToKeyId(SpkiSha1(cert)); }

RoapResult<Bytes> SignBytes(EVP_PKEY* key, std::string_view data) {
  auto sig = RsaPssSign(key, AsBytes(data));
  if (!sig) return MakeError(ErrorCode::kUnsupported, "RSA-PSS sign: " + sig.error().message);
  return std::move(*sig);
}

bool VerifyBytes(EVP_PKEY* key, std::string_view data, std::span<const std::uint8_t> sig) {
  return RsaPssVerify(key, AsBytes(data), sig).ok();
}

RoapResult<DeviceCredentials> MakeDeviceCredentials(EvpPkeyPtr key, std::vector<X509Ptr> chain) {
  if (!key || chain.empty() || !KeyMatchesCertificate(chain[0].get(), key.get())) {
    return MakeError(ErrorCode::kUnsupported, "device key does not match its certificate");
  }
  DeviceCredentials d;
  d.device_id = CertificateKeyId(chain[0].get());
  d.key = std::move(key);
  d.chain = std::move(chain);
  return d;
}

RoapResult<RiCredentials> MakeRiCredentials(EvpPkeyPtr key, std::vector<X509Ptr> chain,
                                            std::string ri_url) {
  if (!key || chain.empty() || !KeyMatchesCertificate(chain[0].get(), key.get())) {
    return MakeError(ErrorCode::kUnsupported, "RI key does not match its certificate");
  }
  RiCredentials r;
  r.ri_id = CertificateKeyId(chain[0].get());
  r.key = std::move(key);
  r.chain = std::move(chain);
  r.ri_url = std::move(ri_url);
  return r;
}

TrustAnchors MakeTrustAnchors(std::vector<X509Ptr> roots) {
  TrustAnchors t;
  t.store = MakeTrustStore(roots);
  t.roots = std::move(roots);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Device: registration

RegistrationSession::RegistrationSession(const DeviceCredentials& device,
                                         const TrustAnchors& anchors, Options options)
    : device_(device), anchors_(anchors), options_(std::move(options)) {}

std::string RegistrationSession::DeviceHello() {
  roap::DeviceHello hello;
  hello.trigger_nonce = options_.trigger_nonce;
  hello.device_id = device_.device_id;
  hello.supported_algorithms = DefaultAlgorithms();
  device_hello_ = WriteDeviceHello(hello);
  step_ = Step::kHelloSent;
  return device_hello_;
}

RoapResult<RiHello> RegistrationSession::OnRiHello(std::string_view bytes) {
  if (step_ != Step::kHelloSent) return MakeError(ErrorCode::kBadState, "riHello out of order");
  auto hello = ParseRiHello(bytes);
  if (!hello) return hello.error();
  if (hello->status != Status::kSuccess) return StatusError(hello->status);
  if (hello->selected_version != kRoapVersion) {
    return MakeError(ErrorCode::kUnsupported, "RI selected ROAP version " + hello->selected_version,
                     "selectedVersion");
  }
  if (hello->ri_nonce.empty()) return Malformed("riNonce", 0, "riHello: empty riNonce");
  ri_hello_.assign(bytes);
  ri_hello_parsed_ = *hello;
  step_ = Step::kRiHello;
  return hello;
}

RoapResult<std::string> RegistrationSession::RegistrationRequest(std::int64_t now) {
  if (step_ != Step::kRiHello) {
    return MakeError(ErrorCode::kBadState, "registrationRequest before riHello");
  }
  nonce_ = NewNonce();
  roap::RegistrationRequest req;
  req.session_id = ri_hello_parsed_.session_id;
  req.trigger_nonce = options_.trigger_nonce;
  req.nonce = nonce_;
  req.time = now;
  if (options_.send_certificate_chain) req.certificate_chain = ChainDer(device_.chain);
  for (const X509Ptr& root : anchors_.roots) {
    req.trusted_authorities.push_back(CertificateKeyId(root.get()));
  }
  req.server_info = ri_hello_parsed_.server_info;
  auto signed_req = SignMessage(device_.key.get(), device_hello_ + ri_hello_,
                                WriteRegistrationRequest(req), false);
  if (!signed_req) return signed_req.error();
  request_ = *signed_req;
  step_ = Step::kRequestSent;
  return request_;
}

RoapResult<RiContext> RegistrationSession::OnRegistrationResponse(std::string_view bytes,
                                                                  std::int64_t now) {
  if (step_ != Step::kRequestSent) {
    return MakeError(ErrorCode::kBadState, "registrationResponse before registrationRequest");
  }
  auto resp = ParseRegistrationResponse(bytes);
  if (!resp) return resp.error();
  if (resp->status != Status::kSuccess) return StatusError(resp->status);
  if (resp->session_id != ri_hello_parsed_.session_id) {
    return MakeError(ErrorCode::kWrongSessionId,
                     "registrationResponse sessionId differs from riHello's", "sessionId");
  }
  if (resp->certificate_chain.empty()) {
    return MakeError(ErrorCode::kUntrustedCertificate, "registrationResponse without RI chain",
                     "certificateChain");
  }
  auto chain = LoadChain(resp->certificate_chain);
  if (!chain) return chain.error();
  X509* leaf = (*chain)[0].get();
  if (CertificateKeyId(leaf) != ri_hello_parsed_.ri_id) {
    return MakeError(ErrorCode::kWrongRiId,
                     "RI certificate's SPKI SHA-1 is not the riID of riHello", "riID");
  }
  EvpPkeyPtr ri_key = CertificatePublicKey(leaf);
  if (!ri_key || !VerifyBytes(ri_key.get(), request_ + resp->unsigned_bytes, resp->signature)) {
    return MakeError(ErrorCode::kBadSignature, "registrationResponse signature does not verify",
                     "signature");
  }
  auto trusted = VerifyChain(*chain, anchors_.store.get(), static_cast<std::time_t>(now));
  if (!trusted) return ChainError(trusted.error(), "RI certificate chain");

  RiContext ctx;
  ctx.ri_id = ri_hello_parsed_.ri_id;
  ctx.ri_url = resp->ri_url;
  ctx.certificate_chain = resp->certificate_chain;
  ctx.registered_at = now;
  ctx.certificate_not_after = NotAfter(leaf);

  if (resp->ocsp_responses.empty()) {
    if (options_.first_registration) {
      return MakeError(ErrorCode::kOcspMissing, "first registration without an OCSP response",
                       "ocspResponse");
    }
  } else {
    auto ocsp = ParseOcspResponse(resp->ocsp_responses[0]);
    if (!ocsp) {
      return MakeError(ErrorCode::kOcspInvalid, "OCSP response: " + ocsp.error().message,
                       "ocspResponse");
    }
    X509* issuer = FindIssuer(leaf, *chain, anchors_.roots);
    if (!issuer) {
      return MakeError(ErrorCode::kUntrustedCertificate, "RI certificate issuer not found",
                       "certificateChain");
    }
    OcspCheckOptions opts;
    if (options_.first_registration) opts.expected_nonce = nonce_;
    auto checked = CheckOcspResponse(ocsp->get(), leaf, issuer, anchors_.store.get(), *chain,
                                     static_cast<std::time_t>(now), opts);
    if (!checked) {
      ErrorCode code = checked.error().code == CryptoErrorCode::kNonceMismatch
                           ? ErrorCode::kOcspNonceMismatch
                           : ErrorCode::kOcspInvalid;
      return MakeError(code, "OCSP response: " + checked.error().message, "ocspResponse");
    }
    if (checked->nonce && !options_.first_registration &&
        !ConstantTimeEqual(*checked->nonce, nonce_)) {
      return MakeError(ErrorCode::kOcspNonceMismatch, "OCSP nonce is not the request nonce",
                       "ocspResponse");
    }
    if (checked->status == OcspCertStatus::kRevoked) {
      return MakeError(ErrorCode::kRevokedCertificate, "OCSP: RI certificate revoked",
                       "ocspResponse");
    }
    if (checked->status != OcspCertStatus::kGood) {
      return MakeError(ErrorCode::kOcspInvalid, "OCSP: RI certificate status unknown",
                       "ocspResponse");
    }
    ctx.ocsp_checked = true;
    ctx.ocsp_produced_at = checked->produced_at;
    ctx.ocsp_next_update = checked->next_update;
    // Bound to our fresh nonce, so its producedAt is a trusted time.
    if (checked->nonce) ctx.trusted_time = checked->produced_at;
  }
  step_ = Step::kDone;
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// Device: RO acquisition

RoAcquisition::RoAcquisition(const DeviceCredentials& device, const RiContext& ri, Options options)
    : device_(device), ri_(ri), options_(std::move(options)) {}

RoapResult<std::string> RoAcquisition::Request(std::int64_t now) {
  nonce_ = NewNonce();
  RoRequest req;
  req.trigger_nonce = options_.trigger_nonce;
  req.device_id = device_.device_id;
  req.domain_id = options_.domain_id;
  req.ri_id = ri_.ri_id;
  req.nonce = nonce_;
  req.time = now;
  req.ro_ids = options_.ro_ids;
  req.content_ids = options_.content_ids;
  if (options_.send_certificate_chain) req.certificate_chain = ChainDer(device_.chain);
  auto out = SignMessage(device_.key.get(), {}, WriteRoRequest(req), false);
  if (out) sent_ = true;
  return out;
}

RoapResult<std::vector<LtkmEntry>> RoAcquisition::OnResponse(std::string_view bytes) {
  if (!sent_) return MakeError(ErrorCode::kBadState, "roResponse before roRequest");
  return VerifyRoResponse(bytes, device_, ri_, nonce_);
}

RoapResult<std::vector<LtkmEntry>> OpenPushedRoResponse(std::string_view bytes,
                                                        const DeviceCredentials& device,
                                                        const RiContext& ri) {
  return VerifyRoResponse(bytes, device, ri, std::nullopt);
}

RoapResult<std::vector<LtkmEntry>> VerifyRoResponse(std::string_view bytes,
                                                    const DeviceCredentials& device,
                                                    const RiContext& ri,
                                                    const std::optional<Bytes>& expected_nonce) {
  auto resp = ParseRoResponse(bytes);
  if (!resp) return resp.error();
  if (resp->status != Status::kSuccess) return StatusError(resp->status);
  if (resp->device_id != device.device_id) {
    return MakeError(ErrorCode::kWrongDeviceId, "roResponse for another device", "deviceID");
  }
  if (resp->ri_id != ri.ri_id) {
    return MakeError(ErrorCode::kWrongRiId, "roResponse from another RI", "riID");
  }
  if (expected_nonce) {
    if (!resp->nonce || !ConstantTimeEqual(*resp->nonce, *expected_nonce)) {
      return MakeError(ErrorCode::kWrongNonce, "roResponse nonce is not the roRequest's", "nonce");
    }
  } else if (resp->nonce) {
    return MakeError(ErrorCode::kWrongNonce, "1-pass roResponse carries a nonce", "nonce");
  }
  if (ri.certificate_chain.empty()) {
    return MakeError(ErrorCode::kUnknownRi, "no RI certificate in the RI context", "riID");
  }
  auto leaf = LoadCertificate(ri.certificate_chain[0]);
  if (!leaf) return MakeError(ErrorCode::kUnknownRi, "RI context certificate unusable", "riID");
  EvpPkeyPtr ri_key = CertificatePublicKey(leaf->get());
  if (!ri_key || !VerifyBytes(ri_key.get(), resp->unsigned_bytes, resp->signature)) {
    return MakeError(ErrorCode::kBadSignature, "roResponse signature does not verify", "signature");
  }
  std::vector<LtkmEntry> entries;
  for (const ProtectedRo& pro : resp->protected_ros) {
    auto e = OpenProtectedRo(pro, device.key.get(), device.device_id, ri.ri_id);
    if (!e) return e.error();
    entries.push_back(std::move(*e));
  }
  return entries;
}

// ---------------------------------------------------------------------------------------------
// RI side

Status StatusForError(const Error& error) {
  switch (error.code) {
    case ErrorCode::kMalformed:
      return Status::kMalformedRequest;
    case ErrorCode::kBadSignature:
      return Status::kSignatureError;
    case ErrorCode::kUntrustedCertificate:
      return Status::kTrustedRootCertificateNotPresent;
    case ErrorCode::kExpiredCertificate:
    case ErrorCode::kRevokedCertificate:
    case ErrorCode::kWrongDeviceId:
      return Status::kInvalidCertificateChain;
    case ErrorCode::kNotRegistered:
      return Status::kNotRegistered;
    case ErrorCode::kDeviceTimeError:
      return Status::kDeviceTimeError;
    case ErrorCode::kUnsupported:
      return Status::kNotSupported;
    case ErrorCode::kWrongRiId:
      return Status::kAccessDenied;
    case ErrorCode::kStatusNotSuccess:
      return error.status;
    case ErrorCode::kWrongSessionId:
    case ErrorCode::kBadState:
      return Status::kAbort;
    default:
      return Status::kUnknownError;
  }
}

RiHelloOutcome RiHandleDeviceHello(const RiCredentials& ri, std::string_view device_hello,
                                   std::string session_id) {
  RiHelloOutcome out;
  auto fail = [&](Status status, Error error) {
    RiHello h;
    h.status = status;
    out.response = WriteRiHello(h);
    out.error = std::move(error);
    return std::move(out);
  };
  auto hello = ParseDeviceHello(device_hello);
  if (!hello) return fail(Status::kMalformedRequest, hello.error());
  if (hello->version != kRoapVersion) {
    return fail(Status::kUnsupportedVersion,
                MakeError(ErrorCode::kUnsupported, "ROAP version " + hello->version, "version"));
  }
  std::vector<std::string> ours = DefaultAlgorithms();
  std::vector<std::string> selected;
  if (hello->supported_algorithms.empty()) {
    selected = ours;
  } else {
    for (const std::string& a : hello->supported_algorithms) {
      if (std::find(ours.begin(), ours.end(), a) != ours.end()) selected.push_back(a);
    }
    for (std::string_view needed : {kAlgRsaPss, kAlgRsaKem}) {
      if (std::find(selected.begin(), selected.end(), needed) == selected.end()) {
        return fail(Status::kUnsupportedAlgorithm,
                    MakeError(ErrorCode::kUnsupported, "device lacks " + std::string(needed),
                              "supportedAlgorithm"));
      }
    }
  }
  RiHello h;
  h.status = Status::kSuccess;
  h.session_id = session_id;
  h.ri_id = ri.ri_id;
  h.ri_nonce = NewNonce();
  h.selected_algorithms = selected;
  RiSession s;
  s.session_id = std::move(session_id);
  s.device_hello.assign(device_hello);
  s.ri_hello = WriteRiHello(h);
  s.device_id = hello->device_id;
  s.ri_nonce = h.ri_nonce;
  out.response = s.ri_hello;
  out.session = std::move(s);
  return out;
}

RegistrationOutcome RiHandleRegistrationRequest(const RiCredentials& ri, const RiSession& session,
                                                std::string_view request,
                                                X509_STORE* device_anchors, std::int64_t now,
                                                const RiRegistrationOptions& options) {
  RegistrationOutcome out;
  auto fail = [&](Status status, Error error) {
    RegistrationResponse r;
    r.status = status;
    r.session_id = session.session_id;
    out.response = WriteRegistrationResponse(r);
    out.error = std::move(error);
    return std::move(out);
  };
  auto req = ParseRegistrationRequest(request);
  if (!req) return fail(Status::kMalformedRequest, req.error());
  if (req->session_id != session.session_id) {
    return fail(Status::kAbort, MakeError(ErrorCode::kWrongSessionId,
                                          "registrationRequest for another session", "sessionId"));
  }
  if (req->certificate_chain.empty()) {
    return fail(Status::kNoCertificateChain,
                MakeError(ErrorCode::kUntrustedCertificate, "no device certificate chain",
                          "certificateChain"));
  }
  auto chain = LoadChain(req->certificate_chain);
  if (!chain) return fail(Status::kInvalidCertificateChain, chain.error());
  X509* leaf = (*chain)[0].get();
  if (CertificateKeyId(leaf) != session.device_id) {
    return fail(Status::kInvalidCertificateChain,
                MakeError(ErrorCode::kWrongDeviceId,
                          "device certificate is not the deviceHello's deviceID", "deviceID"));
  }
  auto trusted = VerifyChain(*chain, device_anchors, static_cast<std::time_t>(now));
  if (!trusted) {
    Error e = ChainError(trusted.error(), "device certificate chain");
    return fail(StatusForError(e), e);
  }
  EvpPkeyPtr device_key = CertificatePublicKey(leaf);
  if (!device_key ||
      !VerifyBytes(device_key.get(), session.device_hello + session.ri_hello + req->unsigned_bytes,
                   req->signature)) {
    return fail(Status::kSignatureError,
                MakeError(ErrorCode::kBadSignature, "registrationRequest signature does not verify",
                          "signature"));
  }
  if (options.max_time_skew > 0 && std::llabs(req->time - now) > options.max_time_skew) {
    return fail(Status::kDeviceTimeError,
                MakeError(ErrorCode::kDeviceTimeError, "device time too far off", "time"));
  }
  RegistrationResponse resp;
  resp.status = Status::kSuccess;
  resp.session_id = session.session_id;
  resp.ri_url = ri.ri_url;
  resp.certificate_chain = ChainDer(ri.chain);
  if (options.ocsp_for_nonce) resp.ocsp_responses = options.ocsp_for_nonce(req->nonce);
  auto signed_resp = SignMessage(ri.key.get(), request, WriteRegistrationResponse(resp), false);
  if (!signed_resp) return fail(Status::kUnknownError, signed_resp.error());
  out.response = std::move(*signed_resp);
  RegisteredDevice dev;
  dev.device_id = session.device_id;
  dev.certificate_chain = req->certificate_chain;
  dev.public_key = std::move(device_key);
  out.device = std::move(dev);
  return out;
}

RoapResult<VerifiedRoRequest> RiVerifyRoRequest(
    const RiCredentials& ri, std::string_view bytes,
    const std::function<const RegisteredDevice*(const KeyId&)>& lookup_device) {
  auto req = ParseRoRequest(bytes);
  if (!req) return req.error();
  if (req->ri_id != ri.ri_id) {
    return MakeError(ErrorCode::kWrongRiId, "roRequest for another RI", "riID");
  }
  const RegisteredDevice* dev = lookup_device ? lookup_device(req->device_id) : nullptr;
  if (!dev || !dev->public_key) {
    return MakeError(ErrorCode::kNotRegistered, "device is not registered", "deviceID");
  }
  if (!VerifyBytes(dev->public_key.get(), req->unsigned_bytes, req->signature)) {
    return MakeError(ErrorCode::kBadSignature, "roRequest signature does not verify", "signature");
  }
  VerifiedRoRequest v;
  v.request = std::move(*req);
  v.bytes.assign(bytes);
  return v;
}

RoapResult<std::string> RiBuildRoResponse(const RiCredentials& ri, const RegisteredDevice& device,
                                          const std::optional<Bytes>& nonce,
                                          const std::vector<RoGrant>& grants, std::int64_t now) {
  if (grants.empty()) return MakeError(ErrorCode::kMalformed, "no RO to send", "protectedRO");
  RoResponse resp;
  resp.status = Status::kSuccess;
  resp.device_id = device.device_id;
  resp.ri_id = ri.ri_id;
  resp.nonce = nonce;
  for (const RoGrant& g : grants) {
    auto pro = BuildProtectedRo(g, ri.ri_id, now, device.public_key.get());
    if (!pro) return pro.error();
    resp.protected_ro_bytes.push_back(std::move(*pro));
  }
  return SignMessage(ri.key.get(), {}, WriteRoResponse(resp), true);
}

std::string RiRoErrorResponse(Status status) {
  RoResponse r;
  r.status = status;
  return WriteRoResponse(r);
}

}  // namespace spc::roap
