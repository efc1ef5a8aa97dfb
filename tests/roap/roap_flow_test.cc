// ROAP flows run in-process between the device helpers and the RI helpers with a test PKI: 4-pass
// registration, 2-pass and 1-pass RO acquisition, triggers, and every named error.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "spc/libspc/roap/session.h"
#include "tests/roap/roap_test_pki.h"

namespace spc::roap {
namespace {

using test::Now;
using test::Pki;

Bytes B(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed * 13 + i);
  return b;
}

RoGrant Grant(std::string ro_id, std::string cid, std::optional<std::uint32_t> kd,
              std::uint8_t seed) {
  RoGrant g;
  g.ro_id = std::move(ro_id);
  g.rights.content_id = std::move(cid);
  g.rights.key_domain_id = kd;
  g.rights.play = true;
  g.rights.record = seed % 2 == 0;
  g.rights.not_before = Now() - 10;
  g.rights.not_after = Now() + 86400;
  Bytes sek = B(16, seed), sak = B(16, seed + 1);
  g.encryption_key.Assign(std::span<const std::uint8_t, 16>(sek.data(), 16));
  g.authentication_key.Assign(std::span<const std::uint8_t, 16>(sak.data(), 16));
  return g;
}

// Flips one base64 character of the signature element's content.
std::string FlipSignature(std::string msg) {
  std::size_t pos = msg.rfind("<signature>") + 11 + 5;
  msg[pos] = msg[pos] == 'A' ? 'B' : 'A';
  return msg;
}

RoAcquisition::Options Content(std::vector<std::string> cids,
                               std::optional<std::string> trigger_nonce = std::nullopt) {
  RoAcquisition::Options o;
  o.content_ids = std::move(cids);
  o.trigger_nonce = std::move(trigger_nonce);
  return o;
}

RegistrationSession::Options RegOptions(std::optional<std::string> trigger_nonce,
                                        bool first_registration = true) {
  RegistrationSession::Options o;
  o.trigger_nonce = std::move(trigger_nonce);
  o.first_registration = first_registration;
  return o;
}

class RoapFlow : public ::testing::Test {
 protected:
  using Tamper = std::function<void(std::string& response, const std::string& request)>;

  RiRegistrationOptions RiOptions() {
    RiRegistrationOptions o;
    o.ocsp_for_nonce = [this](std::span<const std::uint8_t> nonce) -> std::vector<Bytes> {
      if (no_ocsp_) return {};
      Bytes n(nonce.begin(), nonce.end());
      if (ocsp_other_nonce_) n[0] ^= 1;
      return {test::Ocsp(ri_.chain[0].get(), ocsp_status_, n)};
    };
    return o;
  }

  // Runs the 4-pass registration; `tamper` may rewrite the registrationResponse.
  RoapResult<RiContext> Register(RegistrationSession::Options options = {},
                                 const Tamper& tamper = {}) {
    RegistrationSession s(device_, anchors_, options);
    std::string hello = s.DeviceHello();
    RiHelloOutcome h = RiHandleDeviceHello(ri_, hello, "session-1");
    EXPECT_TRUE(h.session.has_value());
    auto ri_hello = s.OnRiHello(h.response);
    if (!ri_hello) return ri_hello.error();
    auto req = s.RegistrationRequest(Now());
    EXPECT_TRUE(req.ok());
    last_request_ = *req;
    RegistrationOutcome reg = RiHandleRegistrationRequest(
        ri_, *h.session, *req, ri_device_anchors_.store.get(), Now(), RiOptions());
    if (reg.device) registered_ = std::move(*reg.device);
    ri_error_ = reg.error;
    std::string response = reg.response;
    if (tamper) tamper(response, *req);
    return s.OnRegistrationResponse(response, Now());
  }

  RiContext MustRegister() {
    auto ctx = Register();
    EXPECT_TRUE(ctx.ok()) << ErrorName(ctx.error()) << ": " << ctx.error().message;
    return ctx.ok() ? *ctx : RiContext{};
  }

  // A registrationResponse with chosen content, signed by `key` over the request.
  std::string ForgeResponse(const std::string& request, RegistrationResponse r, EVP_PKEY* key) {
    return test::SignAs(key, request, WriteRegistrationResponse(r), false);
  }

