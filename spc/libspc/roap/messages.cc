#include "spc/libspc/roap/messages.h"

#include <cstdio>

#include "spc/libspc/hex.h"
#include "spc/libspc/roap/xml.h"

namespace spc::roap {

namespace {

using xml::Cursor;
using xml::Element;
using xml::kDs;
using xml::kNone;
using xml::kObc;
using xml::kOdd;
using xml::kOex;
using xml::kRoap;
using xml::kXenc;
using xml::kXsi;
using xml::Reader;
using xml::TextElement;

constexpr std::string_view kSignatureOpen = "<signature>";
constexpr std::string_view kSignatureClose = "</signature>";
constexpr std::string_view kProtectedRoOpen = "<roap:protectedRO>";
constexpr std::string_view kProtectedRoClose = "</roap:protectedRO>";

Element KeyIdWrapper(std::string name, const KeyId& id) {
  Element e(kNone, std::move(name));
  e.Add(xml::KeyIdentifier("keyIdentifier", id));
  return e;
}

Element CertificateChain(const std::vector<Bytes>& chain) {
  Element e(kNone, "certificateChain");
  for (const Bytes& cert : chain) e.Add(TextElement(kNone, "certificate", Base64Encode(cert)));
  return e;
}

Element TrustedAuthorities(const std::vector<KeyId>& ids) {
  Element e(kNone, "trustedAuthorities");
  for (const KeyId& id : ids) e.Add(xml::KeyIdentifier("keyIdentifier", id));
  return e;
}

Element CertificateCachingExtensions() {
  Element ext(kNone, "extension");
  ext.Attr(kXsi, "type", "roap:CertificateCaching");
  Element exts(kNone, "extensions");
  exts.Add(std::move(ext));
  return exts;
}

Element Signature(const Bytes& sig) { return TextElement(kNone, "signature", Base64Encode(sig)); }

// ---- parsing helpers ----

xmlNode* OnlyChild(Reader& r, xmlNode* parent, xml::Ns ns, std::string_view local) {
  Cursor c(r, parent);
  xmlNode* n = c.Required(ns, local);
  c.End();
  return n;
}

KeyId WrappedKeyId(Reader& r, xmlNode* wrapper) {
  return r.KeyIdentifier(OnlyChild(r, wrapper, kNone, "keyIdentifier"));
}

Status ParseStatus(Reader& r, xmlNode* root) {
  std::string s = r.Attr(root, "status");
  if (r.failed()) return Status::kUnknownError;
  auto st = StatusFromName(s);
  if (!st) {
    r.Fail("status", "unknown status \"" + s + "\"");
    return Status::kUnknownError;
  }
  return *st;
}

std::vector<Bytes> ParseCertificateChain(Reader& r, xmlNode* chain) {
  std::vector<Bytes> out;
  if (!chain) return out;
  Cursor c(r, chain);
  for (xmlNode* n : c.Repeated(kNone, "certificate")) out.push_back(r.Base64(n));
  c.End();
  return out;
}

std::vector<KeyId> ParseTrustedAuthorities(Reader& r, xmlNode* node) {
  std::vector<KeyId> out;
  if (!node) return out;
  Cursor c(r, node);
  for (xmlNode* n : c.Repeated(kNone, "keyIdentifier")) out.push_back(r.KeyIdentifier(n));
  c.End();
  return out;
}

// True when <extensions> holds an <extension xsi:type="roap:<type>">. Other extensions are
// skipped: none that this terminal does not know is critical to it.
bool HasExtension(Reader& r, xmlNode* exts, std::string_view type) {
  if (!exts) return false;
  bool found = false;
  Cursor c(r, exts);
  for (xmlNode* n : c.Repeated(kNone, "extension")) {
    if (auto t = xml::NsProp(n, "type", std::string(kXsi.uri).c_str())) {
      std::string_view tv(*t);
      std::size_t colon = tv.find(':');
      if ((colon == std::string_view::npos ? tv : tv.substr(colon + 1)) == type) found = true;
    }
  }
  c.End();
  return found;
}

std::vector<std::string> Texts(Reader& r, const std::vector<xmlNode*>& nodes) {
  std::vector<std::string> out;
  for (xmlNode* n : nodes) out.push_back(r.Text(n));
  return out;
}

// Finds the signature element per roap.md's rule and checks that it is the last child.
// Returns [start, end) of "<signature>…</signature>".
std::optional<std::pair<std::size_t, std::size_t>> FindSignature(std::string_view m,
                                                                 bool ro_response) {
  std::size_t from = 0;
  if (ro_response) {
    std::size_t last = m.rfind(kProtectedRoClose);
    if (last != std::string_view::npos) from = last + kProtectedRoClose.size();
  }
  std::size_t s = m.find(kSignatureOpen, from);
  if (s == std::string_view::npos) return std::nullopt;
  std::size_t e = m.find(kSignatureClose, s + kSignatureOpen.size());
  if (e == std::string_view::npos) return std::nullopt;
  e += kSignatureClose.size();
  // Only the root end tag (and trailing whitespace) may follow.
  std::string_view rest = m.substr(e);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\n' || rest.back() == '\r' ||
                           rest.back() == '\t')) {
    rest.remove_suffix(1);
  }
  if (rest.size() < 4 || rest.substr(0, 2) != "</" || rest.back() != '>' ||
      rest.find('<', 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return std::make_pair(s, e);
}

// Fills `unsigned_bytes` and checks that the cut element is the one the tree holds.
void CutParsedSignature(Reader& r, std::string_view bytes, bool ro_response, const Bytes& sig,
                        std::string& unsigned_bytes) {
  if (r.failed()) return;
  auto span = FindSignature(bytes, ro_response);
  if (!span) {
    r.Fail("signature", "signature is not the compact last child <signature>…</signature>");
    return;
  }
  auto [s, e] = *span;
  std::string_view text = bytes.substr(s + kSignatureOpen.size(),
                                       e - kSignatureClose.size() - s - kSignatureOpen.size());
  auto decoded = Base64Decode(text);
  if (!decoded || *decoded != sig) {
    r.Fail("signature", "signature bytes do not match the parsed signature element");
    return;
  }
  unsigned_bytes.assign(bytes.substr(0, s));
  unsigned_bytes.append(bytes.substr(e));
}

template <class T>
RoapResult<T> Finish(Reader& r, T value) {
  if (r.failed()) return r.error();
  return value;
}

std::string KeyDomainHex(std::uint32_t id) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06x", id & 0xffffffu);
  return buf;
}

Element DatetimeConstraint(const RoRights& rights) {
  Element dt(kOdd, "datetime");
  if (rights.not_before) dt.Add(TextElement(kOdd, "start", FormatTime(*rights.not_before)));
  if (rights.not_after) dt.Add(TextElement(kOdd, "end", FormatTime(*rights.not_after)));
  Element c(kOex, "constraint");
  c.Add(std::move(dt));
  return c;
}

Element Permission(xml::Ns ns, std::string verb, const RoRights& rights) {
  Element p(ns, std::move(verb));
  if (rights.not_before || rights.not_after) p.Add(DatetimeConstraint(rights));
  return p;
}

struct Validity {
  std::optional<std::int64_t> start, end;
};

Validity ParsePermission(Reader& r, xmlNode* verb) {
  Validity v;
  Cursor c(r, verb);
  if (xmlNode* constraint = c.Optional(kOex, "constraint")) {
    xmlNode* dt = OnlyChild(r, constraint, kOdd, "datetime");
    Cursor dc(r, dt);
    if (xmlNode* s = dc.Optional(kOdd, "start")) v.start = r.Time(s);
    if (xmlNode* e = dc.Optional(kOdd, "end")) v.end = r.Time(e);
    dc.End();
  }
  c.End();
  return v;
}

void SkipWs(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
}

bool Expect(std::string_view s, std::size_t& i, std::string_view token) {
  if (s.substr(i, token.size()) != token) return false;
  i += token.size();
  return true;
}

// [start, end) of "<open…</close>" starting exactly at i.
std::optional<std::pair<std::size_t, std::size_t>> SpanAt(std::string_view s, std::size_t i,
                                                          std::string_view open,
                                                          std::string_view close) {
  if (s.substr(i, open.size()) != open) return std::nullopt;
  std::size_t e = s.find(close, i + open.size());
  if (e == std::string_view::npos) return std::nullopt;
  return std::make_pair(i, e + close.size());
}

Error Shift(Error e, std::size_t by) {
  e.offset += by;
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writers

std::string WriteDeviceHello(const DeviceHello& m) {
  Element root(kRoap, "deviceHello");
  if (m.trigger_nonce) root.Attr("triggerNonce", *m.trigger_nonce);
  root.Add(TextElement(kNone, "version", m.version));
  root.Add(KeyIdWrapper("deviceID", m.device_id));
  for (const std::string& a : m.supported_algorithms) {
    root.Add(TextElement(kNone, "supportedAlgorithm", a));
  }
  if (m.certificate_caching) root.Add(CertificateCachingExtensions());
  return root.Serialize();
}

std::string WriteRiHello(const RiHello& m) {
  Element root(kRoap, "riHello");
  root.Attr("status", std::string(StatusName(m.status)));
  if (!m.session_id.empty()) root.Attr("sessionId", m.session_id);
  if (m.status == Status::kSuccess) {
    root.Add(TextElement(kNone, "selectedVersion", m.selected_version));
    root.Add(KeyIdWrapper("riID", m.ri_id));
    root.Add(TextElement(kNone, "riNonce", Base64Encode(m.ri_nonce)));
    for (const std::string& a : m.selected_algorithms) {
      root.Add(TextElement(kNone, "selectedAlgorithm", a));
    }
    if (m.server_info) root.Add(TextElement(kNone, "serverInfo", *m.server_info));
    if (!m.trusted_authorities.empty()) root.Add(TrustedAuthorities(m.trusted_authorities));
    if (m.certificate_caching) root.Add(CertificateCachingExtensions());
  }
  return root.Serialize();
}

std::string WriteRegistrationRequest(const RegistrationRequest& m) {
  Element root(kRoap, "registrationRequest");
  root.Attr("sessionId", m.session_id);
  if (m.trigger_nonce) root.Attr("triggerNonce", *m.trigger_nonce);
  root.Add(TextElement(kNone, "nonce", Base64Encode(m.nonce)));
  root.Add(TextElement(kNone, "time", FormatTime(m.time)));
  if (!m.certificate_chain.empty()) root.Add(CertificateChain(m.certificate_chain));
  if (!m.trusted_authorities.empty()) root.Add(TrustedAuthorities(m.trusted_authorities));
  if (m.server_info) root.Add(TextElement(kNone, "serverInfo", *m.server_info));
  root.Add(Signature(m.signature));
  return root.Serialize();
}

std::string WriteRegistrationResponse(const RegistrationResponse& m) {
  Element root(kRoap, "registrationResponse");
  root.Attr("status", std::string(StatusName(m.status)));
  if (!m.session_id.empty()) root.Attr("sessionId", m.session_id);
  if (m.status == Status::kSuccess) {
    root.Add(TextElement(kNone, "riURL", m.ri_url));
    if (!m.certificate_chain.empty()) root.Add(CertificateChain(m.certificate_chain));
    for (const Bytes& o : m.ocsp_responses) {
      root.Add(TextElement(kNone, "ocspResponse", Base64Encode(o)));
    }
    root.Add(Signature(m.signature));
  }
  return root.Serialize();
}

std::string WriteRoRequest(const RoRequest& m) {
  Element root(kRoap, "roRequest");
  if (m.trigger_nonce) root.Attr("triggerNonce", *m.trigger_nonce);
  root.Add(KeyIdWrapper("deviceID", m.device_id));
  if (m.domain_id) root.Add(TextElement(kNone, "domainID", *m.domain_id));
  root.Add(KeyIdWrapper("riID", m.ri_id));
  root.Add(TextElement(kNone, "nonce", Base64Encode(m.nonce)));
  root.Add(TextElement(kNone, "time", FormatTime(m.time)));
  Element info(kNone, "roInfo");
  for (const std::string& id : m.ro_ids) info.Add(TextElement(kNone, "roID", id));
  for (const std::string& id : m.content_ids) info.Add(TextElement(kNone, "contentID", id));
  root.Add(std::move(info));
  if (!m.certificate_chain.empty()) root.Add(CertificateChain(m.certificate_chain));
  root.Add(Signature(m.signature));
  return root.Serialize();
}

std::string WriteRoResponse(const RoResponse& m) {
  Element root(kRoap, "roResponse");
  root.Attr("status", std::string(StatusName(m.status)));
  if (m.status == Status::kSuccess) {
    root.Add(KeyIdWrapper("deviceID", m.device_id));
    root.Add(KeyIdWrapper("riID", m.ri_id));
    if (m.nonce) root.Add(TextElement(kNone, "nonce", Base64Encode(*m.nonce)));
    for (const std::string& pro : m.protected_ro_bytes) root.Raw(pro);
    if (!m.certificate_chain.empty()) root.Add(CertificateChain(m.certificate_chain));
    for (const Bytes& o : m.ocsp_responses) {
      root.Add(TextElement(kNone, "ocspResponse", Base64Encode(o)));
    }
    root.Add(Signature(m.signature));
  }
  return root.Serialize();
}

std::string WriteRoapTrigger(const RoapTrigger& m) {
  Element root(kRoap, "roapTrigger");
  root.Attr("version", std::string(kRoapVersion));
  bool acq = m.kind == RoapTrigger::Kind::kRoAcquisition;
  Element t(kNone, acq ? "roAcquisition" : "registrationRequest");
  if (m.id) t.Attr("id", *m.id);
  t.Add(KeyIdWrapper("riID", m.ri_id));
  if (m.ri_alias) t.Add(TextElement(kNone, "riAlias", *m.ri_alias));
  if (m.nonce) t.Add(TextElement(kNone, "nonce", *m.nonce));
  t.Add(TextElement(kNone, "roapURL", m.roap_url));
  if (acq) {
    for (const std::string& id : m.ro_ids) t.Add(TextElement(kNone, "roID", id));
    for (const std::string& id : m.content_ids) t.Add(TextElement(kNone, "contentID", id));
  }
  root.Add(std::move(t));
  return root.Serialize();
}

std::string WriteRightsObject(const RightsObject& ro) {
  static constexpr std::string_view kEncKeyId = "K_MAC_and_K_REK";
  Element root(kRoap, "ro");
  root.Attr("id", ro.id);
  root.Attr("stateful", ro.stateful ? "true" : "false");
  root.Attr("version", ro.version);
  root.Add(KeyIdWrapper("riID", ro.ri_id));

  Element rights(kNone, "rights");
  Element rctx(kOex, "context");
  rctx.Add(TextElement(kOdd, "version", "2.0"));
  rctx.Add(TextElement(kOdd, "uid", ro.id));
  rights.Add(std::move(rctx));

  Element asset(kOex, "asset");
  Element actx(kOex, "context");
  actx.Add(TextElement(kOdd, "uid", ro.rights.content_id));
  if (ro.rights.key_domain_id) {
    actx.Add(TextElement(kObc, "keyDomain", KeyDomainHex(*ro.rights.key_domain_id)));
  }
  asset.Add(std::move(actx));
  Element method(kXenc, "EncryptionMethod");
  method.Attr("Algorithm", std::string(kAlgKwAes128));
  Element retrieval(kDs, "RetrievalMethod");
  retrieval.Attr("URI", "#" + std::string(kEncKeyId));
  Element inner_info(kDs, "KeyInfo");
  inner_info.Add(std::move(retrieval));
  Element cipher_data(kXenc, "CipherData");
  cipher_data.Add(TextElement(kXenc, "CipherValue", Base64Encode(ro.wrapped_key)));
  Element encrypted(kXenc, "EncryptedKey");
  encrypted.Add(std::move(method)).Add(std::move(inner_info)).Add(std::move(cipher_data));
  Element key_info(kDs, "KeyInfo");
  key_info.Add(std::move(encrypted));
  asset.Add(std::move(key_info));

  Element permission(kOex, "permission");
  if (ro.rights.play) permission.Add(Permission(kOdd, "play", ro.rights));
  if (ro.rights.record) permission.Add(Permission(kObc, "record", ro.rights));
  Element agreement(kOex, "agreement");
  agreement.Add(std::move(asset)).Add(std::move(permission));
  rights.Add(std::move(agreement));
  root.Add(std::move(rights));

  root.Add(TextElement(kNone, "timeStamp", FormatTime(ro.timestamp)));

  Element enc_key(kNone, "encKey");
  enc_key.Attr("Id", std::string(kEncKeyId));
  Element kem(kXenc, "EncryptionMethod");
  kem.Attr("Algorithm", std::string(kAlgRsaKem));
  Element spki(kRoap, "X509SPKIHash");
  spki.Add(TextElement(kNone, "hash", Base64Encode(ro.device_id)));
  Element dev_info(kDs, "KeyInfo");
  dev_info.Add(std::move(spki));
  Element kem_data(kXenc, "CipherData");
  kem_data.Add(TextElement(kXenc, "CipherValue", Base64Encode(ro.enc_key)));
  enc_key.Add(std::move(kem)).Add(std::move(dev_info)).Add(std::move(kem_data));
  root.Add(std::move(enc_key));
  return root.Serialize();
}

std::optional<std::string> CutSignature(std::string_view message, bool ro_response) {
  auto span = FindSignature(message, ro_response);
  if (!span) return std::nullopt;
  std::string out(message.substr(0, span->first));
  out.append(message.substr(span->second));
  return out;
}

std::string InsertSignature(std::string_view unsigned_message, std::span<const std::uint8_t> sig) {
  static constexpr std::string_view kEmpty = "<signature></signature>";
  std::size_t pos = unsigned_message.rfind(kEmpty);
  if (pos == std::string_view::npos) return {};
  std::string out(unsigned_message.substr(0, pos));
  out += kSignatureOpen;
  out += Base64Encode(sig);
  out += kSignatureClose;
  out.append(unsigned_message.substr(pos + kEmpty.size()));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parsers

RoapResult<std::string> PduType(std::string_view bytes) {
  for (std::string_view name : {"deviceHello", "riHello", "registrationRequest",
                                "registrationResponse", "roRequest", "roResponse", "roapTrigger"}) {
    Reader probe(bytes, "ROAP PDU");
    if (probe.Root(kRoap, name)) return std::string(name);
    if (probe.error().field == "xml" || probe.error().field == "DOCTYPE") return probe.error();
  }
  return Malformed("root", 0, "ROAP PDU: root is not a ROAP message");
}

RoapResult<DeviceHello> ParseDeviceHello(std::string_view bytes) {
  Reader r(bytes, "deviceHello");
  xmlNode* root = r.Root(kRoap, "deviceHello");
  DeviceHello m;
  m.trigger_nonce = r.OptAttr(root, "triggerNonce");
  Cursor c(r, root);
  m.version = r.Text(c.Required(kNone, "version"));
  m.device_id = WrappedKeyId(r, c.Required(kNone, "deviceID"));
  m.supported_algorithms = Texts(r, c.Repeated(kNone, "supportedAlgorithm"));
  m.certificate_caching = HasExtension(r, c.Optional(kNone, "extensions"), "CertificateCaching");
  c.End();
  return Finish(r, std::move(m));
}

RoapResult<RiHello> ParseRiHello(std::string_view bytes) {
  Reader r(bytes, "riHello");
  xmlNode* root = r.Root(kRoap, "riHello");
  RiHello m;
  m.status = ParseStatus(r, root);
  m.session_id = r.OptAttr(root, "sessionId").value_or("");
  if (r.failed() || m.status != Status::kSuccess) return Finish(r, std::move(m));
  if (m.session_id.empty()) r.Fail("sessionId", "sessionId missing on a Success riHello");
  Cursor c(r, root);
  m.selected_version = r.Text(c.Required(kNone, "selectedVersion"));
  m.ri_id = WrappedKeyId(r, c.Required(kNone, "riID"));
  m.ri_nonce = r.Base64(c.Required(kNone, "riNonce"));
  m.selected_algorithms = Texts(r, c.Repeated(kNone, "selectedAlgorithm"));
  if (xmlNode* si = c.Optional(kNone, "serverInfo")) m.server_info = r.Text(si);
  m.trusted_authorities = ParseTrustedAuthorities(r, c.Optional(kNone, "trustedAuthorities"));
  m.certificate_caching = HasExtension(r, c.Optional(kNone, "extensions"), "CertificateCaching");
  c.End();
  return Finish(r, std::move(m));
}

RoapResult<RegistrationRequest> ParseRegistrationRequest(std::string_view bytes) {
  Reader r(bytes, "registrationRequest");
  xmlNode* root = r.Root(kRoap, "registrationRequest");
  RegistrationRequest m;
  m.session_id = r.Attr(root, "sessionId");
  m.trigger_nonce = r.OptAttr(root, "triggerNonce");
  Cursor c(r, root);
  m.nonce = r.Base64(c.Required(kNone, "nonce"));
  m.time = r.Time(c.Required(kNone, "time"));
  m.certificate_chain = ParseCertificateChain(r, c.Optional(kNone, "certificateChain"));
  m.trusted_authorities = ParseTrustedAuthorities(r, c.Optional(kNone, "trustedAuthorities"));
  if (xmlNode* si = c.Optional(kNone, "serverInfo")) m.server_info = r.Text(si);
  c.Optional(kNone, "extensions");
  m.signature = r.Base64(c.Required(kNone, "signature"));
  c.End();
  CutParsedSignature(r, bytes, false, m.signature, m.unsigned_bytes);
  return Finish(r, std::move(m));
}

RoapResult<RegistrationResponse> ParseRegistrationResponse(std::string_view bytes) {
  Reader r(bytes, "registrationResponse");
  xmlNode* root = r.Root(kRoap, "registrationResponse");
  RegistrationResponse m;
  m.status = ParseStatus(r, root);
  m.session_id = r.OptAttr(root, "sessionId").value_or("");
  if (r.failed() || m.status != Status::kSuccess) return Finish(r, std::move(m));
  if (m.session_id.empty()) r.Fail("sessionId", "sessionId missing");
  Cursor c(r, root);
  m.ri_url = r.Text(c.Required(kNone, "riURL"));
  m.certificate_chain = ParseCertificateChain(r, c.Optional(kNone, "certificateChain"));
  for (xmlNode* n : c.Repeated(kNone, "ocspResponse")) m.ocsp_responses.push_back(r.Base64(n));
  c.Optional(kNone, "extensions");
  m.signature = r.Base64(c.Required(kNone, "signature"));
  c.End();
  CutParsedSignature(r, bytes, false, m.signature, m.unsigned_bytes);
  return Finish(r, std::move(m));
}

RoapResult<RoRequest> ParseRoRequest(std::string_view bytes) {
  Reader r(bytes, "roRequest");
  xmlNode* root = r.Root(kRoap, "roRequest");
  RoRequest m;
  m.trigger_nonce = r.OptAttr(root, "triggerNonce");
  Cursor c(r, root);
  m.device_id = WrappedKeyId(r, c.Required(kNone, "deviceID"));
  if (xmlNode* d = c.Optional(kNone, "domainID")) m.domain_id = r.Text(d);
  m.ri_id = WrappedKeyId(r, c.Required(kNone, "riID"));
  m.nonce = r.Base64(c.Required(kNone, "nonce"));
  m.time = r.Time(c.Required(kNone, "time"));
  xmlNode* info = c.Required(kNone, "roInfo");
  {
    Cursor ic(r, info);
    m.ro_ids = Texts(r, ic.Repeated(kNone, "roID"));
    m.content_ids = Texts(r, ic.Repeated(kNone, "contentID"));
    ic.End();
  }
  m.certificate_chain = ParseCertificateChain(r, c.Optional(kNone, "certificateChain"));
  c.Optional(kNone, "extensions");
  m.signature = r.Base64(c.Required(kNone, "signature"));
  c.End();
  CutParsedSignature(r, bytes, false, m.signature, m.unsigned_bytes);
  return Finish(r, std::move(m));
}

RoapResult<RightsObject> ParseRightsObject(std::string_view ro_bytes) {
  Reader r(ro_bytes, "ro");
  xmlNode* root = r.Root(kRoap, "ro");
  RightsObject ro;
  ro.id = r.Attr(root, "id");
  if (!r.failed() && ro.id.empty()) r.Fail("id", "empty RO id");
  auto stateful = r.OptAttr(root, "stateful");
  if (stateful && *stateful != "true" && *stateful != "false") {
    r.Fail("stateful", "stateful is not a boolean");
  }
  ro.stateful = stateful && *stateful == "true";
  ro.version = r.OptAttr(root, "version").value_or(std::string(kRoapVersion));
  Cursor c(r, root);
  ro.ri_id = WrappedKeyId(r, c.Required(kNone, "riID"));
  xmlNode* rights = c.Required(kNone, "rights");
  xmlNode* timestamp = c.Required(kNone, "timeStamp");
  xmlNode* enc_key = c.Required(kNone, "encKey");
  c.End();
  ro.timestamp = r.Time(timestamp);

  // encKey: RSA-KEM to the device.
  std::string enc_key_id = r.Attr(enc_key, "Id");
  {
    Cursor ec(r, enc_key);
    xmlNode* method = ec.Required(kXenc, "EncryptionMethod");
    xmlNode* info = ec.Required(kDs, "KeyInfo");
    xmlNode* data = ec.Required(kXenc, "CipherData");
    ec.End();
    if (!r.failed() && r.Attr(method, "Algorithm") != kAlgRsaKem) {
      r.Fail("EncryptionMethod", "encKey is not rsaes-kem-kdf2-kw-aes128");
    }
    xmlNode* spki = OnlyChild(r, info, kRoap, "X509SPKIHash");
    Bytes hash = r.Base64(OnlyChild(r, spki, kNone, "hash"));
    if (!r.failed() && hash.size() != ro.device_id.size()) r.Fail("hash", "device ID not 20 bytes");
    if (!r.failed()) std::copy(hash.begin(), hash.end(), ro.device_id.begin());
    ro.enc_key = r.Base64(OnlyChild(r, data, kXenc, "CipherValue"));
  }

  // ODRL rights.
  Cursor rc(r, rights);
  xmlNode* rctx = rc.Required(kOex, "context");
  xmlNode* agreement = rc.Required(kOex, "agreement");
  rc.End();
  {
    Cursor cc(r, rctx);
    r.Text(cc.Required(kOdd, "version"));
    cc.Optional(kOdd, "uid");
    cc.End();
  }
  Cursor ac(r, agreement);
  xmlNode* asset = ac.Required(kOex, "asset");
  xmlNode* permission = ac.Required(kOex, "permission");
  ac.End();
  {
    Cursor asc(r, asset);
    xmlNode* actx = asc.Required(kOex, "context");
    xmlNode* key_info = asc.Required(kDs, "KeyInfo");
    asc.End();
    Cursor cc(r, actx);
    ro.rights.content_id = r.Text(cc.Required(kOdd, "uid"));
    if (xmlNode* kd = cc.Optional(kObc, "keyDomain")) {
      std::string hex = r.Text(kd);
      auto raw = HexDecode(hex);
      // The size is checked on its own: after an earlier failure the first
      // branch is skipped, and a short value must still not be indexed.
      if (!raw || raw->size() != 3) {
        if (!r.failed()) r.Fail("obc:keyDomain", "keyDomain is not 6 hex digits");
      } else {
        ro.rights.key_domain_id =
            (std::uint32_t{(*raw)[0]} << 16) | (std::uint32_t{(*raw)[1]} << 8) | (*raw)[2];
      }
    }
    cc.End();
    if (!r.failed() && ro.rights.content_id.empty()) r.Fail("o-dd:uid", "empty content ID");
    xmlNode* encrypted = OnlyChild(r, key_info, kXenc, "EncryptedKey");
    Cursor ekc(r, encrypted);
    xmlNode* method = ekc.Required(kXenc, "EncryptionMethod");
    xmlNode* inner_info = ekc.Required(kDs, "KeyInfo");
    xmlNode* data = ekc.Required(kXenc, "CipherData");
    ekc.End();
    if (!r.failed() && r.Attr(method, "Algorithm") != kAlgKwAes128) {
      r.Fail("xenc:EncryptionMethod", "asset key is not kw-aes128");
    }
    xmlNode* retrieval = OnlyChild(r, inner_info, kDs, "RetrievalMethod");
    if (!r.failed() && r.Attr(retrieval, "URI") != "#" + enc_key_id) {
      r.Fail("ds:RetrievalMethod", "RetrievalMethod does not point at the encKey");
    }
    ro.wrapped_key = r.Base64(OnlyChild(r, data, kXenc, "CipherValue"));
  }
  {
    Cursor pc(r, permission);
    xmlNode* play = pc.Optional(kOdd, "play");
    xmlNode* record = pc.Optional(kObc, "record");
    pc.End();
    ro.rights.play = play != nullptr;
    ro.rights.record = record != nullptr;
    // One validity per LTKM: play's constraint, or record's when there is no play.
    Validity v;
    if (record) v = ParsePermission(r, record);
    if (play) v = ParsePermission(r, play);
    ro.rights.not_before = v.start;
    ro.rights.not_after = v.end;
  }
  return Finish(r, std::move(ro));
}

RoapResult<ProtectedRo> ParseProtectedRo(std::string_view s) {
  ProtectedRo p;
  p.bytes.assign(s);
  auto fail = [&](std::size_t at, std::string what) -> Error {
    return Malformed("protectedRO", at, "protectedRO: " + what);
  };
  std::size_t i = 0;
  if (!Expect(s, i, kProtectedRoOpen)) return fail(0, "does not start with <roap:protectedRO>");
  SkipWs(s, i);
  auto ro = SpanAt(s, i, "<roap:ro ", "</roap:ro>");
  if (!ro) return fail(i, "no compact <roap:ro …>…</roap:ro>");
  i = ro->second;
  SkipWs(s, i);
  if (!Expect(s, i, "<mac>")) return fail(i, "no <mac> after </roap:ro>");
  SkipWs(s, i);
  auto si = SpanAt(s, i, "<ds:SignedInfo", "</ds:SignedInfo>");
  if (!si) return fail(i, "no <ds:SignedInfo …>…</ds:SignedInfo> in <mac>");
  i = si->second;
  SkipWs(s, i);
  auto sv = SpanAt(s, i, "<ds:SignatureValue", "</ds:SignatureValue>");
  if (!sv) return fail(i, "no <ds:SignatureValue> after SignedInfo");
  i = sv->second;
  SkipWs(s, i);
  if (!Expect(s, i, "</mac>")) return fail(i, "no </mac>");
  SkipWs(s, i);
  if (!Expect(s, i, kProtectedRoClose) || i != s.size()) return fail(i, "bad end");

  p.ro_bytes.assign(s.substr(ro->first, ro->second - ro->first));
  p.signed_info_bytes.assign(s.substr(si->first, si->second - si->first));
  auto parsed = ParseRightsObject(p.ro_bytes);
  if (!parsed) return Shift(parsed.error(), ro->first);
  p.ro = std::move(*parsed);

  // SignedInfo, parsed from its own exact bytes (what the HMAC covers).
  {
    Reader r(p.signed_info_bytes, "ds:SignedInfo");
    xmlNode* root = r.Root(kDs, "SignedInfo");
    Cursor c(r, root);
    xmlNode* c14n = c.Required(kDs, "CanonicalizationMethod");
    xmlNode* method = c.Required(kDs, "SignatureMethod");
    xmlNode* ref = c.Required(kDs, "Reference");
    c.End();
    if (!r.failed() && r.Attr(c14n, "Algorithm") != kAlgExcC14n) {
      r.Fail("ds:CanonicalizationMethod", "not exclusive c14n");
    }
    if (!r.failed() && r.Attr(method, "Algorithm") != kAlgHmacSha1) {
      r.Fail("ds:SignatureMethod", "not hmac-sha1");
    }
    p.reference_uri = r.Attr(ref, "URI");
    Cursor rc(r, ref);
    rc.Optional(kDs, "Transforms");
    xmlNode* dm = rc.Required(kDs, "DigestMethod");
    xmlNode* dv = rc.Required(kDs, "DigestValue");
    rc.End();
    if (!r.failed() && r.Attr(dm, "Algorithm") != kAlgSha1) r.Fail("ds:DigestMethod", "not sha1");
    p.digest_value = r.Base64(dv);
    if (!r.failed() && p.digest_value.size() != 20) r.Fail("ds:DigestValue", "not 20 bytes");
    if (!r.failed() && p.reference_uri != "#" + p.ro.id) {
      r.Fail("ds:Reference", "Reference URI " + p.reference_uri + " is not the RO #" + p.ro.id);
    }
    if (r.failed()) return Shift(r.error(), si->first);
  }
  {
    std::string_view sv_bytes = s.substr(sv->first, sv->second - sv->first);
    Reader r(sv_bytes, "ds:SignatureValue");
    xmlNode* root = r.Root(kDs, "SignatureValue");
    p.signature_value = r.Base64(root);
    if (!r.failed() && p.signature_value.size() != 20) {
      r.Fail("ds:SignatureValue", "not an HMAC-SHA1 (20 bytes)");
    }
    if (r.failed()) return Shift(r.error(), sv->first);
  }
  return p;
}

RoapResult<RoResponse> ParseRoResponse(std::string_view bytes) {
  Reader r(bytes, "roResponse");
  xmlNode* root = r.Root(kRoap, "roResponse");
  RoResponse m;
  m.status = ParseStatus(r, root);
  if (r.failed() || m.status != Status::kSuccess) return Finish(r, std::move(m));
  Cursor c(r, root);
  m.device_id = WrappedKeyId(r, c.Required(kNone, "deviceID"));
  m.ri_id = WrappedKeyId(r, c.Required(kNone, "riID"));
  if (xmlNode* n = c.Optional(kNone, "nonce")) m.nonce = r.Base64(n);
  std::vector<xmlNode*> pros = c.Repeated(kRoap, "protectedRO");
  if (!r.failed() && pros.empty()) r.Fail("protectedRO", "no protectedRO");
  m.certificate_chain = ParseCertificateChain(r, c.Optional(kNone, "certificateChain"));
  for (xmlNode* n : c.Repeated(kNone, "ocspResponse")) m.ocsp_responses.push_back(r.Base64(n));
  c.Optional(kNone, "extensions");
  m.signature = r.Base64(c.Required(kNone, "signature"));
  c.End();
  CutParsedSignature(r, bytes, true, m.signature, m.unsigned_bytes);
  if (r.failed()) return r.error();

  // Exact bytes of each protected RO, in document order, matched with the tree.
  std::size_t pos = 0;
  for (xmlNode* node : pros) {
    std::size_t s = bytes.find(kProtectedRoOpen, pos);
    std::size_t e = s == std::string_view::npos ? s : bytes.find(kProtectedRoClose, s);
    if (e == std::string_view::npos) {
      return Malformed("protectedRO", pos,
                       "roResponse: protectedRO is not compact <roap:protectedRO>");
    }
    e += kProtectedRoClose.size();
    auto p = ParseProtectedRo(bytes.substr(s, e - s));
    if (!p) return Shift(p.error(), s);
    // The span must be this tree node: its <roap:ro> carries the same id.
    xmlNode* ro_node = node->children;
    while (ro_node && ro_node->type != XML_ELEMENT_NODE) ro_node = ro_node->next;
    const auto id = xml::Prop(ro_node, "id");
    const bool same = id && p->ro.id == *id && xml::IsElement(ro_node, kRoap, "ro");
    if (!same) {
      return Malformed("protectedRO", s, "roResponse: protectedRO bytes do not match the tree");
    }
    m.protected_ro_bytes.emplace_back(p->bytes);
    m.protected_ros.push_back(std::move(*p));
    pos = e;
  }
  if (bytes.find(kProtectedRoOpen, pos) != std::string_view::npos) {
    return Malformed("protectedRO", pos, "roResponse: stray protectedRO text");
  }
  return m;
}

RoapResult<RoapTrigger> ParseRoapTrigger(std::string_view bytes) {
  Reader r(bytes, "roapTrigger");
  xmlNode* root = r.Root(kRoap, "roapTrigger");
  RoapTrigger m;
  auto version = r.OptAttr(root, "version");
  if (!r.failed() && version && *version != kRoapVersion) {
    r.Fail("version", "unsupported trigger version " + *version);
  }
  Cursor c(r, root);
  xmlNode* t = c.Optional(kNone, "registrationRequest");
  if (t) {
    m.kind = RoapTrigger::Kind::kRegistrationRequest;
  } else {
    t = c.Required(kNone, "roAcquisition");
    m.kind = RoapTrigger::Kind::kRoAcquisition;
  }
  c.End();
  m.id = r.OptAttr(t, "id");
  Cursor tc(r, t);
  m.ri_id = WrappedKeyId(r, tc.Required(kNone, "riID"));
  if (xmlNode* a = tc.Optional(kNone, "riAlias")) m.ri_alias = r.Text(a);
  if (xmlNode* n = tc.Optional(kNone, "nonce")) m.nonce = r.Text(n);
  m.roap_url = r.Text(tc.Required(kNone, "roapURL"));
  if (!r.failed() && m.roap_url.empty()) r.Fail("roapURL", "empty roapURL");
  if (m.kind == RoapTrigger::Kind::kRoAcquisition) {
    m.ro_ids = Texts(r, tc.Repeated(kNone, "roID"));
    m.content_ids = Texts(r, tc.Repeated(kNone, "contentID"));
  }
  tc.End();
  return Finish(r, std::move(m));
}

}  // namespace spc::roap
