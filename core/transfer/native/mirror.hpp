#pragma once
// The native engine's in-place mode (docs/engine.md "In place, for btrfs"): makes a folder that
// already holds an earlier copy of the source (the btrfs backend's working subvolume
// `.snapkeep/current`) equal to the source as `rsync -aHAX --numeric-ids --delete --delete-excluded
// --inplace` makes it, writing only what differs. A regular file of the same size and nanosecond
// mtime is not opened (rsync's quick check, with exact times); a changed one is compared block by
// block with its earlier copy and only the blocks that differ are written, so the blocks it keeps
// stay shared with earlier snapshots of the folder. Names of one source inode are one inode in the
// copy; an inode of the copy is never written through a name that stops belonging to it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/progress.hpp"
#include "core/config/config.hpp"

namespace snapkeep {

// One run.
struct MirrorJob {
  const Preset* preset = nullptr;  // exclude, exclude_from, exclude_if_present, one_file_system, allow_partial
  std::filesystem::path source;    // its contents are copied
  std::filesystem::path target;    // an existing folder, made equal to the source
  bool dry_run = false;            // decide and count, change nothing
  Progress* progress = nullptr;    // may be null
  std::size_t max_paths = 100000;  // changed paths listed at most (MirrorStats::changed)
};

// What a run did.
struct MirrorStats {
  std::uint64_t files = 0;              // entries of the copy, its root included (as rsync counts)
  std::uint64_t files_transferred = 0;  // regular files whose data was written (new or changed)
  std::uint64_t bytes_total = 0;        // size of the copy's regular files
  std::uint64_t bytes_transferred = 0;  // bytes written: changed blocks, and new files' data
  std::uint64_t removed = 0;            // entries of the target removed (gone from the source, or excluded)
  std::vector<std::string> warnings;
  // What the run changed in the target, relative to its root, sorted and unique; nullopt when it
  // changed more than MirrorJob::max_paths paths (or in a dry run). `entries`: paths whose own entry
  // was made, written or given other metadata, and their folders; `subtrees`: paths removed or
  // replaced with all below them. The btrfs backend patches the snapshot's manifest from them.
  struct Changed {
    std::vector<std::string> entries;
    std::vector<std::string> subtrees;
  };
  std::optional<Changed> changed;
};

// Makes job.target equal to job.source. Fails on a stop signal, on any error writing the target
// (ENOSPC sets Error::full), and on unreadable source entries unless allow_partial (then a
// warning). Source entries that vanish during the walk are left out with a warning, as rsync does.
// A run cut short leaves the target partly updated; the next run continues from it.
Result<MirrorStats> run_mirror(const MirrorJob& job);

}  // namespace snapkeep
