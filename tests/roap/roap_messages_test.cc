// ROAP messages: status names, base64 and times, round trips of every message, the canonical form
// (libxml2's exclusive c14n leaves every written message unchanged), signature placement, and a
// table of malformed input.
#include <gtest/gtest.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>

#include <functional>
#include <string>
#include <vector>

#include "spc/libspc/roap/messages.h"
#include "spc/libspc/roap/protected_ro.h"
#include "spc/libspc/roap/types.h"
#include "tests/roap/roap_test_pki.h"

namespace spc::roap {
namespace {

KeyId Id(std::uint8_t seed) {
  KeyId k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed + i);
  return k;
}

Bytes B(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed * 7 + i);
  return b;
}

// Exclusive c14n (no comments) of a whole document, by libxml2.
std::string ExcC14n(const std::string& xml) {
  xmlDocPtr doc =
      xmlReadMemory(xml.data(), static_cast<int>(xml.size()), nullptr, "UTF-8", XML_PARSE_NONET);
  if (!doc) return "<unparsable>";
  xmlChar* out = nullptr;
  int n = xmlC14NDocDumpMemory(doc, nullptr, XML_C14N_EXCLUSIVE_1_0, nullptr, 0, &out);
  std::string s = n >= 0 ? std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n))
                         : "<c14n failed>";
  xmlFree(out);
  xmlFreeDoc(doc);
  return s;
}

DeviceHello SampleDeviceHello() {
  DeviceHello m;
  m.trigger_nonce = "tn-1&<\"x\">";
  m.device_id = Id(1);
  m.supported_algorithms = {std::string(kAlgRsaPss), std::string(kAlgRsaKem)};
  m.certificate_caching = true;
  return m;
}

RiHello SampleRiHello() {
  RiHello m;
  m.session_id = "sess-42";
  m.ri_id = Id(2);
  m.ri_nonce = B(32, 3);
  m.selected_algorithms = {std::string(kAlgSha1)};
  m.server_info = "opaque server info";
  m.trusted_authorities = {Id(4), Id(5)};
  m.certificate_caching = true;
  return m;
}

RegistrationRequest SampleRegistrationRequest() {
  RegistrationRequest m;
  m.session_id = "sess-42";
  m.trigger_nonce = "tn-1";
  m.nonce = B(32, 6);
  m.time = 1700000000;
  m.certificate_chain = {B(300, 7), B(200, 8)};
  m.trusted_authorities = {Id(9)};
  m.server_info = "opaque server info";
  m.signature = B(256, 10);
  return m;
}

RegistrationResponse SampleRegistrationResponse() {
  RegistrationResponse m;
  m.session_id = "sess-42";
  m.ri_url = "http://127.0.0.1:8080/roap?x=1&y=2";
  m.certificate_chain = {B(310, 11)};
  m.ocsp_responses = {B(400, 12)};
  m.signature = B(256, 13);
  return m;
}

RoRequest SampleRoRequest() {
  RoRequest m;
  m.trigger_nonce = "tn-2";
  m.device_id = Id(14);
  m.domain_id = "domain-1";
  m.ri_id = Id(15);
  m.nonce = B(32, 16);
  m.time = 1700000100;
  m.ro_ids = {"RO-1", "RO-2"};
  m.content_ids = {"urn:openbcast:svc:news:0000002a"};
  m.certificate_chain = {B(100, 17)};
  m.signature = B(256, 18);
  return m;
}

RoapTrigger SampleTrigger() {
  RoapTrigger t;
  t.kind = RoapTrigger::Kind::kRoAcquisition;
  t.id = "trig-1";
  t.ri_id = Id(19);
  t.ri_alias = "Sample RI";
  t.nonce = "trigger-nonce-1";
  t.roap_url = "http://127.0.0.1:8080/roap";
  t.ro_ids = {"RO-7"};
  t.content_ids = {"urn:openbcast:svc:news:0000002a", "urn:openbcast:svc:sport:00000001"};
  return t;
}

