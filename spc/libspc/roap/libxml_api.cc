#include "spc/libspc/roap/libxml_api.h"

#include "spc/libspc/lazy_library.h"

namespace spc::roap::xml {

namespace {

// libxml2's ABI name (the soname of every libxml2 2.x).
constexpr char kSoname[] = "libxml2.so.2";

using Loaded = BoundApi<LibxmlApi>;

Loaded Load() {
  Loaded l;
  LazyLibrary lib(kSoname);
  LibxmlApi& a = l.api;
  lib.Bind("xmlInitParser", a.init_parser);
  lib.Bind("xmlNewParserCtxt", a.new_parser_ctxt);
  lib.Bind("xmlFreeParserCtxt", a.free_parser_ctxt);
  lib.Bind("xmlCtxtReadMemory", a.ctxt_read_memory);
  lib.Bind("xmlFreeDoc", a.free_doc);
  lib.Bind("xmlDocGetRootElement", a.doc_get_root_element);
  lib.Bind("xmlNodeListGetString", a.node_list_get_string);
  lib.Bind("xmlGetNsProp", a.get_ns_prop);
  lib.Bind("xmlGetProp", a.get_prop);
  lib.Bind("xmlSearchNs", a.search_ns);
  lib.Bind("xmlFree", a.free);
  if (!lib.ok()) {
    l.error = lib.error();
    return l;
  }
  // Once per process, before any thread parses (libxml2's rule for threaded programs).
  a.init_parser();
  return l;
}

}  // namespace

const LibxmlApi* Libxml(std::string* error) {
  static const Loaded loaded = Load();
  return loaded.Get(error);
}

}  // namespace spc::roap::xml
