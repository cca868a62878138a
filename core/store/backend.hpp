#pragma once
// The Backend interface: how a snapshot is made and deleted on one kind of destination.
// Backends live in backends/<name>/; backends/registry.cpp is the one table that names them.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/store/catalog.hpp"
#include "core/store/manifest_entry.hpp"

namespace snapkeep {

class Progress;

// Space one snapshot holds.
struct SnapshotUsage {
  std::string id;
  std::uint64_t exclusive_bytes = 0;   // freed by deleting this snapshot alone
  std::uint64_t cumulative_bytes = 0;  // freed by deleting it and every older one
};

// Space accounting of a preset's snapshots (`du`, free-space planning).
struct UsageReport {
  std::vector<SnapshotUsage> snapshots;  // oldest first
  std::uint64_t total_bytes = 0;         // allocated bytes of all snapshots, each inode once
  bool exact = true;                     // false where the filesystem only allows an estimate
  // With a deletion order: freed_after[j] = bytes freed once order[0..j] are all deleted.
  std::vector<std::uint64_t> freed_after;
};

// Everything a backend needs to make one snapshot.
struct BackupJob {
  const Preset* preset = nullptr;
  std::filesystem::path source;         // what to copy: the preset's source, or a frozen view of it
  std::filesystem::path preset_dir;     // DEST/<preset>, exists
  std::filesystem::path state_dir;      // DEST/<preset>/.snapkeep, exists, locked by us
  std::string id;                       // the new snapshot's id
  std::vector<SnapshotInfo> snapshots;  // complete snapshots, oldest first
  std::string drive;                    // filesystem UUID of the destination drive ("" when unknown)
  bool dry_run = false;                 // report what would be copied, change nothing
  Progress* progress = nullptr;         // may be disabled, never null
};

// What a backup did, for the result line and JSON.
// What a backend knows changed between the snapshot `base` and the new snapshot it made from it
// (btrfs: the paths an incremental send stream named). The manifest step then writes the new
// manifest from base's manifest and these paths instead of walking the new snapshot (docs/btrfs.md).
// Paths are relative to the snapshot root, sorted and unique.
struct TreeChanges {
  std::string base;                   // id of the snapshot the new one was made from
  std::vector<std::string> entries;   // paths whose own entry may differ (not what lies below them)
  std::vector<std::string> subtrees;  // paths whose whole subtree may differ (renamed, removed)
};

struct BackupStats {
  std::uint64_t files = 0;              // entries in the new snapshot
  std::uint64_t files_transferred = 0;  // files whose data was copied (not linked)
  std::uint64_t bytes_total = 0;        // size of the snapshot's files
  std::uint64_t bytes_transferred = 0;  // bytes of file data copied
  std::uint64_t bytes_hashed = 0;       // file data read to write the snapshot's manifest
  bool manifest_ok = false;             // the manifest was written (else `scrub --init` makes it)
  bool manifest_written = false;        // the backend wrote it itself (native engine): run_backup does not
  // Why the manifest was not written: the snapshot is complete and `latest`, but the run exits 1.
  std::optional<Error> manifest_error;
  std::vector<std::string> warnings;
  // Set by a backend that knows what changed since an earlier snapshot: the manifest is patched.
  std::optional<TreeChanges> changes;
  // Set by the manifest step when it patched: entries changed from changes->base to the new
  // snapshot, counted on the way (no second pass over both manifests).
  std::optional<ChangeCounts> change_counts;
  // files and bytes_total are left for the manifest step to count (it lists every entry anyway).
  bool counts_from_manifest = false;
};

// How a backend's snapshots share file content: what makes two snapshot files one content, for
// manifests (reusing a hash) and scrub (reading each content once). The rule itself is
// content_key() in core/integrity/content_identity.hpp.
enum class ContentSharing {
  // Snapshots are folders of one filesystem: one content is one inode (device, inode number).
  hard_links,
  // Each snapshot is a filesystem of its own (a btrfs subvolume, its own device number): a file
  // unchanged along a lineage of snapshots keeps inode number, ctime, size and mtime, and shares
  // its extents.
  extent_lineage,
};

// What a backend can do; callers query this rather than call methods that would fail.
struct BackendCapabilities {
  bool snapshots_source = false;  // takes its own point-in-time snapshots of a btrfs source
  ContentSharing content_sharing = ContentSharing::hard_links;
};

// Counters of a filesystem's own scrub (every copy of every block read and checked), summed over
// the filesystem's devices.
struct FsScrubCounters {
  std::uint64_t data_bytes_scrubbed = 0;
  std::uint64_t tree_bytes_scrubbed = 0;
  std::uint64_t read_errors = 0;
  std::uint64_t data_csum_errors = 0;  // data blocks whose checksum did not match
  std::uint64_t tree_errors = 0;       // metadata blocks that failed verification
  std::uint64_t super_errors = 0;
  std::uint64_t corrected_errors = 0;
  std::uint64_t uncorrectable_errors = 0;
};

// A filesystem that checks its own blocks (btrfs scrub). Offered by backends whose destination
// filesystem has one; scrub runs it next to its own verification.
class FilesystemScrub {
 public:
  virtual ~FilesystemScrub() = default;
  // Why it cannot run here (e.g. not root), or nullopt when it can.
  virtual std::optional<std::string> unavailable() const = 0;
  // An id of the filesystem holding `path`, so a run scrubs each filesystem once.
  virtual Result<std::string> filesystem_id(const std::filesystem::path& path) const = 0;
  // Scrubs the whole filesystem holding `path` in the foreground and returns its counters.
  virtual Result<FsScrubCounters> run(const std::filesystem::path& path) const = 0;
};

// Size of a destination's filesystem and the room a backup may still fill there.
struct DestinationSpace {
  std::uint64_t size_bytes = 0;  // the filesystem's size (statvfs f_blocks)
  std::uint64_t free_bytes = 0;  // room left for snapkeep (statvfs f_bavail)
};

// What an attempt to remake a damaged snapshot as a whole came to.
struct RemakeResult {
  bool remade = false;  // the snapshot's id now names a clean, verified copy; the damaged one is gone
  std::string note;     // remade: where the clean copy came from; else why it was not remade
};

// Remakes a damaged snapshot as a whole from a clean copy kept elsewhere, for snapshots that cannot
// be rewritten in place (btrfs: read-only subvolumes, remade by a full receive of the source
// snapshot they were received from). Offered by backends that can; `scrub --repair` uses it.
class SnapshotRemaker {
 public:
  virtual ~SnapshotRemaker() = default;
  // Makes a clean copy of `snapshot` under a dot-name in the preset folder, hands it to `verify`,
  // and only when that succeeds puts it in the snapshot's place (atomically) and deletes the damaged
  // one. Otherwise the snapshot stays as it was, the copy is removed, and the note says why
  // (no source snapshot left, the copy failed or did not verify). Call with the preset's lock held.
  virtual RemakeResult remake(const Preset& preset, const SnapshotInfo& snapshot,
                              const std::function<Status(const std::filesystem::path& copy)>& verify) const = 0;
};

// Work a killed run left under dot-names, for `list` (the next backup resumes or removes it).
struct InterruptedWork {
  std::filesystem::path path;
  std::string what;  // "an interrupted copy that the next backup resumes"
  // The snapshot the next backup may still put in place from it, under this id; its manifest may
  // already be written and is not an orphan (docs/btrfs.md). "" when none.
  std::string snapshot_id;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The name under which backends/registry.cpp knows this backend.
  virtual std::string_view name() const = 0;
  virtual BackendCapabilities capabilities() const = 0;

