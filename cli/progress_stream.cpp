#include <chrono>
#include <cmath>

#include "cli/commands.hpp"
#include "core/base/progress_events.hpp"

namespace snapkeep::cli {

Status open_progress_stream(const GlobalOptions& global) {
  if (global.progress_fd < 0) {
    return {};
  }
  if (!(global.progress_interval >= 0) || global.progress_interval > 3600) {
    return config_error("--progress-interval: seconds from 0 to 3600");
  }
  const auto interval = std::chrono::milliseconds(std::llround(global.progress_interval * 1000));
  return open_progress_events(global.progress_fd, interval);
}

}  // namespace snapkeep::cli
