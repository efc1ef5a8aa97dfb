// Test helpers: bcast-headend as a real child process (stdout events read line by line) and UDP
// receivers on loopback ports chosen by the kernel.
#pragma once

#include <glib.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace headend_test {

using Clock = std::chrono::steady_clock;

// A bound UDP socket on 127.0.0.1 with an ephemeral port.
class UdpReceiver {
 public:
  UdpReceiver();
  ~UdpReceiver();
  UdpReceiver(const UdpReceiver&) = delete;
  UdpReceiver& operator=(const UdpReceiver&) = delete;
  std::uint16_t port() const { return port_; }
  int fd() const { return fd_; }
  std::vector<std::uint8_t> Read();  // one datagram (call when poll says readable)

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

struct Datagram {
  int source = 0;  // index into the receivers given to ReceiveUntil
  std::vector<std::uint8_t> bytes;
};

// Polls `receivers` and hands each datagram to `on_datagram` until it returns true (done) or the
// deadline passes. Returns whether it finished before the deadline.
template <class F>
bool ReceiveUntil(const std::vector<UdpReceiver*>& receivers, Clock::time_point deadline,
                  F&& on_datagram) {
  std::vector<pollfd> fds;
  for (auto* r : receivers) fds.push_back(pollfd{r->fd(), POLLIN, 0});
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(left));
    if (n < 0) return false;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      Datagram d{static_cast<int>(i), receivers[i]->Read()};
      if (on_datagram(d)) return true;
    }
  }
}

class HeadendProcess {
 public:
  HeadendProcess() = default;
  ~HeadendProcess();
  HeadendProcess(const HeadendProcess&) = delete;
  HeadendProcess& operator=(const HeadendProcess&) = delete;

  // Starts $BCAST_HEADEND with args; stderr goes to the test's stderr.
  bool Start(const std::vector<std::string>& args, std::string* error);
  // The first line (not yet consumed) starting with `prefix`, waiting up to `timeout`.
  std::optional<std::string> WaitForLine(const std::string& prefix,
                                         std::chrono::milliseconds timeout);
  // Every line read so far.
  std::vector<std::string> Lines();
  // SIGTERM, then waits for exit (SIGKILL after the timeout). Returns the wait status.
  int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Waits for the process to exit by itself; -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);

 private:
  void ReadLoop(int fd);
  GPid pid_ = 0;
  bool reaped_ = false;
  int status_ = 0;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::size_t consumed_ = 0;
  bool eof_ = false;
};

std::string HeadendPath();
std::string SampleMedia();
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

// Runs a program to completion (no stdin), returns the exit status; stdout/stderr captured.
int RunToCompletion(const std::vector<std::string>& argv, std::string* out, std::string* err);

}  // namespace headend_test
