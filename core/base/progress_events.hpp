#pragma once
// The JSON-lines progress stream (--progress-fd, docs/usage.md#progress-events): one event per line
// on a descriptor of its own, never on stdout and never in the logs, for a GUI or a monitoring
// wrapper that follows a long backup, scrub, prune or restore.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.hpp"

namespace snapkeep {

// Sends events to descriptor `fd` (left open; close-on-exec, so children never write to it), at
// most one progress event per `interval`. Fails when fd is not open for writing.
Status open_progress_events(int fd, std::chrono::milliseconds interval);

// Is a stream open? (A reader that went away closes it: events are never worth failing a run.)
bool progress_events_on();

// What one step of a long operation has done so far; within a step each counter only grows.
struct ProgressCounts {
  std::uint64_t files = 0;  // entries copied, linked, hashed, checked or deleted
  std::uint64_t bytes = 0;  // bytes copied, sent, hashed or read
};

// One preset's run of one command: a "start" event now and an "end" event (with its status) at
// finish(), or "interrupted" when destroyed unfinished. The counters of the progress events in
// between add up every step of the run, so they only grow. Runs do not nest (an inner one is a no-op).
class ProgressRun {
 public:
  ProgressRun(std::string_view operation, std::string_view preset);
  ~ProgressRun();
  ProgressRun(const ProgressRun&) = delete;
  ProgressRun& operator=(const ProgressRun&) = delete;
  // The "end" event: status is "ok", "failed", "skipped", "damaged", ...
  void finish(std::string_view status);

 private:
  bool m_owner = false;
};

// For Progress: step `step` reached `counts` (absolute within the step; a smaller value starts the
// step over), described by `text`; `step_done` ends the step and always sends an event.
void progress_event(const void* step, const ProgressCounts& counts, const std::string& text, bool step_done);

}  // namespace snapkeep
