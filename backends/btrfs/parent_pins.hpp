#pragma once
// Rotating backup drives on btrfs: every drive keeps its own parent pair, and the source snapshot
// of that pair stays on the source while the drive is away, so its next send is incremental too.
// The pairs live in the local state (core/store/drives.hpp); see docs/btrfs.md "Rotating drives".

#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/store/backend.hpp"

namespace snapkeep {

// The drive a backup goes to: job.drive, else the uuid of the btrfs filesystem holding the preset
// folder; "" when neither can be told.
std::string btrfs_backup_drive(const BackupJob& job);

// Uuids of the source snapshots that drives other than `drive` keep as their parent pair. A drive
// not seen for the preset's forget_drive_after is released first (its next backup is a full send),
// with a warning in *warnings. nullopt when the local state cannot be read (the reason in
// *warnings): then no source snapshot may be deleted.
std::optional<std::set<std::string>> pinned_source_uuids(const Preset& preset, const std::string& drive,
                                                         std::time_t now, std::vector<std::string>& warnings);

// Records `snapshot`, received from the source snapshot `source_uuid`, as the parent pair of
// `drive`; a failure is a warning in *warnings (the next backup to it may then be a full send).
void record_parent_pair(const Preset& preset, const std::string& drive, const std::string& snapshot,
                        const std::string& source_uuid, std::vector<std::string>& warnings);

}  // namespace snapkeep
