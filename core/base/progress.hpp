#pragma once
// A one-line progress display on stderr, shown only when stderr is a terminal.

#include <chrono>
#include <cstdint>
#include <string>

namespace snapkeep {

// Redraws "label: text" at most ten times a second; silent when stderr is not a terminal or in quiet mode.
class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool enabled() const { return m_enabled; }
  // Shows `text` (throttled).
  void update(const std::string& text);
  // Clears the line.
  void finish();

 private:
  std::string m_label;
  bool m_enabled = false;
  bool m_shown = false;
  std::chrono::steady_clock::time_point m_last{};
};

}  // namespace snapkeep