RoGrant SampleGrant(std::string ro_id, std::string cid, std::optional<std::uint32_t> kd) {
  RoGrant g;
  g.ro_id = std::move(ro_id);
  g.rights.content_id = std::move(cid);
  g.rights.key_domain_id = kd;
  g.rights.play = true;
  g.rights.record = true;
  g.rights.not_before = 1700000000;
  g.rights.not_after = 1800000000;
  Bytes sek = B(16, 20), sak = B(16, 21);
  g.encryption_key.Assign(std::span<const std::uint8_t, 16>(sek.data(), 16));
  g.authentication_key.Assign(std::span<const std::uint8_t, 16>(sak.data(), 16));
  return g;
}

std::string SampleRoResponseBytes() {
  RoResponse m;
  m.device_id = CertificateKeyId(test::Pki().device.cert.get());
  m.ri_id = Id(22);
  m.nonce = B(32, 23);
  for (int i = 0; i < 2; ++i) {
    auto pro = BuildProtectedRo(
        SampleGrant("RO-" + std::to_string(i), "urn:openbcast:svc:news:0000002" + std::to_string(i),
                    i == 0 ? std::optional<std::uint32_t>(0x0a0b0c) : std::nullopt),
        m.ri_id, 1700000200, test::Pki().device.key.get());
    EXPECT_TRUE(pro.ok());
    m.protected_ro_bytes.push_back(*pro);
  }
  m.ocsp_responses = {B(50, 24)};
  m.signature = B(256, 25);
  return WriteRoResponse(m);
}

TEST(RoapTypes, StatusNamesAreRoapMdsList) {
  const std::vector<std::string> expected = {"Success",
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
                                             "DomainFull"};
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(kStatusCount));
  for (int i = 0; i < kStatusCount; ++i) {
    auto s = static_cast<Status>(i);
    EXPECT_EQ(StatusName(s), expected[i]);
    EXPECT_EQ(StatusFromName(expected[i]), s);
  }
  EXPECT_FALSE(StatusFromName("success"));
  EXPECT_FALSE(StatusFromName(""));
  EXPECT_EQ(ErrorName(StatusError(Status::kAccessDenied)), "StatusNotSuccess(AccessDenied)");
  EXPECT_EQ(ErrorName(Malformed("riNonce", 3, "x")), "Malformed(riNonce)");
  EXPECT_EQ(ErrorName(MakeError(ErrorCode::kBadRoMac, "x")), "BadRoMac");
}

