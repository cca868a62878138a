#include <cstdio>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/catalog.hpp"
#include "core/fsprobe.hpp"
#include "core/preset_checks.hpp"
#include "core/process.hpp"

namespace snapkeep::cli {
namespace {

// Everything `check` verifies for one preset; changes nothing on disk.
Result<std::string> check_one(const Preset& preset) {
  SNAPKEEP_TRY(check_preset(preset));
  auto backend = backend_for(preset);
  if (!backend) {
    return std::move(backend).error();
  }
  std::string name((*backend)->name());
  if (name == "btrfs") {
    auto type = filesystem_type(preset.destination);
    if (type && *type != "btrfs") {
      return runtime_error(preset.name + ": backend = btrfs but the destination " + preset.destination.string() +
                           " is on " + *type + " (use backend = rsync or auto)");
    }
  }
  // The tools this backend runs must be installed.
  std::vector<std::string> tools{"rsync"};
  if (name == "btrfs") {
    tools.emplace_back("btrfs");
  }
  for (const auto& tool : tools) {
    auto version = run_process({tool, "--version"});
    if (!version) {
      Error e = std::move(version).error();
      e.message = preset.name + ": " + e.message;
      return e;
    }
  }
  if (preset.exclude_from) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*preset.exclude_from, ec)) {
      return runtime_error(preset.name + ": exclude_from file " + preset.exclude_from->string() + " is not readable");
    }
  }
  auto snapshots = list_snapshots(preset.preset_dir());
  if (!snapshots) {
    return std::move(snapshots).error();
  }
  return name;
}

}  // namespace

int cmd_check(const GlobalOptions& global, const Config& config, const std::vector<std::string>& names) {
  auto presets = select_presets(config, names);
  if (!presets) {
    return report(presets.error());
  }
  int exit_code = 0;
  nlohmann::json results = nlohmann::json::array();
  for (const Preset& preset : *presets) {
    auto checked = check_one(preset);
    nlohmann::json entry{
        {"name", preset.name}, {"source", preset.source.string()}, {"destination", preset.preset_dir().string()}};
    if (!checked) {
      exit_code = combine_exit(exit_code, report(checked.error()));
      entry["status"] = "failed";
      entry["error"] = checked.error().describe();
      if (!global.json) {
        std::printf("FAILED %s\n", checked.error().describe().c_str());
      }
    } else {
      entry["status"] = "ok";
      entry["backend"] = *checked;
      if (!global.json) {
        std::printf("%s: ok (%s backend, %s -> %s)\n", preset.name.c_str(), checked->c_str(), preset.source.c_str(),
                    preset.preset_dir().c_str());
      }
    }
    results.push_back(entry);
  }
  if (global.json) {
    print_json({{"presets", results}, {"config_files", config.files.size()}});
  }
  std::fflush(stdout);
  return exit_code;
}

}  // namespace snapkeep::cli
