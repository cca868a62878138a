#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/backup.hpp"
#include "core/signals.hpp"
#include "core/units.hpp"

namespace snapkeep::cli {

int cmd_backup(const GlobalOptions& global, const Config& config, const BackupArgs& args) {
  auto presets = select_presets(config, args.presets);
  if (!presets) {
    return report(presets.error());
  }
  int exit_code = 0;
  nlohmann::json results = nlohmann::json::array();
  for (const Preset& preset : *presets) {
    if (stop_signal() != 0) {
      break;
    }
    nlohmann::json entry{{"name", preset.name}};
    auto run = [&]() -> Result<std::pair<std::string, BackupOutcome>> {
      auto name = resolve_backend_name(preset);
      if (!name) {
        return std::move(name).error();
      }
      auto backend = make_backend(*name);
      if (!backend) {
        return std::move(backend).error();
      }
      BackupOptions options;
      options.dry_run = args.dry_run;
      options.wait_for_lock = args.wait;
      auto freezer = make_source_freezer();
      auto outcome = run_backup(preset, **backend, options, freezer.get());
      if (!outcome) {
        return std::move(outcome).error();
      }
      return std::make_pair(*name, std::move(*outcome));
    };
    auto done = run();
    if (!done) {
      exit_code = combine_exit(exit_code, report(done.error()));
      entry["status"] = "failed";
      entry["error"] = done.error().describe();
      if (done.error().kind == ErrorKind::locked) {
        entry["locked"] = true;
      }
      results.push_back(entry);
      continue;
    }
    const auto& [backend_name, outcome] = *done;
    entry["status"] = "ok";
    entry["snapshot"] = outcome.snapshot_id;
    entry["backend"] = backend_name;
    entry["files"] = outcome.stats.files;
    entry["files_transferred"] = outcome.stats.files_transferred;
    entry["bytes_total"] = outcome.stats.bytes_total;
    entry["bytes_transferred"] = outcome.stats.bytes_transferred;
    entry["seconds"] = outcome.seconds;
    entry["dry_run"] = args.dry_run;
    entry["warnings"] = outcome.stats.warnings;
    results.push_back(entry);
    if (!global.json) {
      std::printf("%s\n", fmt::format("{}: {} {} ({}, {} files, {} copied in {} files, {:.1f} s)", preset.name,
                                       args.dry_run ? "would make snapshot" : "snapshot", outcome.snapshot_id,
                                       backend_name, outcome.stats.files,
                                       format_bytes(outcome.stats.bytes_transferred),
                                       outcome.stats.files_transferred, outcome.seconds)
                              .c_str());
      std::fflush(stdout);
    }
  }
  if (stop_signal() != 0) {
    spdlog::error("interrupted by signal {}; presets not started were skipped", stop_signal());
    exit_code = combine_exit(exit_code, 1);
  }
  if (global.json) {
    print_json({{"presets", results}});
  }
  return exit_code;
}

}  // namespace snapkeep::cli