TEST(RoapTypes, Base64) {
  auto enc = [](std::string s) {
    return Base64Encode(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  };
  EXPECT_EQ(enc(""), "");
  EXPECT_EQ(enc("f"), "Zg==");
  EXPECT_EQ(enc("fo"), "Zm8=");
  EXPECT_EQ(enc("foo"), "Zm9v");
  EXPECT_EQ(enc("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Decode("Zm9v\nYmFy"), (Bytes{'f', 'o', 'o', 'b', 'a', 'r'}));
  EXPECT_EQ(Base64Decode("Zg=="), (Bytes{'f'}));
  EXPECT_EQ(Base64Decode(""), Bytes{});
  for (const char* bad : {"Zg=", "Zh==", "Z@==", "Zg==Zg==", "=Zg=", "Zm9", "Z==="}) {
    EXPECT_FALSE(Base64Decode(bad)) << bad;
  }
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  for (std::size_t n = 0; n <= all.size(); n += 17) {
    Bytes part(all.begin(), all.begin() + n);
    EXPECT_EQ(Base64Decode(Base64Encode(part)), part);
  }
}

TEST(RoapTypes, Times) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(FormatTime(1700000000), "2023-11-14T22:13:20Z");
  EXPECT_EQ(ParseTime("2000-02-29T00:00:00Z"), 951782400);
  for (std::int64_t t = 0; t < 4102444800; t += 86400 * 37 + 3601) {
    EXPECT_EQ(ParseTime(FormatTime(t)), t);
  }
  for (const char* bad : {"2001-02-29T00:00:00Z", "2000-01-01T00:00:00", "2000-01-01 00:00:00Z",
                          "2000-13-01T00:00:00Z", "2000-01-01T24:00:00Z", "2000-1-01T00:00:00Z",
                          "2000-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z"}) {
    EXPECT_FALSE(ParseTime(bad)) << bad;
  }
}

TEST(RoapMessages, DeviceHelloExactForm) {
  DeviceHello m;
  m.device_id = Id(1);
  m.supported_algorithms = {std::string(kAlgRsaPss)};
  EXPECT_EQ(WriteDeviceHello(m),
            "<roap:deviceHello xmlns:roap=\"urn:oma:bac:dldrm:roap-1.0\"><version>1.0</version>"
            "<deviceID><keyIdentifier xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
            "algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\" "
            "xsi:type=\"roap:X509SPKIHash\"><hash>AQIDBAUGBwgJCgsMDQ4PEBESExQ=</hash>"
            "</keyIdentifier></deviceID><supportedAlgorithm>http://www.rsasecurity.com/rsalabs/"
            "pkcs/schemas/pkcs-1#rsa-pss-default</supportedAlgorithm></roap:deviceHello>");
}

TEST(RoapMessages, RoundTripsAndCanonicalForm) {
  {
    auto m = SampleDeviceHello();
    std::string x = WriteDeviceHello(m);
    auto p = ParseDeviceHello(x);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(*p, m);
    EXPECT_EQ(WriteDeviceHello(*p), x);
    EXPECT_EQ(ExcC14n(x), x);
  }
  {
    auto m = SampleRiHello();
    std::string x = WriteRiHello(m);
    auto p = ParseRiHello(x);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(*p, m);
    EXPECT_EQ(WriteRiHello(*p), x);
    EXPECT_EQ(ExcC14n(x), x);
    EXPECT_NE(x.find("sessionId=\"sess-42\" status=\"Success\""), std::string::npos) << x;
  }
  {
    auto m = SampleRegistrationRequest();
    std::string x = WriteRegistrationRequest(m);
    auto p = ParseRegistrationRequest(x);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->unsigned_bytes, *CutSignature(x, false));
    EXPECT_EQ(p->unsigned_bytes.find("<signature>"), std::string::npos);
    p->unsigned_bytes.clear();
    EXPECT_EQ(*p, m);
    EXPECT_EQ(WriteRegistrationRequest(*p), x);
    EXPECT_EQ(ExcC14n(x), x);
  }
  {
    auto m = SampleRegistrationResponse();
    std::string x = WriteRegistrationResponse(m);
    auto p = ParseRegistrationResponse(x);
    ASSERT_TRUE(p.ok()) << p.error().message;
    p->unsigned_bytes.clear();
    EXPECT_EQ(*p, m);
    EXPECT_EQ(WriteRegistrationResponse(*p), x);
    EXPECT_EQ(ExcC14n(x), x);
  }
  {
    auto m = SampleRoRequest();
    std::string x = WriteRoRequest(m);
    auto p = ParseRoRequest(x);
    ASSERT_TRUE(p.ok()) << p.error().message;
    p->unsigned_bytes.clear();
    EXPECT_EQ(*p, m);
    EXPECT_EQ(WriteRoRequest(*p), x);
    EXPECT_EQ(ExcC14n(x), x);
  }
  for (auto kind : {RoapTrigger::Kind::kRoAcquisition, RoapTrigger::Kind::kRegistrationRequest}) {
    auto m = SampleTrigger();
    m.kind = kind;
    if (kind == RoapTrigger::Kind::kRegistrationRequest) {
      m.ro_ids.clear();
      m.content_ids.clear();
    }
    std::string x = WriteRoapTrigger(m);
    auto p = ParseRoapTrigger(x);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(*p, m);
    EXPECT_EQ(WriteRoapTrigger(*p), x);
    EXPECT_EQ(ExcC14n(x), x);
  }
  // Non-Success responses carry only their status.
  for (int i = 1; i < kStatusCount; ++i) {
    RiHello h;
    h.status = static_cast<Status>(i);
    auto p = ParseRiHello(WriteRiHello(h));
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->status, h.status);
    RegistrationResponse r;
    r.status = static_cast<Status>(i);
    r.session_id = "s";
    auto pr = ParseRegistrationResponse(WriteRegistrationResponse(r));
    ASSERT_TRUE(pr.ok());
    EXPECT_EQ(pr->status, r.status);
    RoResponse ro;
    ro.status = static_cast<Status>(i);
    auto pro = ParseRoResponse(WriteRoResponse(ro));
    ASSERT_TRUE(pro.ok());
    EXPECT_EQ(pro->status, ro.status);
  }
}