  RegistrationResponse GoodResponseFields(const std::string& request) {
    RegistrationResponse r;
    r.session_id = "session-1";
    r.ri_url = ri_.ri_url;
    r.certificate_chain = {CertificateDer(ri_.chain[0].get())};
    auto parsed = ParseRegistrationRequest(request);
    EXPECT_TRUE(parsed.ok());
    r.ocsp_responses = {test::Ocsp(ri_.chain[0].get(), OcspCertStatus::kGood, parsed->nonce)};
    return r;
  }

  std::string ErrorOf(const RoapResult<RiContext>& r) {
    return r.ok() ? "ok" : ErrorName(r.error()) + " (" + r.error().message + ")";
  }
  template <class T>
  std::string NameOf(const RoapResult<T>& r) {
    return r.ok() ? "ok" : ErrorName(r.error());
  }

  DeviceCredentials device_ = test::Device(Pki().device);
  RiCredentials ri_ = test::Ri(Pki().ri.cert);
  TrustAnchors anchors_ = test::Anchors(Pki().root);
  TrustAnchors ri_device_anchors_ = test::Anchors(Pki().root);
  OcspCertStatus ocsp_status_ = OcspCertStatus::kGood;
  bool ocsp_other_nonce_ = false;
  bool no_ocsp_ = false;
  std::string last_request_;
  RegisteredDevice registered_;
  std::optional<Error> ri_error_;
};

TEST_F(RoapFlow, RegistrationThenTwoPassAcquisition) {
  RiContext ctx = MustRegister();
  EXPECT_EQ(ctx.ri_id, ri_.ri_id);
  EXPECT_EQ(ctx.ri_url, ri_.ri_url);
  EXPECT_TRUE(ctx.ocsp_checked);
  ASSERT_TRUE(ctx.trusted_time.has_value());
  EXPECT_LE(std::llabs(*ctx.trusted_time - Now()), 5);
  EXPECT_GT(ctx.certificate_not_after, Now());
  EXPECT_EQ(registered_.device_id, device_.device_id);

  RoAcquisition acq(device_, ctx, Content({"urn:openbcast:svc:news:0000002a"}));
  auto req = acq.Request(Now());
  ASSERT_TRUE(req.ok());
  auto verified = RiVerifyRoRequest(ri_, *req, [&](const KeyId& id) {
    return id == registered_.device_id ? &registered_ : nullptr;
  });
  ASSERT_TRUE(verified.ok()) << ErrorName(verified.error());
  EXPECT_EQ(verified->request.content_ids,
            std::vector<std::string>{"urn:openbcast:svc:news:0000002a"});
  std::vector<RoGrant> grants;
  grants.push_back(Grant("RO-news", "urn:openbcast:svc:news:0000002a", 0x0a0b0c, 2));
  grants.push_back(Grant("RO-sport", "urn:openbcast:svc:sport:00000001", std::nullopt, 5));
  auto resp = RiBuildRoResponse(ri_, registered_, verified->request.nonce, grants, Now());
  ASSERT_TRUE(resp.ok());
  auto entries = acq.OnResponse(*resp);
  ASSERT_TRUE(entries.ok()) << ErrorName(entries.error()) << ": " << entries.error().message;
  ASSERT_EQ(entries->size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const LtkmEntry& e = (*entries)[i];
    const RoGrant& g = grants[i];
    EXPECT_EQ(e.content_id, g.rights.content_id);
    EXPECT_EQ(e.key_domain_id, g.rights.key_domain_id);
    EXPECT_TRUE(
        std::equal(e.encryption_key.data(), e.encryption_key.data() + 16, g.encryption_key.data()));
    EXPECT_TRUE(std::equal(e.authentication_key.data(), e.authentication_key.data() + 16,
                           g.authentication_key.data()));
    EXPECT_EQ(e.play, true);
    EXPECT_EQ(e.record, g.rights.record);
    EXPECT_EQ(e.not_before, g.rights.not_before);
    EXPECT_EQ(e.not_after, g.rights.not_after);
    EXPECT_EQ(e.ro_id, g.ro_id);
    EXPECT_EQ(e.ri_id, ri_.ri_id);
  }
  LongTermKey k = ToLongTermKey((*entries)[0]);
  EXPECT_EQ(k.key_domain_id, 0x0a0b0cu);
  EXPECT_EQ(k.encryption_key[0], grants[0].encryption_key.data()[0]);
  // The same response again is fine for the same acquisition (idempotent check), but a second
  // acquisition has a new nonce and refuses it.
  RoAcquisition acq2(device_, ctx, Content({"x"}));
  ASSERT_TRUE(acq2.Request(Now()).ok());
  EXPECT_EQ(NameOf(acq2.OnResponse(*resp)), "WrongNonce");
}

TEST_F(RoapFlow, TriggersCarryTheirNonceIntoTheRequests) {
  RoapTrigger reg_trigger;
  reg_trigger.kind = RoapTrigger::Kind::kRegistrationRequest;
  reg_trigger.ri_id = ri_.ri_id;
  reg_trigger.nonce = "reg-trigger-nonce";
  reg_trigger.roap_url = ri_.ri_url;
  auto t = ParseRoapTrigger(WriteRoapTrigger(reg_trigger));
  ASSERT_TRUE(t.ok());
  RegistrationSession s(device_, anchors_, RegOptions(t->nonce));
  auto hello = ParseDeviceHello(s.DeviceHello());
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(hello->trigger_nonce, "reg-trigger-nonce");

  RiContext ctx = MustRegister();
  RoapTrigger acq_trigger;
  acq_trigger.ri_id = ri_.ri_id;
  acq_trigger.nonce = "acq-trigger-nonce";
  acq_trigger.roap_url = ri_.ri_url;
  acq_trigger.content_ids = {"urn:openbcast:svc:news:0000002a"};
  auto at = ParseRoapTrigger(WriteRoapTrigger(acq_trigger));
  ASSERT_TRUE(at.ok());
  RoAcquisition acq(device_, ctx, Content(at->content_ids, at->nonce));
  auto req = acq.Request(Now());
  ASSERT_TRUE(req.ok());
  auto parsed = ParseRoRequest(*req);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->trigger_nonce, "acq-trigger-nonce");
  EXPECT_EQ(parsed->content_ids, at->content_ids);
}

