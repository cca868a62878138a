#include "core/backup/backup.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include <spdlog/spdlog.h>

#include "core/backup/rename.hpp"
#include "core/base/format.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/mounts.hpp"
#include "core/base/progress.hpp"
#include "core/base/signals.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/retention/deletion.hpp"
#include "core/retention/prune.hpp"
#include "core/retention/space.hpp"
#include "core/store/drives.hpp"
#include "core/store/lock.hpp"
#include "core/store/preset_checks.hpp"
#include "core/store/snapshot_id.hpp"
#include "core/transfer/rsync.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

Error with_preset(const Preset& preset, Error e) {
  return std::move(e).in(preset.name);
}

// The size of the source the newest snapshot with recorded counts saw; nullopt before any.
std::optional<std::uint64_t> last_source_size(const fs::path& preset_dir) {
  auto snapshots = list_snapshots(preset_dir);
  if (!snapshots) {
    return std::nullopt;
  }
  for (auto it = snapshots->rbegin(); it != snapshots->rend(); ++it) {
    if (it->bytes) {
      return *it->bytes;
    }
  }
  return std::nullopt;
}

// How far a run got when the destination filled, as free space before and after tells it.
struct FullProgress {
  std::optional<std::uint64_t> written;      // bytes the run had put on the drive
  std::uint64_t free_after = 0;              // bytes still free when it failed
  std::optional<std::uint64_t> source_size;  // the source's size at the last backup, where known
};

// Says first what a full destination means, how far the copy got and what to do; the backend's own
// words follow.
Error explain_full(const Preset& preset, Error e, const FullProgress& progress = {}) {
  if (e.full) {
    std::string got;
    if (progress.written) {
      got = " It had copied about " + format_bytes(*progress.written) + " when it failed";
      got += progress.source_size ? " (the source held " + format_bytes(*progress.source_size) + " at the last backup)"
                                  : "";
      // Bytes left but no room: the filesystem ran out of inodes, or a quota was reached.
      got += progress.free_after >= 1024 * 1024 ? "; " + format_bytes(progress.free_after) +
                                                      " are still free, so the drive ran out of inodes or a quota."
                                                : ".";
    }
    e.message = "the destination " + preset.destination.string() +
                " is full; no snapshot was made and every earlier snapshot is intact." + got +
                " Make room (snapkeep prune --free SIZE, or min_free in the config) and run again.\n" + e.message;
  }
  return std::move(e).in(preset.name);
}

// The destination drive of a backup and the ids its other drives still hold.
struct DriveOfBackup {
  std::string uuid;                   // filesystem UUID; "" when it cannot be told (then nothing is recorded)
  std::vector<std::string> held_ids;  // never taken by the new snapshot
};

DriveOfBackup drive_of_backup(const Preset& preset) {
  DriveOfBackup out;
  if (auto uuid = filesystem_uuid(preset.preset_dir()); uuid) {
    out.uuid = *uuid;
  } else {
    spdlog::debug("{}: the destination drive is not recorded: {}", preset.name, uuid.error().describe());
  }
  if (auto drives = read_drives(preset.preset_dir()); drives) {
    out.held_ids = ids_held_by_drives(*drives);
  } else {
    spdlog::warn("{}: {}", preset.name, drives.error().describe());
  }
  return out;
}

// Below these the previous snapshot is too small for "the source shrank drastically" to mean much.
constexpr std::uint64_t k_shrink_minimum_files = 100;
constexpr std::uint64_t k_shrink_minimum_bytes = 64ULL * 1024 * 1024;

