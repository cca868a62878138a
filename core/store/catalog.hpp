#pragma once
// The snapshot catalog of one preset folder: which snapshots exist, their order, and `latest`.

#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep {

// Name of snapkeep's own state folder inside each preset folder.
inline constexpr std::string_view k_state_dir_name = ".snapkeep";
// Name of the symlink to the newest complete snapshot.
inline constexpr std::string_view k_latest_name = "latest";

// One complete snapshot.
struct SnapshotInfo {
  std::string id;
  std::filesystem::path path;
  std::time_t time = 0;        // when it was made (recorded), else what its id names
  long long time_ns = 0;       // the same in nanoseconds: orders snapshots made within one second
  bool legacy = false;         // date-only id of the old script
  bool time_recorded = false;  // time comes from snapkeep's record, not from the id
};

// Complete snapshots under preset_dir, oldest first. A missing preset_dir gives an empty list.
// Only directories (not symlinks) whose name is a snapshot id count.
Result<std::vector<SnapshotInfo>> list_snapshots(const std::filesystem::path& preset_dir);

// Finds a snapshot by id, or "latest" for the newest; the error names the preset folder.
Result<SnapshotInfo> find_snapshot(const std::filesystem::path& preset_dir, const std::string& id_or_latest);

// An id for a snapshot made at `now` that no folder, record or dot-named work ("..-<id>") in
// preset_dir uses yet, with the moment it names: a second backup within one second, or a DST
// fall-back hour repeating wall-clock times, moves the id (and its moment) on by seconds. The
// moment is never before one a recorded id already names, so ids moved ahead of the clock keep
// their order after the snapshot that blocked them is pruned.
std::pair<std::string, std::time_t> new_snapshot_id(const std::filesystem::path& preset_dir, std::time_t now);

// Records when snapshot `id` was made, in preset_dir/.snapkeep/snapshots/ID ("time=" seconds,
// "time_ns=" nanoseconds since the epoch, "id_time=" the moment the id names); written before the
// snapshot is renamed into place.
Status record_snapshot_time(const std::filesystem::path& preset_dir, const std::string& id, std::time_t when);
// The same with the exact moment and the moment new_snapshot_id gave the id.
Status record_snapshot_time(const std::filesystem::path& preset_dir, const std::string& id, const struct timespec& when,
                            std::time_t id_time);

// Deletes time records whose snapshot folder is gone and that no dot-named work ("..-<id>") holds (a killed run, or a
// snapshot deleted by hand). Call with the lock held.
void remove_orphan_records(const std::filesystem::path& preset_dir, const std::vector<SnapshotInfo>& snapshots);

// Points preset_dir/latest at `id` with a relative symlink, replaced atomically by rename(2).
// A `latest` that is not a symlink was not made by snapkeep and is an error.
Status update_latest(const std::filesystem::path& preset_dir, const std::string& id);

// Where `latest` points, when it is a symlink.
std::optional<std::string> read_latest(const std::filesystem::path& preset_dir);

}  // namespace snapkeep
