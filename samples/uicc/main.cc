// bcast-uicc: a virtual USIM for the Smartcard Profile. It connects to the vpcd reader driver
// that pcscd loads (vsmartcard's protocol: every message a 2-byte big-endian length and the
// payload; one-byte control messages 00 power off, 01 power on, 02 reset, 04 get ATR, anything
// longer a command APDU answered with the response APDU), so a terminal talks to it through
// plain PC/SC. Connecting is inserting the card, disconnecting is removing it.
//
//   bcast-uicc --state card.ini --init --k HEX (--opc HEX | --op HEX) [--sqn HEX]
//              [--impi IMPI --subscriber-file subscribers.ini]   (adds the BSF's entry)
//   bcast-uicc --state card.ini [--host 127.0.0.1] [--port 35963] [--connect-timeout S] [--t0]
//
// SIGUSR1 removes the card (closes the connection), SIGUSR2 inserts it again, SIGTERM/SIGINT end
// the program. Events go to standard output, one line each, never with key bytes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "samples/uicc/card.h"
#include "spc/libspc/crypto.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/smartcard/milenage.h"

namespace {

// A T=1 card with no historical bytes: TS 3B, T0 80, TD1 80, TD2 01, TCK 01.
constexpr std::uint8_t kAtrT1[] = {0x3B, 0x80, 0x80, 0x01, 0x01};
// --t0: a T=0 card (no interface bytes), like most real USIMs: responses with data come as
// 61 xx and are fetched with GET RESPONSE.
constexpr std::uint8_t kAtrT0[] = {0x3B, 0x00};

int g_signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  const std::uint8_t b = static_cast<std::uint8_t>(sig);
  [[maybe_unused]] ssize_t n = write(g_signal_pipe[1], &b, 1);
}

void Say(const std::string& line) {
  std::printf("bcast-uicc: %s\n", line.c_str());
  std::fflush(stdout);
}

int Usage() {
  std::fprintf(
      stderr,
      "usage: bcast-uicc --state FILE [--init --k HEX (--opc HEX | --op HEX) [--sqn HEX]\n"
      "                  [--impi IMPI --subscriber-file FILE]]\n"
      "                  [--init-only] [--host ADDR] [--port PORT] [--connect-timeout S] [--t0]\n");
  return 64;
}

bool ReadFull(int fd, std::uint8_t* buf, std::size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, buf, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool SendMessage(int fd, std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> out;
  out.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  std::size_t off = 0;
  while (off < out.size()) {
    ssize_t w = send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    off += static_cast<std::size_t>(w);
  }
  return true;
}

// Waits up to `ms` for a signal byte; returns it (0 when none came).
int WaitSignal(int ms) {
  pollfd p{g_signal_pipe[0], POLLIN, 0};
  if (poll(&p, 1, ms) > 0) {
    std::uint8_t b = 0;
    if (read(g_signal_pipe[0], &b, 1) == 1) return b;
  }
  return 0;
}

enum class Stop { kTerminate, kRemove, kReaderGone };

// Connects, retrying while the reader is not listening yet (pcscd still starting). -1 on timeout
// or termination.
int Connect(const std::string& host, int port, double timeout_s, bool& terminated) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "bcast-uicc: --host must be an IPv4 address\n");
    return -1;
  }
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    close(fd);
    if (std::chrono::steady_clock::now() >= deadline) {
      std::fprintf(stderr, "bcast-uicc: no vpcd reader at %s:%d\n", host.c_str(), port);
      return -1;
    }
    // Retry interval while the reader comes up; a termination signal ends the wait at once.
    const int sig = WaitSignal(100);
    if (sig == SIGTERM || sig == SIGINT) {
      terminated = true;
      return -1;
    }
  }
}

// T=0 response handling on top of the card logic.
struct T0State {
  bool enabled = false;
  std::vector<std::uint8_t> pending;  // response data waiting for GET RESPONSE
};

