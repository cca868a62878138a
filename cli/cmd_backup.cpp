#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/backup.hpp"
#include "core/prune.hpp"
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
    std::vector<std::string> pruned;
    std::optional<Error> prune_error;
    auto run = [&]() -> Result<std::pair<std::string, BackupOutcome>> {
      auto backend = backend_for(preset);
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
      // With a `keep` policy, every successful backup is followed by a prune.
      if (!preset.keep.rules.empty() && !args.dry_run) {
        PruneOptions prune_options;
        prune_options.wait_for_lock = true;
        prune_options.held_lock = outcome->lock ? &*outcome->lock : nullptr;  // no run slips in between
        auto entries = run_prune(preset, **backend, prune_options);
        if (!entries) {
          prune_error = std::move(entries).error();
        } else {
          for (const auto& e : *entries) {
            if (e.deleted) {
              pruned.push_back(e.id);
            }
          }
        }
      }
      outcome->lock.reset();  // done with the preset
      return std::make_pair(std::string((*backend)->name()), std::move(*outcome));
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
    entry["bytes_hashed"] = outcome.stats.bytes_hashed;
    entry["manifest_ok"] = outcome.stats.manifest_ok;
    entry["seconds"] = outcome.seconds;
    entry["dry_run"] = args.dry_run;
    entry["warnings"] = outcome.stats.warnings;
    entry["pruned"] = pruned;
    if (outcome.stats.manifest_error) {
      // The snapshot is there and complete, but scrub cannot vouch for it yet: the run failed.
      exit_code = combine_exit(exit_code, report(*outcome.stats.manifest_error));
      entry["status"] = "failed";
      entry["error"] = outcome.stats.manifest_error->describe();
    }
    if (prune_error) {
      prune_error->message = preset.name + ": the backup succeeded but pruning failed: " + prune_error->message;
      exit_code = combine_exit(exit_code, report(*prune_error));
      entry["prune_error"] = prune_error->describe();
    }
    results.push_back(entry);
    if (!global.json) {
      std::printf("%s\n", fmt::format("{}: {} {} ({}, {} files, {} copied in {} files, {:.1f} s)", preset.name,
                                      args.dry_run ? "would make snapshot" : "snapshot", outcome.snapshot_id,
                                      backend_name, outcome.stats.files, format_bytes(outcome.stats.bytes_transferred),
                                      outcome.stats.files_transferred, outcome.seconds)
                              .c_str());
      std::fflush(stdout);
    }
  }
  return finish_presets(global.json, results, exit_code);
}

}  // namespace snapkeep::cli
