// A shared library bound on first use instead of at program start (a DT_NEEDED entry maps a library
// and everything it needs into every process that links it, used or not). spcd maps libsoup (and
// its Kerberos, HTTP/2, PSL, Brotli and IDN libraries) only when it makes an HTTP request, and
// libxml2 (and ICU) only when it reads ROAP XML: a broadcast-only terminal never does either.
//
// The functions are bound by name into pointers whose types are taken from the library's own
// header (decltype), so a signature that does not match the header is a compile error.
#pragma once

#include <gmodule.h>

#include <string>

namespace spc {

class LazyLibrary {
 public:
  // `soname`: the ABI name the dynamic linker would resolve for a DT_NEEDED entry (found the same
  // way: LD_LIBRARY_PATH, ld.so.cache). The library stays loaded for the life of the process.
  explicit LazyLibrary(const char* soname) : soname_(soname) {
    module_ =
        g_module_open(soname, static_cast<GModuleFlags>(G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL));
    if (module_ == nullptr) {
      error_ = std::string("cannot load ") + soname + ": " + g_module_error();
      return;
    }
    g_module_make_resident(module_);
  }

  // Binds `name` into `fn`; a missing symbol makes ok() false.
  template <class F>
  void Bind(const char* name, F*& fn) {
    gpointer symbol = nullptr;
    if (module_ == nullptr) return;
    if (!g_module_symbol(module_, name, &symbol) || symbol == nullptr) {
      if (error_.empty()) error_ = soname_ + " has no symbol " + name;
      return;
    }
    fn = reinterpret_cast<F*>(symbol);
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  std::string soname_;
  GModule* module_ = nullptr;
  std::string error_;
};

// A lazily bound function table, or why it could not be bound; each API keeps one in a
// function-local static so the library is loaded once, on first use.
template <class Api>
struct BoundApi {
  Api api{};
  std::string error;

  // The table, or nullptr with the reason in *why (when why is not null).
  const Api* Get(std::string* why) const {
    if (error.empty()) return &api;
    if (why != nullptr) *why = error;
    return nullptr;
  }
};

}  // namespace spc
