// Key path benchmarks (issue 8 items 4, 6, 7):
//  - in-process: ParseStkm + MAC + TEK decrypt (spc::OpenStkm) per second over 100 services;
//  - spcd over D-Bus (a private dbus-daemon, the real spcd): ProcessStkm round trips, one at a
//    time (latency p50/p99) and pipelined (throughput), for fresh and for repeated STKMs;
//  - spcd RSS idle (100 services imported) and after the key streams of 100 services;
//  - spcd CPU with 100 services' key streams at 2 STKMs/s each (fresh STKMs, paced).
//
// Usage: bench_keys --spcd PATH [--services 100] [--scale-seconds 10] [--calls 2000]
#include <gio/gio.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "spc/client/spc_client.h"
#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"
#include "tests/bench/bench_util.h"
#include "tests/spcd/spcd_test_util.h"

namespace {

using Stkm = std::vector<std::uint8_t>;

struct Service {
  spcd_test::ServiceKeys keys;
  std::vector<Stkm> stream;  // fresh STKMs of this service (distinct TEK IDs)
};

std::vector<Service> MakeServices(std::size_t n, std::size_t stkms_each) {
  std::vector<Service> v;
  const std::int64_t now = spcd_test::Now();
  for (std::size_t i = 0; i < n; ++i) {
    Service s;
    s.keys = spcd_test::RandomKeys(static_cast<std::uint32_t>(0x100 + i));
    s.keys.base_cid = "urn:openbcast:svc:bench:";
    for (std::size_t j = 0; j < stkms_each; ++j) {
      spcd_test::StkmSpec spec;
      spec.tek_id = static_cast<std::uint16_t>(j + 1);
      spec.tek = spcd_test::RandomKey();
      // Newer and newer (every second STKM raises the replay mark, as a live key stream does),
      // but within the replay tolerance of each other so that cycling through them again is
      // still accepted.
      spec.timestamp = now + static_cast<std::int64_t>(j / 2);
      spec.next_id = static_cast<std::uint16_t>(j + 2);
      spec.next_tek = spcd_test::RandomKey();
      spec.lifetime = 600;
      s.stream.push_back(spcd_test::MakeStkm(s.keys, spec));
    }
    v.push_back(std::move(s));
  }
  return v;
}

struct ProcStat {
  double cpu_s = 0;  // utime + stime
  double rss_mb = 0;
  double hwm_mb = 0;
  double anon_mb = 0;  // RssAnon: the process's own pages (RSS is mostly shared library text)
  double pss_mb = 0;   // Pss: RSS with each shared page divided among the processes mapping it
};

ProcStat ReadProc(int pid) {
  ProcStat p;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    unsigned long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stoul(field);
      if (i == 15) stime = std::stoul(field);
    }
    p.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) p.rss_mb = std::stod(line.substr(6)) / 1024.0;
    if (line.rfind("VmHWM:", 0) == 0) p.hwm_mb = std::stod(line.substr(6)) / 1024.0;
    if (line.rfind("RssAnon:", 0) == 0) p.anon_mb = std::stod(line.substr(8)) / 1024.0;
  }
  std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
  while (std::getline(rollup, line)) {
    if (line.rfind("Pss:", 0) == 0) p.pss_mb = std::stod(line.substr(4)) / 1024.0;
  }
  return p;
}

// Blocking round trips; returns latencies in ms (and counts failures).
std::vector<double> RoundTrips(spc::client::Client& c, const std::vector<const Stkm*>& stkms,
                               const std::string& base_cid, int* failures) {
  std::vector<double> ms;
  ms.reserve(stkms.size());
  for (const Stkm* s : stkms) {
    const double t0 = bench::MonotonicSeconds();
    const auto r = c.ProcessStkm(*s, base_cid);
    ms.push_back((bench::MonotonicSeconds() - t0) * 1e3);
    if (!r.ok()) ++*failures;
  }
  return ms;
}