std::vector<std::uint8_t> T0Answer(std::span<const std::uint8_t> cmd, bcast::uicc::Card& card,
                                   T0State& t0, std::string& event) {
  auto sw_bytes = [](std::uint16_t sw) {
    return std::vector<std::uint8_t>{static_cast<std::uint8_t>(sw >> 8),
                                     static_cast<std::uint8_t>(sw)};
  };
  auto more = [](std::size_t n) {
    return std::vector<std::uint8_t>{0x61, static_cast<std::uint8_t>(n >= 256 ? 0 : n)};
  };
  if (cmd.size() >= 4 && cmd[1] == 0xC0) {
    if (t0.pending.empty()) {
      event = "GET RESPONSE without pending data";
      return sw_bytes(spc::smartcard::kSwConditionsNotSatisfied);
    }
    std::size_t le = cmd.size() >= 5 ? (cmd[4] == 0 ? 256 : cmd[4]) : 256;
    le = std::min(le, t0.pending.size());
    std::vector<std::uint8_t> out(t0.pending.begin(), t0.pending.begin() + le);
    t0.pending.erase(t0.pending.begin(), t0.pending.begin() + le);
    auto sw = t0.pending.empty() ? sw_bytes(spc::smartcard::kSwOk) : more(t0.pending.size());
    out.insert(out.end(), sw.begin(), sw.end());
    event = "GET RESPONSE";
    return out;
  }
  t0.pending.clear();
  std::vector<std::uint8_t> rsp = card.Process(cmd);
  event = card.last_event();
  if (rsp.size() <= 2) return rsp;
  // Data with 90 00: announce it; the terminal fetches it.
  t0.pending.assign(rsp.begin(), rsp.end() - 2);
  spc::Cleanse(rsp);
  return more(t0.pending.size());
}

