// Key bytes for D-Bus answers (TEKs, salts): spcd's method handlers and the fetch/prefetch API.
#pragma once

#include <glib.h>

#include <cstddef>
#include <cstdint>

namespace spc::daemon {

// A byte-array variant (at most 16 bytes) whose buffer is wiped when GLib frees it.
GVariant* SecretBytes(const std::uint8_t* data, std::size_t n);

}  // namespace spc::daemon
