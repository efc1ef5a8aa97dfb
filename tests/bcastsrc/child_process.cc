#include "tests/bcastsrc/child_process.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

namespace bcastsrc_test {

ChildProcess::~ChildProcess() {
  if (running()) Stop(SIGKILL, std::chrono::seconds(5));
  for (auto& t : readers_) {
    if (t.joinable()) t.join();
  }
}

bool ChildProcess::Start(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  gint out_fd = -1;
  gint err_fd = -1;
  GError* err = nullptr;
  if (!g_spawn_async_with_pipes(
          nullptr, argv.data(), nullptr,
          static_cast<GSpawnFlags>(G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH), nullptr,
          nullptr, &pid_, nullptr, &out_fd, &err_fd, &err)) {
    *error = err->message;
    g_clear_error(&err);
    pid_ = 0;
    return false;
  }
  open_streams_ = 2;
  readers_.emplace_back([this, out_fd] { ReadLoop(out_fd); });
  readers_.emplace_back([this, err_fd] { ReadLoop(err_fd); });
  return true;
}

void ChildProcess::ReadLoop(int fd) {
  std::string partial;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t end;
    while ((end = partial.find_first_of("\r\n")) != std::string::npos) {
      std::string line = partial.substr(0, end);
      partial.erase(0, end + 1);
      if (line.empty()) continue;
      std::lock_guard lock(mutex_);
      lines_.push_back(std::move(line));
      cv_.notify_all();
    }
  }
  ::close(fd);
  std::lock_guard lock(mutex_);
  if (!partial.empty()) lines_.push_back(partial);
  --open_streams_;
  cv_.notify_all();
}

bool ChildProcess::WaitUntil(const std::function<bool(const std::vector<std::string>&)>& done,
                             std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done(lines_)) return true;
    if (open_streams_ == 0) return false;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return done(lines_);
  }
}

std::optional<std::string> ChildProcess::WaitForLine(const std::string& prefix,
                                                     std::chrono::milliseconds timeout) {
  std::optional<std::string> found;
  WaitUntil(
      [&](const std::vector<std::string>& lines) {
        for (const auto& l : lines) {
          if (l.rfind(prefix, 0) == 0) {
            found = l;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

std::vector<std::string> ChildProcess::Lines() {
  std::lock_guard lock(mutex_);
  return lines_;
}

int ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  {
    // The child's stdout and stderr close when it exits: wait for that event, then reap.
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [this] { return open_streams_ == 0; })) return -1;
  }
  int status = 0;
  if (::waitpid(pid_, &status, 0) != pid_) return -1;
  status_ = status;
  reaped_ = true;
  g_spawn_close_pid(pid_);
  return status;
}

int ChildProcess::Stop(int signal, std::chrono::milliseconds timeout) {
  if (!running()) return status_;
  ::kill(pid_, signal);
  int status = WaitExit(timeout);
  if (status == -1 && !reaped_) {
    ::kill(pid_, SIGKILL);
    status = WaitExit(std::chrono::seconds(10));
  }
  for (auto& t : readers_) {
    if (t.joinable()) t.join();
  }
  readers_.clear();
  return status;
}

TempDir::TempDir() {
  GError* err = nullptr;
  gchar* dir = g_dir_make_tmp("bcastsrc-test-XXXXXX", &err);
  if (dir == nullptr) throw std::runtime_error(err->message);
  path_ = dir;
  g_free(dir);
}

TempDir::~TempDir() {
  if (GDir* dir = g_dir_open(path_.c_str(), 0, nullptr)) {
    while (const gchar* name = g_dir_read_name(dir)) g_unlink(File(name).c_str());
    g_dir_close(dir);
  }
  g_rmdir(path_.c_str());
}

}  // namespace bcastsrc_test