TEST_F(RoapFlow, OnePassPushedResponse) {
  RiContext ctx = MustRegister();
  std::vector<RoGrant> grants;
  grants.push_back(Grant("RO-push", "urn:openbcast:svc:news:0000002b", 0x0a0b0c, 9));
  auto pushed = RiBuildRoResponse(ri_, registered_, std::nullopt, grants, Now());
  ASSERT_TRUE(pushed.ok());
  auto entries = OpenPushedRoResponse(*pushed, device_, ctx);
  ASSERT_TRUE(entries.ok()) << ErrorName(entries.error());
  EXPECT_EQ((*entries)[0].ro_id, "RO-push");
  // A 2-pass acquisition does not take a response without its nonce; 1-pass refuses one with.
  RoAcquisition acq(device_, ctx, Content({"x"}));
  ASSERT_TRUE(acq.Request(Now()).ok());
  EXPECT_EQ(NameOf(acq.OnResponse(*pushed)), "WrongNonce");
  auto with_nonce = RiBuildRoResponse(ri_, registered_, B(32, 1), grants, Now());
  EXPECT_EQ(NameOf(OpenPushedRoResponse(*with_nonce, device_, ctx)), "WrongNonce");
  // Another device cannot open it.
  DeviceCredentials other = test::Device(Pki().device2);
  EXPECT_EQ(NameOf(OpenPushedRoResponse(*pushed, other, ctx)), "WrongDeviceId");
}

TEST_F(RoapFlow, ReRegistrationWithoutOcspIsAccepted) {
  no_ocsp_ = true;
  EXPECT_EQ(ErrorOf(Register()).substr(0, 11), "OcspMissing");
  auto ctx = Register(RegOptions(std::nullopt, false));
  ASSERT_TRUE(ctx.ok()) << ErrorOf(ctx);
  EXPECT_FALSE(ctx->ocsp_checked);
}

// ---- Named errors, device side: registration ----

