#pragma once
// `scrub --repair` for snapshots that cannot be rewritten in place (btrfs read-only subvolumes):
// each damaged one is remade as a whole by the backend's SnapshotRemaker, and the copy must verify
// against the snapshot's manifest before it takes the snapshot's place. See docs/scrub.md "btrfs".

#include <vector>

#include "core/integrity/scrub.hpp"

namespace snapkeep {

// Remakes every snapshot that unrepaired findings of `report` name (manifest_damaged ones excepted:
// there is nothing to verify a copy against). A copy verifies when every entry of the manifest
// exists in it with its type (files and symlinks: size and mtime too) and every content hashes to
// the manifest's hash, read from the disk; the manifest is then rewritten with the copy's own inode
// numbers and ctimes (hashes unchanged). Findings whose paths all lie in remade snapshots become
// repaired (those with paths in both kinds are split); the others' repair_note names the snapshots
// that stay damaged and why. Every attempt goes to report.snapshot_repairs.
void remake_damaged_snapshots(const Preset& preset, const SnapshotRemaker& remaker,
                              const std::vector<SnapshotInfo>& snapshots, ScrubReport& report);

}  // namespace snapkeep