TEST(RoapMessages, RoResponseKeepsExactRoBytes) {
  std::string x = SampleRoResponseBytes();
  auto p = ParseRoResponse(x);
  ASSERT_TRUE(p.ok()) << p.error().message << " at " << p.error().offset;
  ASSERT_EQ(p->protected_ros.size(), 2u);
  for (const ProtectedRo& pro : p->protected_ros) {
    // The spans are bytes of the message, standalone canonical, and what was parsed.
    EXPECT_NE(x.find(pro.bytes), std::string::npos);
    EXPECT_NE(x.find(pro.ro_bytes), std::string::npos);
    EXPECT_NE(x.find(pro.signed_info_bytes), std::string::npos);
    EXPECT_EQ(ExcC14n(pro.ro_bytes), pro.ro_bytes);
    EXPECT_EQ(ExcC14n(pro.signed_info_bytes), pro.signed_info_bytes);
    EXPECT_EQ(pro.ro_bytes.rfind("<roap:ro xmlns:roap=\"urn:oma:bac:dldrm:roap-1.0\" id=\"", 0),
              0u);
    EXPECT_EQ(pro.reference_uri, "#" + pro.ro.id);
    EXPECT_EQ(pro.ro.wrapped_key.size(), 40u);
    EXPECT_EQ(pro.ro.enc_key.size(), 256u + 40u);  // C1 (2048-bit modulus) ‖ C2
    EXPECT_EQ(WriteRightsObject(pro.ro), pro.ro_bytes);
  }
  EXPECT_EQ(p->protected_ros[0].ro.rights.key_domain_id, 0x0a0b0cu);
  EXPECT_FALSE(p->protected_ros[1].ro.rights.key_domain_id);
  EXPECT_EQ(p->protected_ros[0].ro.rights.content_id, "urn:openbcast:svc:news:00000020");
  EXPECT_TRUE(p->protected_ros[0].ro.rights.play);
  EXPECT_TRUE(p->protected_ros[0].ro.rights.record);
  EXPECT_EQ(p->protected_ros[0].ro.rights.not_before, 1700000000);
  EXPECT_EQ(p->protected_ros[0].ro.rights.not_after, 1800000000);
  EXPECT_EQ(p->protected_ros[0].ro.timestamp, 1700000200);
  // Rewriting from what was parsed gives the same bytes.
  RoResponse again = *p;
  EXPECT_EQ(WriteRoResponse(again), x);
  // Signed bytes: the signature after the last protectedRO cut out.
  std::string cut = *CutSignature(x, true);
  EXPECT_EQ(p->unsigned_bytes, cut);
  EXPECT_EQ(cut.size() + std::string("<signature></signature>").size() +
                Base64Encode(p->signature).size(),
            x.size());
}

TEST(RoapMessages, PduTypeDispatches) {
  EXPECT_EQ(*PduType(WriteDeviceHello(SampleDeviceHello())), "deviceHello");
  EXPECT_EQ(*PduType(WriteRoRequest(SampleRoRequest())), "roRequest");
  EXPECT_EQ(*PduType(WriteRoapTrigger(SampleTrigger())), "roapTrigger");
  EXPECT_EQ(ErrorName(PduType("<roap:joinDomainRequest xmlns:roap=\"urn:oma:bac:dldrm:roap-1.0\">"
                              "</roap:joinDomainRequest>")
                          .error()),
            "Malformed(root)");
  EXPECT_EQ(ErrorName(PduType("<a").error()), "Malformed(xml)");
}

