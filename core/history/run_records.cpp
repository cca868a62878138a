#include "core/history/run_records.hpp"

#include <time.h>

#include <algorithm>
#include <string>

#include "core/base/fsutil.hpp"
#include "core/base/mounts.hpp"
#include "core/history/history_log.hpp"
#include "core/store/catalog.hpp"
#include "core/store/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::size_t k_max_findings = 100;
constexpr std::size_t k_max_paths = 20;
constexpr int k_record_format = 1;

// The fields every record starts with: what, when (local ISO time and nanoseconds), how long.
nlohmann::json record_head(const char* event, double seconds) {
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return {{"event", event},
          {"format", k_record_format},
          {"time", format_iso_local(now.tv_sec)},
          {"time_ns", timespec_ns(now)},
          {"seconds", seconds}};
}

// The destination's size and free room, and the drive it is on (its filesystem UUID, when it can be
// read: root), so a report can tell rotating drives apart. Left out where they cannot be measured.
void add_destination(const Preset& preset, const Backend& backend, nlohmann::json& record) {
  if (auto space = backend.space(preset.destination)) {
    record["destination"] = {{"size_bytes", space->size_bytes}, {"free_bytes", space->free_bytes}};
  }
  if (auto mount = mount_of(preset.destination)) {
    nlohmann::json drive{{"filesystem", mount->fs_type}};
    if (auto uuid = drive_uuid(preset)) {
      drive["uuid"] = *uuid;
    }
    record["drive"] = drive;
  }
}

// A snapshot path as the report shows it: relative to the preset folder when it lies inside.
std::string preset_relative(const Preset& preset, const fs::path& path) {
  fs::path rel = path.lexically_relative(preset.preset_dir());
  if (rel.empty() || *rel.begin() == "..") {
    return path.string();
  }
  return rel.string();
}

}  // namespace

std::optional<std::string> drive_uuid(const Preset& preset) {
  auto mount = mount_of(preset.destination);
  if (!mount) {
    return std::nullopt;
  }
  auto uuid = filesystem_uuid_of_device(mount->source);
  if (!uuid || !*uuid) {
    return std::nullopt;
  }
  return normalize_uuid(**uuid);
}

nlohmann::json backup_record(const Preset& preset, const Backend& backend, const BackupRun& run) {
  const BackupOutcome& outcome = run.outcome;
  nlohmann::json record = record_head("backup", outcome.seconds);
  record["snapshot"] = outcome.snapshot_id;
  record["backend"] = run.backend;
  record["files"] = outcome.stats.files;
  record["files_transferred"] = outcome.stats.files_transferred;
  record["bytes_total"] = outcome.stats.bytes_total;
  record["bytes_transferred"] = outcome.stats.bytes_transferred;
  record["bytes_hashed"] = outcome.stats.bytes_hashed;
  record["manifest_ok"] = outcome.stats.manifest_ok;
  record["warnings"] = outcome.stats.warnings.size();
  if (outcome.changes) {
    const ChangeCounts& c = *outcome.changes;
    record["changes"] = {{"since", outcome.changes_since},
                         {"added", c.added},
                         {"content", c.content},
                         {"metadata", c.metadata},
                         {"deleted", c.deleted}};
  }
  nlohmann::json for_space = nlohmann::json::array();
  for (const auto& victim : outcome.freed_for_space) {
    for_space.push_back(victim.snapshot.id);
  }
  record["pruned"] = run.pruned;
  record["deleted_for_space"] = for_space;
  if (auto snapshots = count_snapshots(preset.preset_dir())) {
    record["snapshots"] = *snapshots;
  }
  add_destination(preset, backend, record);
  return record;
}

nlohmann::json scrub_record(const Preset& preset, const Backend& backend, const ScrubOptions& options,
                            const ScrubReport& report) {
  nlohmann::json record = record_head("scrub", report.seconds);
  record["scope"] = options.snapshot ? *options.snapshot : "all";
  record["repair"] = options.repair;
  record["budget_reached"] = report.budget_reached;
  record["snapshots_checked"] = report.snapshots_checked;
  record["files_checked"] = report.files_checked;
  record["bytes_read"] = report.bytes_read;
  record["bytes_total"] = report.bytes_total;
  record["contents_total"] = report.contents_total;
  record["contents_verified"] = report.contents_verified;
  record["contents_unverified"] = report.contents_unverified;
  record["mismatches"] = report.mismatches;
  record["without_manifest"] = report.without_manifest.size();
  record["damage"] = report.damage_remains();
  nlohmann::json findings = nlohmann::json::array();
  for (const ScrubFinding& f : report.findings) {
    if (findings.size() == k_max_findings) {
      break;
    }
    nlohmann::json paths = nlohmann::json::array();
    for (std::size_t i = 0; i < f.paths.size() && i < k_max_paths; ++i) {
      paths.push_back(preset_relative(preset, f.paths[i]));
    }
    findings.push_back({{"status", std::string(finding_status_name(f.status))},
                        {"repaired", f.repaired},
                        {"size", f.size},
                        {"snapshots", f.snapshots},
                        {"paths", paths},
                        {"paths_total", f.paths.size()}});
  }
  record["findings"] = findings;
  record["findings_total"] = report.findings.size();
  add_destination(preset, backend, record);
  return record;
}

Status record_backup(const Preset& preset, const Backend& backend, const BackupRun& run) {
  return append_history(preset.preset_dir(), backup_record(preset, backend, run));
}

Status record_scrub(const Preset& preset, const Backend& backend, const ScrubOptions& options,
                    const ScrubReport& report) {
  return append_history(preset.preset_dir(), scrub_record(preset, backend, options, report));
}

}  // namespace snapkeep
