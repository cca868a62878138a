#pragma once
// The destination drives of a preset, as the local state remembers them (core/store/local_state.hpp):
// each drive by filesystem UUID, when it was first and last backed up to, its newest snapshot and,
// on btrfs, the parent pair its next incremental send needs. Rotating drives (A, B, A, B, ...) are
// told apart here; see docs/state.md and docs/btrfs.md.

#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep {

// The btrfs parent pair a drive keeps: its newest verified snapshot and the uuid of the source
// snapshot it was received from (which stays pinned on the source while the drive is away).
struct DriveParent {
  std::string snapshot;
  std::string source_uuid;
  bool operator==(const DriveParent&) const = default;
};

// One destination drive a preset has been backed up to.
struct DriveRecord {
  std::string uuid;                    // filesystem UUID
  std::time_t first_seen = 0;          // first backup to it
  std::time_t last_seen = 0;           // latest backup to it
  std::string last_snapshot;           // the snapshot that backup made
  std::vector<std::string> snapshots;  // the ids on the drive after that backup
  std::optional<DriveParent> parent;
  std::time_t parent_released = 0;  // when its parent pair was released (0: never)
};

// The drives the local state records for the preset folder `preset_dir`, first seen first; empty
// when none. A damaged state file is an error naming it.
Result<std::vector<DriveRecord>> read_drives(const std::filesystem::path& preset_dir);

// What `list` and `check` show of a preset's drives.
struct PresetDrives {
  std::vector<DriveRecord> drives;  // recorded on this machine, first seen first
  std::string mounted;              // UUID of the drive holding the destination now ("" when unknown)
};

// The drives the local state records for `preset_dir` and the UUID of the filesystem holding
// `destination` now (left empty when it cannot be told, e.g. without root). A damaged state file is
// an error naming it.
Result<PresetDrives> preset_drives(const std::filesystem::path& preset_dir, const std::filesystem::path& destination);

// Records that a backup of preset `name` made `snapshot` on drive `uuid` at `when`, leaving the ids
// `on_drive` there (first_seen is set once; the rest every time).
Status record_drive_backup(const std::filesystem::path& preset_dir, const std::string& name, const std::string& uuid,
                           const std::string& snapshot, std::time_t when, const std::vector<std::string>& on_drive);

// Sets the parent pair of drive `uuid` (the one before is no longer needed by it).
Status record_drive_parent(const std::filesystem::path& preset_dir, const std::string& uuid, const DriveParent& parent);

// Releases the parent pair of drive `uuid`, noting when: its next btrfs backup is a full send.
Status release_drive_parent(const std::filesystem::path& preset_dir, const std::string& uuid, std::time_t when);

// The snapshot ids the drives hold (every id on each drive at its last backup, and its btrfs
// parent): a new snapshot on another drive must not take one of them, so ids stay unique across
// rotating drives and never reuse the source snapshot an absent drive's next send needs.
std::vector<std::string> ids_held_by_drives(const std::vector<DriveRecord>& drives);

}  // namespace snapkeep
