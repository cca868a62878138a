#pragma once
// The user's commands around a run (docs/monitoring.md#commands): before_backup, after_backup,
// on_success, on_failure; argv vectors through core/base/process (never a shell), with SNAPKEEP_*
// variables in their environment.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"
#include "core/config/config.hpp"

namespace snapkeep {

// What the environment of a hook tells about the run.
struct HookContext {
  std::string operation;  // "backup" or "scrub"
  std::string status;     // "" before the run (before_backup), else "ok", "failed", "damaged"
  std::string error;      // the error of a failed run, or what damage scrub found
  std::string snapshot;   // the snapshot a backup made ("" when none)
  std::string log;        // the run's warnings and errors, one per line
};

// SNAPKEEP_PRESET, SNAPKEEP_OPERATION, SNAPKEEP_STATUS, SNAPKEEP_ERROR, SNAPKEEP_SNAPSHOT,
// SNAPKEEP_SOURCE, SNAPKEEP_DESTINATION (the preset folder), SNAPKEEP_CONFIG (FILE:LINE of the
// preset), SNAPKEEP_LOG.
std::map<std::string, std::string> hook_environment(const Preset& preset, const HookContext& context);

// Runs the commands of hook `key` in order with `env` added to the environment; their output is
// logged. Stops at the first that cannot start or does not exit 0: the error names the hook, the
// command and its status, with the tail of its stderr.
Status run_hook_commands(const Preset& preset, std::string_view key,
                         const std::vector<std::vector<std::string>>& commands,
                         const std::map<std::string, std::string>& env);

}  // namespace snapkeep