TEST_F(RoapFlow, BadRegistrationResponseSignature) {
  auto r = Register({}, [](std::string& resp, const std::string&) { resp = FlipSignature(resp); });
  EXPECT_EQ(NameOf(r), "BadSignature");
  // Signed by a key that is not the RI certificate's.
  r = Register({}, [&](std::string& resp, const std::string& req) {
    resp = ForgeResponse(req, GoodResponseFields(req), Pki().device2.key.get());
  });
  EXPECT_EQ(NameOf(r), "BadSignature");
  // Signed over the response only (not the request ‖ response).
  r = Register({}, [&](std::string& resp, const std::string& req) {
    resp =
        test::SignAs(ri_.key.get(), "", WriteRegistrationResponse(GoodResponseFields(req)), false);
  });
  EXPECT_EQ(NameOf(r), "BadSignature");
  // The forging helper itself produces an acceptable response (the checks above are real).
  r = Register({}, [&](std::string& resp, const std::string& req) {
    resp = ForgeResponse(req, GoodResponseFields(req), ri_.key.get());
  });
  EXPECT_TRUE(r.ok()) << ErrorOf(r);
}

TEST_F(RoapFlow, WrongSessionId) {
  auto r = Register({}, [&](std::string& resp, const std::string& req) {
    auto fields = GoodResponseFields(req);
    fields.session_id = "session-2";
    resp = ForgeResponse(req, fields, ri_.key.get());
  });
  EXPECT_EQ(NameOf(r), "WrongSessionId");
}

TEST_F(RoapFlow, RiCertificateNotTheRiId) {
  auto r = Register({}, [&](std::string& resp, const std::string& req) {
    auto fields = GoodResponseFields(req);
    fields.certificate_chain = {CertificateDer(Pki().device2.cert.get())};
    resp = ForgeResponse(req, fields, Pki().device2.key.get());
  });
  EXPECT_EQ(NameOf(r), "WrongRiId");
}

TEST_F(RoapFlow, UntrustedRiCertificate) {
  ri_ = test::Ri(Pki().ri_untrusted);
  EXPECT_EQ(NameOf(Register()), "UntrustedCertificate");
}

TEST_F(RoapFlow, ExpiredRiCertificate) {
  ri_ = test::Ri(Pki().ri_expired);
  EXPECT_EQ(NameOf(Register()), "ExpiredCertificate");
}

TEST_F(RoapFlow, RevokedRiCertificateByOcsp) {
  ocsp_status_ = OcspCertStatus::kRevoked;
  EXPECT_EQ(NameOf(Register()), "RevokedCertificate");
  ocsp_status_ = OcspCertStatus::kUnknown;
  EXPECT_EQ(NameOf(Register()), "OcspInvalid");
}

TEST_F(RoapFlow, OcspForAnotherNonce) {
  ocsp_other_nonce_ = true;
  EXPECT_EQ(NameOf(Register()), "OcspNonceMismatch");
}

TEST_F(RoapFlow, OcspMissingOnFirstRegistration) {
  no_ocsp_ = true;
  EXPECT_EQ(NameOf(Register()), "OcspMissing");
}

TEST_F(RoapFlow, OcspFromAnUntrustedResponder) {
  auto r = Register({}, [&](std::string& resp, const std::string& req) {
    auto fields = GoodResponseFields(req);
    auto parsed = ParseRegistrationRequest(req);
    OcspResponseSpec spec;
    spec.this_update = Now() - 60;
    spec.next_update = Now() + 3600;
    spec.nonce = parsed->nonce;
    auto forged =
        MakeOcspResponse(ri_.chain[0].get(), Pki().root.cert.get(), Pki().other_device.cert.get(),
                         Pki().other_device.key.get(), spec);
    ASSERT_TRUE(forged.ok());
    fields.ocsp_responses = {*forged};
    resp = ForgeResponse(req, fields, ri_.key.get());
  });
  EXPECT_EQ(NameOf(r), "OcspInvalid");
}

TEST_F(RoapFlow, EveryNonSuccessStatusIsNamed) {
  for (int i = 1; i < kStatusCount; ++i) {
    auto status = static_cast<Status>(i);
    std::string expected = "StatusNotSuccess(" + std::string(StatusName(status)) + ")";
    {
      RegistrationSession s(device_, anchors_, {});
      s.DeviceHello();
      RiHello h;
      h.status = status;
      EXPECT_EQ(NameOf(s.OnRiHello(WriteRiHello(h))), expected);
    }
    {
      auto r = Register({}, [&](std::string& resp, const std::string&) {
        RegistrationResponse rr;
        rr.status = status;
        rr.session_id = "session-1";
        resp = WriteRegistrationResponse(rr);
      });
      EXPECT_EQ(NameOf(r), expected);
    }
    {
      RiContext ctx;
      ctx.ri_id = ri_.ri_id;
      RoAcquisition acq(device_, ctx, Content({"x"}));
      ASSERT_TRUE(acq.Request(Now()).ok());
      EXPECT_EQ(NameOf(acq.OnResponse(RiRoErrorResponse(status))), expected);
    }
  }
}

