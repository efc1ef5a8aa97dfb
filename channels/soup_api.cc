#include "channels/soup_api.h"

#include "spc/libspc/lazy_library.h"

namespace channels {

namespace {

// libsoup 3's ABI name (the soname of every libsoup 3.x).
constexpr char kSoname[] = "libsoup-3.0.so.0";

using Loaded = spc::BoundApi<SoupApi>;

Loaded Load() {
  Loaded l;
  spc::LazyLibrary lib(kSoname);
  SoupApi& a = l.api;
  lib.Bind("soup_session_new_with_options", a.session_new_with_options);
  lib.Bind("soup_session_abort", a.session_abort);
  lib.Bind("soup_session_send_async", a.session_send_async);
  lib.Bind("soup_session_send_finish", a.session_send_finish);
  lib.Bind("soup_message_new", a.message_new);
  lib.Bind("soup_message_set_request_body_from_bytes", a.message_set_request_body_from_bytes);
  lib.Bind("soup_message_get_request_headers", a.message_get_request_headers);
  lib.Bind("soup_message_get_response_headers", a.message_get_response_headers);
  lib.Bind("soup_message_get_status", a.message_get_status);
  lib.Bind("soup_message_get_reason_phrase", a.message_get_reason_phrase);
  lib.Bind("soup_message_headers_append", a.headers_append);
  lib.Bind("soup_message_headers_replace", a.headers_replace);
  lib.Bind("soup_message_headers_iter_init", a.headers_iter_init);
  lib.Bind("soup_message_headers_iter_next", a.headers_iter_next);
  lib.Bind("soup_message_headers_get_content_type", a.headers_get_content_type);
  lib.Bind("soup_message_headers_get_content_length", a.headers_get_content_length);
  lib.Bind("soup_message_headers_get_encoding", a.headers_get_encoding);
  if (!lib.ok()) l.error = lib.error();
  return l;
}

}  // namespace

const SoupApi* Soup(std::string* error) {
  static const Loaded loaded = Load();
  return loaded.Get(error);
}

}  // namespace channels
