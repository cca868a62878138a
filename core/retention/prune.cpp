#include "core/retention/prune.hpp"

#include <algorithm>
#include <ctime>

#include "core/retention/deletion.hpp"
#include "core/retention/policy.hpp"
#include "core/retention/space.hpp"
#include "core/store/preset_checks.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Takes the preset's lock unless the caller holds it; nullopt lock when the preset was never
// backed up (no state folder: nothing to delete).
Result<std::optional<PresetLock>> lock_preset(const Preset& preset, const PresetLock* held, bool wait, bool& exists) {
  SNAPKEEP_TRY(check_destination(preset));
  fs::path state_dir = preset.preset_dir() / k_state_dir_name;
  std::error_code ec;
  exists = fs::is_directory(state_dir, ec);
  if (!exists || held != nullptr) {
    return std::optional<PresetLock>{};
  }
  SNAPKEEP_TRY_ASSIGN(PresetLock lock, PresetLock::acquire(state_dir, preset.name, wait));
  return std::optional<PresetLock>{std::move(lock)};
}

}  // namespace

Result<std::vector<PruneEntry>> prune_locked(const Preset& preset, Backend& backend, bool dry_run) {
  if (!dry_run) {
    SNAPKEEP_TRY(finish_interrupted_deletions(preset, backend));
  }
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset.preset_dir()));
  std::vector<PruneEntry> out;
  for (const SnapshotVerdict& v : judge_snapshots(preset, snapshots, std::time(nullptr))) {
    PruneEntry entry{v.snapshot.id, v.keep, false, v.reasons};
    if (!entry.keep && !v.untouchable && !dry_run) {
      SNAPKEEP_TRY(delete_snapshot(preset, backend, v.snapshot));
      entry.deleted = true;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

Result<std::vector<PruneEntry>> run_prune(const Preset& preset, Backend& backend, const PruneOptions& options) {
  bool exists = false;
  SNAPKEEP_TRY_ASSIGN(auto lock, lock_preset(preset, options.held_lock, options.wait_for_lock, exists));
  if (!exists) {
    return std::vector<PruneEntry>{};  // never backed up: nothing to prune
  }
  SNAPKEEP_TRY_ASSIGN(auto entries, prune_locked(preset, backend, options.dry_run));
  if (!options.free) {
    return entries;
  }
  SNAPKEEP_TRY_ASSIGN(auto plan, make_free_space(preset, backend, *options.free, options.dry_run));
  for (const auto& victim : plan.victims) {
    for (auto& entry : entries) {
      if (entry.id == victim.snapshot.id) {
        entry.keep = false;
        entry.deleted = !options.dry_run;
        entry.for_space = true;
        entry.overrides_keep = victim.overrides_keep;
        if (!victim.overrides_keep) {
          entry.reasons = {};
        }
      }
    }
  }
  return entries;
}

Result<std::vector<std::string>> delete_snapshots(const Preset& preset, Backend& backend,
                                                  const std::vector<std::string>& ids, bool dry_run, bool wait) {
  bool exists = false;
  SNAPKEEP_TRY_ASSIGN(auto lock, lock_preset(preset, nullptr, wait, exists));
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset.preset_dir()));
  std::vector<SnapshotInfo> chosen;
  for (const auto& id : ids) {
    SNAPKEEP_TRY_ASSIGN(SnapshotInfo found, find_snapshot(preset.preset_dir(), id));
    if (!found.time_recorded) {
      return config_error("snapshot " + found.id + " was not made by snapkeep (the old script's, or made by hand); " +
                          "snapkeep deletes only its own snapshots (`snapkeep adopt " + preset.name +
                          "` hands the old script's over)")
          .in(preset.name);
    }
    if (std::none_of(chosen.begin(), chosen.end(), [&](const SnapshotInfo& s) { return s.id == found.id; })) {
      chosen.push_back(found);
    }
  }
  std::vector<std::string> deleted;
  for (const auto& snapshot : chosen) {
    if (!dry_run) {
      SNAPKEEP_TRY(delete_snapshot(preset, backend, snapshot));
    }
    deleted.push_back(snapshot.id);
  }
  return deleted;
}

}  // namespace snapkeep
