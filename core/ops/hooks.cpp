#include "core/ops/hooks.hpp"

#include <spdlog/spdlog.h>

#include "core/base/process.hpp"

namespace snapkeep {

std::map<std::string, std::string> hook_environment(const Preset& preset, const HookContext& context) {
  return {{"SNAPKEEP_PRESET", preset.name},
          {"SNAPKEEP_OPERATION", context.operation},
          {"SNAPKEEP_STATUS", context.status},
          {"SNAPKEEP_ERROR", context.error},
          {"SNAPKEEP_SNAPSHOT", context.snapshot},
          {"SNAPKEEP_SOURCE", preset.source.string()},
          {"SNAPKEEP_DESTINATION", preset.preset_dir().string()},
          {"SNAPKEEP_CONFIG", preset.origin},
          {"SNAPKEEP_LOG", context.log}};
}

Status run_hook_commands(const Preset& preset, std::string_view key,
                         const std::vector<std::vector<std::string>>& commands,
                         const std::map<std::string, std::string>& env) {
  const auto origin = preset.origins.find(std::string(key));
  const std::string where = origin != preset.origins.end() ? " (from " + origin->second + ")" : "";
  for (const auto& argv : commands) {
    spdlog::info("{}: {}: running {}", preset.name, key, quote_argv(argv));
    ProcessOptions options;
    options.env = env;
    options.on_stdout_line = [&](std::string_view line) {
      if (!line.empty()) {
        spdlog::info("{}: {}: {}", preset.name, key, line);
      }
    };
    auto result = run_process(argv, options);
    if (!result) {
      Error e = std::move(result).error();
      e.message = std::string(key) + where + ": " + e.message;
      return std::move(e).in(preset.name);
    }
    if (!result->succeeded()) {
      return runtime_error(std::string(key) + " command " + quote_argv(argv) + where +
                           " failed: " + describe_failure(argv[0], *result))
          .in(preset.name);
    }
  }
  return {};
}

}  // namespace snapkeep
