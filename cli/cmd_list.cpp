#include <cstdio>

#include <spdlog/spdlog.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/drives_view.hpp"
#include "cli/output.hpp"
#include "core/serve/client.hpp"
#include "core/store/catalog.hpp"
#include "core/store/snapshot_id.hpp"

namespace snapkeep::cli {

int cmd_list(const GlobalOptions& global, const Config& config, const std::vector<std::string>& names) {
  return run_presets(global, config, names, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
    const std::filesystem::path preset_dir = preset.preset_dir();
    entry["destination"] = preset_dir.string();
    entry["snapshots"] = nlohmann::json::array();
    RemoteListing listing;
    if (preset.remote_destination) {
      SNAPKEEP_TRY_ASSIGN(listing, remote_list(preset));  // serve lists its own folder
      entry["host"] = preset.remote_destination->host;
    } else {
      SNAPKEEP_TRY_ASSIGN(auto backend, backend_for(preset));
      SNAPKEEP_TRY_ASSIGN(listing.snapshots, list_snapshots(preset_dir));
      listing.interrupted = backend->interrupted_work(preset_dir);
      listing.backend = std::string(backend->name());
    }
    const std::vector<SnapshotInfo>& snapshots = listing.snapshots;
    const std::vector<InterruptedWork>& interrupted = listing.interrupted;
    entry["status"] = "ok";
    entry["backend"] = listing.backend;
    entry["interrupted_work"] = !interrupted.empty();
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = 0; i < snapshots.size(); ++i) {
      const SnapshotInfo& s = snapshots[i];
      list.push_back({{"id", s.id},
                      {"path", s.path.string()},
                      {"time", format_iso_local(s.time)},
                      {"latest", i + 1 == snapshots.size()},
                      {"state", "complete"},
                      {"legacy", s.legacy}});
    }
    entry["snapshots"] = list;
    if (global.show()) {
      std::printf("%s (%s backend, %s%s): %zu snapshot%s\n", preset.name.c_str(), listing.backend.c_str(),
                  preset.remote_destination ? (preset.remote_destination->bracketed_host() + ":").c_str() : "",
                  preset_dir.c_str(), snapshots.size(), snapshots.size() == 1 ? "" : "s");
      for (std::size_t i = 0; i < snapshots.size(); ++i) {
        const SnapshotInfo& s = snapshots[i];
        std::printf("  %-19s  %s  complete%s\n", s.id.c_str(), format_iso_local(s.time).c_str(),
                    i + 1 == snapshots.size() ? "  latest" : "");
      }
      for (const auto& work : interrupted) {
        std::printf("  (%s: %s)\n", work.path.c_str(), work.what.c_str());
      }
    }
    // Rotating drives: which drives this preset has been backed up to, and when.
    if (auto drives = preset_drives(preset_dir, preset.destination); drives) {
      entry["drives"] = drives_json(*drives);
      if (!global.json) {
        print_drives(*drives);
      }
    } else {
      spdlog::warn("{}: {}", preset.name, drives.error().describe());
    }
    return ExitStatus::ok;
  });
}

}  // namespace snapkeep::cli
