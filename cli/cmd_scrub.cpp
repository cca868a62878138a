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
#include "core/ops/monitored_run.hpp"
#include "core/serve/client.hpp"

namespace snapkeep::cli {
namespace {

nlohmann::json finding_json(const ScrubFinding& f) {
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& p : f.paths) {
    paths.push_back(p.string());
  }
  nlohmann::json out{{"status", std::string(finding_status_name(f.status))},
                     {"paths", paths},
                     {"snapshots", f.snapshots},
                     {"repaired", f.repaired}};
  if (f.status != FindingStatus::manifest_damaged) {
    out["size"] = f.size;
    out["expected_hash"] = f.expected_hash;
    out["actual_hash"] = f.actual_hash;
  }
  if (!f.detail.empty()) {
    out["detail"] = f.detail;
  }
  if (!f.repaired_from.empty()) {
    out["repaired_from"] = f.repaired_from;
  }
  if (!f.repair_note.empty()) {
    out["repair_note"] = f.repair_note;
  }
  if (!f.unverified_paths.empty()) {
    nlohmann::json unverified = nlohmann::json::array();
    for (const auto& p : f.unverified_paths) {
      unverified.push_back(p.string());
    }
    out["unverified_paths"] = unverified;
  }
  return out;
}

nlohmann::json report_json(const ScrubReport& r) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : r.findings) {
    findings.push_back(finding_json(f));
  }
  nlohmann::json out{{"snapshots_checked", r.snapshots_checked},
                     {"files_checked", r.files_checked},
                     {"entries_checked", r.entries_checked},
                     {"bytes_read", r.bytes_read},
                     {"bytes_total", r.bytes_total},
                     {"contents_total", r.contents_total},
                     {"contents_verified", r.contents_verified},
                     {"contents_unverified", r.contents_unverified},
                     {"mismatches", r.mismatches},
                     {"repair_bytes_read", r.repair_bytes_read},
                     {"budget_reached", r.budget_reached},
                     {"initialized", r.initialized},
                     {"without_manifest", r.without_manifest},
                     {"findings", findings},
                     {"damage", r.damage_remains()},
                     {"seconds", r.seconds}};
  if (r.fs_scrub) {
    const FsScrubCounters& c = *r.fs_scrub;
    out["fs_scrub"] = {{"data_bytes_scrubbed", c.data_bytes_scrubbed},
                       {"tree_bytes_scrubbed", c.tree_bytes_scrubbed},
                       {"read_errors", c.read_errors},
                       {"data_csum_errors", c.data_csum_errors},
                       {"tree_errors", c.tree_errors},
                       {"super_errors", c.super_errors},
                       {"corrected_errors", c.corrected_errors},
                       {"uncorrectable_errors", c.uncorrectable_errors}};
  }
  if (!r.fs_scrub_note.empty()) {
    out["fs_scrub_note"] = r.fs_scrub_note;
  }
  if (!r.fs_scrub_reported_by.empty()) {
    out["fs_scrub_reported_by"] = r.fs_scrub_reported_by;
  }
  if (!r.snapshot_repairs.empty()) {
    nlohmann::json repairs = nlohmann::json::array();
    for (const auto& repair : r.snapshot_repairs) {
      repairs.push_back({{"snapshot", repair.snapshot}, {"repaired", repair.repaired}, {"note", repair.note}});
    }
    out["snapshot_repairs"] = repairs;
  }
  return out;
}

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
                         SNAPKEEP_TRY_ASSIGN(auto remote, remote_scrub(preset, options));
                         scrubbed = std::move(remote.first);
                         entry["backend"] = remote.second;
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
                       entry.update(report_json(scrubbed));
                       entry["status"] = damage ? "damaged" : "ok";
                       if (global.show(damage || !scrubbed.findings.empty())) {
                         print_human(preset, scrubbed);
                       }
                       return damage ? ExitStatus::damage : ExitStatus::ok;
                     });
}

}  // namespace snapkeep::cli
