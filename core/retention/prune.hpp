#pragma once
// Pruning: deleting what the `keep` policy lets go (and with --free, more for space); `snapkeep
// delete`: the user's explicit deletion of snapkeep's own snapshots.

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
  bool for_space = false;            // deleted (or to be) to reach --free
  bool overrides_keep = false;       // ... although a keep rule kept it (min_free_overrides_keep)
};

// Applies the preset's `keep` to its snapshots and deletes what no rule keeps (policy.hpp: never
// `latest`, never a snapshot snapkeep did not make), and nothing while another run holds the
// preset's lock (ErrorKind::locked).
Result<std::vector<PruneEntry>> run_prune(const Preset& preset, Backend& backend, const PruneOptions& options);

// The same with the lock already held by the caller (backup's automatic prune).
Result<std::vector<PruneEntry>> prune_locked(const Preset& preset, Backend& backend, bool dry_run);

// `snapkeep delete PRESET ID...`: deletes these snapshots of snapkeep's own (the newest too: then
// `latest` moves back) through the same safe deletion as prune, under the preset's lock. An id that
// is not a snapshot, or one snapkeep did not make, is an error and nothing is deleted.
Result<std::vector<std::string>> delete_snapshots(const Preset& preset, Backend& backend,
                                                  const std::vector<std::string>& ids, bool dry_run, bool wait);

}  // namespace snapkeep
