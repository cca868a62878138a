#include "core/retention/prune.hpp"

#include <algorithm>
#include <iterator>

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/retention/retention.hpp"
#include "core/retention/space.hpp"
#include "core/store/lock.hpp"
#include "core/store/preset_checks.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::string_view k_deleting_prefix = ".deleting-";

}  // namespace

Status delete_snapshot(const Preset& preset, Backend& backend, const SnapshotInfo& snapshot) {
  fs::path preset_dir = preset.preset_dir();
  // Renaming within its own folder works for read-only btrfs subvolumes too.
  fs::path hidden = preset_dir / (std::string(k_deleting_prefix) + snapshot.id);
  SNAPKEEP_TRY(rename_path(snapshot.path, hidden));
  SNAPKEEP_TRY(fsync_dir(preset_dir));
  std::error_code ec;
  fs::remove(preset_dir / k_state_dir_name / "snapshots" / snapshot.id, ec);
  spdlog::info("{}: deleting snapshot {}", preset.name, snapshot.id);
  Progress progress(preset.name);
  return backend.delete_snapshot(hidden, progress);
}

Status finish_interrupted_deletions(const Preset& preset, Backend& backend) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(preset.preset_dir(), ec)) {
    if (entry.path().filename().string().rfind(k_deleting_prefix, 0) == 0) {
      spdlog::info("{}: finishing the interrupted deletion of {}", preset.name, entry.path().string());
      Progress progress(preset.name);
      SNAPKEEP_TRY(backend.delete_snapshot(entry.path(), progress));
    }
  }
  return {};
}

Result<std::vector<PruneEntry>> prune_locked(const Preset& preset, Backend& backend, bool dry_run) {
  if (!dry_run) {
    SNAPKEEP_TRY(finish_interrupted_deletions(preset, backend));
  }
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset.preset_dir()));
  // Only snapkeep's own snapshots take part in the policy: a folder it did not make (no time record)
  // is never deleted, and must not take the place of the newest snapshot either.
  std::vector<SnapshotInfo> own;
  std::copy_if(snapshots.begin(), snapshots.end(), std::back_inserter(own),
               [](const SnapshotInfo& s) { return s.time_recorded; });
  auto decisions = apply_retention(preset.keep, own, std::time(nullptr));
  std::vector<PruneEntry> out;
  for (const auto& snapshot : snapshots) {
    auto decision = std::find_if(decisions.begin(), decisions.end(),
                                 [&](const RetentionDecision& d) { return d.id == snapshot.id; });
    PruneEntry entry{snapshot.id, true, false, {"not made by snapkeep"}};
    if (decision != decisions.end()) {
      entry.keep = decision->keep;
      entry.reasons = decision->reasons;
    }
    if (!entry.keep && !dry_run) {
      SNAPKEEP_TRY(delete_snapshot(preset, backend, snapshot));
      entry.deleted = true;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

Result<std::vector<PruneEntry>> run_prune(const Preset& preset, Backend& backend, const PruneOptions& options) {
  SNAPKEEP_TRY(check_destination(preset));
  fs::path state_dir = preset.preset_dir() / k_state_dir_name;
  std::error_code ec;
  if (!fs::is_directory(state_dir, ec)) {
    return std::vector<PruneEntry>{};  // never backed up: nothing to prune
  }
  std::optional<PresetLock> lock;
  if (options.held_lock == nullptr) {
    SNAPKEEP_TRY_ASSIGN(auto acquired, PresetLock::acquire(state_dir, preset.name, options.wait_for_lock));
    lock.emplace(std::move(acquired));
  }
  auto entries = prune_locked(preset, backend, options.dry_run);
  if (!entries || !options.free) {
    return entries;
  }
  SNAPKEEP_TRY_ASSIGN(auto plan, make_free_space(preset, backend, *options.free, options.dry_run));
  for (const auto& victim : plan.victims) {
    for (auto& entry : *entries) {
      if (entry.id == victim.id) {
        entry.keep = false;
        entry.deleted = !options.dry_run;
        entry.reasons = {};
      }
    }
  }
  return entries;
}

}  // namespace snapkeep
