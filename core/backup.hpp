#pragma once
// One backup of one preset, whatever the backend: checks, lock, id, snapshot, `latest`.

#include <optional>
#include <string>

#include "core/backend.hpp"
#include "core/lock.hpp"

namespace snapkeep {

struct BackupOptions {
  bool dry_run = false;
  bool wait_for_lock = false;
};

// What a finished backup made.
struct BackupOutcome {
  std::string snapshot_id;  // the new snapshot (or the one a dry run would make)
  BackupStats stats;
  double seconds = 0;
  // The preset's lock, still held (none in a dry run): the caller's follow-up work on the preset
  // (the prune after a backup) runs under it, so no other run slips in between.
  std::optional<PresetLock> lock;
};

// Makes one new snapshot of `preset` with `backend`. Fails (and leaves every earlier snapshot and
// `latest` as they were) when a check fails, the lock is held (ErrorKind::locked) or the backend fails.
// With a freezer, a backend that does not snapshot the source itself copies from a frozen view.
Result<BackupOutcome> run_backup(const Preset& preset, Backend& backend, const BackupOptions& options,
                                 SourceFreezer* freezer = nullptr);

}  // namespace snapkeep
