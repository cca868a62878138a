#pragma once
// The Backend interface: how a snapshot is made and deleted on one kind of destination.
// Backends live in backends/<name>/; backends/registry.cpp is the one table that names them.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/catalog.hpp"
#include "core/config.hpp"
#include "core/du.hpp"
#include "core/error.hpp"

namespace snapkeep {

class Progress;

// Everything a backend needs to make one snapshot.
struct BackupJob {
  const Preset* preset = nullptr;
  std::filesystem::path source;         // what to copy: the preset's source, or a frozen view of it
  std::filesystem::path preset_dir;     // DEST/<preset>, exists
  std::filesystem::path state_dir;      // DEST/<preset>/.snapkeep, exists, locked by us
  std::string id;                       // the new snapshot's id
  std::vector<SnapshotInfo> snapshots;  // complete snapshots, oldest first
  bool dry_run = false;                 // report what would be copied, change nothing
  Progress* progress = nullptr;         // may be disabled, never null
};

// What a backup did, for the result line and JSON.
struct BackupStats {
  std::uint64_t files = 0;              // entries in the new snapshot
  std::uint64_t files_transferred = 0;  // files whose data was copied (not linked)
  std::uint64_t bytes_total = 0;        // size of the snapshot's files
  std::uint64_t bytes_transferred = 0;  // bytes of file data copied
  std::uint64_t bytes_hashed = 0;       // file data read to write the snapshot's manifest
  bool manifest_ok = false;             // the manifest was written (else `scrub --init` makes it)
  // Why the manifest was not written: the snapshot is complete and `latest`, but the run exits 1.
  std::optional<Error> manifest_error;
  std::vector<std::string> warnings;
};

// What a backend can do; callers query this rather than call methods that would fail.
struct BackendCapabilities {
  bool read_only_snapshots = false;  // snapshots are read-only subvolumes
  bool block_incremental = false;    // unchanged blocks of changed files are shared
  bool snapshots_source = false;     // takes its own point-in-time snapshots of a btrfs source
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "rsync" or "btrfs".
  virtual std::string_view name() const = 0;
  virtual BackendCapabilities capabilities() const = 0;

  // Makes job.preset_dir/job.id a complete snapshot of the preset's source. Until it is complete,
  // work stays under dot-names; on failure only such work is left, for the next run to resume.
  virtual Result<BackupStats> create_snapshot(const BackupJob& job) = 0;

  // Deletes one complete snapshot of this backend (already renamed out of sight), showing progress.
  virtual Status delete_snapshot(const std::filesystem::path& snapshot, Progress& progress) = 0;

  // Space each snapshot (oldest first) holds alone, and what deleting it and every older one frees;
  // with a deletion order (indices into snapshots), also what deleting them in that order frees.
  virtual Result<UsageReport> usage(const std::vector<SnapshotInfo>& snapshots,
                                    const std::vector<std::size_t>& deletion_order) = 0;
};

// Gives a backup a point-in-time view of its source where the source's filesystem allows it
// (a read-only btrfs snapshot), so files changing during the backup land wholly old or wholly new.
class SourceFreezer {
 public:
  virtual ~SourceFreezer() = default;
  // A read-only view of preset.source for backup `id`, or nullopt when the source cannot be frozen.
  virtual Result<std::optional<std::filesystem::path>> freeze(const Preset& preset, const std::string& id) = 0;
  // Deletes what freeze() made.
  virtual Status release(const std::filesystem::path& frozen) = 0;
};

}  // namespace snapkeep
