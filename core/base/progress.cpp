#include "core/base/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "core/base/format.hpp"
#include "core/base/log.hpp"

namespace snapkeep {

Progress::Progress(std::string label) : m_label(std::move(label)) {
  m_terminal = ::isatty(STDERR_FILENO) == 1 && log_verbosity() >= 0;
}

Progress::~Progress() {
  finish();
}

bool Progress::enabled() const {
  return m_terminal || progress_events_on();
}

void Progress::update(const std::string& text) {
  update(text, m_counts);
}

void Progress::update(const std::string& text, const ProgressCounts& counts) {
  if (progress_events_on()) {
    m_counts = counts;
    m_text = text;
    m_reported = true;
    progress_event(this, counts, text, false);
  }
  if (!m_terminal) {
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (m_shown && now - m_last < std::chrono::milliseconds(100)) {
    return;
  }
  m_last = now;
  std::string line = m_label + ": " + text;
  if (line.size() > 100) {
    line.resize(100);
  }
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  m_shown = true;
}

void Progress::finish() {
  if (m_reported) {
    progress_event(this, m_counts, m_text, true);
    m_reported = false;
    m_counts = {};
  }
  if (m_shown) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    m_shown = false;
  }
}

}  // namespace snapkeep
