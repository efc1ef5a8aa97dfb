// spcd's PC/SC side of the Smartcard Profile: a thread that follows a reader live (card inserted
// / removed, SCardGetStatusChange) and a worker thread that owns the connected card and runs the
// APDU exchanges, so that neither a blocking PC/SC call nor a slow card ever stalls spcd's main
// loop. Both hand their results back to the main loop's GMainContext.
#pragma once

#include <glib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "spc/libspc/smartcard/pcsc.h"

namespace spc::daemon {

// Runs `fn` on `context` unless `alive` was cleared meanwhile (the owner went away).
void InvokeOn(GMainContext* context, std::shared_ptr<std::atomic<bool>> alive,
              std::function<void()> fn);

class CardWatcher {
 public:
  // `reader_filter`: a substring of the reader name ("" = any reader). `on_change` runs on
  // `context` with (present, reader name).
  CardWatcher(std::string reader_filter, GMainContext* context,
              std::function<void(bool present, const std::string& reader)> on_change);
  // Stops the thread (SCardCancel) and waits for it; no callback runs afterwards.
  ~CardWatcher();
  CardWatcher(const CardWatcher&) = delete;
  CardWatcher& operator=(const CardWatcher&) = delete;

 private:
  void Run();
  bool Stopping();
  void Pause(std::chrono::milliseconds d);
  void Post(bool present, const std::string& reader);

  std::string filter_;
  GMainContext* context_;
  std::function<void(bool, const std::string&)> on_change_;
  std::shared_ptr<std::atomic<bool>> alive_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  smartcard::PcscContext* waiting_ = nullptr;  // under mutex_: the context to cancel
  std::thread thread_;
};

// The connected card and its APDU exchanges, on one thread, in order.
class CardWorker {
 public:
  explicit CardWorker(GMainContext* context);
  ~CardWorker();
  CardWorker(const CardWorker&) = delete;
  CardWorker& operator=(const CardWorker&) = delete;

  // Runs `job` on the worker thread with the card's transport (a transport that fails with
  // "no card" when none is connected), then `done` on the main context with what `job` returned.
  template <class T>
  void Run(std::function<T(const smartcard::ApduTransport&)> job, std::function<void(T)> done) {
    auto alive = alive_;
    GMainContext* ctx = context_;
    Enqueue([this, job = std::move(job), done = std::move(done), alive, ctx]() mutable {
      auto out = std::make_shared<T>(job(transport_));
      InvokeOn(ctx, alive, [done = std::move(done), out]() mutable { done(std::move(*out)); });
    });
  }
  // Connects to `reader` (disconnecting any card first); `done(error)` on the main context, error
  // empty on success.
  void Connect(const std::string& reader, std::function<void(std::string)> done);
  void Disconnect();

 private:
  void Enqueue(std::function<void()> job);
  void Loop();

  GMainContext* context_;
  std::shared_ptr<std::atomic<bool>> alive_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  // Worker thread only.
  std::unique_ptr<smartcard::PcscContext> pcsc_;
  std::unique_ptr<smartcard::PcscCard> card_;
  smartcard::ApduTransport transport_;
  std::thread thread_;
};

}  // namespace spc::daemon
