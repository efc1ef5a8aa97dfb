#include "spcd_test_util.h"

#include <fcntl.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

namespace spcd_test {

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = g_getenv(name);
  return v && *v ? v : fallback;
}

TempDir::TempDir() {
  g_autofree gchar* p = g_dir_make_tmp("spcd-test-XXXXXX", nullptr);
  path_ = p ? p : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

PrivateBus::PrivateBus(const std::string& dir, const std::string& include) {
  std::string conf = dir + "/bus.conf";
  std::ofstream f(conf);
  f << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
       " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
       "<busconfig>\n  <type>session</type>\n"
    << "  <listen>unix:dir=" << dir << "</listen>\n"
    << "  <auth>EXTERNAL</auth>\n"
       "  <policy context=\"default\">\n"
       "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
       "    <allow eavesdrop=\"true\"/>\n"
       "    <allow own=\"*\"/>\n"
       "    <allow user=\"*\"/>\n"
       "  </policy>\n";
  if (!include.empty()) f << "  <include>" << include << "</include>\n";
  f << "</busconfig>\n";
  f.close();
  g_autoptr(GError) err = nullptr;
  std::string arg = "--config-file=" + conf;
  proc_ = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err, "dbus-daemon", arg.c_str(),
                           "--print-address=1", "--nofork", nullptr);
  if (!proc_) {
    g_printerr("dbus-daemon: %s\n", err->message);
    return;
  }
  g_autoptr(GDataInputStream) in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc_));
  // dbus-daemon prints its address once it listens: the event we wait for.
  g_autofree gchar* line = g_data_input_stream_read_line(in, nullptr, nullptr, &err);
  if (!line) {
    g_printerr("dbus-daemon printed no address\n");
    return;
  }
  address_ = line;
  conn_ = NewConnection();
}

GDBusConnection* PrivateBus::NewConnection() const {
  g_autoptr(GError) err = nullptr;
  GDBusConnection* c = g_dbus_connection_new_for_address_sync(
      address_.c_str(),
      static_cast<GDBusConnectionFlags>(G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION),
      nullptr, nullptr, &err);
  if (!c) g_printerr("connect %s: %s\n", address_.c_str(), err->message);
  if (c) g_dbus_connection_set_exit_on_close(c, FALSE);
  return c;
}

PrivateBus::~PrivateBus() {
  if (conn_) {
    g_dbus_connection_close_sync(conn_, nullptr, nullptr);
    g_object_unref(conn_);
  }
  if (proc_) {
    g_subprocess_send_signal(proc_, SIGTERM);
    g_subprocess_wait(proc_, nullptr, nullptr);
    g_object_unref(proc_);
  }
}

namespace {

struct WaitState {
  std::optional<bool> owned;
  bool exited = false;
  bool timed_out = false;
};

}  // namespace

bool WaitForName(GDBusConnection* conn, const char* name, bool owned, int timeout_ms,
                 GSubprocess* proc) {
  GMainContext* ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  WaitState st;
  guint watch = g_bus_watch_name_on_connection(
      conn, name, G_BUS_NAME_WATCHER_FLAGS_NONE,
      [](GDBusConnection*, const gchar*, const gchar*, gpointer p) {
        static_cast<WaitState*>(p)->owned = true;
      },
      [](GDBusConnection*, const gchar*, gpointer p) { static_cast<WaitState*>(p)->owned = false; },
      &st, nullptr);
  GCancellable* cancel = g_cancellable_new();
  if (proc) {
    g_subprocess_wait_async(
        proc, cancel,
        [](GObject*, GAsyncResult*, gpointer p) { static_cast<WaitState*>(p)->exited = true; },
        &st);
  }
  GSource* timeout = g_timeout_source_new(timeout_ms);
  g_source_set_callback(
      timeout,
      [](gpointer p) {
        static_cast<WaitState*>(p)->timed_out = true;
        return G_SOURCE_REMOVE;
      },
      &st, nullptr);
  g_source_attach(timeout, ctx);
  while (!st.timed_out && !(st.owned.has_value() && *st.owned == owned) &&
         !(proc && st.exited && owned)) {
    g_main_context_iteration(ctx, TRUE);
  }
  bool ok = st.owned.has_value() && *st.owned == owned;
  g_source_destroy(timeout);
  g_source_unref(timeout);
  g_bus_unwatch_name(watch);
  g_cancellable_cancel(cancel);
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  g_object_unref(cancel);
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
  return ok;
}

int WaitForExit(GSubprocess* proc, int timeout_ms) {
  GMainContext* ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  WaitState st;
  GCancellable* cancel = g_cancellable_new();
  g_subprocess_wait_async(
      proc, cancel,
      [](GObject*, GAsyncResult*, gpointer p) { static_cast<WaitState*>(p)->exited = true; }, &st);
  GSource* timeout = g_timeout_source_new(timeout_ms);
  g_source_set_callback(
      timeout,
      [](gpointer p) {
        static_cast<WaitState*>(p)->timed_out = true;
        return G_SOURCE_REMOVE;
      },
      &st, nullptr);
  g_source_attach(timeout, ctx);
  while (!st.exited && !st.timed_out) g_main_context_iteration(ctx, TRUE);
  g_source_destroy(timeout);
  g_source_unref(timeout);
  g_cancellable_cancel(cancel);
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  g_object_unref(cancel);
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
  if (!st.exited) return -1;
  return g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : 128;
}

Spcd::Spcd(const PrivateBus& bus, std::string store, std::string log, std::vector<std::string> args)
    : bus_(bus), store_(std::move(store)), log_(std::move(log)), args_(std::move(args)) {}

Spcd::~Spcd() {
  if (proc_) {
    Kill();
  }
}

