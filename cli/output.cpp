#include "cli/output.hpp"

#include <cstdio>

#include <spdlog/spdlog.h>

#include "core/signals.hpp"

namespace snapkeep::cli {
namespace {

int severity(int code) {
  switch (code) {
    case 0: return 0;
    case 3: return 1;
    case 1: return 2;
    case 4: return 3;
    case 2: return 4;
    default: return 2;
  }
}

}  // namespace

int finish_presets(bool json, const nlohmann::json& results, int exit_code) {
  if (stop_signal() != 0) {
    spdlog::error("interrupted by signal {}; presets not started were skipped", stop_signal());
    exit_code = combine_exit(exit_code, 1);
  }
  if (json) {
    print_json({{"presets", results}});
  }
  return exit_code;
}

void print_json(const nlohmann::json& doc) {
  std::string text = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int report(const Error& error) {
  spdlog::error("{}", error.describe());
  return error.exit_code();
}

int combine_exit(int a, int b) {
  return severity(a) >= severity(b) ? a : b;
}

}  // namespace snapkeep::cli