// run_backup without the explanation of a full destination.
// What must hold before the preset folder is touched: not beside a renamed preset's orphaned
// folder, a writable drive, and a filesystem that can hold a snapshot (FAT and exFAT cannot). A
// preset folder that holds a snapshot of snapkeep's already shows that it can.
Status check_before_writing(const Preset& preset, const BackupOptions& options) {
  SNAPKEEP_TRY(check_preset(preset));
  // pull; serve's relay source was checked by its client, and pull = btrfs-send's source host checks
  // its own source when asked to send it
  if (preset.remote_source && !preset.remote.served && preset.pull == PullMethod::rsync) {
    SNAPKEEP_TRY(check_remote_source(preset));
  }
  if (!options.new_folder) {
    if (auto orphaned = orphaned_folder_of(preset, options.configured_presets)) {
      return runtime_error((preset.destination / *orphaned).string() +
                           " holds snapkeep snapshots of this same source (made as preset '" + *orphaned + "') and " +
                           preset.preset_dir().string() +
                           " has none: a backup here would start over with a full copy. If you renamed the preset, "
                           "run `snapkeep rename " +
                           *orphaned + " " + preset.name +
                           "` to move its snapshots along; to start a new folder anyway, run `snapkeep backup "
                           "--new-folder " +
                           preset.name + "` once")
          .in(preset.name);
    }
  }
  if (!options.dry_run && destination_read_only(preset)) {
    return runtime_error("destination " + preset.destination.string() +
                         " is mounted read-only: list, du, scrub (without --repair) and restore work, a backup "
                         "needs it mounted read-write")
        .in(preset.name);
  }
  if (!holds_recorded_snapshot(preset.preset_dir())) {
    SNAPKEEP_TRY(check_destination_filesystem(preset));
  }
  return {};
}

// Makes the preset folder (0700) and its state folder, and takes the lock; a dry run makes nothing
// and locks only a state folder that exists.
Result<std::optional<PresetLock>> lock_preset_folder(const Preset& preset, const BackupOptions& options) {
  const fs::path preset_dir = preset.preset_dir();
  const fs::path state_dir = preset_dir / k_state_dir_name;
  if (!options.dry_run) {
    // 0700: unchanged files are one inode shared by every snapshot, so a writable path for a user
    // to an old snapshot would let them rewrite history (users browse a read-only view, docs/drives.md).
    SNAPKEEP_TRY_ASSIGN(bool tightened, make_private_dir(preset_dir));
    if (tightened) {
      spdlog::info(
          "{}: {} was open to other users; it is 0700 now, so nobody but root can change a snapshot "
          "(users browse a read-only view: docs/drives.md)",
          preset.name, preset_dir.string());
    }
    SNAPKEEP_TRY(make_dir(state_dir, 0700));
  }
  std::error_code ec;
  if (!fs::is_directory(state_dir, ec)) {
    return std::optional<PresetLock>();
  }
  SNAPKEEP_TRY_ASSIGN(auto acquired, PresetLock::acquire(state_dir, preset.name, options.wait_for_lock));
  return std::optional<PresetLock>(std::move(acquired));
}

// With the lock held, before anything is copied: the newest of snapkeep's own snapshots must be of
// this backend's kind (a switch would silently make a full copy sharing nothing, and du would be
// wrong); `latest` must be ours to move; records without a snapshot go, and a `latest` a killed run
// left behind is moved to the newest snapshot.
Status check_snapshots_before_copy(const Preset& preset, const Backend& backend, const BackupOptions& options,
                                   const std::vector<SnapshotInfo>& snapshots) {
  const fs::path preset_dir = preset.preset_dir();
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
    if (!it->time_recorded) {
      continue;
    }
    if (!options.switch_backend && !backend.made_snapshot(it->path)) {
      return runtime_error("the snapshots in " + preset_dir.string() + " were made by another backend (the newest, " +
                           it->id + ", is not what the " + std::string(backend.name()) +
                           " backend makes). Backing up with backend = " + std::string(backend.name()) +
                           " would start over with a full copy that shares nothing with them. Set backend back "
                           "(auto picks by the destination's filesystem), or start a new preset folder by giving "
                           "the preset a new name; to switch here anyway, run `snapkeep backup --switch-backend " +
                           preset.name + "` once")
          .in(preset.name);
    }
    break;
  }
  if (struct stat st{}; ::lstat((preset_dir / k_latest_name).c_str(), &st) == 0 && !S_ISLNK(st.st_mode)) {
    return runtime_error((preset_dir / k_latest_name).string() +
                         " exists and is not a symlink; snapkeep does not replace what it did not make "
                         "(move it away and run again)")
        .in(preset.name);
  }
  if (options.dry_run) {
    return {};
  }
  remove_orphan_records(preset_dir, snapshots);
  if (!snapshots.empty() && read_latest(preset_dir) != snapshots.back().id) {
    SNAPKEEP_TRY(update_latest(preset_dir, snapshots.back().id));
  }
  return {};
}