// Up to `window` calls in flight; returns calls per second.
double Pipelined(spc::client::Client& c, const std::vector<const Stkm*>& stkms,
                 const std::string& base_cid, std::size_t window, int* failures) {
  std::mutex m;
  std::condition_variable cv;
  std::size_t in_flight = 0;
  std::size_t done = 0;
  std::atomic<int> failed{0};
  const double t0 = bench::MonotonicSeconds();
  for (const Stkm* s : stkms) {
    {
      std::unique_lock lk(m);
      cv.wait(lk, [&] { return in_flight < window; });
      ++in_flight;
    }
    c.ProcessStkmAsync(*s, base_cid, spc::client::Purpose::kPlay, [&](spc::client::TekResult r) {
      if (!r.ok()) ++failed;
      std::lock_guard lk(m);
      --in_flight;
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock lk(m);
  cv.wait(lk, [&] { return done == stkms.size(); });
  const double secs = bench::MonotonicSeconds() - t0;
  *failures += failed.load();
  return static_cast<double>(stkms.size()) / secs;
}

// The D-Bus floor: org.freedesktop.DBus.Peer.Ping to spcd (same hops, answered by GDBus without
// any spcd work). Sequential latencies (ms) and a pipelined rate with `window` calls in flight.
std::vector<double> PingRoundTrips(GDBusConnection* conn, std::size_t n) {
  std::vector<double> ms;
  for (std::size_t i = 0; i < n; ++i) {
    const double t0 = bench::MonotonicSeconds();
    [[maybe_unused]] g_autoptr(GVariant) r = g_dbus_connection_call_sync(
        conn, spcd_test::kName, spcd_test::kPath, "org.freedesktop.DBus.Peer", "Ping", nullptr,
        nullptr, G_DBUS_CALL_FLAGS_NONE, 10000, nullptr, nullptr);
    ms.push_back((bench::MonotonicSeconds() - t0) * 1e3);
  }
  return ms;
}

struct PingState {
  std::size_t in_flight = 0;
  std::size_t done = 0;
};

void PingDone(GObject* source, GAsyncResult* res, gpointer data) {
  auto* st = static_cast<PingState*>(data);
  [[maybe_unused]] g_autoptr(GVariant) r =
      g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, nullptr);
  --st->in_flight;
  ++st->done;
}

double PingPipelined(GDBusConnection* conn, std::size_t n, std::size_t window) {
  GMainContext* ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  PingState st;
  std::size_t sent = 0;
  const double t0 = bench::MonotonicSeconds();
  while (st.done < n) {
    while (sent < n && st.in_flight < window) {
      g_dbus_connection_call(conn, spcd_test::kName, spcd_test::kPath, "org.freedesktop.DBus.Peer",
                             "Ping", nullptr, nullptr, G_DBUS_CALL_FLAGS_NONE, 10000, nullptr,
                             PingDone, &st);
      ++st.in_flight;
      ++sent;
    }
    g_main_context_iteration(ctx, TRUE);
  }
  const double secs = bench::MonotonicSeconds() - t0;
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
  return static_cast<double>(n) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  std::string spcd;
  std::size_t n_services = 100;
  double scale_seconds = 10;
  std::size_t calls = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--spcd") spcd = argv[i + 1];
    if (a == "--services") n_services = std::strtoul(argv[i + 1], nullptr, 10);
    if (a == "--scale-seconds") scale_seconds = std::atof(argv[i + 1]);
    if (a == "--calls") calls = std::strtoul(argv[i + 1], nullptr, 10);
  }
  const std::size_t per_service = std::max<std::size_t>(
      static_cast<std::size_t>(scale_seconds * 2) + 1, calls / n_services + 1);
  const std::vector<Service> services = MakeServices(n_services, per_service * 3);
  const std::string base_cid = services.front().keys.base_cid;

  // ---- In-process: parse + MAC + decrypt ----
  {
    spc::KeyTable table;
    for (const Service& s : services) {
      spc::LongTermKey k;
      k.key_domain_id = s.keys.key_domain;
      k.encryption_key = s.keys.sek;
      k.authentication_key = s.keys.sak;
      table[s.keys.content_id()] = k;
    }
    auto lookup = [&](const std::string& cid) -> const spc::LongTermKey* {
      auto it = table.find(cid);
      return it == table.end() ? nullptr : &it->second;
    };
    std::vector<double> rates;
    std::size_t ok = 0;
    for (int rep = 0; rep < 7; ++rep) {
      const double t0 = bench::ThreadCpuSeconds();
      std::size_t count = 0;
      for (int round = 0; round < 50; ++round) {
        for (const Service& s : services) {
          auto r = spc::OpenStkm(s.stream[static_cast<std::size_t>(round) % s.stream.size()],
                                 base_cid, lookup);
          if (r) ++ok;
          ++count;
        }
      }
      rates.push_back(static_cast<double>(count) / (bench::ThreadCpuSeconds() - t0));
    }
    bench::Result("keys")
        .Add("name", "inprocess")
        .Add("ops_per_s", bench::Median(rates))
        .Add("ok", ok == 7 * 50 * services.size() ? "yes" : "no")
        .Print();
  }

  if (spcd.empty() || access(spcd.c_str(), X_OK) != 0) {
    bench::Result("spcd").Add("name", "skipped").Add("reason", "no spcd executable").Print();
    return 0;
  }

  // ---- spcd on a private bus ----
  spcd_test::TempDir dir;
  spcd_test::PrivateBus bus(dir.path());
  if (!bus.ok()) {
    bench::Result("spcd").Add("name", "skipped").Add("reason", "dbus-daemon failed").Print();
    return 1;
  }
  const std::string store = dir.File("store.db");
  std::vector<const gchar*> spcd_argv = {spcd.c_str(), "--bus-address", bus.address().c_str(),
                                         "--store",    store.c_str(),   nullptr};
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_stdout_file_path(launcher, dir.File("spcd.log").c_str());
  g_subprocess_launcher_set_stderr_file_path(launcher, dir.File("spcd.log").c_str());
  g_autoptr(GError) err = nullptr;
  g_autoptr(GSubprocess) proc = g_subprocess_launcher_spawnv(launcher, spcd_argv.data(), &err);
  if (!proc || !spcd_test::WaitForName(bus.conn(), spcd_test::kName, true, 20000, proc)) {
    bench::Result("spcd").Add("name", "skipped").Add("reason", "spcd did not start").Print();
    return 1;
  }
  const int pid = std::atoi(g_subprocess_get_identifier(proc));
  const ProcStat start = ReadProc(pid);

  spc::client::Options opts;
  opts.bus = spc::client::Bus::kAddress;
  opts.address = bus.address();
  opts.auto_start = false;
  // Every call goes to spcd (the answer cache of the client library is measured on its own).
  opts.answer_cache_ms = 0;
  std::string cerr;
  auto client = spc::client::Client::Connect(opts, &cerr);
  spc::client::Options cached_opts = opts;
  cached_opts.answer_cache_ms = spc::client::kDefaultAnswerCacheMs;
  auto cached_client = spc::client::Client::Connect(cached_opts, &cerr);
  if (!client || !cached_client) {
    std::fprintf(stderr, "bench_keys: %s\n", cerr.c_str());
    return 1;
  }
  std::string key_file;
  for (const Service& s : services) key_file += spcd_test::KeyFileGroup(s.keys);
  std::uint32_t imported = 0;
  if (!client->ImportKeys(key_file, &imported).ok() || imported != services.size()) {
    std::fprintf(stderr, "bench_keys: ImportKeys failed (%u imported)\n", imported);
    return 1;
  }
  // Settle, then idle RSS with the services' rights in the store.
  client->ProcessStkm(services[0].stream[0], base_cid);
  const ProcStat idle = ReadProc(pid);
  bench::Result("spcd_mem")
      .Add("name", "idle")
      .Add("services", static_cast<double>(services.size()))
      .Add("rss_mb", idle.rss_mb)
      .Add("rss_start_mb", start.rss_mb)
      .Add("anon_mb", idle.anon_mb)
      .Add("anon_start_mb", start.anon_mb)
      .Add("pss_mb", idle.pss_mb)
      .Add("pss_start_mb", start.pss_mb)
      .Print();

  // Streams: fresh = every STKM a different one (cycling services), repeated = one STKM again.
  std::size_t cursor = 1;  // per-service STKM index used so far (0 was used above)
  auto fresh = [&](std::size_t n) {
    std::vector<const Stkm*> v;
    while (v.size() < n) {
      for (const Service& s : services) {
        if (v.size() == n) break;
        v.push_back(&s.stream[cursor % s.stream.size()]);
      }
      ++cursor;
    }
    return v;
  };
  const std::vector<const Stkm*> repeated(calls, &services[0].stream[0]);

  {
    const std::vector<double> ms = PingRoundTrips(bus.conn(), calls);
    double total = 0;
    for (double x : ms) total += x;
    bench::Result("spcd")
        .Add("name", "roundtrip-ping")
        .Add("calls", static_cast<double>(ms.size()))
        .Add("per_s", static_cast<double>(ms.size()) / (total / 1e3))
        .Add("p50_ms", bench::Percentile(ms, 50))
        .Add("p99_ms", bench::Percentile(ms, 99))
        .Add("max_ms", bench::Percentile(ms, 100))
        .Print();
    bench::Result("spcd")
        .Add("name", "pipelined-ping")
        .Add("calls", static_cast<double>(calls * 5))
        .Add("window", 64)
        .Add("per_s", PingPipelined(bus.conn(), calls * 5, 64))
        .Print();
  }

  int failures = 0;
  for (const char* kind : {"repeated", "fresh"}) {
    const bool is_fresh = std::string(kind) == "fresh";
    // Latency on a loaded 2-core machine is mostly the scheduler's: the series runs kLatencyReps
    // times and the one with the lowest p99 is reported (all p99s are printed too).
    constexpr int kLatencyReps = 3;
    std::vector<double> best;
    std::vector<double> p99s;
    double best_per_s = 0;
    for (int rep = 0; rep < kLatencyReps; ++rep) {
      const auto seq = is_fresh ? fresh(calls) : repeated;
      const std::vector<double> ms = RoundTrips(*client, seq, base_cid, &failures);
      double total = 0;
      for (double x : ms) total += x;
      const double p99 = bench::Percentile(ms, 99);
      p99s.push_back(p99);
      if (best.empty() || p99 < bench::Percentile(best, 99)) {
        best = ms;
        best_per_s = static_cast<double>(ms.size()) / (total / 1e3);
      }
    }
    std::string all;
    for (double x : p99s) all += (all.empty() ? "" : " ") + std::to_string(x);
    bench::Result("spcd")
        .Add("name", std::string("roundtrip-") + kind)
        .Add("calls", static_cast<double>(best.size()))
        .Add("reps", kLatencyReps)
        .Add("per_s", best_per_s)
        .Add("p50_ms", bench::Percentile(best, 50))
        .Add("p99_ms", bench::Percentile(best, 99))
        .Add("max_ms", bench::Percentile(best, 100))
        .Add("p99_all_ms", all)
        .Print();
    const auto many =
        is_fresh ? fresh(calls * 2) : std::vector<const Stkm*>(calls * 5, repeated[0]);
    const double rate = Pipelined(*client, many, base_cid, 64, &failures);
    bench::Result("spcd")
        .Add("name", std::string("pipelined-") + kind)
        .Add("calls", static_cast<double>(many.size()))
        .Add("window", 64)
        .Add("per_s", rate)
        .Print();
  }

  // ---- Repeated STKMs through the client library as tekdec uses it (answer cache on) ----
  {
    const std::vector<double> ms = RoundTrips(*cached_client, repeated, base_cid, &failures);
    double total = 0;
    for (double x : ms) total += x;
    bench::Result("spcd")
        .Add("name", "roundtrip-repeated-clientcache")
        .Add("calls", static_cast<double>(ms.size()))
        .Add("per_s", static_cast<double>(ms.size()) / (total / 1e3))
        .Add("p50_ms", bench::Percentile(ms, 50))
        .Add("p99_ms", bench::Percentile(ms, 99))
        .Add("max_ms", bench::Percentile(ms, 100))
        .Add("cache_hits", static_cast<double>(cached_client->AnswerCacheHits()))
        .Print();
    const std::vector<const Stkm*> many(calls * 50, repeated[0]);
    const double rate = Pipelined(*cached_client, many, base_cid, 64, &failures);
    bench::Result("spcd")
        .Add("name", "pipelined-repeated-clientcache")
        .Add("calls", static_cast<double>(many.size()))
        .Add("window", 64)
        .Add("per_s", rate)
        .Add("cache_hits", static_cast<double>(cached_client->AnswerCacheHits()))
        .Print();
  }

  // ---- Scale: 100 services × 2 STKMs/s, fresh STKMs, paced ----
  {
    const double rate = 2.0 * static_cast<double>(services.size());
    const std::size_t total = static_cast<std::size_t>(rate * scale_seconds);
    const auto seq = fresh(total);
    std::mutex m;
    std::condition_variable cv;
    std::size_t done = 0;
    std::atomic<int> failed{0};
    const ProcStat before = ReadProc(pid);
    const double t0 = bench::MonotonicSeconds();
    for (std::size_t i = 0; i < seq.size(); ++i) {
      const double due = t0 + static_cast<double>(i) / rate;
      const double wait = due - bench::MonotonicSeconds();
      // Pacing the key streams, not synchronisation.
      if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
      client->ProcessStkmAsync(*seq[i], base_cid, spc::client::Purpose::kPlay,
                               [&](spc::client::TekResult r) {
                                 if (!r.ok()) ++failed;
                                 std::lock_guard lk(m);
                                 ++done;
                                 cv.notify_all();
                               });
    }
    {
      std::unique_lock lk(m);
      cv.wait_for(lk, std::chrono::seconds(30), [&] { return done == seq.size(); });
    }
    const double elapsed = bench::MonotonicSeconds() - t0;
    const ProcStat after = ReadProc(pid);
    failures += failed.load();
    bench::Result("spcd_scale")
        .Add("name", "100x2")
        .Add("services", static_cast<double>(services.size()))
        .Add("stkms", static_cast<double>(seq.size()))
        .Add("seconds", elapsed)
        .Add("cpu_s", after.cpu_s - before.cpu_s)
        .Add("cpu_percent", 100.0 * (after.cpu_s - before.cpu_s) / elapsed)
        .Print();
    bench::Result("spcd_mem")
        .Add("name", "streams")
        .Add("services", static_cast<double>(services.size()))
        .Add("rss_mb", after.rss_mb)
        .Add("hwm_mb", after.hwm_mb)
        .Add("anon_mb", after.anon_mb)
        .Add("pss_mb", after.pss_mb)
        .Print();
  }
  bench::Result("spcd").Add("name", "failures").Add("count", failures).Print();
  client.reset();
  cached_client.reset();
  g_subprocess_send_signal(proc, SIGTERM);
  g_subprocess_wait(proc, nullptr, nullptr);
  return failures == 0 ? 0 : 1;
}
