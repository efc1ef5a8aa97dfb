// libFuzzer target: the session description parser (SDP with the BCAST attributes), and the writer
// on what it accepts: what parses must write to a text that parses to the same description.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <gio/gio.h>

#include "channels/session_description.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = channels::ParseSessionDescription(text);
  if (!parsed) {
    // A rejection must say which line; offset is a 1-based line number.
    if (parsed.error().field.empty()) std::abort();
    const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    if (parsed.error().offset > lines + 1) std::abort();
    return 0;
  }
  for (const auto& m : parsed->media) {
    // A media line naming a key stream must name one that exists (or STKMs come over HTTP).
    if (!m.key_stream_id.empty() && parsed->FindKeyStream(m.key_stream_id) == nullptr &&
        parsed->stkm_url.empty()) {
      std::abort();
    }
  }
  const std::string written = channels::WriteSessionDescription(*parsed);
  auto reparsed = channels::ParseSessionDescription(written);
  // SDP has no empty session name: the writer puts "-" (RFC 4566's placeholder) for none.
  channels::SessionDescription expected = *parsed;
  if (expected.session_name.empty()) expected.session_name = "-";
  // An IPv4 multicast c= line needs a TTL (RFC 4566 5.7): the writer puts 1 where none was given.
  auto ttl_rule = [](const std::string& address, int& ttl) {
    const char* type = address.find(':') == std::string::npos ? "IP4" : "IP6";
    g_autoptr(GInetAddress) a = g_inet_address_new_from_string(address.c_str());
    if (ttl == 0 && std::string_view(type) == "IP4" && a != nullptr &&
        g_inet_address_get_is_multicast(a)) {
      ttl = 1;
    }
  };
  for (auto& k : expected.key_streams) ttl_rule(k.address, k.ttl);
  for (auto& m : expected.media) ttl_rule(m.address, m.ttl);
  for (auto& l : expected.ltkm_streams) ttl_rule(l.address, l.ttl);
  if (!reparsed || !(*reparsed == expected)) std::abort();
  return 0;
}
