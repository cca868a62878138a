#pragma once
// The snapshot catalog of one preset folder: which snapshots exist, their order, and `latest`.

#include <cstdint>
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
  std::uint64_t seq = 0;       // completion order recorded by snapkeep (1, 2, ...); 0 for none
  // What the backup that made it counted (entries, file bytes); nullopt for snapshots made before
  // snapkeep recorded it.
  std::optional<std::uint64_t> files;
  std::optional<std::uint64_t> bytes;
};

// Complete snapshots under preset_dir, in the order they were completed, last completed last (the
// one `latest` names): by the recorded sequence number; snapshots without one (the old script's,
// or recorded before sequence numbers) come first, by recorded time, else the time their id names.
// Never by id or clock alone: a clock that jumped ahead must not make an older snapshot "latest".
// A missing preset_dir gives an empty list. Only directories (not symlinks) whose name is a snapshot
// id count.
Result<std::vector<SnapshotInfo>> list_snapshots(const std::filesystem::path& preset_dir);

// The snapshots list_snapshots lists, counted without reading their records: every backup counts
// them (history, metrics), and a preset of hourly snapshots kept for months has thousands.
Result<std::size_t> count_snapshots(const std::filesystem::path& preset_dir);

// Whether preset_dir holds a snapshot snapkeep recorded (time_recorded); stops at the first.
bool holds_recorded_snapshot(const std::filesystem::path& preset_dir);

// Finds a snapshot by id, or "latest" for the newest; the error names the preset folder.
Result<SnapshotInfo> find_snapshot(const std::filesystem::path& preset_dir, const std::string& id_or_latest);

// How far ahead of the clock an id a burst of backups moved on can be: more than any burst of
// backups within a few seconds reaches, less than the smallest step between time zones (15 min).
inline constexpr std::time_t k_id_catch_up_seconds = 600;

// An id for a snapshot made at `now`: the local time it names, or the next second that no folder,
// record or dot-named work ("..-<id>") in preset_dir uses yet (a second backup within one second,
// a DST fall-back hour repeating wall-clock times). It also comes after every id up to
// k_id_catch_up_seconds ahead of `now` that is not recorded as made after `now` (a burst of backups
// moved it on), so a burst's names stay in order. An id recorded as made after `now` (the clock was
// ahead then), or farther ahead (another time zone), is not followed: ids name the true time, and
// their order is the recorded sequence, not their names.
// `also_taken`: ids in use elsewhere (rotating drives' snapshots, core/store/drives.hpp).
std::pair<std::string, std::time_t> new_snapshot_id(const std::filesystem::path& preset_dir, std::time_t now,
                                                    const std::vector<std::string>& also_taken = {});

// Records snapshot `id` in preset_dir/.snapkeep/snapshots/ID: "time=" seconds and "time_ns="
// nanoseconds since the epoch when it was made, and "seq=" one more than any recorded snapshot's.
// Written (with the preset's lock held) before the snapshot is renamed into place.
Status record_snapshot_time(const std::filesystem::path& preset_dir, const std::string& id, std::time_t when);
// The same with the exact moment.
Status record_snapshot_time(const std::filesystem::path& preset_dir, const std::string& id,
                            const struct timespec& when);

// Adds what the backup counted (entries, file bytes) to the record of a complete snapshot `id`, so
// the next backup can tell a source that shrank drastically (an unmounted source, docs/usage.md).
Status record_snapshot_counts(const std::filesystem::path& preset_dir, const std::string& id, std::uint64_t files,
                              std::uint64_t bytes);

// Records a snapshot snapkeep did not make (`snapkeep adopt`): "time=" the moment its id names and
// "adopted=1", no sequence number, so it keeps its place before every snapshot snapkeep made.
Status record_adopted_snapshot(const std::filesystem::path& preset_dir, const std::string& id, std::time_t when);

// Forgets snapshot `id`'s state under preset_dir/.snapkeep (its record, its manifest), as its
// folder is deleted; an id that comes back later starts clean. The manifest is renamed to
// k_gone_manifest_prefix and the id (and a time, when that name is taken), not removed: a delta
// manifest of a later snapshot may amend it (tidy_manifests, core/integrity/manifest_build.hpp,
// removes it once none does).
void forget_snapshot_state(const std::filesystem::path& preset_dir, const std::string& id);

// The folder of manifests in a preset's state folder (DEST/<preset>/.snapkeep/manifests).
inline constexpr std::string_view k_manifest_dir_name = "manifests";
// The name a deleted snapshot's manifest keeps there: this prefix and the id.
inline constexpr std::string_view k_gone_manifest_prefix = ".gone-";

// Deletes time records whose snapshot folder is gone and that no dot-named work ("..-<id>") holds (a killed run, or a
// snapshot deleted by hand). Call with the lock held.
void remove_orphan_records(const std::filesystem::path& preset_dir, const std::vector<SnapshotInfo>& snapshots);

// Points preset_dir/latest at `id` with a relative symlink, replaced atomically by rename(2).
// A `latest` that is not a symlink was not made by snapkeep and is an error.
Status update_latest(const std::filesystem::path& preset_dir, const std::string& id);

// Where `latest` points, when it is a symlink.
std::optional<std::string> read_latest(const std::filesystem::path& preset_dir);

}  // namespace snapkeep
