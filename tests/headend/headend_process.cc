#include "tests/headend/headend_process.h"

#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace headend_test {

UdpReceiver::UdpReceiver() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd_ < 0) throw std::runtime_error("socket");
  // Bursts of an IDR frame plus STKMs must not overflow while the test is busy decrypting.
  int size = 4 << 20;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("bind");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
}

UdpReceiver::~UdpReceiver() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<std::uint8_t> UdpReceiver::Read() {
  std::vector<std::uint8_t> buf(65536);
  ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
  buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return buf;
}

std::string HeadendPath() {
  const char* p = std::getenv("BCAST_HEADEND");
  return p != nullptr ? p : "bcast-headend";
}

std::string SampleMedia() {
  const char* p = std::getenv("OPENBCAST_SAMPLE_MEDIA");
  return p != nullptr ? p : "";
}

HeadendProcess::~HeadendProcess() {
  if (pid_ != 0 && !reaped_) Stop(std::chrono::seconds(5));
  if (reader_.joinable()) reader_.join();
}

bool HeadendProcess::Start(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> argv_s{HeadendPath()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  gint out_fd = -1;
  GError* err = nullptr;
  if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD, nullptr,
                                nullptr, &pid_, nullptr, &out_fd, nullptr, &err)) {
    *error = err->message;
    g_clear_error(&err);
    return false;
  }
  reader_ = std::thread([this, out_fd] { ReadLoop(out_fd); });
  return true;
}

void HeadendProcess::ReadLoop(int fd) {
  std::string partial;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      std::lock_guard lock(mutex_);
      lines_.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
      cv_.notify_all();
    }
  }
  ::close(fd);
  std::lock_guard lock(mutex_);
  eof_ = true;
  cv_.notify_all();
}

std::optional<std::string> HeadendProcess::WaitForLine(const std::string& prefix,
                                                       std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    for (; consumed_ < lines_.size(); ++consumed_) {
      if (lines_[consumed_].rfind(prefix, 0) == 0) return lines_[consumed_++];
    }
    if (eof_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; consumed_ < lines_.size(); ++consumed_) {
        if (lines_[consumed_].rfind(prefix, 0) == 0) return lines_[consumed_++];
      }
      return std::nullopt;
    }
  }
}

std::vector<std::string> HeadendProcess::Lines() {
  std::lock_guard lock(mutex_);
  return lines_;
}

int HeadendProcess::Wait(std::chrono::milliseconds timeout) {
  if (reaped_) return status_;
  {
    // The child's stdout closes when it exits: wait for that event, then reap.
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [this] { return eof_; })) return -1;
  }
  if (reader_.joinable()) reader_.join();
  ::waitpid(pid_, &status_, 0);
  g_spawn_close_pid(pid_);
  reaped_ = true;
  return status_;
}

int HeadendProcess::Stop(std::chrono::milliseconds timeout) {
  if (reaped_) return status_;
  ::kill(pid_, SIGTERM);
  int status = Wait(timeout);
  if (status == -1) {
    ::kill(pid_, SIGKILL);
    status = Wait(std::chrono::seconds(10));
  }
  return status;
}

TempDir::TempDir() {
  GError* err = nullptr;
  gchar* dir = g_dir_make_tmp("headend-test-XXXXXX", &err);
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

int RunToCompletion(const std::vector<std::string>& args, std::string* out, std::string* err) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  gchar* o = nullptr;
  gchar* e = nullptr;
  gint status = -1;
  GError* error = nullptr;
  if (!g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_DEFAULT, nullptr, nullptr, &o, &e,
                    &status, &error)) {
    if (err != nullptr) *err = error->message;
    g_clear_error(&error);
    return -1;
  }
  if (out != nullptr) *out = o != nullptr ? o : "";
  if (err != nullptr) *err = e != nullptr ? e : "";
  g_free(o);
  g_free(e);
  return status;
}

}  // namespace headend_test
