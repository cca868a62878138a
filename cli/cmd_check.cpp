#include <cstdio>

#include <spdlog/spdlog.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/drives_view.hpp"
#include "cli/output.hpp"
#include "core/backup/check.hpp"
#include "core/serve/client.hpp"
#include "core/store/preset_checks.hpp"

namespace snapkeep::cli {

int cmd_check(const GlobalOptions& global, const Config& config, const std::vector<std::string>& names) {
  auto step = [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
    entry["source"] = preset.source.string();
    entry["destination"] = preset.preset_dir().string();
    CheckReport report;
    // Rotating drives: which drives this preset has been backed up to, and when (also when the
    // drive is absent, which is when it matters).
    auto drives = preset_drives(preset.preset_dir(), preset.destination);
    if (drives) {
      entry["drives"] = drives_json(*drives);
    } else {
      spdlog::warn("{}: {}", preset.name, drives.error().describe());
    }
    auto checked = [&]() -> Result<std::string> {
      if (preset.remote_destination) {
        // The source here, the destination's drive, folder and tools there.
        SNAPKEEP_TRY(check_source(preset));
        SNAPKEEP_TRY(check_tool(preset, "rsync"));
        SNAPKEEP_TRY_ASSIGN(RemoteCheck remote, remote_check(preset));
        report = std::move(remote.report);
        return remote.backend;
      }
      SNAPKEEP_TRY_ASSIGN(auto backend, backend_for(preset));
      SNAPKEEP_TRY_ASSIGN(report, check_setup(preset, *backend));
      return std::string(backend->name());
    }();
    if (!checked) {
      if (drives && global.show(true)) {
        print_drives(*drives);
      }
      return std::move(checked).error();  // logged once, by the preset loop
    }
    entry["status"] = "ok";
    entry["backend"] = *checked;
    entry["warnings"] = report.warnings;
    for (const auto& warning : report.warnings) {
      spdlog::warn("{}: {}", preset.name, warning);
    }
    if (global.show(!report.warnings.empty())) {
      std::printf("%s: ok (%s backend, %s -> %s)\n", preset.name.c_str(), checked->c_str(), preset.source.c_str(),
                  preset.preset_dir().c_str());
      if (drives) {
        print_drives(*drives);
      }
    }
    return ExitStatus::ok;
  };
  return run_presets(global, config, names, step, {{"config_files", config.files.size()}});
}

}  // namespace snapkeep::cli
