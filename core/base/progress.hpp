#pragma once
// A one-line progress display on stderr, shown only when stderr is a terminal; and the same
// progress as JSON events on the --progress-fd stream when one is open (core/base/progress_events.hpp).

#include <chrono>
#include <cstdint>
#include <string>

#include "core/base/progress_events.hpp"

namespace snapkeep {

// Redraws "label: text" at most ten times a second; silent when stderr is not a terminal or in quiet
// mode. Each update is also a progress event when the event stream is open.
class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Is anyone following (a terminal line or the event stream)? Callers skip building text when not.
  bool enabled() const;
  // Shows `text` (throttled); the step's counters stay as they were.
  void update(const std::string& text);
  // Shows `text` (throttled) and reports the step's counters (absolute, growing) to the event stream.
  void update(const std::string& text, const ProgressCounts& counts);
  // Clears the line and ends the step (its last counts are sent as an event).
  void finish();

 private:
  std::string m_label;
  bool m_terminal = false;
  bool m_shown = false;
  bool m_reported = false;  // an event was reported for the current step
  ProgressCounts m_counts;
  std::string m_text;
  std::chrono::steady_clock::time_point m_last{};
};

}  // namespace snapkeep
