#include <cstdio>

#include <fmt/format.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/catalog.hpp"
#include "core/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep::cli {

int cmd_list(const GlobalOptions& global, const Config& config, const std::vector<std::string>& names) {
  auto presets = select_presets(config, names);
  if (!presets) {
    return report(presets.error());
  }
  int exit_code = 0;
  nlohmann::json results = nlohmann::json::array();
  for (const Preset& preset : *presets) {
    fs::path preset_dir = preset.preset_dir();
    nlohmann::json entry{{"name", preset.name}, {"destination", preset_dir.string()}};
    auto backend = resolve_backend_name(preset);
    auto snapshots = list_snapshots(preset_dir);
    if (!backend || !snapshots) {
      const Error& e = !backend ? backend.error() : snapshots.error();
      exit_code = combine_exit(exit_code, report(e));
      entry["error"] = e.describe();
      entry["snapshots"] = nlohmann::json::array();
      results.push_back(entry);
      continue;
    }
    entry["backend"] = *backend;
    std::error_code ec;
    entry["interrupted_work"] = fs::exists(preset_dir / k_state_dir_name / "partial", ec);
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = 0; i < snapshots->size(); ++i) {
      const SnapshotInfo& s = (*snapshots)[i];
      bool latest = i + 1 == snapshots->size();
      list.push_back({{"id", s.id},
                      {"path", s.path.string()},
                      {"time", format_iso_local(s.time)},
                      {"latest", latest},
                      {"state", "complete"},
                      {"legacy", s.legacy}});
    }
    entry["snapshots"] = list;
    results.push_back(entry);
    if (!global.json) {
      std::printf("%s (%s backend, %s): %zu snapshot%s\n", preset.name.c_str(), backend->c_str(), preset_dir.c_str(),
                  snapshots->size(), snapshots->size() == 1 ? "" : "s");
      for (std::size_t i = 0; i < snapshots->size(); ++i) {
        const SnapshotInfo& s = (*snapshots)[i];
        std::printf("  %-19s  %s  complete%s\n", s.id.c_str(), format_iso_local(s.time).c_str(),
                    i + 1 == snapshots->size() ? "  latest" : "");
      }
      if (entry["interrupted_work"].get<bool>()) {
        std::printf("  (an interrupted backup will be resumed by the next run)\n");
      }
    }
  }
  if (global.json) {
    print_json({{"presets", results}});
  }
  std::fflush(stdout);
  return exit_code;
}

}  // namespace snapkeep::cli
