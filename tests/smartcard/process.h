// Test helper: a child process (pcscd, bcast-uicc) whose stdout+stderr are read line by line on a
// thread, with waits on its output and signals.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace smartcard_test {

class Process {
 public:
  Process() = default;
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool Start(const std::vector<std::string>& argv, std::string* error);
  // Waits for a line containing `needle` among the lines from index `from` on; returns its index.
  std::optional<std::size_t> WaitFor(const std::string& needle, std::chrono::milliseconds timeout,
                                     std::size_t from = 0);
  std::size_t LineCount();
  std::string Output();
  bool Signal(int sig);
  // Sends `sig`, waits for the exit (SIGKILL after `timeout`); the wait status, or -1.
  int Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool closed_ = false;
};

}  // namespace smartcard_test
