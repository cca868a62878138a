#include <chrono>
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/backup/backup.hpp"
#include "core/config/units.hpp"
#include "core/history/run_records.hpp"
#include "core/ops/monitored_run.hpp"
#include "core/serve/client.hpp"

namespace snapkeep::cli {

int cmd_backup(const GlobalOptions& global, const Config& config, const BackupArgs& args) {
  return run_presets(
      global, config, args.presets, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
        BackupOptions options;
        options.dry_run = args.dry_run;
        options.wait_for_lock = args.wait;
        options.switch_backend = args.switch_backend;
        options.new_folder = args.new_folder;
        for (const auto& configured : config.presets) {
          options.configured_presets.push_back(configured.name);
        }
        // The time reported is the whole run's: checks, hooks, copy, manifest and the prune after it.
        const auto started = std::chrono::steady_clock::now();
        BackupRun run;
        if (preset.remote_destination) {
          // push: serve makes the snapshot there; hooks, pings, metrics and the local record here
          auto sender = make_subvolume_sender();
          SNAPKEEP_TRY_ASSIGN(
              run, monitored_backup(
                       preset, [&](const BackupOptions& hooked) { return remote_backup(preset, hooked, sender.get()); },
                       options));
        } else {
          auto freezer = make_source_freezer();
          SNAPKEEP_TRY_ASSIGN(run, monitored_backup(preset, backend_for, options, freezer.get()));
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const BackupOutcome& outcome = run.outcome;
        ExitStatus status = ExitStatus::ok;
        entry["status"] = "ok";
        entry["snapshot"] = outcome.snapshot_id;
        entry["backend"] = run.backend;
        entry["files"] = outcome.stats.files;
        entry["files_transferred"] = outcome.stats.files_transferred;
        entry["bytes_total"] = outcome.stats.bytes_total;
        entry["bytes_transferred"] = outcome.stats.bytes_transferred;
        entry["bytes_hashed"] = outcome.stats.bytes_hashed;
        entry["manifest_ok"] = outcome.stats.manifest_ok;
        entry["seconds"] = seconds;
        entry["dry_run"] = args.dry_run;
        entry["warnings"] = outcome.stats.warnings;
        entry["pruned"] = run.pruned;
        nlohmann::json freed = nlohmann::json::array();
        for (const auto& victim : outcome.freed_for_space) {
          freed.push_back({{"id", victim.snapshot.id},
                           {"overrides_keep", victim.overrides_keep},
                           {"kept_by", victim.kept_by},
                           {"reason", victim.overrides_keep ? "min_free: deleted for space although keep kept it"
                                                            : "min_free: deleted for space"}});
        }
        entry["deleted_for_space"] = freed;
        entry["changes"] = nullptr;
        std::string changes;
        if (outcome.changes) {
          const ChangeCounts& c = *outcome.changes;
          entry["changes"] = {
              {"since", outcome.changes_since}, {"added", c.added},     {"changed", c.content + c.metadata},
              {"deleted", c.deleted},           {"content", c.content}, {"metadata", c.metadata}};
          changes = fmt::format("{} added, {} changed, {} deleted, ", c.added, c.content + c.metadata, c.deleted);
        }
        // A push's record is written by serve, on the drive that holds its snapshots (docs/remote.md).
        if (!args.dry_run && !preset.remote_destination) {
          // The history log (docs/history.md): a failure to write it is a warning, never a failed backup.
          // monitored_backup made its own backend; the log needs one too (the drive is there: it just backed up).
          auto backend = backend_for(preset);
          auto recorded = backend ? record_backup(preset, **backend, run) : Status(std::move(backend).error());
          if (!recorded) {
            spdlog::warn("{}: {}", preset.name, recorded.error().describe());
            entry["warnings"].push_back(recorded.error().describe());
          }
        }
        if (outcome.source_shrank) {
          entry["source_shrank"] = {{"previous", outcome.source_shrank->previous},
                                    {"previous_files", outcome.source_shrank->previous_files},
                                    {"previous_bytes", outcome.source_shrank->previous_bytes},
                                    {"files", outcome.stats.files},
                                    {"bytes", outcome.stats.bytes_total}};
        }
        if (outcome.stats.manifest_error) {
          // The snapshot is there and complete, but scrub cannot vouch for it yet: the run failed.
          status = worse(status, report(*outcome.stats.manifest_error));
          entry["status"] = "failed";
          entry["error"] = outcome.stats.manifest_error->describe();
        }
        if (run.prune_error) {
          status = worse(status, report(*run.prune_error));
          entry["prune_error"] = run.prune_error->describe();
        }
        if (run.hook_error) {
          status = worse(status, report(*run.hook_error));
          entry["status"] = "failed";
          entry["error"] = run.hook_error->describe();
        }
        if (global.show(status != ExitStatus::ok || !outcome.stats.warnings.empty())) {
          std::printf("%s\n",
                      fmt::format("{}: {} {} ({}, {} files, {}{} copied in {} files, {:.1f} s)", preset.name,
                                  args.dry_run ? "would make snapshot" : "snapshot", outcome.snapshot_id, run.backend,
                                  outcome.stats.files, changes, format_bytes(outcome.stats.bytes_transferred),
                                  outcome.stats.files_transferred, seconds)
                          .c_str());
        }
        return status;
      });
}

}  // namespace snapkeep::cli
