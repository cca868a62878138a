#include <cstdio>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/catalog.hpp"
#include "core/units.hpp"

namespace snapkeep::cli {

int cmd_du(const GlobalOptions& global, const Config& config, const std::vector<std::string>& names) {
  auto presets = select_presets(config, names);
  if (!presets) {
    return report(presets.error());
  }
  int exit_code = 0;
  nlohmann::json results = nlohmann::json::array();
  for (const Preset& preset : *presets) {
    auto run = [&]() -> Result<UsageReport> {
      auto backend = backend_for(preset);
      if (!backend) {
        return std::move(backend).error();
      }
      auto snapshots = list_snapshots(preset.preset_dir());
      if (!snapshots) {
        return std::move(snapshots).error();
      }
      return (*backend)->usage(*snapshots, {});
    };
    auto usage = run();
    if (!usage) {
      exit_code = combine_exit(exit_code, report(usage.error()));
      results.push_back({{"name", preset.name}, {"status", "failed"}, {"error", usage.error().describe()}});
      continue;
    }
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : usage->snapshots) {
      list.push_back({{"id", s.id}, {"exclusive_bytes", s.exclusive_bytes}, {"cumulative_bytes", s.cumulative_bytes}});
    }
    results.push_back({{"name", preset.name},
                       {"status", "ok"},
                       {"total_bytes", usage->total_bytes},
                       {"exact", usage->exact},
                       {"snapshots", list}});
    if (!global.json) {
      std::printf("%s: %s in %zu snapshots%s\n", preset.name.c_str(), format_bytes(usage->total_bytes).c_str(),
                  usage->snapshots.size(), usage->exact ? "" : " (estimate: see docs/usage.md)");
      std::printf("  %-19s  %12s  %12s\n", "snapshot", "alone frees", "with older");
      for (const auto& s : usage->snapshots) {
        std::printf("  %-19s  %12s  %12s\n", s.id.c_str(), format_bytes(s.exclusive_bytes).c_str(),
                    format_bytes(s.cumulative_bytes).c_str());
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