Stop Serve(int fd, bcast::uicc::Card& card, T0State& t0) {
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {g_signal_pipe[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Stop::kReaderGone;
    }
    if (p[1].revents & POLLIN) {
      std::uint8_t sig = 0;
      if (read(g_signal_pipe[0], &sig, 1) == 1) {
        if (sig == SIGTERM || sig == SIGINT) return Stop::kTerminate;
        if (sig == SIGUSR1) return Stop::kRemove;
      }
      continue;
    }
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    std::uint8_t hdr[2];
    if (!ReadFull(fd, hdr, 2)) return Stop::kReaderGone;
    const std::size_t len = static_cast<std::size_t>(hdr[0] << 8 | hdr[1]);
    std::vector<std::uint8_t> msg(len);
    if (len > 0 && !ReadFull(fd, msg.data(), len)) return Stop::kReaderGone;
    if (len == 1) {
      switch (msg[0]) {
        case 0x00:
          Say("power off");
          break;
        case 0x01:
          Say("power on");
          break;
        case 0x02:
          Say("reset");
          break;
        case 0x04:
          if (!SendMessage(fd, t0.enabled ? std::span<const std::uint8_t>(kAtrT0)
                                          : std::span<const std::uint8_t>(kAtrT1))) {
            return Stop::kReaderGone;
          }
          break;
        default:
          Say("unknown control message " + std::to_string(msg[0]));
      }
      continue;
    }
    std::string event;
    std::vector<std::uint8_t> rsp;
    if (t0.enabled) {
      rsp = T0Answer(msg, card, t0, event);
    } else {
      rsp = card.Process(msg);
      event = card.last_event();
    }
    const std::uint16_t sw = static_cast<std::uint16_t>(rsp[rsp.size() - 2] << 8 | rsp.back());
    Say("apdu " + spc::smartcard::StatusWordName(sw) + ": " + event);
    if (!SendMessage(fd, rsp)) return Stop::kReaderGone;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string state_path, host = "127.0.0.1", k_hex, opc_hex, op_hex, sqn_hex = "000000000000";
  int port = 35963;
  double connect_timeout = 10;
  bool init = false, init_only = false;
  T0State t0;
  std::string impi, subscriber_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bcast-uicc: %s needs a value\n", a.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    if (a == "--state") {
      state_path = next();
    } else if (a == "--init") {
      init = true;
    } else if (a == "--init-only") {
      init = init_only = true;
    } else if (a == "--k") {
      k_hex = next();
    } else if (a == "--opc") {
      opc_hex = next();
    } else if (a == "--op") {
      op_hex = next();
    } else if (a == "--sqn") {
      sqn_hex = next();
    } else if (a == "--host") {
      host = next();
    } else if (a == "--port") {
      port = std::atoi(next().c_str());
    } else if (a == "--connect-timeout") {
      connect_timeout = std::atof(next().c_str());
    } else if (a == "--impi") {
      impi = next();
    } else if (a == "--subscriber-file") {
      subscriber_file = next();
    } else if (a == "--t0") {
      t0.enabled = true;
    } else {
      return Usage();
    }
  }
  if (state_path.empty() || port <= 0 || port > 65535) return Usage();

  bcast::uicc::CardState state;
  std::string error;
  if (init) {
    if (access(state_path.c_str(), F_OK) == 0) {
      std::fprintf(stderr, "bcast-uicc: %s exists; a card is initialised once\n",
                   state_path.c_str());
      return 73;
    }
    if (!spc::HexDecodeInto(k_hex, state.k) || !spc::HexDecodeInto(sqn_hex, state.sqn) ||
        (opc_hex.empty() == op_hex.empty())) {
      std::fprintf(stderr, "bcast-uicc: --init needs --k (32 hex digits), one of --opc/--op\n");
      return 64;
    }
    if (!opc_hex.empty()) {
      if (!spc::HexDecodeInto(opc_hex, state.opc)) return Usage();
    } else {
      std::array<std::uint8_t, 16> op{};
      if (!spc::HexDecodeInto(op_hex, op)) return Usage();
      state.opc = spc::smartcard::MilenageOpc(state.k, op);
    }
    if (!bcast::uicc::SaveCardState(state_path, state, error)) {
      std::fprintf(stderr, "bcast-uicc: %s\n", error.c_str());
      return 73;
    }
    if (!subscriber_file.empty()) {
      // The head-end's BSF subscriber database (spc::smartcard::Bsf::LoadSubscribers) gets the
      // same K/OPc, so a fresh card and its network side are made in one step.
      if (impi.empty()) {
        std::fprintf(stderr, "bcast-uicc: --subscriber-file needs --impi\n");
        return 64;
      }
      g_autoptr(GKeyFile) kf = g_key_file_new();
      g_key_file_load_from_file(kf, subscriber_file.c_str(), G_KEY_FILE_KEEP_COMMENTS, nullptr);
      g_key_file_set_string(kf, impi.c_str(), "k", spc::HexEncode(state.k).c_str());
      g_key_file_set_string(kf, impi.c_str(), "opc", spc::HexEncode(state.opc).c_str());
      g_key_file_set_uint64(kf, impi.c_str(), "sqn", 0);
      g_autoptr(GError) gerr = nullptr;
      if (!g_key_file_save_to_file(kf, subscriber_file.c_str(), &gerr)) {
        std::fprintf(stderr, "bcast-uicc: %s\n", gerr->message);
        return 73;
      }
      chmod(subscriber_file.c_str(), 0600);
    }
    Say("initialised " + state_path);
    if (init_only) return 0;
  } else if (!bcast::uicc::LoadCardState(state_path, state, error)) {
    std::fprintf(stderr, "bcast-uicc: %s: %s\n", state_path.c_str(), error.c_str());
    return 66;
  }
  bcast::uicc::Card card(std::move(state), state_path);

  if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return 71;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) sigaction(s, &sa, nullptr);

  for (;;) {
    bool terminated = false;
    int fd = Connect(host, port, connect_timeout, terminated);
    if (fd < 0) return terminated ? 0 : 69;
    Say("inserted (reader " + host + ":" + std::to_string(port) + ")");
    Stop stop = Serve(fd, card, t0);
    close(fd);
    Say("removed");
    if (stop == Stop::kTerminate) return 0;
    if (stop == Stop::kReaderGone) {
      std::fprintf(stderr, "bcast-uicc: the reader closed the connection\n");
      return 0;
    }
    // Removed by SIGUSR1: wait for SIGUSR2 (insert) or termination.
    for (;;) {
      const int sig = WaitSignal(-1);
      if (sig == SIGTERM || sig == SIGINT) return 0;
      if (sig == SIGUSR2) break;
    }
  }
}