TEST_F(RoapFlow, OutOfOrderCallsAreBadState) {
  RegistrationSession s(device_, anchors_, {});
  EXPECT_EQ(NameOf(s.OnRiHello("<x/>")), "BadState");
  EXPECT_EQ(NameOf(s.RegistrationRequest(Now())), "BadState");
  EXPECT_EQ(NameOf(s.OnRegistrationResponse("<x/>", Now())), "BadState");
  RiContext ctx;
  RoAcquisition acq(device_, ctx, {});
  EXPECT_EQ(NameOf(acq.OnResponse("<x/>")), "BadState");
}

// ---- Named errors, RI side ----

TEST_F(RoapFlow, RiRefusesBadRegistrationRequests) {
  auto run = [&](const DeviceCredentials& dev, const std::function<void(std::string&)>& tamper,
                 std::string session = "session-1") {
    RegistrationSession s(dev, anchors_, {});
    RiHelloOutcome h = RiHandleDeviceHello(ri_, s.DeviceHello(), "session-1");
    EXPECT_TRUE(s.OnRiHello(h.response).ok());
    std::string req = *s.RegistrationRequest(Now());
    if (tamper) tamper(req);
    RiSession rs = *h.session;
    rs.session_id = session;
    RegistrationOutcome out = RiHandleRegistrationRequest(
        ri_, rs, req, ri_device_anchors_.store.get(), Now(), RiOptions());
    EXPECT_FALSE(out.device.has_value());
    auto parsed = ParseRegistrationResponse(out.response);
    EXPECT_TRUE(parsed.ok());
    // The device sees the RI's status by name.
    EXPECT_EQ(NameOf(s.OnRegistrationResponse(out.response, Now())),
              "StatusNotSuccess(" + std::string(StatusName(parsed->status)) + ")");
    return std::make_pair(parsed->status, out.error ? ErrorName(*out.error) : "none");
  };
  EXPECT_EQ(run(device_, [](std::string& r) { r = FlipSignature(r); }),
            std::make_pair(Status::kSignatureError, std::string("BadSignature")));
  EXPECT_EQ(run(device_, {}, "session-9"),
            std::make_pair(Status::kAbort, std::string("WrongSessionId")));
  EXPECT_EQ(run(test::Device(Pki().other_device), {}),
            std::make_pair(Status::kTrustedRootCertificateNotPresent,
                           std::string("UntrustedCertificate")));
  EXPECT_EQ(run(device_, [](std::string& r) { r = r.substr(0, r.size() / 2); }),
            std::make_pair(Status::kMalformedRequest, std::string("Malformed(xml)")));
  // Device certificate is not the one deviceHello announced.
  EXPECT_EQ(run(device_,
                [&](std::string& r) {
                  auto p = ParseRegistrationRequest(r);
                  p->certificate_chain = {CertificateDer(Pki().device2.cert.get())};
                  p->signature.clear();
                  r = WriteRegistrationRequest(*p);
                }),
            std::make_pair(Status::kInvalidCertificateChain, std::string("WrongDeviceId")));
  // No chain at all.
  EXPECT_EQ(run(device_,
                [&](std::string& r) {
                  auto p = ParseRegistrationRequest(r);
                  p->certificate_chain.clear();
                  p->signature.clear();
                  r = WriteRegistrationRequest(*p);
                }),
            std::make_pair(Status::kNoCertificateChain, std::string("UntrustedCertificate")));
}

TEST_F(RoapFlow, RiRefusesBadDeviceHello) {
  DeviceHello h;
  h.device_id = device_.device_id;
  h.version = "2.0";
  RiHelloOutcome out = RiHandleDeviceHello(ri_, WriteDeviceHello(h), "s");
  EXPECT_FALSE(out.session);
  EXPECT_EQ(ParseRiHello(out.response)->status, Status::kUnsupportedVersion);
  h.version = "1.0";
  h.supported_algorithms = {std::string(kAlgSha1)};
  out = RiHandleDeviceHello(ri_, WriteDeviceHello(h), "s");
  EXPECT_EQ(ParseRiHello(out.response)->status, Status::kUnsupportedAlgorithm);
  out = RiHandleDeviceHello(ri_, "<roap:deviceHello", "s");
  EXPECT_EQ(ParseRiHello(out.response)->status, Status::kMalformedRequest);
}