bool Spcd::Start() {
  if (proc_) Kill();
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_setenv(l, "G_MESSAGES_DEBUG", "all", TRUE);
  // Append: a restarted spcd keeps writing the same log, all of which the key-leak check reads.
  g_autoptr(GError) err = nullptr;
  std::vector<std::string> argv = {SpcdPath(), "--bus-address", bus_.address(), "--store", store_};
  argv.insert(argv.end(), args_.begin(), args_.end());
  std::vector<const gchar*> cargv;
  for (auto& a : argv) cargv.push_back(a.c_str());
  cargv.push_back(nullptr);
  int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  g_subprocess_launcher_take_stdout_fd(l, fd);
  proc_ = g_subprocess_launcher_spawnv(l, cargv.data(), &err);
  if (!proc_) {
    g_printerr("spawn spcd: %s\n", err->message);
    return false;
  }
  if (!WaitForName(bus_.conn(), kName, true, 20000, proc_)) {
    g_printerr("spcd did not take %s; log:\n%s\n", kName, ReadFileOrEmpty(log_).c_str());
    return false;
  }
  return true;
}

void Spcd::Kill() {
  if (!proc_) return;
  g_subprocess_force_exit(proc_);
  WaitForExit(proc_, 20000);
  // The bus notices the closed socket; wait until the name is free for the next spcd.
  WaitForName(bus_.conn(), kName, false, 20000);
  g_clear_object(&proc_);
}

bool Spcd::Stop() {
  if (!proc_) return true;
  g_subprocess_send_signal(proc_, SIGTERM);
  int status = WaitForExit(proc_, 20000);
  WaitForName(bus_.conn(), kName, false, 20000);
  g_clear_object(&proc_);
  return status == 0;
}

spc::Key128 RandomKey() {
  spc::Key128 k{};
  RAND_bytes(k.data(), static_cast<int>(k.size()));
  return k;
}

ServiceKeys RandomKeys(std::uint32_t extension, bool programme) {
  ServiceKeys k;
  k.sek = RandomKey();
  k.sak = RandomKey();
  k.extension = extension;
  k.programme = programme;
  return k;
}

std::string Hex(std::span<const std::uint8_t> b) { return spc::HexEncode(b); }

std::string HexUpper(std::span<const std::uint8_t> b) {
  std::string s = Hex(b);
  for (char& c : s) c = static_cast<char>(g_ascii_toupper(c));
  return s;
}

std::string KeyFileGroup(const ServiceKeys& k, const std::vector<std::string>& extra) {
  char domain[16];
  g_snprintf(domain, sizeof domain, "%06x", k.key_domain);
  std::string s = "[" + k.content_id() + "]\nkey-domain=" + domain + "\n";
  s += std::string(k.programme ? "pek=" : "sek=") + Hex(k.sek) + "\n";
  s += std::string(k.programme ? "pak=" : "sak=") + Hex(k.sak) + "\n";
  for (const auto& e : extra) s += e + "\n";
  return s;
}

std::vector<std::uint8_t> MakeStkm(const ServiceKeys& k, const StkmSpec& spec,
                                   const spc::Key128* mac_key) {
  spc::Stkm s;
  s.protection_after_reception = spec.protection_after_reception;
  s.traffic_protection_protocol = spec.protocol;
  s.traffic_authentication_flag = true;
  s.programme_flag = k.programme;
  s.service_flag = !k.programme;
  s.key_domain_id = k.key_domain;
  (k.programme ? s.programme_CID_extension : s.service_CID_extension) = k.extension;
  s.traffic_key_id = spec.tek_id;
  s.traffic_key_lifetime = spec.lifetime;
  if (spec.timestamp) {
    s.timestamp_flag = true;
    s.timestamp = static_cast<std::uint64_t>(*spec.timestamp);
  }
  if (spec.salt) {
    s.master_salt_flag = true;
    s.master_salt = *spec.salt;
  }
  s.encrypted_traffic_key_material = spc::EncryptTrafficKey(k.sek, spec.tek);
  if (spec.next_id) {
    s.next_traffic_key_flag = true;
    s.next_traffic_key_id = *spec.next_id;
    s.next_encrypted_traffic_key_material = spc::EncryptTrafficKey(k.sek, spec.next_tek);
    if (spec.salt) s.next_master_salt = *spec.salt;
  }
  if (spec.parental_rating) {
    s.access_criteria_flag = true;
    s.access_criteria.push_back({spc::kAccessCriteriaParentalRating, {*spec.parental_rating}});
  }
  return spc::WriteStkm(s, mac_key ? *mac_key : k.sak);
}

std::int64_t Now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int RunCommand(const std::vector<std::string>& argv, std::string* output,
               const std::vector<std::pair<std::string, std::string>>& env) {
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(static_cast<GSubprocessFlags>(
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE));
  for (const auto& [k, v] : env) g_subprocess_launcher_setenv(l, k.c_str(), v.c_str(), TRUE);
  std::vector<const gchar*> cargv;
  for (auto& a : argv) cargv.push_back(a.c_str());
  cargv.push_back(nullptr);
  g_autoptr(GError) err = nullptr;
  g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, cargv.data(), &err);
  if (!p) {
    if (output) *output = err->message;
    return -1;
  }
  g_autoptr(GBytes) out = nullptr;
  if (!g_subprocess_communicate(p, nullptr, nullptr, &out, nullptr, &err)) return -1;
  if (output) {
    gsize n = 0;
    const char* d = out ? static_cast<const char*>(g_bytes_get_data(out, &n)) : nullptr;
    output->assign(d ? d : "", n);
  }
  return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : 128;
}

}  // namespace spcd_test
