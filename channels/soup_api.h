// The part of libsoup 3 the interaction channel calls, bound on the first HTTP request
// (spc/libspc/lazy_library.h): a terminal that never uses its interaction channel never maps
// libsoup and the libraries under it.
#pragma once

#include <libsoup/soup.h>

#include <string>

namespace channels {

struct SoupApi {
  decltype(&soup_session_new_with_options) session_new_with_options = nullptr;
  decltype(&soup_session_abort) session_abort = nullptr;
  decltype(&soup_session_send_async) session_send_async = nullptr;
  decltype(&soup_session_send_finish) session_send_finish = nullptr;
  decltype(&soup_message_new) message_new = nullptr;
  decltype(&soup_message_set_request_body_from_bytes) message_set_request_body_from_bytes = nullptr;
  decltype(&soup_message_get_request_headers) message_get_request_headers = nullptr;
  decltype(&soup_message_get_response_headers) message_get_response_headers = nullptr;
  decltype(&soup_message_get_status) message_get_status = nullptr;
  decltype(&soup_message_get_reason_phrase) message_get_reason_phrase = nullptr;
  decltype(&soup_message_headers_append) headers_append = nullptr;
  decltype(&soup_message_headers_replace) headers_replace = nullptr;
  decltype(&soup_message_headers_iter_init) headers_iter_init = nullptr;
  decltype(&soup_message_headers_iter_next) headers_iter_next = nullptr;
  decltype(&soup_message_headers_get_content_type) headers_get_content_type = nullptr;
  decltype(&soup_message_headers_get_content_length) headers_get_content_length = nullptr;
  decltype(&soup_message_headers_get_encoding) headers_get_encoding = nullptr;
};

// libsoup, loaded and bound once (thread-safe); nullptr and *error when it cannot be.
const SoupApi* Soup(std::string* error);

}  // namespace channels
