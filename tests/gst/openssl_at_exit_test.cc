// A GStreamer host's threads that ran bcastprotect's OpenSSL code can outlive main: GLib's pool
// threads park after a pipeline stops and exit at any time, also while the process is exiting.
// This program loads the plugin and makes the element named on its command line as any host
// does, lets a thread use OpenSSL and returns from main with that thread alive. An exit handler
// registered before the plugin was loaded runs after any handler OpenSSL registers; it checks
// that OpenSSL is still initialised, then lets the thread use it once more and exit. Exit status
// 1 if OpenSSL's state was torn down at exit (under LeakSanitizer the thread's error state would
// also be reported lost: the CI failure of stop 16, in bcastsrc-http).
// usage: openssl_at_exit_test ELEMENT   (BCASTPROTECT_PLUGIN: the plugin file)
#include <gst/gst.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

#include "spc/libspc/crypto.h"

namespace {

std::thread worker;
std::promise<void> used;
std::promise<void> release;

// What a streaming thread does per buffer: an OpenSSL operation that leaves per-thread state.
void UseOpenssl() {
  const std::array<std::uint8_t, 16> key{};
  const std::array<std::uint8_t, 4> data{1, 2, 3, 4};
  ERR_set_mark();
  (void)spc::HmacSha1(key, data);
  ERR_pop_to_mark();
}

void AfterOpensslExitHandlers() {
  if (OPENSSL_init_crypto(0, nullptr) != 1) {
    // Releasing the thread now would crash it in freed OpenSSL state.
    std::fprintf(stderr, "OpenSSL was cleaned up at exit while a thread that used it was alive\n");
    std::_Exit(1);
  }
  release.set_value();
  worker.join();
  std::fprintf(stderr, "OpenSSL still initialised after the exit handlers; thread finished\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::atexit(AfterOpensslExitHandlers);
  gst_init(&argc, &argv);
  const char* path = std::getenv("BCASTPROTECT_PLUGIN");
  if (path == nullptr || argc != 2) {
    std::fprintf(stderr, "usage: BCASTPROTECT_PLUGIN=FILE openssl_at_exit_test ELEMENT\n");
    return 2;
  }
  GError* error = nullptr;
  GstPlugin* plugin = gst_plugin_load_file(path, &error);
  if (plugin == nullptr) {
    std::fprintf(stderr, "loading %s: %s\n", path, error->message);
    g_error_free(error);
    return 2;
  }
  gst_object_unref(plugin);
  GstElement* element = gst_element_factory_make(argv[1], nullptr);
  if (element == nullptr) {
    std::fprintf(stderr, "no element %s in %s\n", argv[1], path);
    return 2;
  }
  gst_object_unref(element);

  auto used_future = used.get_future();
  worker = std::thread([released = release.get_future()] {
    UseOpenssl();
    used.set_value();
    released.wait();
    UseOpenssl();
  });
  used_future.wait();
  return 0;
}
