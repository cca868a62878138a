#include "core/base/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "core/base/format.hpp"
#include "core/base/log.hpp"

namespace snapkeep {

Progress::Progress(std::string label) : m_label(std::move(label)) {
  m_enabled = ::isatty(STDERR_FILENO) == 1 && log_verbosity() >= 0;
}

Progress::~Progress() {
  finish();
}

void Progress::update(const std::string& text) {
  if (!m_enabled) {
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
  if (m_shown) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    m_shown = false;
  }
}

}  // namespace snapkeep
