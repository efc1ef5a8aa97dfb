#include "spc/daemon/secret_variant.h"

#include <openssl/crypto.h>

#include <cstring>

namespace spc::daemon {

GVariant* SecretBytes(const std::uint8_t* data, std::size_t n) {
  // Every buffer is 16 bytes so that the free function, which is not told the size, wipes it all.
  constexpr std::size_t kBuffer = 16;
  g_assert(n <= kBuffer);
  void* copy = g_malloc0(kBuffer);
  if (n) std::memcpy(copy, data, n);
  GBytes* bytes = g_bytes_new_with_free_func(
      copy, n,
      [](gpointer p) {
        OPENSSL_cleanse(p, kBuffer);
        g_free(p);
      },
      copy);
  GVariant* v = g_variant_new_from_bytes(G_VARIANT_TYPE_BYTESTRING, bytes, TRUE);
  g_bytes_unref(bytes);
  return v;
}

}  // namespace spc::daemon
