// Internal to spc/libspc/roap: the canonical XML writer and the safe libxml2 reader that every
// message builder and parser uses.
//
// Writer: builds a small tree and serialises it exactly as exclusive XML canonicalization
// (xml-exc-c14n, no comments) would serialise it as a standalone subtree: no whitespace added,
// namespace declarations rendered on the first element that visibly uses the prefix, namespace
// declarations sorted by prefix, then attributes sorted by (namespace URI, local name), empty
// elements as start/end pairs, c14n escaping. A message written this way is already in the form
// other agents hash and MAC, so the bytes are produced once and never re-serialised.
//
// Reader: libxml2 with no network, no DTD (a DOCTYPE is refused before parsing, so no entity can
// be declared or expanded), no entity substitution, size-limited, namespace-aware, errors kept
// instead of printed. The first failure is sticky: later calls return empty values and the parser
// returns the first error with its field and byte offset.
#pragma once

#include <libxml/tree.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spc/libspc/roap/types.h"

namespace spc::roap::xml {

struct Ns {
  std::string_view prefix;
  std::string_view uri;
};
inline constexpr Ns kNone{"", ""};
inline constexpr Ns kRoap{"roap", kRoapNamespace};
inline constexpr Ns kXsi{"xsi", "http://www.w3.org/2001/XMLSchema-instance"};
inline constexpr Ns kOex{"o-ex", "http://odrl.net/1.1/ODRL-EX"};
inline constexpr Ns kOdd{"o-dd", "http://odrl.net/1.1/ODRL-DD"};
inline constexpr Ns kDs{"ds", "http://www.w3.org/2000/09/xmldsig#"};
inline constexpr Ns kXenc{"xenc", "http://www.w3.org/2001/04/xmlenc#"};
// [project] extension namespace of the RO: BCAST key domain and the record permission.
inline constexpr Ns kObc{"obc", "urn:openbcast:drm-1.0"};

class Element {
 public:
  Element(Ns ns, std::string local);

  Element& Attr(std::string local, std::string value);
  Element& Attr(Ns ns, std::string local, std::string value);
  Element& Text(std::string text);
  Element& Add(Element child);
  // Pre-serialised canonical bytes embedded as they are (e.g. the <roap:ro> of a protected RO,
  // which was hashed and MACed before the response existed).
  Element& Raw(std::string bytes);

  std::string Serialize() const;

 private:
  struct Attribute {
    Ns ns;
    std::string local;
    std::string value;
  };
  enum class Kind { kElement, kText, kRaw };
  Element(Kind kind, std::string content);
  void SerializeInto(std::string& out,
                     std::vector<std::pair<std::string_view, std::string_view>>& rendered) const;

  Kind kind_ = Kind::kElement;
  Ns ns_;
  std::string local_;  // or text/raw content
  std::vector<Attribute> attrs_;
  std::vector<Element> children_;
};

// <keyIdentifier xmlns:xsi=… algorithm="…#sha1" xsi:type="roap:X509SPKIHash"><hash>…</hash>
// (element name given: keyIdentifier, identifier…).
Element KeyIdentifier(std::string_view name, const KeyId& id);
Element TextElement(Ns ns, std::string local, std::string text);

// xmlGetNsProp / xmlGetProp (any namespace) of a parsed document's node; nullopt when absent.
std::optional<std::string> NsProp(xmlNode* node, const char* name, const char* ns_uri);
std::optional<std::string> Prop(xmlNode* node, const char* name);

struct DocDeleter {
  void operator()(xmlDoc* doc) const;
};
using DocPtr = std::unique_ptr<xmlDoc, DocDeleter>;

class Reader {
 public:
  // `what` names the message for errors about the document as a whole.
  Reader(std::string_view bytes, std::string what);

  // Parses and checks the root element's namespace and local name. nullptr after a failure.
  xmlNode* Root(Ns ns, std::string_view local);

  bool failed() const { return error_.has_value(); }
  const Error& error() const { return *error_; }
  void Fail(std::string field, std::string message);
  void FailWith(Error error);
  std::string_view bytes() const { return bytes_; }

  std::optional<std::string> OptAttr(xmlNode* node, std::string_view name);
  std::string Attr(xmlNode* node, std::string_view name);
  // Text-only content (no element children); the field name is the node's name.
  std::string Text(xmlNode* node);
  Bytes Base64(xmlNode* node);
  std::int64_t Time(xmlNode* node);
  // A keyIdentifier-like element: xsi:type roap:X509SPKIHash, algorithm sha1, <hash> of 20 bytes.
  KeyId KeyIdentifier(xmlNode* node);
  // Byte offset of the first "<name" (or name="…" attribute) in the message; 0 if not found.
  std::size_t OffsetOf(std::string_view name) const;

 private:
  std::string_view bytes_;
  std::string what_;
  DocPtr doc_;
  std::optional<Error> error_;
};

// Walks the element children of `parent` in order, skipping whitespace and comments.
// Non-whitespace text or processing instructions among element children are malformed.
class Cursor {
 public:
  Cursor(Reader& reader, xmlNode* parent);
  xmlNode* Required(Ns ns, std::string_view local);
  xmlNode* Optional(Ns ns, std::string_view local);
  std::vector<xmlNode*> Repeated(Ns ns, std::string_view local);
  // Unknown element left over → malformed.
  void End();

 private:
  bool Matches(xmlNode* node, Ns ns, std::string_view local) const;
  Reader& reader_;
  std::string parent_name_;
  std::vector<xmlNode*> children_;
  std::size_t next_ = 0;
};

bool IsElement(const xmlNode* node, Ns ns, std::string_view local);
std::string NodeName(const xmlNode* node);

}  // namespace spc::roap::xml