TEST(RoapMessages, SignaturePlacement) {
  std::string unsigned_msg = WriteRoRequest([] {
    auto m = SampleRoRequest();
    m.signature.clear();
    return m;
  }());
  EXPECT_NE(unsigned_msg.find("<signature></signature></roap:roRequest>"), std::string::npos);
  Bytes sig = B(128, 30);
  std::string signed_msg = InsertSignature(unsigned_msg, sig);
  EXPECT_EQ(*CutSignature(signed_msg, false), *CutSignature(unsigned_msg, false));
  auto p = ParseRoRequest(signed_msg);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->signature, sig);
  EXPECT_EQ(InsertSignature("<a></a>", sig), "");
  // Not the last child → not a signature this layer accepts.
  EXPECT_FALSE(CutSignature("<r:x><signature>AA==</signature><y></y></r:x>", false));
  EXPECT_TRUE(CutSignature("<r:x><signature>AA==</signature></r:x>\n", false));
}

// ---- Malformed input --------------------------------------------------------------------------

using ParseFn = std::function<std::optional<Error>(std::string_view)>;

template <class F>
ParseFn Wrap(F f) {
  return [f](std::string_view b) -> std::optional<Error> {
    auto r = f(b);
    if (r.ok()) return std::nullopt;
    return r.error();
  };
}

struct Named {
  std::string name;
  ParseFn parse;
  std::string valid;
};

std::vector<Named> AllMessages() {
  return {
      {"deviceHello", Wrap(ParseDeviceHello), WriteDeviceHello(SampleDeviceHello())},
      {"riHello", Wrap(ParseRiHello), WriteRiHello(SampleRiHello())},
      {"registrationRequest", Wrap(ParseRegistrationRequest),
       WriteRegistrationRequest(SampleRegistrationRequest())},
      {"registrationResponse", Wrap(ParseRegistrationResponse),
       WriteRegistrationResponse(SampleRegistrationResponse())},
      {"roRequest", Wrap(ParseRoRequest), WriteRoRequest(SampleRoRequest())},
      {"roResponse", Wrap(ParseRoResponse), SampleRoResponseBytes()},
      {"roapTrigger", Wrap(ParseRoapTrigger), WriteRoapTrigger(SampleTrigger())},
  };
}

