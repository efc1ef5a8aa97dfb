// Test helper: a child process whose stdout and stderr are read line by line (lines end at '\n' or
// '\r', so progress lines that overwrite themselves count too), with waits on its output.
#pragma once

#include <glib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace bcastsrc_test {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // argv[0] is the program path. The environment is the test's.
  bool Start(const std::vector<std::string>& argv, std::string* error);
  // Waits until `done(lines)` is true (checked on every new line and at the start), the output
  // closes or the timeout passes. Returns whether `done` became true.
  bool WaitUntil(const std::function<bool(const std::vector<std::string>&)>& done,
                 std::chrono::milliseconds timeout);
  // The first line starting with `prefix`, waiting up to `timeout`.
  std::optional<std::string> WaitForLine(const std::string& prefix,
                                         std::chrono::milliseconds timeout);
  std::vector<std::string> Lines();
  // Sends `signal`, waits for the exit (SIGKILL after the timeout); returns the wait status, or -1.
  int Stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool running() const { return pid_ != 0 && !reaped_; }

 private:
  void ReadLoop(int fd);
  int WaitExit(std::chrono::milliseconds timeout);

  GPid pid_ = 0;
  bool reaped_ = false;
  int status_ = 0;
  std::vector<std::thread> readers_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  int open_streams_ = 0;
};

// A scratch directory removed with its files at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace bcastsrc_test
