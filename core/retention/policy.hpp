#pragma once
// The one rule of which snapshots may be deleted, shared by prune, min_free and `snapkeep delete`.

#include <ctime>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/store/catalog.hpp"

namespace snapkeep {

// What the rules say about one snapshot.
struct SnapshotVerdict {
  SnapshotInfo snapshot;
  bool keep = true;                  // a `keep` rule (or "no policy") keeps it
  std::vector<std::string> reasons;  // why it stays, as prune shows them
  // Never deleted by any policy, whatever space is needed: a snapshot snapkeep did not make (no
  // record: the old script's, or by hand), and `latest` (the snapshot completed last).
  bool untouchable = false;
  // Among the newest N of `keep`'s bare count (keep = 3 ...): min_free never goes below them.
  bool in_bare_count = false;
};

// Judges every snapshot of `catalog` (as list_snapshots gives it: completion order, latest last)
// against the preset's `keep` at `now`. Only snapkeep's own snapshots take part in the policy.
// The result is in catalog order.
std::vector<SnapshotVerdict> judge_snapshots(const Preset& preset, const std::vector<SnapshotInfo>& catalog,
                                             std::time_t now);

}  // namespace snapkeep
