#pragma once
// Making the manifest of a snapshot: walk it, hash only what the previous snapshot's manifest cannot
// vouch for, write the manifest atomically. Used at backup time and by `scrub --init`. Memory does
// not grow with the tree: the walk, the previous manifest and the new entries are sorted in work
// files (core/integrity/external_sort.hpp) when they do not fit in a few MiB.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/integrity/manifest.hpp"
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
  // patch only: files_hashed whose data was read from the source snapshot, while btrfs receive
  // still ran (PreparedPatch::hash_ahead), not from the new snapshot.
  std::uint64_t files_hashed_ahead = 0;
  std::uint64_t bytes_hashed = 0;  // bytes of file data read
  std::uint64_t bytes = 0;         // sizes of the regular files, summed
  // patch_manifest only: pages of the base manifest read and merged, and taken as they are.
  std::uint64_t base_pages_read = 0;
  std::uint64_t base_pages_taken = 0;
  // patch_manifest only: the extents the base manifest is stored in, and the share of its bytes in
  // runs of taken pages long enough to be cloned (k_min_clone_bytes), in percent.
  std::uint64_t base_extents = 0;
  std::uint64_t base_cloned_percent = 0;
  // patch_manifest only: whether the pages taken were cloned or copied, and why copied: the base is
  // in too many extents (k_min_pages_per_extent), or clones would take too little of it
  // (base_cloned_percent below k_min_cloned_percent, and less than k_max_copied_clonable_bytes).
  enum class BaseCopy { cloned, fragmented, little_to_clone };
  BaseCopy base_copy = BaseCopy::cloned;
  // patch_manifest only: the pages taken by a clone (the others in runs shorter than
  // k_min_clone_bytes, or all of them when copied, were written).
  std::uint64_t base_pages_cloned = 0;
  // patch_manifest only: what changed from the base manifest, by compare_entries' rule.
  std::optional<ChangeCounts> changes;
  // patch_manifest only: written as a delta manifest (version 4) of the whole manifest of
  // snapshot `delta_base`, in `delta_records` records (docs/scrub.md, "Delta manifests").
  bool delta = false;
  std::string delta_base;
  std::uint64_t delta_records = 0;
};

// How to build one manifest.
struct ManifestBuildOptions {
  ChecksumKind checksum = ChecksumKind::xxh128;
  std::string origin = "backup";  // "backup" or "init"
  // How the backend's snapshots share content: decides when a recorded hash still vouches for a
  // file (may_reuse_hash in core/integrity/content_identity.hpp).
  ContentSharing content_sharing = ContentSharing::hard_links;
  // The newest earlier snapshot and its manifest, whose hashes may be reused. Nothing is reused from
  // a manifest that is missing, damaged or of another checksum, nor, for hard-link trees, from a
  // snapshot on another device than the new one.
  std::optional<std::filesystem::path> previous_snapshot;
  std::optional<std::filesystem::path> previous_manifest;
  // Where work files go (on the destination, e.g. the preset's .snapkeep/); default: the folder of
  // the manifest file.
  std::optional<std::filesystem::path> work_dir;
  Progress* progress = nullptr;  // may be null
  // A patch may write a delta manifest (k_min_delta_records in core/integrity/manifest_patch.hpp).
  bool deltas = false;
};

// The header of a new manifest of snapshot `id`, made now (build_manifest, patch_manifest).
ManifestHeader new_manifest_header(const std::string& id, const ManifestBuildOptions& options);

// Writes the manifest of the snapshot tree `snapshot` (id `id`) to `manifest_file`. Entries are
// sorted by path bytes; files are read in inode order. Memory: a few sort buffers of
// k_sort_memory; the rest goes to work files. Stops with an error on a stop signal.
Result<ManifestBuildStats> build_manifest(const std::filesystem::path& snapshot, const std::string& id,
                                          const std::filesystem::path& manifest_file,
                                          const ManifestBuildOptions& options);

// Removes what killed runs left in state_dir/manifests (temporary files) and the manifests of
// snapshots that are gone (not in `ids`, and no folder of that name beside state_dir; or renamed
// by forget_snapshot_state), except those a delta manifest kept names as its base: these are kept
// as k_gone_manifest_prefix and the id. Call with the preset's lock held.
void tidy_manifests(const std::filesystem::path& state_dir, const std::vector<std::string>& ids);

// The options of a manifest made at backup time for `preset`: its checksum, origin "backup", the
// backend's `sharing`, work files in state_dir, and the hashes of `previous` (a snapshot before the
// new one, with its manifest in state_dir) to reuse, when given. A patch may write a delta, unless
// the environment sets SNAPKEEP_MANIFEST_DELTAS=0 (docs/scrub.md).
ManifestBuildOptions backup_manifest_options(const Preset& preset, const std::filesystem::path& state_dir,
                                             ContentSharing sharing, const SnapshotInfo* previous = nullptr);

// Makes state_dir/manifests and tidies it (tidy_manifests, and the work files killed runs left).
Status ready_manifest_dir(const std::filesystem::path& state_dir, const std::vector<std::string>& ids);

// What a backup's stats take from the manifest `built` of its new snapshot `id`, which a patch from
// stats.changes->base wrote when `patched` (files and bytes when stats.counts_from_manifest, bytes
// hashed, the change counts), and its line in the log.
void note_backup_manifest(const Preset& preset, const std::string& id, const ManifestBuildStats& built, bool patched,
                          BackupStats& stats);

// The backup-time step: writes the manifest of the new snapshot `id` of `preset`, reusing the
// manifest of the newest of `earlier` (complete snapshots before it, oldest first) as `sharing`
// (the backend's content_sharing) allows. Sets stats.bytes_hashed and stats.manifest_ok; a failure
// goes to stats.manifest_error (the snapshot stays, complete and `latest`; the run exits 1 and
// `scrub --init` makes the manifest later). With checksum = none the manifest holds metadata only
// and costs no reads.
void write_backup_manifest(const Preset& preset, const std::filesystem::path& preset_dir, const std::string& id,
                           const std::vector<SnapshotInfo>& earlier, BackupStats& stats, ContentSharing sharing);

}  // namespace snapkeep
