#include "spc/libspc/roap/xml.h"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include <algorithm>

#include "spc/libspc/roap/libxml_api.h"

namespace spc::roap::xml {

namespace {

void AppendEscapedText(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\r':
        out += "&#xD;";
        break;
      default:
        out.push_back(c);
    }
  }
}

void AppendEscapedAttr(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\t':
        out += "&#x9;";
        break;
      case '\n':
        out += "&#xA;";
        break;
      case '\r':
        out += "&#xD;";
        break;
      default:
        out.push_back(c);
    }
  }
}

std::string_view AsView(const xmlChar* s) {
  return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view();
}

const xmlChar* X(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

struct CtxtDeleter {
  void operator()(xmlParserCtxt* c) const { Libxml(nullptr)->free_parser_ctxt(c); }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

Element::Element(Ns ns, std::string local) : ns_(ns), local_(std::move(local)) {}
Element::Element(Kind kind, std::string content) : kind_(kind), local_(std::move(content)) {}

Element& Element::Attr(std::string local, std::string value) {
  attrs_.push_back({kNone, std::move(local), std::move(value)});
  return *this;
}
Element& Element::Attr(Ns ns, std::string local, std::string value) {
  attrs_.push_back({ns, std::move(local), std::move(value)});
  return *this;
}
Element& Element::Text(std::string text) {
  children_.push_back(Element(Kind::kText, std::move(text)));
  return *this;
}
Element& Element::Add(Element child) {
  children_.push_back(std::move(child));
  return *this;
}
Element& Element::Raw(std::string bytes) {
  children_.push_back(Element(Kind::kRaw, std::move(bytes)));
  return *this;
}

std::string Element::Serialize() const {
  std::string out;
  std::vector<std::pair<std::string_view, std::string_view>> rendered;
  SerializeInto(out, rendered);
  return out;
}

void Element::SerializeInto(
    std::string& out, std::vector<std::pair<std::string_view, std::string_view>>& rendered) const {
  if (kind_ == Kind::kText) {
    AppendEscapedText(out, local_);
    return;
  }
  if (kind_ == Kind::kRaw) {
    out += local_;
    return;
  }
  // Exclusive c14n: declare a prefix here when this element or one of its attributes uses it and
  // the nearest output ancestor did not already declare it with the same URI.
  std::vector<Ns> used;
  auto use = [&](Ns ns) {
    if (ns.prefix.empty()) return;
    for (const Ns& u : used) {
      if (u.prefix == ns.prefix) return;
    }
    used.push_back(ns);
  };
  use(ns_);
  for (const Attribute& a : attrs_) use(a.ns);
  std::vector<Ns> declare;
  for (const Ns& u : used) {
    std::string_view in_scope;
    for (auto it = rendered.rbegin(); it != rendered.rend(); ++it) {
      if (it->first == u.prefix) {
        in_scope = it->second;
        break;
      }
    }
    if (in_scope != u.uri) declare.push_back(u);
  }
  std::sort(declare.begin(), declare.end(),
            [](const Ns& a, const Ns& b) { return a.prefix < b.prefix; });
  std::vector<const Attribute*> attrs;
  for (const Attribute& a : attrs_) attrs.push_back(&a);
  std::sort(attrs.begin(), attrs.end(), [](const Attribute* a, const Attribute* b) {
    if (a->ns.uri != b->ns.uri) return a->ns.uri < b->ns.uri;
    return a->local < b->local;
  });

  std::string qname = ns_.prefix.empty() ? local_ : std::string(ns_.prefix) + ":" + local_;
  out += '<';
  out += qname;
  for (const Ns& d : declare) {
    out += " xmlns:";
    out += d.prefix;
    out += "=\"";
    AppendEscapedAttr(out, d.uri);
    out += '"';
  }
  for (const Attribute* a : attrs) {
    out += ' ';
    if (!a->ns.prefix.empty()) {
      out += a->ns.prefix;
      out += ':';
    }
    out += a->local;
    out += "=\"";
    AppendEscapedAttr(out, a->value);
    out += '"';
  }
  out += '>';
  std::size_t mark = rendered.size();
  for (const Ns& d : declare) rendered.emplace_back(d.prefix, d.uri);
  for (const Element& c : children_) c.SerializeInto(out, rendered);
  rendered.resize(mark);
  out += "</";
  out += qname;
  out += '>';
}

Element KeyIdentifier(std::string_view name, const KeyId& id) {
  Element e(kNone, std::string(name));
  e.Attr("algorithm", std::string(kAlgSha1));
  e.Attr(kXsi, "type", "roap:X509SPKIHash");
  e.Add(TextElement(kNone, "hash", Base64Encode(id)));
  return e;
}

Element TextElement(Ns ns, std::string local, std::string text) {
  Element e(ns, std::move(local));
  e.Text(std::move(text));
  return e;
}

// ---------------------------------------------------------------------------------------------
// Reader

// A document exists only once libxml2 was loaded.
void DocDeleter::operator()(xmlDoc* doc) const { Libxml(nullptr)->free_doc(doc); }

bool IsElement(const xmlNode* node, Ns ns, std::string_view local) {
  if (!node || node->type != XML_ELEMENT_NODE || AsView(node->name) != local) return false;
  if (ns.uri.empty()) return node->ns == nullptr;
  return node->ns && AsView(node->ns->href) == ns.uri;
}

std::string NodeName(const xmlNode* node) {
  if (!node) return {};
  std::string name;
  if (node->ns && node->ns->prefix) {
    name = std::string(AsView(node->ns->prefix)) + ":";
  }
  return name + std::string(AsView(node->name));
}

Reader::Reader(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}

void Reader::Fail(std::string field, std::string message) {
  if (error_) return;
  std::size_t offset = OffsetOf(field);
  error_ = Malformed(std::move(field), offset, what_ + ": " + message);
}

void Reader::FailWith(Error error) {
  if (!error_) error_ = std::move(error);
}

std::size_t Reader::OffsetOf(std::string_view name) const {
  if (name.empty()) return 0;
  std::string open = "<" + std::string(name);
  for (std::size_t pos = bytes_.find(open); pos != std::string_view::npos;
       pos = bytes_.find(open, pos + 1)) {
    std::size_t after = pos + open.size();
    if (after >= bytes_.size()) return pos;
    char c = bytes_[after];
    if (c == ' ' || c == '>' || c == '/' || c == '\t' || c == '\n' || c == '\r') return pos;
  }
  std::size_t attr = bytes_.find(" " + std::string(name) + "=");
  if (attr != std::string_view::npos) return attr + 1;
  return 0;
}

xmlNode* Reader::Root(Ns ns, std::string_view local) {
  if (failed()) return nullptr;
  if (bytes_.size() > kMaxMessageSize) {
    error_ = Malformed(std::string(local), kMaxMessageSize,
                       what_ + ": larger than " + std::to_string(kMaxMessageSize) + " bytes");
    return nullptr;
  }
  // No DTD at all: it is the only way to declare entities (billion laughs, external entities)
  // and ROAP never uses one.
  for (std::string_view bad : {"<!DOCTYPE", "<!ENTITY"}) {
    std::size_t pos = bytes_.find(bad);
    if (pos != std::string_view::npos) {
      error_ = Malformed("DOCTYPE", pos, what_ + ": DTDs and entity declarations are refused");
      return nullptr;
    }
  }
  std::string load_error;
  const LibxmlApi* libxml = Libxml(&load_error);
  if (libxml == nullptr) {
    error_ = Malformed(std::string(local), 0, what_ + ": " + load_error);
    return nullptr;
  }
  std::unique_ptr<xmlParserCtxt, CtxtDeleter> ctxt(libxml->new_parser_ctxt());
  if (!ctxt) {
    error_ = Malformed(std::string(local), 0, what_ + ": out of memory");
    return nullptr;
  }
  // Deliberately without XML_PARSE_NOENT, XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR, XML_PARSE_HUGE.
  int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
  doc_.reset(libxml->ctxt_read_memory(ctxt.get(), bytes_.data(), static_cast<int>(bytes_.size()),
                                      nullptr, "UTF-8", options));
  if (!doc_ || !ctxt->wellFormed || !ctxt->nsWellFormed) {
    const xmlError* e = &ctxt->lastError;
    std::string msg = e->message ? e->message : "not well-formed";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    // libxml2 reports line and column; convert to a byte offset.
    std::size_t offset = 0;
    int line = e->line > 0 ? e->line : 1;
    for (int l = 1; l < line && offset < bytes_.size(); ++offset) {
      if (bytes_[offset] == '\n') ++l;
    }
    if (e->int2 > 0) offset += static_cast<std::size_t>(e->int2 - 1);
    offset = std::min(offset, bytes_.size());
    error_ = Malformed("xml", offset, what_ + ": " + msg);
    doc_.reset();
    return nullptr;
  }
  if (doc_->intSubset || doc_->extSubset) {
    error_ = Malformed("DOCTYPE", 0, what_ + ": DTDs are refused");
    return nullptr;
  }
  xmlNode* root = libxml->doc_get_root_element(doc_.get());
  if (!IsElement(root, ns, local)) {
    std::string got = NodeName(root);
    if (root && root->ns) got += " in namespace " + std::string(AsView(root->ns->href));
    error_ = Malformed(std::string(local), 0,
                       what_ + ": root element is " + got + ", expected " + std::string(ns.prefix) +
                           ":" + std::string(local) + " in " + std::string(ns.uri));
    return nullptr;
  }
  return root;
}

std::optional<std::string> Reader::OptAttr(xmlNode* node, std::string_view name) {
  if (failed() || !node) return std::nullopt;
  for (xmlAttr* a = node->properties; a; a = a->next) {
    if (a->ns == nullptr && AsView(a->name) == name) {
      // Only a parsed document has nodes: libxml2 is loaded.
      const LibxmlApi* libxml = Libxml(nullptr);
      xmlChar* v = libxml->node_list_get_string(node->doc, a->children, 1);
      std::string s(AsView(v));
      (*libxml->free)(v);
      return s;
    }
  }
  return std::nullopt;
}

std::optional<std::string> NsProp(xmlNode* node, const char* name, const char* ns_uri) {
  if (!node) return std::nullopt;
  const LibxmlApi* libxml = Libxml(nullptr);
  xmlChar* v = libxml->get_ns_prop(node, X(name), X(ns_uri));
  if (!v) return std::nullopt;
  std::string s(AsView(v));
  (*libxml->free)(v);
  return s;
}

std::optional<std::string> Prop(xmlNode* node, const char* name) {
  if (!node) return std::nullopt;
  const LibxmlApi* libxml = Libxml(nullptr);
  xmlChar* v = libxml->get_prop(node, X(name));
  if (!v) return std::nullopt;
  std::string s(AsView(v));
  (*libxml->free)(v);
  return s;
}

std::string Reader::Attr(xmlNode* node, std::string_view name) {
  auto v = OptAttr(node, name);
  if (!v) {
    Fail(std::string(name), "attribute " + std::string(name) + " missing on " + NodeName(node));
    return {};
  }
  return *v;
}

std::string Reader::Text(xmlNode* node) {
  if (failed() || !node) return {};
  std::string s;
  for (xmlNode* c = node->children; c; c = c->next) {
    if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
      s += AsView(c->content);
    } else if (c->type == XML_COMMENT_NODE) {
      continue;
    } else {
      Fail(NodeName(node), NodeName(node) + " must hold text only");
      return {};
    }
  }
  return s;
}

Bytes Reader::Base64(xmlNode* node) {
  std::string text = Text(node);
  if (failed()) return {};
  auto b = Base64Decode(text);
  if (!b) {
    Fail(NodeName(node), NodeName(node) + " is not base64");
    return {};
  }
  return std::move(*b);
}

std::int64_t Reader::Time(xmlNode* node) {
  std::string text = Text(node);
  if (failed()) return 0;
  auto t = ParseTime(text);
  if (!t) {
    Fail(NodeName(node), NodeName(node) + " is not YYYY-MM-DDThh:mm:ssZ");
    return 0;
  }
  return *t;
}

KeyId Reader::KeyIdentifier(xmlNode* node) {
  KeyId id{};
  if (failed() || !node) return id;
  std::string name = NodeName(node);
  const LibxmlApi* libxml = Libxml(nullptr);
  xmlChar* type = libxml->get_ns_prop(node, X("type"), X(std::string(kXsi.uri).c_str()));
  std::string type_s(AsView(type));
  (*libxml->free)(type);
  std::size_t colon = type_s.find(':');
  std::string prefix = colon == std::string::npos ? "" : type_s.substr(0, colon);
  std::string local = colon == std::string::npos ? type_s : type_s.substr(colon + 1);
  xmlNs* ns = libxml->search_ns(node->doc, node, prefix.empty() ? nullptr : X(prefix.c_str()));
  if (local != "X509SPKIHash" || !ns || AsView(ns->href) != kRoapNamespace) {
    Fail(name, name + " is not of xsi:type roap:X509SPKIHash");
    return id;
  }
  auto alg = OptAttr(node, "algorithm");
  if (alg && *alg != kAlgSha1) {
    Fail(name, name + " hash algorithm is not SHA-1");
    return id;
  }
  Cursor c(*this, node);
  xmlNode* hash = c.Required(kNone, "hash");
  c.End();
  Bytes h = Base64(hash);
  if (failed()) return id;
  if (h.size() != id.size()) {
    Fail("hash", name + " hash is not 20 bytes");
    return id;
  }
  std::copy(h.begin(), h.end(), id.begin());
  return id;
}

Cursor::Cursor(Reader& reader, xmlNode* parent) : reader_(reader), parent_name_(NodeName(parent)) {
  if (reader_.failed() || !parent) return;
  for (xmlNode* c = parent->children; c; c = c->next) {
    switch (c->type) {
      case XML_ELEMENT_NODE:
        children_.push_back(c);
        break;
      case XML_TEXT_NODE:
        if (!IsBlank(AsView(c->content))) {
          reader_.Fail(parent_name_, "text inside " + parent_name_ + " where elements belong");
          return;
        }
        break;
      case XML_COMMENT_NODE:
        break;
      default:
        reader_.Fail(parent_name_, "unexpected node inside " + parent_name_);
        return;
    }
  }
}

bool Cursor::Matches(xmlNode* node, Ns ns, std::string_view local) const {
  return IsElement(node, ns, local);
}

xmlNode* Cursor::Optional(Ns ns, std::string_view local) {
  if (reader_.failed() || next_ >= children_.size()) return nullptr;
  if (!Matches(children_[next_], ns, local)) return nullptr;
  return children_[next_++];
}

xmlNode* Cursor::Required(Ns ns, std::string_view local) {
  if (reader_.failed()) return nullptr;
  xmlNode* n = Optional(ns, local);
  if (!n) {
    std::string qname =
        ns.prefix.empty() ? std::string(local) : std::string(ns.prefix) + ":" + std::string(local);
    std::string got = next_ < children_.size() ? ", found " + NodeName(children_[next_]) : "";
    reader_.Fail(qname, qname + " missing in " + parent_name_ + got);
  }
  return n;
}

std::vector<xmlNode*> Cursor::Repeated(Ns ns, std::string_view local) {
  std::vector<xmlNode*> out;
  while (xmlNode* n = Optional(ns, local)) out.push_back(n);
  return out;
}

void Cursor::End() {
  if (reader_.failed() || next_ >= children_.size()) return;
  std::string name = NodeName(children_[next_]);
  reader_.Fail(name, "unexpected element " + name + " in " + parent_name_);
}

}  // namespace spc::roap::xml
