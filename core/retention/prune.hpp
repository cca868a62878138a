#pragma once
// Deleting snapshots: what the `keep` policy lets go, safely and resumably.

#include <optional>
#include <string>
#include <vector>

#include "core/store/backend.hpp"
#include "core/store/lock.hpp"

namespace snapkeep {

struct PruneOptions {
  bool dry_run = false;
  bool wait_for_lock = false;
  const PresetLock* held_lock = nullptr;  // the caller already holds the preset's lock (a backup's prune)
  std::optional<SizeSpec> free;           // --free SIZE: then also delete until this much is free
};

// One snapshot's fate in a prune run.
struct PruneEntry {
  std::string id;
  bool keep = true;
  bool deleted = false;              // false in a dry run
  std::vector<std::string> reasons;  // why it stays; "not made by snapkeep" protects legacy folders
};

// Applies the preset's `keep` to its snapshots and deletes what no rule keeps. Never deletes the
// newest snapshot, a snapshot snapkeep did not make (no time record: old script's or by hand), or
// anything while another run holds the preset's lock (ErrorKind::locked).
Result<std::vector<PruneEntry>> run_prune(const Preset& preset, Backend& backend, const PruneOptions& options);

// The same with the lock already held by the caller (backup's automatic prune).
Result<std::vector<PruneEntry>> prune_locked(const Preset& preset, Backend& backend, bool dry_run);

// Deletes one snapshot: renamed out of sight first (DEST/<preset>/.deleting-<id>, so a half-deleted
// tree never looks like a snapshot), its record dropped, then deleted by the backend.
Status delete_snapshot(const Preset& preset, Backend& backend, const SnapshotInfo& snapshot);

// Finishes deletions a killed run left behind (.deleting-* folders). Call with the lock held.
Status finish_interrupted_deletions(const Preset& preset, Backend& backend);

}  // namespace snapkeep
