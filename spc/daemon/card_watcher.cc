#include "spc/daemon/card_watcher.h"

#include <chrono>
#include <utility>
#include <vector>

namespace spc::daemon {

using namespace std::chrono_literals;
using smartcard::PcscContext;

namespace {

struct Invocation {
  std::shared_ptr<std::atomic<bool>> alive;
  std::function<void()> fn;
};

gboolean RunInvocation(gpointer data) {
  auto* inv = static_cast<Invocation*>(data);
  if (inv->alive->load()) inv->fn();
  return G_SOURCE_REMOVE;
}

}  // namespace

void InvokeOn(GMainContext* context, std::shared_ptr<std::atomic<bool>> alive,
              std::function<void()> fn) {
  auto* inv = new Invocation{std::move(alive), std::move(fn)};
  // An idle source (not g_main_context_invoke): never runs inside the caller, even when the
  // caller is the context's own thread.
  GSource* s = g_idle_source_new();
  g_source_set_priority(s, G_PRIORITY_DEFAULT);
  g_source_set_callback(s, RunInvocation, inv,
                        [](gpointer p) { delete static_cast<Invocation*>(p); });
  g_source_attach(s, context);
  g_source_unref(s);
}

// ---- CardWatcher ----

CardWatcher::CardWatcher(std::string reader_filter, GMainContext* context,
                         std::function<void(bool, const std::string&)> on_change)
    : filter_(std::move(reader_filter)),
      context_(context),
      on_change_(std::move(on_change)),
      alive_(std::make_shared<std::atomic<bool>>(true)) {
  thread_ = std::thread([this] { Run(); });
}

CardWatcher::~CardWatcher() {
  alive_->store(false);
  {
    std::lock_guard<std::mutex> l(mutex_);
    stop_ = true;
    if (waiting_) waiting_->Cancel();
  }
  cv_.notify_all();
  thread_.join();
}

bool CardWatcher::Stopping() {
  std::lock_guard<std::mutex> l(mutex_);
  return stop_;
}

void CardWatcher::Pause(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> l(mutex_);
  cv_.wait_for(l, d, [this] { return stop_; });
}

void CardWatcher::Post(bool present, const std::string& reader) {
  auto fn = on_change_;
  InvokeOn(context_, alive_, [fn, present, reader] { fn(present, reader); });
}

void CardWatcher::Run() {
  std::unique_ptr<PcscContext> ctx;
  std::string current;  // the reader holding the card, "" while none does
  bool warned = false;
  while (!Stopping()) {
    if (!ctx) {
      auto c = PcscContext::Establish();
      if (!c) {
        if (!warned) g_message("smartcard: PC/SC not available yet: %s", c.error().message.c_str());
        warned = true;
        Pause(500ms);
        continue;
      }
      ctx = std::move(*c);
      std::lock_guard<std::mutex> l(mutex_);
      waiting_ = ctx.get();
      if (stop_) break;
    }
    if (current.empty()) {
      auto readers = ctx->Readers();
      if (!readers) {
        std::lock_guard<std::mutex> l(mutex_);
        waiting_ = nullptr;
        ctx.reset();  // pcscd restarted: a new context
        continue;
      }
      bool found = false;
      for (const auto& r : *readers) {
        if (!filter_.empty() && r.find(filter_) == std::string::npos) continue;
        auto present = ctx->WaitForCard(r, true, 150ms);
        if (Stopping()) break;
        if (present && *present) {
          current = r;
          found = true;
          Post(true, r);
          break;
        }
      }
      if (!found && readers->empty()) Pause(300ms);
      continue;
    }
    auto gone = ctx->WaitForCard(current, false, 1000ms);
    if (Stopping()) break;
    if (!gone || *gone) {
      // Removed, or the reader itself went away: the card is gone either way.
      Post(false, current);
      current.clear();
      if (!gone) Pause(100ms);
    }
  }
  std::lock_guard<std::mutex> l(mutex_);
  waiting_ = nullptr;
}

// ---- CardWorker ----

CardWorker::CardWorker(GMainContext* context)
    : context_(context), alive_(std::make_shared<std::atomic<bool>>(true)) {
  transport_ =
      [this](std::span<const std::uint8_t> c) -> Result<std::vector<std::uint8_t>, std::string> {
    if (!card_) return std::string("no card in the reader");
    auto r = card_->Transmit(c);
    if (!r) return r.error().message;
    return std::move(*r);
  };
  thread_ = std::thread([this] { Loop(); });
}

CardWorker::~CardWorker() {
  alive_->store(false);
  {
    std::lock_guard<std::mutex> l(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CardWorker::Enqueue(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> l(mutex_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_all();
}

void CardWorker::Loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> l(mutex_);
      cv_.wait(l, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) break;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
  card_.reset();
  pcsc_.reset();
}

void CardWorker::Connect(const std::string& reader, std::function<void(std::string)> done) {
  auto alive = alive_;
  GMainContext* ctx = context_;
  Enqueue([this, reader, done = std::move(done), alive, ctx] {
    card_.reset();
    std::string error;
    if (!pcsc_) {
      auto c = PcscContext::Establish();
      if (c) {
        pcsc_ = std::move(*c);
      } else {
        error = c.error().message;
      }
    }
    if (pcsc_) {
      auto card = pcsc_->Connect(reader);
      if (card) {
        card_ = std::move(*card);
      } else {
        error = card.error().message;
        // A stale context (pcscd restarted) is replaced on the next insertion.
        pcsc_.reset();
      }
    }
    InvokeOn(ctx, alive, [done, error] { done(error); });
  });
}

void CardWorker::Disconnect() {
  Enqueue([this] { card_.reset(); });
}

}  // namespace spc::daemon
