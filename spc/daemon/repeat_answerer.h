// Repeated ProcessStkm / ProcessStkmFor calls answered on GDBus's worker thread (issue 8).
//
// GDBus reads every incoming call on its worker thread and hands it to the exported object on
// spcd's main loop, whose answer then goes back to the worker to be written: two thread switches
// per call, and on a loaded machine each waits for the scheduler (the tail of the latency). A
// repeat whose answer the STKM processor holds needs no main-loop state: a connection filter
// answers it on the worker thread (StkmProcessor::AnswerRepeat: the same clock checks, the same
// counters; never the key store). Everything else (a first STKM, a refusal, a bad argument, every
// other method) goes on to the main loop unchanged.
//
// The main loop still sees the answered repeats afterwards, without delaying them: `on_answered`
// runs there for each distinct request answered since its last run (KeyPrefetch::Hold: the
// service's key stream is alive, its TEKs held).
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "spc/daemon/stkm_processor.h"

namespace spc::daemon {

// The out arguments of ProcessStkm / ProcessStkmFor for `answer` (a floating tuple; key bytes in
// wiped buffers): the one reply of both the main loop's handler and the worker-thread filter.
GVariant* ProcessStkmReply(const Answer& answer);

class RepeatAnswerer {
 public:
  using Answered = std::function<void(std::span<const std::uint8_t> stkm,
                                      const std::string& base_cid, const Answer& answer)>;

  // Filters `conn` from now on; `on_answered` runs on the caller's thread-default main context
  // (spcd's main loop). `processor` must outlive this object.
  RepeatAnswerer(GDBusConnection* conn, StkmProcessor& processor, Answered on_answered);
  // Once this returns, the filter no longer uses the processor (a run in progress has ended).
  ~RepeatAnswerer();
  RepeatAnswerer(const RepeatAnswerer&) = delete;
  RepeatAnswerer& operator=(const RepeatAnswerer&) = delete;

  // Calls answered on the worker thread so far.
  std::uint64_t answered() const;

  struct State;

 private:
  GDBusConnection* conn_;
  std::shared_ptr<State> state_;  // shared with the filter, which may outlive this object
  guint filter_id_ = 0;
};

}  // namespace spc::daemon
