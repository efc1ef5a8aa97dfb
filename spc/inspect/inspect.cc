// What every bcast-inspect subcommand shares: arguments, input files and the error members.
#include "spc/inspect/inspect.h"

#include <glib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace spc::inspect {

bool ParseTime(const std::string& text, std::time_t& out) {
  if (text.empty() || text.size() > 12) return false;
  std::time_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

bool ReadInput(const std::string& path, std::string& contents, std::string& error) {
  if (path != "-") {
    g_autoptr(GError) gerror = nullptr;
    gchar* data = nullptr;
    gsize length = 0;
    if (!g_file_get_contents(path.c_str(), &data, &length, &gerror)) {
      error = gerror->message;
      return false;
    }
    contents.assign(data, length);
    g_free(data);
    return true;
  }
  contents.clear();
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) contents.append(buf, n);
  if (std::ferror(stdin)) {
    error = std::string("standard input: ") + std::strerror(errno);
    return false;
  }
  return true;
}

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::optional<int> ParseArguments(const std::vector<std::string>& args,
                                  std::initializer_list<ValueOption> options, const char* help,
                                  int (*usage)(const std::string& why),
                                  std::vector<std::string>& files) {
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a == "-" || !a.starts_with("-")) {
      files.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    bool matched = false;
    for (const ValueOption& o : options) {
      std::string prefix = std::string(o.name) + "=";
      if (a != o.name && !a.starts_with(prefix)) continue;
      if (a.starts_with(prefix)) {
        *o.value = a.substr(prefix.size());
      } else if (i + 1 < args.size()) {
        *o.value = args[++i];
      } else {
        return usage(std::string(o.name) + " needs a value");
      }
      matched = true;
      break;
    }
    if (matched) continue;
    if (a == "--help" || a == "-h") {
      std::fputs(help, stdout);
      return kExitOk;
    }
    return usage("unknown option " + a);
  }
  return std::nullopt;
}

void WriteError(JsonWriter& w, const std::string& message, const ParseError& e) {
  w.Member("error", message).Member("field", e.field).Member("offset", e.offset);
}

int WriteMalformed(JsonWriter& w, const ParseError& e) {
  WriteError(w, e.message, e);
  return kExitMalformed;
}

int ForEachInput(
    const std::vector<std::string>& files,
    const std::function<int(JsonWriter& w, std::span<const std::uint8_t> message)>& message) {
  int status = kExitOk;
  for (const std::string& file : files) {
    JsonWriter w;
    w.BeginObject().Member("file", file == "-" ? std::string("<stdin>") : file);
    std::string bytes;
    std::string read_error;
    if (!ReadInput(file, bytes, read_error)) {
      w.Member("error", read_error).Member("field", "").Member("offset", 0).EndObject();
      std::puts(w.str().c_str());
      if (status == kExitOk) status = kExitIoError;
      continue;
    }
    if (message(w, Bytes(bytes)) == kExitMalformed) status = kExitMalformed;
    w.EndObject();
    std::puts(w.str().c_str());
  }
  std::fflush(stdout);
  return status;
}

}  // namespace spc::inspect