TEST_F(RoapFlow, RiRefusesBadRoRequests) {
  RiContext ctx = MustRegister();
  auto lookup = [&](const KeyId& id) -> const RegisteredDevice* {
    return id == registered_.device_id ? &registered_ : nullptr;
  };
  RoAcquisition acq(device_, ctx, Content({"c"}));
  std::string req = *acq.Request(Now());
  EXPECT_EQ(NameOf(RiVerifyRoRequest(ri_, FlipSignature(req), lookup)), "BadSignature");
  EXPECT_EQ(NameOf(RiVerifyRoRequest(
                ri_, req, [](const KeyId&) -> const RegisteredDevice* { return nullptr; })),
            "NotRegistered");
  RiContext other_ctx = ctx;
  other_ctx.ri_id[0] ^= 1;
  RoAcquisition acq2(device_, other_ctx, Content({"c"}));
  EXPECT_EQ(NameOf(RiVerifyRoRequest(ri_, *acq2.Request(Now()), lookup)), "WrongRiId");
  EXPECT_EQ(StatusForError(MakeError(ErrorCode::kNotRegistered, "")), Status::kNotRegistered);
  EXPECT_EQ(StatusForError(MakeError(ErrorCode::kBadSignature, "")), Status::kSignatureError);
  EXPECT_EQ(ParseRoResponse(RiRoErrorResponse(Status::kNotRegistered))->status,
            Status::kNotRegistered);
}

// ---- Named errors, device side: RO acquisition ----

class RoapAcquisitionErrors : public RoapFlow {
 protected:
  void SetUp() override {
    ctx_ = MustRegister();
    acq_ = std::make_unique<RoAcquisition>(device_, ctx_, Content({"c"}));
    auto req = acq_->Request(Now());
    ASSERT_TRUE(req.ok());
    nonce_ = acq_->nonce();
  }
  std::string Build(const RegisteredDevice& dev, const std::optional<Bytes>& nonce) {
    std::vector<RoGrant> grants;
    grants.push_back(Grant("RO-1", "urn:openbcast:svc:news:0000002a", 0x010203, 4));
    return *RiBuildRoResponse(ri_, dev, nonce, grants, Now());
  }
  // Rewrites the single protected RO with `edit` and re-signs the response with the RI key, so
  // that only the RO's own protection can catch the change.
  std::string WithEditedRo(const std::function<void(std::string& pro)>& edit) {
    auto parsed = ParseRoResponse(Build(registered_, nonce_));
    EXPECT_TRUE(parsed.ok());
    RoResponse r = *parsed;
    edit(r.protected_ro_bytes[0]);
    r.signature.clear();
    return test::SignAs(ri_.key.get(), "", WriteRoResponse(r), true);
  }
  RiContext ctx_;
  std::unique_ptr<RoAcquisition> acq_;
  Bytes nonce_;
};

TEST_F(RoapAcquisitionErrors, GoodResponseOpens) {
  EXPECT_EQ(NameOf(acq_->OnResponse(Build(registered_, nonce_))), "ok");
  EXPECT_EQ(NameOf(acq_->OnResponse(WithEditedRo([](std::string&) {}))), "ok");
}

TEST_F(RoapAcquisitionErrors, BadSignature) {
  EXPECT_EQ(NameOf(acq_->OnResponse(FlipSignature(Build(registered_, nonce_)))), "BadSignature");
}

TEST_F(RoapAcquisitionErrors, WrongNonce) {
  Bytes other = nonce_;
  other[31] ^= 0x80;
  EXPECT_EQ(NameOf(acq_->OnResponse(Build(registered_, other))), "WrongNonce");
}

TEST_F(RoapAcquisitionErrors, ResponseForAnotherDevice) {
  RegisteredDevice other;
  other.device_id = test::Device(Pki().device2).device_id;
  other.public_key = test::ShareKey(Pki().device2.key);
  EXPECT_EQ(NameOf(acq_->OnResponse(Build(other, nonce_))), "WrongDeviceId");
}

