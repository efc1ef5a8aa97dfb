// The part of libxml2 the ROAP reader calls, bound when the first ROAP document is read
// (spc/libspc/lazy_library.h): a terminal that never reads ROAP XML never maps libxml2 and ICU.
// (ROAP messages are written without libxml2: xml.h's writer.)
#pragma once

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <string>

namespace spc::roap::xml {

struct LibxmlApi {
  decltype(&xmlInitParser) init_parser = nullptr;
  decltype(&xmlNewParserCtxt) new_parser_ctxt = nullptr;
  decltype(&xmlFreeParserCtxt) free_parser_ctxt = nullptr;
  decltype(&xmlCtxtReadMemory) ctxt_read_memory = nullptr;
  decltype(&xmlFreeDoc) free_doc = nullptr;
  decltype(&xmlDocGetRootElement) doc_get_root_element = nullptr;
  decltype(&xmlNodeListGetString) node_list_get_string = nullptr;
  decltype(&xmlGetNsProp) get_ns_prop = nullptr;
  decltype(&xmlGetProp) get_prop = nullptr;
  decltype(&xmlSearchNs) search_ns = nullptr;
  // libxml2's deallocator is a variable (xmlFree), not a function.
  xmlFreeFunc* free = nullptr;
};

// libxml2, loaded, bound and initialised once (thread-safe); nullptr and *error when it cannot be.
const LibxmlApi* Libxml(std::string* error);

}  // namespace spc::roap::xml
