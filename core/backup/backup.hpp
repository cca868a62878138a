#pragma once
// One backup of one preset, whatever the backend: checks, lock, id, snapshot, `latest`.

#include <optional>
#include <string>
#include <vector>

#include "core/integrity/manifest_diff.hpp"
#include "core/retention/space.hpp"
#include "core/store/backend.hpp"
#include "core/store/lock.hpp"

namespace snapkeep {

struct BackupOptions {
  bool dry_run = false;
  bool wait_for_lock = false;
  // Make a snapshot even when the preset's snapshots were made by another backend (a full copy that
  // shares nothing with them); refused otherwise.
  bool switch_backend = false;
  // Start this preset's folder even though a sibling folder holds snapshots of the same source
  // under another name (a renamed preset: `snapkeep rename` moves them instead).
  bool new_folder = false;
  // Every preset name in the config: a sibling folder of one of them is another preset's, never an
  // orphaned folder of a renamed preset.
  std::vector<std::string> configured_presets;
};

// What a finished backup made.
struct BackupOutcome {
  std::string snapshot_id;  // the new snapshot (or the one a dry run would make)
  BackupStats stats;
  double seconds = 0;
  std::vector<SpaceVictim> freed_for_space;  // deleted first for min_free, oldest first
  // Entries added, changed and deleted since the previous snapshot (changes_since), from both
  // manifests; none in a dry run, for a first snapshot, or when either manifest is missing.
  std::optional<ChangeCounts> changes;
  std::string changes_since;
  // The source shrank drastically against the previous snapshot (an unmounted source drive?).
  struct Shrink {
    std::string previous;  // the previous snapshot's id
    std::uint64_t previous_files = 0;
    std::uint64_t previous_bytes = 0;
  };
  std::optional<Shrink> source_shrank;
  // The preset's lock, still held (none in a dry run): the caller's follow-up work on the preset
  // (the prune after a backup) runs under it, so no other run slips in between.
  std::optional<PresetLock> lock;
};

// Makes one new snapshot of `preset` with `backend`. Fails (and leaves every earlier snapshot and
// `latest` as they were) when a check fails, the lock is held (ErrorKind::locked) or the backend fails.
// With a freezer, a backend that does not snapshot the source itself copies from a frozen view.
Result<BackupOutcome> run_backup(const Preset& preset, Backend& backend, const BackupOptions& options,
                                 SourceFreezer* freezer = nullptr);

// A backup as the `backup` command makes it: the snapshot and, with a `keep` policy, the prune
// that follows under the same lock (no other run slips in between).
struct BackupRun {
  std::string backend;  // the backend's name
  BackupOutcome outcome;
  std::vector<std::string> pruned;   // ids the prune deleted
  std::optional<Error> prune_error;  // the backup succeeded but the prune failed
};

// run_backup, then (with `keep`, not in a dry run) the prune; the lock is released on return.
Result<BackupRun> backup_preset(const Preset& preset, Backend& backend, const BackupOptions& options,
                                SourceFreezer* freezer);

}  // namespace snapkeep