TEST_F(RoapAcquisitionErrors, RoForAnotherDevice) {
  // The response names this device but its RO is encrypted to another one.
  RegisteredDevice mixed;
  mixed.device_id = device_.device_id;
  mixed.public_key = test::ShareKey(Pki().device2.key);
  EXPECT_EQ(NameOf(acq_->OnResponse(Build(mixed, nonce_))), "RoForAnotherDevice");
}

TEST_F(RoapAcquisitionErrors, TamperedRoMac) {
  std::string resp = WithEditedRo([](std::string& pro) {
    std::size_t a = pro.find("<ds:SignatureValue");
    a = pro.find('>', a) + 1;
    pro.replace(a, 4, pro.substr(a, 4) == "AAAA" ? "BBBB" : "AAAA");
  });
  EXPECT_EQ(NameOf(acq_->OnResponse(resp)), "BadRoMac");
}

TEST_F(RoapAcquisitionErrors, TamperedRoWithFixedDigestFailsTheMac) {
  // Changing the rights and recomputing DigestValue changes SignedInfo: the HMAC with K_MAC
  // (which only the RI and this device know) no longer matches.
  std::string resp = WithEditedRo([](std::string& pro) {
    std::size_t a = pro.find("urn:openbcast:svc:news:0000002a");
    pro.replace(a, 31, "urn:openbcast:svc:news:0000002b");
    std::size_t ro_start = pro.find("<roap:ro ");
    std::size_t ro_end = pro.find("</roap:ro>") + 10;
    std::string ro = pro.substr(ro_start, ro_end - ro_start);
    Sha1Digest d = Sha1(std::span(reinterpret_cast<const std::uint8_t*>(ro.data()), ro.size()));
    std::size_t dv = pro.find("<ds:DigestValue>") + 16;
    std::size_t dv_end = pro.find("</ds:DigestValue>");
    pro.replace(dv, dv_end - dv, Base64Encode(d));
  });
  EXPECT_EQ(NameOf(acq_->OnResponse(resp)), "BadRoMac");
}

TEST_F(RoapAcquisitionErrors, TamperedRoBytesFailTheDigest) {
  std::string resp = WithEditedRo([](std::string& pro) {
    std::size_t a = pro.find("urn:openbcast:svc:news:0000002a");
    pro.replace(a, 31, "urn:openbcast:svc:news:0000002b");
  });
  EXPECT_EQ(NameOf(acq_->OnResponse(resp)), "BadRoDigest");
}

TEST_F(RoapAcquisitionErrors, RoFromAnotherRi) {
  // An RO whose riID is not the registered RI's, in a response the RI signed.
  std::string resp = WithEditedRo([&](std::string& pro) {
    RoGrant g = Grant("RO-x", "c", std::nullopt, 1);
    KeyId other = ri_.ri_id;
    other[0] ^= 1;
    pro = *BuildProtectedRo(g, other, Now(), registered_.public_key.get());
  });
  EXPECT_EQ(NameOf(acq_->OnResponse(resp)), "WrongRiId");
}

TEST_F(RoapAcquisitionErrors, UnwrapFailuresAreNamed) {
  auto parsed = ParseRoResponse(Build(registered_, nonce_));
  ASSERT_TRUE(parsed.ok());
  ProtectedRo pro = parsed->protected_ros[0];
  ASSERT_TRUE(OpenProtectedRo(pro, device_.key.get(), device_.device_id, ri_.ri_id).ok());
  ProtectedRo bad_kem = pro;
  bad_kem.ro.enc_key.back() ^= 1;  // C2 tampered: AES-UNWRAP integrity fails
  EXPECT_EQ(NameOf(OpenProtectedRo(bad_kem, device_.key.get(), device_.device_id, ri_.ri_id)),
            "KeyUnwrapFailed");
  ProtectedRo bad_cek = pro;
  bad_cek.ro.wrapped_key[3] ^= 1;
  EXPECT_EQ(NameOf(OpenProtectedRo(bad_cek, device_.key.get(), device_.device_id, ri_.ri_id)),
            "KeyUnwrapFailed");
  // With another device's key (same device ID claimed), RSA-KEM does not decrypt.
  EXPECT_EQ(NameOf(OpenProtectedRo(pro, Pki().device2.key.get(), device_.device_id, ri_.ri_id)),
            "KeyUnwrapFailed");
}

}  // namespace
}  // namespace spc::roap
