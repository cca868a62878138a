#pragma once
// Making the manifest of a snapshot: walk it, hash only what the previous snapshot's manifest cannot
// vouch for, write the manifest atomically. Used at backup time and by `scrub --init`.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/store/backend.hpp"
#include "core/store/catalog.hpp"

namespace snapkeep {

class Progress;

// What building a manifest cost.
struct ManifestBuildStats {
  std::uint64_t entries = 0;       // records written
  std::uint64_t files = 0;         // regular files among them
  std::uint64_t files_hashed = 0;  // regular files whose data was read
  std::uint64_t files_reused = 0;  // regular files whose hash came from the previous manifest
  std::uint64_t bytes_hashed = 0;  // bytes of file data read
};

// How to build one manifest.
struct ManifestBuildOptions {
  ChecksumKind checksum = ChecksumKind::xxh128;
  std::string origin = "backup";  // "backup" or "init"
  // The newest earlier snapshot and its manifest, whose hashes may be reused. A hash is reused when
  // the entry is the same inode: with both snapshots on one device (hard-link trees), the same
  // inode number, size and mtime; across devices (btrfs subvolumes of one lineage), the same inode
  // number, ctime, size and mtime. Nothing is reused from a manifest that is missing or damaged.
  std::optional<std::filesystem::path> previous_snapshot;
  std::optional<std::filesystem::path> previous_manifest;
  Progress* progress = nullptr;  // may be null
};

// Writes the manifest of the snapshot tree `snapshot` (id `id`) to `manifest_file`. Entries are
// sorted by path bytes; memory holds one record per entry for the sort and, when reusing, one
// small record per file of the previous manifest. Stops with an error on a stop signal.
Result<ManifestBuildStats> build_manifest(const std::filesystem::path& snapshot, const std::string& id,
                                          const std::filesystem::path& manifest_file,
                                          const ManifestBuildOptions& options);

// Removes what killed runs left in state_dir/manifests (temporary files) and the manifests of
// snapshots that are gone (not in `ids`). Call with the preset's lock held.
void tidy_manifests(const std::filesystem::path& state_dir, const std::vector<std::string>& ids);

// The backup-time step: writes the manifest of the new snapshot `id` of `preset`, reusing the
// manifest of the newest of `earlier` (complete snapshots before it, oldest first). Sets
// stats.bytes_hashed and stats.manifest_ok; a failure goes to stats.manifest_error (the snapshot
// stays, complete and `latest`; the run exits 1 and `scrub --init` makes the manifest later). With checksum = none the
// manifest holds metadata only and costs no reads.
void write_backup_manifest(const Preset& preset, const std::filesystem::path& preset_dir, const std::string& id,
                           const std::vector<SnapshotInfo>& earlier, BackupStats& stats);

}  // namespace snapkeep
