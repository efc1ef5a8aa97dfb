#include "tests/smartcard/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace smartcard_test {

Process::~Process() {
  if (pid_ > 0) Stop(SIGTERM);
  if (reader_.joinable()) reader_.join();
}

bool Process::Start(const std::vector<std::string>& argv, std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::strerror(errno);
    return false;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    *error = std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    // A test that dies must not leave pcscd (it owns /run/pcscd) or a card behind.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  pid_ = pid;
  reader_ = std::thread([this, fd = fds[0]] {
    std::string partial;
    char buf[4096];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard<std::mutex> lock(mutex_);
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] == '\n') {
          lines_.push_back(partial);
          partial.clear();
        } else {
          partial.push_back(buf[i]);
        }
      }
      cv_.notify_all();
    }
    close(fd);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!partial.empty()) lines_.push_back(partial);
    closed_ = true;
    cv_.notify_all();
  });
  return true;
}

std::optional<std::size_t> Process::WaitFor(const std::string& needle,
                                            std::chrono::milliseconds timeout, std::size_t from) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::optional<std::size_t> found;
  cv_.wait_for(lock, timeout, [&] {
    for (std::size_t i = from; i < lines_.size(); ++i) {
      if (lines_[i].find(needle) != std::string::npos) {
        found = i;
        return true;
      }
    }
    return closed_;
  });
  return found;
}

std::size_t Process::LineCount() {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_.size();
}

std::string Process::Output() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& l : lines_) out += l + "\n";
  return out;
}

bool Process::Signal(int sig) { return pid_ > 0 && kill(pid_, sig) == 0; }

int Process::Stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  // pidfd: the exit is an event poll() can wait for with a timeout.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  kill(pid_, sig);
  int status = 0;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) kill(pid_, SIGKILL);
    close(pidfd);
  }
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  return status;
}

}  // namespace smartcard_test
