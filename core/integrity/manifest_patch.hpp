#pragma once
// Writing a snapshot's manifest from the manifest of the snapshot it was made from and the paths a
// backend knows changed in between (TreeChanges, core/store/backend.hpp): the new snapshot is not
// walked, only the changed paths are looked at, so an incremental btrfs backup costs time in
// proportion to what changed (docs/btrfs.md). The result is the manifest build_manifest would
// write for the same snapshot; tests/integration/test_btrfs_manifest_patch.cpp compares the two.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/base/error.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// Paths looked at beyond which a patch is not worth it: patch_manifest fails and the caller builds
// the manifest in full (which costs the same and keeps memory bounded).
inline constexpr std::size_t k_patch_max_paths = 100000;

// A patch clones the runs of pages it takes from the base manifest (k_min_clone_bytes and
// longer), so each new manifest is stored in the base's extents plus a few more, and fragments grow
// from one generation to the next: cloning costs time per extent, and reading a manifest in
// thousands of pieces means as many seeks on a hard disk. When the base is stored in more than one
// extent per this many pages, the pages taken are copied instead, and the new manifest is written
// in one piece (docs/btrfs.md).
inline constexpr std::size_t k_min_pages_per_extent = 4;

// The pages taken are copied too when clones would take less than this share of the base (percent
// of its bytes in runs of k_min_clone_bytes and longer) and spare writing less than
// k_max_copied_clonable_bytes: changes spread over a small manifest leave short runs between them,
// and clones that spare writing a few MiB cost more in the sync that follows than writing them
// (measured at 100 000 files in docs/btrfs.md). A copy then takes at most twice the room. A large
// manifest is cloned whatever the share: a copy would write tens of MiB more.
inline constexpr std::uint64_t k_min_cloned_percent = 50;
inline constexpr std::uint64_t k_max_copied_clonable_bytes = 16 * 1024 * 1024;

// A patch with ManifestBuildOptions::deltas writes a delta manifest (version 4) of the whole
// manifest its parent's is or amends, not a whole one, while the delta would hold no more records
// than the base's entries / k_delta_entries_divisor, or k_min_delta_records but never more than half
// the base's entries (and never more than k_patch_max_paths): a backup then writes what changed
// since that base, not a manifest of the whole tree, and a whole manifest written when the delta
// grows past that starts the chain over (docs/btrfs.md).
inline constexpr std::size_t k_min_delta_records = 4096;
inline constexpr std::size_t k_delta_entries_divisor = 8;

// PreparedPatch::hash_ahead reads files up to this size, and this much in all, so that what it
// reads in vain (a file write() finds changed again, or whose hash it reuses) stays small.
inline constexpr std::uint64_t k_hash_ahead_file_bytes = 1024 * 1024;
inline constexpr std::uint64_t k_hash_ahead_bytes = 64 * 1024 * 1024;

// A patch in two halves. prepare() needs only the base manifest and the changed paths, not the new
// snapshot: it opens and checks the base's index, reads the pages the changes fall in, gathers
// the files they removed and checks the pages write() will take as they are. write() then looks at the changed paths in
// the new snapshot and writes the manifest. A btrfs backup prepares while btrfs receive still writes the snapshot, on a
// thread of its own (docs/btrfs.md).
class PreparedPatch {
 public:
  // Fails when the base manifest (of changes.base) cannot be used, holds other hashes than
  // `checksum`, or more paths changed than max_paths. A delta manifest is read with the whole one
  // it amends: the patch then reads the pages of that one, overlaid by the delta's records.
  static Result<PreparedPatch> prepare(const std::filesystem::path& base_manifest, TreeChanges changes,
                                       ChecksumKind checksum, std::size_t max_paths = k_patch_max_paths);
  PreparedPatch(PreparedPatch&&) noexcept;
  PreparedPatch& operator=(PreparedPatch&&) = delete;
  ~PreparedPatch();

  // Hashes the small files among the changed paths, not below a renamed folder (up to k_hash_ahead_file_bytes each,
  // k_hash_ahead_bytes in all) as `source` holds them: a read-only snapshot of what the new snapshot
  // is a copy of (the source snapshot btrfs send reads from), so write() need not read them from the
  // new one. write() takes such a hash only for a file of the same size and mtime there; the hash
  // then attests what was sent, as the native engine's attests what it copied (docs/btrfs.md).
  // After a failure write() reads what was not hashed yet, as without it.
  Status hash_ahead(const std::filesystem::path& source);
  // The files hash_ahead hashed and the bytes it read (write() may not use them all).
  std::pair<std::size_t, std::uint64_t> hashed_ahead() const;

  // A manifest written and sealed (ManifestWriter::seal, ManifestDeltaWriter::seal): the caller
  // commits it.
  struct Written {
    ManifestBuildStats stats;
    std::optional<ManifestWriter> whole;
    std::optional<ManifestDeltaWriter> delta;  // stats.delta
    Status commit(ManifestWriter::Durability durability) {
      return whole ? whole->commit(durability) : delta->commit(durability);
    }
  };
  // Writes the manifest of `snapshot` (id `id`) to `manifest_file`, as patch_manifest does, and
  // seals it; options.checksum must be prepare()'s. Once per prepared patch.
  Result<Written> write(const std::filesystem::path& snapshot, const std::string& id,
                        const std::filesystem::path& manifest_file, const ManifestBuildOptions& options);

 private:
  struct State;
  explicit PreparedPatch(std::unique_ptr<State> state);
  std::unique_ptr<State> m_state;
};

// Writes the manifest of `snapshot` (id `id`) to `manifest_file` from `base_manifest` (the
// manifest of changes.base, which must be whole and of options.checksum) and `changes`. Every
// changed path is lstat-ed without following symlinks; renamed folders are walked; files whose
// hash the base cannot vouch for (content_identity) are read. Memory: the changed paths, at most
// `max_paths`. Fails when the base manifest cannot be used or more paths changed than max_paths;
// the caller then builds the manifest in full.
Result<ManifestBuildStats> patch_manifest(const std::filesystem::path& snapshot, const std::string& id,
                                          const std::filesystem::path& manifest_file,
                                          const std::filesystem::path& base_manifest, const TreeChanges& changes,
                                          const ManifestBuildOptions& options,
                                          std::size_t max_paths = k_patch_max_paths);

}  // namespace snapkeep