TEST(RoapMalformed, EveryTruncationIsRefusedWithAnOffset) {
  for (const Named& m : AllMessages()) {
    ASSERT_FALSE(m.parse(m.valid)) << m.name;
    // Trailing whitespace is allowed; every shorter prefix is not a message.
    for (std::size_t n = 0; n < m.valid.size(); n += (m.name == "roResponse" ? 7 : 1)) {
      auto e = m.parse(std::string_view(m.valid).substr(0, n));
      ASSERT_TRUE(e) << m.name << " truncated to " << n << " parsed";
      EXPECT_EQ(e->code, ErrorCode::kMalformed);
      EXPECT_FALSE(e->field.empty());
      EXPECT_LE(e->offset, n);
    }
  }
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  std::size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << "no " << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

std::string Erase(std::string s, const std::string& open, const std::string& close) {
  std::size_t a = s.find(open);
  std::size_t b = s.find(close, a);
  EXPECT_TRUE(a != std::string::npos && b != std::string::npos) << open;
  if (a != std::string::npos && b != std::string::npos) s.erase(a, b + close.size() - a);
  return s;
}

TEST(RoapMalformed, Table) {
  const std::string req = WriteRegistrationRequest(SampleRegistrationRequest());
  const std::string hello = WriteRiHello(SampleRiHello());
  const std::string trig = WriteRoapTrigger(SampleTrigger());
  const std::string ro_resp = SampleRoResponseBytes();
  const std::string roap_ns = "xmlns:roap=\"urn:oma:bac:dldrm:roap-1.0\"";
  auto rr = Wrap(ParseRegistrationRequest);
  auto rh = Wrap(ParseRiHello);
  auto tr = Wrap(ParseRoapTrigger);
  auto rs = Wrap(ParseRoResponse);
  struct Case {
    const char* what;
    ParseFn parse;
    std::string input;
    std::string expected;  // ErrorName
  };
  std::vector<Case> cases = {
      {"missing nonce", rr, Erase(req, "<nonce>", "</nonce>"), "Malformed(nonce)"},
      {"missing time", rr, Erase(req, "<time>", "</time>"), "Malformed(time)"},
      {"missing signature", rr, Erase(req, "<signature>", "</signature>"), "Malformed(signature)"},
      {"missing sessionId", rr, Replace(req, "sessionId=", "sessionXd="), "Malformed(sessionId)"},
      {"missing riID", rh, Erase(hello, "<riID>", "</riID>"), "Malformed(riID)"},
      {"missing riNonce", rh, Erase(hello, "<riNonce>", "</riNonce>"), "Malformed(riNonce)"},
      {"unknown status", rh, Replace(hello, "\"Success\"", "\"Fine\""), "Malformed(status)"},
      {"wrong namespace", rr,
       Replace(req, "urn:oma:bac:dldrm:roap-1.0", "urn:oma:bac:dldrm:roap-2.0"),
       "Malformed(registrationRequest)"},
      {"root not prefixed, children in the ROAP namespace", rr,
       Replace(Replace(Replace(req, "<roap:registrationRequest " + roap_ns,
                               "<registrationRequest xmlns=\"urn:oma:bac:dldrm:roap-1.0\""),
                       "</roap:registrationRequest>", "</registrationRequest>"),
               "xsi:type=\"roap:", "xmlns:roap=\"urn:oma:bac:dldrm:roap-1.0\" xsi:type=\"roap:"),
       "Malformed(nonce)"},
      {"undeclared prefix", rr, Replace(req, roap_ns, ""), "Malformed(xml)"},
      {"DTD with entities", rr,
       "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
       "\"&a;&a;&a;&a;&a;&a;&a;&a;\">]>" +
           Replace(req, "sess-42", "&b;"),
       "Malformed(DOCTYPE)"},
      {"external entity", rr,
       "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" + Replace(req, "sess-42", "&x;"),
       "Malformed(DOCTYPE)"},
      {"external DTD", rr, "<!DOCTYPE r SYSTEM \"http://127.0.0.1:1/x.dtd\">" + req,
       "Malformed(DOCTYPE)"},
      {"undeclared entity", rr, Replace(req, "sess-42", "&x;"), "Malformed(xml)"},
      {"bad base64 nonce", rr, Replace(req, "<nonce>", "<nonce>!"), "Malformed(nonce)"},
      {"bad time", rr, Replace(req, "2023-11-14T22:13:20Z", "2023-11-14T22:13:20"),
       "Malformed(time)"},
      {"out of order", rr,
       Replace(Erase(req, "<time>", "</time>"), "<nonce>",
               "<time>2023-11-14T22:13:20Z</time><nonce>"),
       "Malformed(nonce)"},
      {"unknown element where signature belongs", rr,
       Replace(req, "<signature>", "<bogus></bogus><signature>"), "Malformed(signature)"},
      {"unknown element after the last child", rr,
       Replace(req, "</roap:registrationRequest>", "<bogus></bogus></roap:registrationRequest>"),
       "Malformed(bogus)"},
      {"text between elements", rr, Replace(req, "<time>", "junk<time>"),
       "Malformed(roap:registrationRequest)"},
      {"element inside text", rr, Replace(req, "<time>", "<time><b></b>"), "Malformed(time)"},
      {"keyIdentifier wrong type", rh, Replace(hello, "roap:X509SPKIHash", "roap:Other"),
       "Malformed(keyIdentifier)"},
      {"keyIdentifier hash 19 bytes", rh,
       Replace(hello, Base64Encode(Id(2)), Base64Encode(std::span(Id(2).data(), 19))),
       "Malformed(hash)"},
      {"signature not the last child", rr,
       Replace(req, "</roap:registrationRequest>", "<!--c--></roap:registrationRequest>"),
       "Malformed(signature)"},
      {"not XML", rr, "hello", "Malformed(xml)"},
      {"empty", rr, "", "Malformed(xml)"},
      {"two roots", rr, req + req, "Malformed(xml)"},
      {"trigger without roapURL", tr, Erase(trig, "<roapURL>", "</roapURL>"), "Malformed(roapURL)"},
      {"trigger of unknown kind", tr,
       Replace(Replace(trig, "<roAcquisition ", "<leaveDomain "), "</roAcquisition>",
               "</leaveDomain>"),
       "Malformed(roAcquisition)"},
      {"trigger wrong version", tr, Replace(trig, "version=\"1.0\"", "version=\"2.0\""),
       "Malformed(version)"},
      {"roResponse without protectedRO", rs,
       Erase(Erase(ro_resp, "<roap:protectedRO>", "</roap:protectedRO>"), "<roap:protectedRO>",
             "</roap:protectedRO>"),
       "Malformed(protectedRO)"},
      {"protectedRO copy hidden in a comment", rs,
       Replace(ro_resp, "<roap:protectedRO>",
               "<!--" +
                   ro_resp.substr(ro_resp.find("<roap:protectedRO>"),
                                  ro_resp.find("</roap:protectedRO>") + 19 -
                                      ro_resp.find("<roap:protectedRO>")) +
                   "--><roap:protectedRO>"),
       "Malformed(protectedRO)"},
      {"RO reference to another id", rs, Replace(ro_resp, "URI=\"#RO-0\"", "URI=\"#RO-9\""),
       "Malformed(ds:Reference)"},
      {"RO asset key not kw-aes128", rs, Replace(ro_resp, "xmlenc#kw-aes128", "xmlenc#kw-aes256"),
       "Malformed(xenc:EncryptionMethod)"},
      {"RO key domain not hex", rs, Replace(ro_resp, ">0a0b0c<", ">0a0b0g<"),
       "Malformed(obc:keyDomain)"},
      {"RO key domain 2 bytes", rs, Replace(ro_resp, ">0a0b0c<", ">0a0b<"),
       "Malformed(obc:keyDomain)"},
      // Found by fuzz_roap (10-M run): the text fails first and the short value
      // was still read as three bytes.
      {"RO key domain with an element inside", rs,
       Replace(ro_resp, ">0a0b0c<", ">0<time>2024-01-01T00:00:00Z</time>a0b0c<"),
       "Malformed(obc:keyDomain)"},
      {"RO prefix not roap", rs,
       Replace(Replace(ro_resp, "<roap:protectedRO><roap:ro ",
                       "<roap:protectedRO><r:ro xmlns:r=\"urn:oma:bac:dldrm:roap-1.0\" "),
               "</roap:ro><mac>", "</r:ro><mac>"),
       "Malformed(protectedRO)"},
      {"oversize", rr,
       Replace(req, "<time>", "<!--" + std::string(kMaxMessageSize, 'x') + "--><time>"),
       "Malformed(registrationRequest)"},
  };
  for (const Case& c : cases) {
    auto e = c.parse(c.input);
    ASSERT_TRUE(e) << c.what << " parsed";
    EXPECT_EQ(ErrorName(*e), c.expected) << c.what << ": " << e->message;
    EXPECT_LE(e->offset, c.input.size()) << c.what;
  }
  // Offsets point at the field.
  auto e = rr(Replace(req, "<nonce>", "<nonce>!"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, req.find("<nonce>"));
  auto x = rr(req.substr(0, 100));
  ASSERT_TRUE(x);
  EXPECT_GT(x->offset, 0u);
}

}  // namespace
}  // namespace spc::roap