// Makes the new, complete snapshot `latest`. When even that fails (no room for the link on a full
// drive), a snapshot that is not `latest` must not stay as the newest (SPEC §4.2): the run takes it
// back and fails like any other.
Status make_latest(const Preset& preset, Backend& backend, const std::string& id) {
  const fs::path preset_dir = preset.preset_dir();
  auto updated = update_latest(preset_dir, id);
  if (updated) {
    return {};
  }
  Error e = with_preset(preset, std::move(updated).error());
  if (read_latest(preset_dir) != id) {
    SnapshotInfo made;
    made.id = id;
    made.path = preset_dir / id;
    std::error_code ec;
    fs::remove(manifest_path(preset_dir / k_state_dir_name, id), ec);  // written with it (native engine)
    if (auto removed = delete_snapshot(preset, backend, made); !removed) {
      e.message += "\n(removing the snapshot " + id +
                   " that could not become latest failed too: " + removed.error().describe() + ")";
    }
  }
  return e;
}

// The previous snapshot with recorded counts, when the source now holds half or less of its entries
// (of at least 100) or bytes (of at least 64 MiB): an unmounted source drive, or a deletion by mistake.
std::optional<BackupOutcome::Shrink> shrink_against(const std::vector<SnapshotInfo>& snapshots,
                                                    const BackupStats& stats) {
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
    if (!it->files || !it->bytes) {
      continue;
    }
    const bool fewer_files = *it->files >= k_shrink_minimum_files && stats.files * 2 <= *it->files;
    const bool fewer_bytes = *it->bytes >= k_shrink_minimum_bytes && stats.bytes_total * 2 <= *it->bytes;
    if (fewer_files || fewer_bytes) {
      return BackupOutcome::Shrink{it->id, *it->files, *it->bytes};
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// What changed since snapshot `previous`, from its manifest and the new one (a cheap streaming
// merge); left out, with a note in the log, when the previous snapshot has no usable manifest.
void note_changes(const Preset& preset, const Backend& backend, const fs::path& state_dir, const std::string& previous,
                  BackupOutcome& outcome) {
  auto counted =
      count_manifest_changes(manifest_path(state_dir, previous), manifest_path(state_dir, outcome.snapshot_id),
                             backend.capabilities().content_sharing);
  if (!counted) {
    spdlog::debug("{}: changes since {} not counted: {}", preset.name, previous, counted.error().describe());
    return;
  }
  outcome.changes = *counted;
  outcome.changes_since = previous;
}

// What a finished snapshot leaves behind besides itself: its manifest (unless the engine wrote it),
// the changes since the previous snapshot, the drive in the local state, its counts and the shrink
// warning, the preset's identity file.
// Failures here are warnings: the snapshot is complete and `latest`.
void record_finished_snapshot(const Preset& preset, const Backend& backend, const std::vector<SnapshotInfo>& snapshots,
                              const DriveOfBackup& drive, std::time_t now, BackupOutcome& outcome) {
  const fs::path preset_dir = preset.preset_dir();
  BackupStats& stats = outcome.stats;
  if (!stats.manifest_written) {
    write_backup_manifest(preset, preset_dir, outcome.snapshot_id, snapshots, stats,
                          backend.capabilities().content_sharing);
  }
  if (stats.manifest_ok && stats.change_counts && stats.changes && !snapshots.empty() &&
      stats.changes->base == snapshots.back().id) {
    outcome.changes = stats.change_counts;  // counted while the manifest was patched
    outcome.changes_since = stats.changes->base;
  } else if (stats.manifest_ok && !snapshots.empty()) {
    note_changes(preset, backend, preset_dir / k_state_dir_name, snapshots.back().id, outcome);
  }
  if (!drive.uuid.empty()) {
    std::vector<std::string> on_drive;
    for (const auto& s : snapshots) {
      on_drive.push_back(s.id);
    }
    on_drive.push_back(outcome.snapshot_id);
    if (auto recorded = record_drive_backup(preset_dir, preset.name, drive.uuid, outcome.snapshot_id, now, on_drive);
        !recorded) {
      stats.warnings.push_back("cannot record the drive in the local state: " + recorded.error().describe());
    }
  }
  outcome.source_shrank = shrink_against(snapshots, stats);
  if (const auto& shrank = outcome.source_shrank) {
    stats.warnings.push_back("the source shrank drastically: " + std::to_string(stats.files) + " entries (" +
                             format_bytes(stats.bytes_total) + ") against " + std::to_string(shrank->previous_files) +
                             " (" + format_bytes(shrank->previous_bytes) + ") in the previous snapshot " +
                             shrank->previous +
                             ". Is the source's drive mounted, or was something deleted by mistake? Later "
                             "backups still link against the older snapshots");
  }
  if (auto counted = record_snapshot_counts(preset_dir, outcome.snapshot_id, stats.files, stats.bytes_total);
      !counted) {
    stats.warnings.push_back("cannot record the snapshot's counts: " + counted.error().describe());
  }
  if (auto recorded = record_preset_identity(preset); !recorded) {
    stats.warnings.push_back(recorded.error().describe());
  }
}

Result<BackupOutcome> make_backup(const Preset& preset, Backend& backend, const BackupOptions& options,
                                  SourceFreezer* freezer) {
  auto started = std::chrono::steady_clock::now();
  SNAPKEEP_TRY(check_before_writing(preset, options));
  const fs::path preset_dir = preset.preset_dir();
  const fs::path state_dir = preset_dir / k_state_dir_name;
  auto locked = lock_preset_folder(preset, options);
  if (!locked) {
    return with_preset(preset, std::move(locked).error());
  }
  std::optional<PresetLock> lock = std::move(*locked);
  std::error_code ec;
  if (!options.dry_run && options.before_copy) {
    if (auto ready = options.before_copy(); !ready) {
      return with_preset(preset, std::move(ready).error());
    }
  }
  if (!options.dry_run && lock) {
    if (auto finished = finish_interrupted_deletions(preset, backend); !finished) {
      return with_preset(preset, std::move(finished).error());
    }
  }
  // Room first: with min_free, snapshots the policy lets go are deleted before anything is copied,
  // and a target that cannot be reached fails the backup here.
  std::vector<SpaceVictim> freed_for_space;
  if (preset.min_free && lock) {
    auto made = make_free_space(preset, backend, *preset.min_free, options.dry_run);
    if (!made) {
      return with_preset(preset, std::move(made).error());
    }
    freed_for_space = std::move(made->victims);
  }
  auto snapshots = list_snapshots(preset_dir);
  if (!snapshots) {
    return with_preset(preset, std::move(snapshots).error());
  }
  if (auto checked = check_snapshots_before_copy(preset, backend, options, *snapshots); !checked) {
    return with_preset(preset, std::move(checked).error());
  }

  // Snapshots are ordered by the recorded sequence, not by id: ids are local time and can repeat or
  // run backwards (DST, a time zone change, a clock that jumped, several backups a second).
  // One clock reading for both the id and the record (time(2) can lag the precise clock by a tick).
  BackupOutcome outcome;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  // Rotating drives: which drive this is, and the ids the others still hold, which are never reused.
  DriveOfBackup drive = drive_of_backup(preset);
  outcome.snapshot_id = new_snapshot_id(preset_dir, now.tv_sec, drive.held_ids).first;
  if (!snapshots->empty() && snapshots->back().time_recorded && snapshots->back().time > now.tv_sec) {
    spdlog::warn(
        "{}: the clock ({}) is behind the newest snapshot {} (made at {}): is the system clock right? "
        "The new snapshot still counts as the newest (latest)",
        preset.name, format_iso_local(now.tv_sec), snapshots->back().id, format_iso_local(snapshots->back().time));
  }
  if (!options.dry_run) {
    if (auto recorded = record_snapshot_time(preset_dir, outcome.snapshot_id, now); !recorded) {
      return with_preset(preset, std::move(recorded).error());
    }
  }
  // A frozen source view lives until this function returns, whatever happens.
  std::optional<fs::path> frozen;
  if (freezer != nullptr && !options.dry_run && !backend.capabilities().snapshots_source && !preset.remote_source) {
    auto made = freezer->freeze(preset, outcome.snapshot_id);
    if (!made) {
      fs::remove(state_dir / "snapshots" / outcome.snapshot_id, ec);
      return with_preset(preset, std::move(made).error());
    }
    frozen = *made;
  }
  struct Release {
    SourceFreezer* freezer;
    std::optional<fs::path>& frozen;
    const Preset& preset;
    ~Release() {
      if (frozen) {
        if (auto released = freezer->release(*frozen); !released) {
          spdlog::warn("{}: {}", preset.name, released.error().describe());
        }
      }
    }
  } release{freezer, frozen, preset};

  Progress progress(preset.name);
  BackupJob job;
  job.preset = &preset;
  job.source = frozen ? *frozen : preset.source;
  job.preset_dir = preset_dir;
  job.state_dir = state_dir;
  job.id = outcome.snapshot_id;
  job.snapshots = *snapshots;
  job.drive = drive.uuid;
  job.dry_run = options.dry_run;
  job.progress = &progress;
  spdlog::info("{}: {} {} -> {}/{}", preset.name, options.dry_run ? "would back up" : "backing up",
               preset.remote_source && !preset.remote.served ? preset.remote_source->display() : preset.source.string(),
               preset_dir.string(), outcome.snapshot_id);
  auto stats = backend.create_snapshot(job);
  progress.finish();
  bool in_place = fs::is_directory(fs::symlink_status(preset_dir / outcome.snapshot_id, ec));
  if (!stats || (stop_signal() != 0 && !in_place)) {
    if (!in_place) {
      fs::remove(state_dir / "snapshots" / outcome.snapshot_id, ec);
    }
    if (!stats) {
      return with_preset(preset, std::move(stats).error());
    }
    return runtime_error("interrupted by signal " + std::to_string(stop_signal())).in(preset.name);
  }
  if (!options.dry_run) {
    if (!in_place) {
      return runtime_error("internal error: the backend reported success but " +
                           (preset_dir / outcome.snapshot_id).string() + " is missing")
          .in(preset.name);
    }
    // `latest` first: the snapshot is complete; a kill while hashing must not leave latest behind.
    SNAPKEEP_TRY(make_latest(preset, backend, outcome.snapshot_id));
  }
  outcome.stats = std::move(*stats);
  if (!options.dry_run) {
    record_finished_snapshot(preset, backend, *snapshots, drive, now.tv_sec, outcome);
  }
  outcome.freed_for_space = std::move(freed_for_space);
  for (const auto& victim : outcome.freed_for_space) {
    if (victim.overrides_keep) {
      outcome.stats.warnings.push_back("snapshot " + victim.snapshot.id +
                                       " was deleted to make room although keep would keep it");
    }
  }
  // Every warning on stderr too, also with -q (docs/usage.md: quiet means nothing unless warned).
  for (const auto& warning : outcome.stats.warnings) {
    spdlog::warn("{}: {}", preset.name, warning);
  }
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  outcome.lock = std::move(lock);
  return outcome;
}

}  // namespace

Result<BackupOutcome> run_backup(const Preset& preset, Backend& backend, const BackupOptions& options,
                                 SourceFreezer* freezer) {
  // Free space before and after say how much a run that filled the drive had copied.
  auto space_before = backend.space(preset.destination);
  auto outcome = make_backup(preset, backend, options, freezer);
  if (!outcome) {
    Error e = std::move(outcome).error();
    FullProgress progress;
    if (auto space_after = backend.space(preset.destination); e.full && space_before && space_after) {
      progress.written =
          space_before->free_bytes > space_after->free_bytes ? space_before->free_bytes - space_after->free_bytes : 0;
      progress.free_after = space_after->free_bytes;
      progress.source_size = last_source_size(preset.preset_dir());
    }
    return explain_full(preset, std::move(e), progress);
  }
  return outcome;
}

Result<BackupRun> backup_preset(const Preset& preset, Backend& backend, const BackupOptions& options,
                                SourceFreezer* freezer) {
  SNAPKEEP_TRY_ASSIGN(BackupOutcome outcome, run_backup(preset, backend, options, freezer));
  BackupRun run;
  run.backend = std::string(backend.name());
  // With a `keep` policy, every successful backup is followed by a prune.
  if (!preset.keep.rules.empty() && !options.dry_run) {
    PruneOptions prune_options;
    prune_options.wait_for_lock = true;
    prune_options.held_lock = outcome.lock ? &*outcome.lock : nullptr;  // no run slips in between
    auto entries = run_prune(preset, backend, prune_options);
    if (!entries) {
      Error e = std::move(entries).error();
      e.message = preset.name + ": the backup succeeded but pruning failed: " + e.message;
      run.prune_error = std::move(e);
    } else {
      for (const auto& e : *entries) {
        if (e.deleted) {
          run.pruned.push_back(e.id);
        }
      }
    }
  }
  outcome.lock.reset();  // done with the preset
  run.outcome = std::move(outcome);
  return run;
}

}  // namespace snapkeep
