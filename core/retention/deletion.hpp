#pragma once
// Deleting snapshots safely and resumably: the one way any snapshot is deleted (prune, min_free,
// `snapkeep delete`).

#include <string>
#include <vector>

#include "core/store/backend.hpp"

namespace snapkeep {

// Deletes one snapshot: renamed out of sight first (DEST/<preset>/.deleting-<id>, so a half-deleted
// tree never looks like a snapshot), its record and manifest dropped, then deleted by the backend.
// When it was the one `latest` names, `latest` moves to the snapshot completed before it (or goes).
Status delete_snapshot(const Preset& preset, Backend& backend, const SnapshotInfo& snapshot);

// Finishes deletions a killed run left behind (.deleting-* folders). Call with the lock held.
Status finish_interrupted_deletions(const Preset& preset, Backend& backend);

}  // namespace snapkeep
