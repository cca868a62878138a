#pragma once
// Printing results: JSON documents and human lines on stdout, errors through the log on stderr;
// and the one loop over presets every command runs.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/base/error.hpp"

namespace snapkeep::cli {

// Prints one JSON document (and a newline) on stdout.
void print_json(const nlohmann::json& doc);

// For commands serve does not offer (delete, adopt, rename, versions, diff, report): a config
// error naming the host to run them on when the preset's destination is remote (docs/remote.md).
Status local_destination_only(const Preset& preset, std::string_view command);

// Logs an error on stderr and returns its exit status.
ExitStatus report(const Error& error);

// One preset's part of a command: fills `entry` (its JSON object, which already holds "name") and
// prints its human lines; returns the preset's exit status, or the error that stopped it.
using PresetStep = std::function<Result<ExitStatus>(const Preset& preset, nlohmann::json& entry)>;

// Runs `step` for each preset named (all when none), in config order; one preset's failure does
// not stop the others, and none starts after a stop signal (which adds exit status 1). A failed
// step is logged and recorded in its entry ("status": "failed", "error", and "locked" when another
// run held the lock). With --json prints {"presets": [...]} plus `extra` fields. Returns the most
// serious status of the presets.
int run_presets(const GlobalOptions& global, const Config& config, const std::vector<std::string>& names,
                const PresetStep& step, const nlohmann::json& extra = nlohmann::json::object());

}  // namespace snapkeep::cli