  // What this backend needs beyond the common checks (its tools installed, a destination
  // filesystem it can use). Changes nothing; errors say what to do.
  virtual Status check_preset(const Preset& preset) const = 0;

  // Makes job.preset_dir/job.id a complete snapshot of the preset's source. Until it is complete,
  // work stays under dot-names; on failure only such work is left, for the next run to resume.
  virtual Result<BackupStats> create_snapshot(const BackupJob& job) = 0;

  // Deletes one complete snapshot of this backend (already renamed out of sight), showing progress.
  virtual Status delete_snapshot(const std::filesystem::path& snapshot, Progress& progress) = 0;

  // Space each snapshot (oldest first) holds alone, and what deleting it and every older one frees;
  // with a deletion order (indices into snapshots), also what deleting them in that order frees.
  virtual Result<UsageReport> usage(const std::vector<SnapshotInfo>& snapshots,
                                    const std::vector<std::size_t>& deletion_order) = 0;

  // Does this complete snapshot have the shape this backend makes (a hard-link tree in the preset
  // folder's filesystem, or a read-only subvolume)? Backups refuse to switch backends under existing
  // snapshots unless asked (docs/usage.md).
  virtual bool made_snapshot(const std::filesystem::path& snapshot) const = 0;

  // Unfinished work of killed runs in a preset folder (DEST/<preset>).
  virtual std::vector<InterruptedWork> interrupted_work(const std::filesystem::path& preset_dir) const = 0;

  // How big the filesystem holding `destination` is and how much room is free on it, as free-space
  // planning (min_free, prune --free) measures it; statvfs(2) unless the backend knows better.
  // Errors name the path.
  virtual Result<DestinationSpace> space(const std::filesystem::path& destination) const;

  // The destination filesystem's own scrub, or null when it has none.
  virtual const FilesystemScrub* filesystem_scrub() const { return nullptr; }

  // Moves what the backend keeps outside the preset folder under the preset's name (btrfs: the
  // source snapshots) from `old_name` to `renamed.name` (`snapkeep rename`). Nothing by default.
  virtual Status rename_preset_state(const Preset& renamed, const std::string& old_name) const {
    (void)renamed;
    (void)old_name;
    return {};
  }

  // Remaking damaged snapshots as a whole, or null when this backend cannot.
  virtual const SnapshotRemaker* snapshot_remaker() const { return nullptr; }
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
