#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/base/signals.hpp"
#include "core/config/units.hpp"
#include "core/history/run_records.hpp"
#include "core/integrity/scrub.hpp"
#include "core/integrity/scrub_json.hpp"
#include "core/ops/monitored_run.hpp"
#include "core/serve/client.hpp"

namespace snapkeep::cli {
namespace {

void print_human(const Preset& preset, const ScrubReport& r) {
  for (const auto& id : r.initialized) {
    std::printf("%s: %s: manifest made (first seen, not verified)\n", preset.name.c_str(), id.c_str());
  }
  for (const auto& id : r.without_manifest) {
    std::printf("%s: %s: no manifest, not verified (`snapkeep scrub --init %s` makes one)\n", preset.name.c_str(),
                id.c_str(), preset.name.c_str());
  }
  for (const auto& f : r.findings) {
    std::string state = f.repaired ? "repaired from " + f.repaired_from : "NOT repaired";
    if (f.status == FindingStatus::manifest_damaged) {
      std::printf("%s: manifest_damaged: %s\n", preset.name.c_str(), f.detail.c_str());
      if (f.repair_note.empty()) {
        std::printf(
            "  (a damaged manifest is never trusted: delete it and run `snapkeep scrub --init %s` to record "
            "the snapshot as it is now, first seen, not verified)\n",
            preset.name.c_str());
      }
    } else {
      std::printf("%s: %s (%s, %s):\n", preset.name.c_str(), std::string(finding_status_name(f.status)).c_str(),
                  format_bytes(f.size).c_str(), state.c_str());
    }
    for (const auto& p : f.paths) {
      std::printf("  %s\n", p.c_str());
    }
    if (!f.repaired && !f.repair_note.empty()) {
      std::printf("  (%s)\n", f.repair_note.c_str());
    }
    if (!f.unverified_paths.empty()) {
      std::printf(
          "  the same damaged file in snapshots without a manifest (`snapkeep adopt %s` lets scrub check them):\n",
          preset.name.c_str());
      for (const auto& p : f.unverified_paths) {
        std::printf("  %s\n", p.c_str());
      }
    }
  }
  for (const auto& repair : r.snapshot_repairs) {
    std::printf("%s: snapshot %s %s: %s\n", preset.name.c_str(), repair.snapshot.c_str(),
                repair.repaired ? "repaired" : "stays damaged", repair.note.c_str());
  }
  if (r.fs_scrub) {
    const FsScrubCounters& c = *r.fs_scrub;
    std::printf(
        "%s: btrfs scrub: %s data, %llu data checksum errors, %llu metadata errors, %llu read errors, "
        "%llu corrected, %llu uncorrectable\n",
        preset.name.c_str(), format_bytes(c.data_bytes_scrubbed).c_str(),
        static_cast<unsigned long long>(c.data_csum_errors), static_cast<unsigned long long>(c.tree_errors),
        static_cast<unsigned long long>(c.read_errors), static_cast<unsigned long long>(c.corrected_errors),
        static_cast<unsigned long long>(c.uncorrectable_errors));
  } else if (!r.fs_scrub_reported_by.empty()) {
    std::printf("%s: btrfs scrub: %s\n", preset.name.c_str(), r.fs_scrub_note.c_str());
  }
  std::string coverage = r.budget_reached ? fmt::format(", budget reached: {} of {} contents never verified yet",
                                                        r.contents_unverified, r.contents_total)
                                          : "";
  std::printf("%s\n", fmt::format("{}: {} snapshots, {} files checked, {} read ({} unique contents verified), {} "
                                  "mismatches in {:.1f} s{}: {}",
                                  preset.name, r.snapshots_checked, r.files_checked, format_bytes(r.bytes_read),
                                  r.contents_verified, r.mismatches, r.seconds, coverage,
                                  r.damage_remains() ? "DAMAGE FOUND" : "no damage")
                          .c_str());
}

}  // namespace

int cmd_scrub(const GlobalOptions& global, const Config& config, const ScrubArgs& args) {
  ScrubOptions options;
  if (!args.snapshot.empty()) {
    options.snapshot = args.snapshot;
  }
  options.repair = args.repair;
  options.init = args.init;
  options.wait_for_lock = args.wait;
  FsScrubsDone fs_scrubs_done;  // each filesystem's own scrub runs once in this run
  options.fs_scrubs_done = &fs_scrubs_done;
  if (!args.max_time.empty()) {
    auto seconds = parse_duration(args.max_time);
    if (!seconds) {
      return exit_code(report(config_error("--max-time: " + seconds.error().message)));
    }
    options.max_seconds = *seconds;
  }
  if (!args.max_bytes.empty()) {
    auto bytes = parse_bytes(args.max_bytes);
    if (!bytes) {
      return exit_code(report(config_error("--max-bytes: " + bytes.error().message)));
    }
    options.max_bytes = *bytes;
  }
  return run_presets(global, config, args.presets,
                     [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
                       entry["destination"] = preset.preset_dir().string();
                       ScrubReport scrubbed;
                       if (preset.remote_destination) {
                         std::string remote_backend;
                         SNAPKEEP_TRY_ASSIGN(scrubbed, monitored_scrub(preset, [&]() -> Result<ScrubReport> {
                                               SNAPKEEP_TRY_ASSIGN(auto remote, remote_scrub(preset, options));
                                               remote_backend = remote.second;
                                               return std::move(remote.first);
                                             }));
                         entry["backend"] = remote_backend;
                       } else {
                         SNAPKEEP_TRY_ASSIGN(auto backend, backend_for(preset));
                         entry["backend"] = std::string(backend->name());
                         SNAPKEEP_TRY_ASSIGN(scrubbed, monitored_scrub(preset, *backend, options));
                         // The history log (docs/history.md): a failure to write it is only a warning.
                         if (auto recorded = record_scrub(preset, *backend, options, scrubbed); !recorded) {
                           spdlog::warn("{}: {}", preset.name, recorded.error().describe());
                         }
                       }
                       bool damage = scrubbed.damage_remains();
                       entry.update(scrub_report_to_json(scrubbed));
                       entry["status"] = damage ? "damaged" : "ok";
                       if (global.show(damage || !scrubbed.findings.empty())) {
                         print_human(preset, scrubbed);
                       }
                       return damage ? ExitStatus::damage : ExitStatus::ok;
                     });
}

}  // namespace snapkeep::cli
