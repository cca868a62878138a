#include <cstdio>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/config/units.hpp"
#include "core/serve/client.hpp"
#include "core/store/catalog.hpp"

namespace snapkeep::cli {

int cmd_du(const GlobalOptions& global, const Config& config, const std::vector<std::string>& names) {
  return run_presets(global, config, names, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
    UsageReport usage;
    if (preset.remote_destination) {
      SNAPKEEP_TRY_ASSIGN(usage, remote_usage(preset));  // measured where the snapshots are
    } else {
      SNAPKEEP_TRY_ASSIGN(auto backend, backend_for(preset));
      SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset.preset_dir()));
      SNAPKEEP_TRY_ASSIGN(usage, backend->usage(snapshots, {}));
    }
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : usage.snapshots) {
      list.push_back({{"id", s.id}, {"exclusive_bytes", s.exclusive_bytes}, {"cumulative_bytes", s.cumulative_bytes}});
    }
    entry["status"] = "ok";
    entry["total_bytes"] = usage.total_bytes;
    entry["exact"] = usage.exact;
    entry["snapshots"] = list;
    if (global.show()) {
      std::printf("%s: %s in %zu snapshots%s\n", preset.name.c_str(), format_bytes(usage.total_bytes).c_str(),
                  usage.snapshots.size(), usage.exact ? "" : " (estimate: see docs/usage.md)");
      std::printf("  %-19s  %12s  %12s\n", "snapshot", "alone frees", "with older");
      for (const auto& s : usage.snapshots) {
        std::printf("  %-19s  %12s  %12s\n", s.id.c_str(), format_bytes(s.exclusive_bytes).c_str(),
                    format_bytes(s.cumulative_bytes).c_str());
      }
    }
    return ExitStatus::ok;
  });
}

}  // namespace snapkeep::cli
