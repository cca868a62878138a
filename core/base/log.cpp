#include "core/base/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace snapkeep {
namespace {
int g_verbosity = 0;
}

void setup_logging(int verbosity) {
  g_verbosity = verbosity;
  auto logger = spdlog::stderr_color_mt("snapkeep");
  logger->set_pattern("snapkeep: %^%l%$: %v");
  spdlog::set_default_logger(logger);
  if (verbosity < 0) {
    spdlog::set_level(spdlog::level::warn);
  } else if (verbosity == 0) {
    spdlog::set_level(spdlog::level::info);
  } else {
    spdlog::set_level(spdlog::level::debug);
  }
}

int log_verbosity() {
  return g_verbosity;
}

}  // namespace snapkeep
