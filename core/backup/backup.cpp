#include "core/backup/backup.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/base/fsuuid.hpp"
#include "core/base/progress.hpp"
#include "core/base/signals.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/retention/prune.hpp"
#include "core/retention/space.hpp"
#include "core/store/drives.hpp"
#include "core/store/lock.hpp"
#include "core/store/preset_checks.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

Error with_preset(const Preset& preset, Error e) {
  return std::move(e).in(preset.name);
}

// Says first what a full destination means and what to do; the backend's own words follow.
Error explain_full(const Preset& preset, Error e) {
  if (e.full) {
    e.message = "the destination " + preset.destination.string() +
                " is full; no snapshot was made and every earlier snapshot is intact. Make room (snapkeep "
                "prune --free SIZE, or min_free in the config) and run again.\n" +
                e.message;
  }
  return std::move(e).in(preset.name);
}

// The destination drive of a backup and the moment its snapshot id must not precede.
struct DriveOfBackup {
  std::string uuid;          // filesystem UUID; "" when it cannot be told (then nothing is recorded)
  std::time_t id_floor = 0;  // ids of the preset's other drives lie before this
};

DriveOfBackup drive_of_backup(const Preset& preset) {
  DriveOfBackup out;
  if (auto uuid = filesystem_uuid(preset.preset_dir()); uuid) {
    out.uuid = *uuid;
  } else {
    spdlog::debug("{}: the destination drive is not recorded: {}", preset.name, uuid.error().describe());
  }
  if (auto drives = read_drives(preset.preset_dir()); drives) {
    out.id_floor = snapshot_id_floor(*drives);
  } else {
    spdlog::warn("{}: {}", preset.name, drives.error().describe());
  }
  return out;
}

// run_backup without the explanation of a full destination.
Result<BackupOutcome> make_backup(const Preset& preset, Backend& backend, const BackupOptions& options,
                                  SourceFreezer* freezer) {
  auto started = std::chrono::steady_clock::now();
  SNAPKEEP_TRY(check_preset(preset));

  fs::path preset_dir = preset.preset_dir();
  fs::path state_dir = preset_dir / k_state_dir_name;
  std::optional<PresetLock> lock;
  std::error_code ec;
  if (!options.dry_run) {
    if (auto made = make_dir(preset_dir); !made) {
      return with_preset(preset, std::move(made).error());
    }
    if (auto made = make_dir(state_dir, 0700); !made) {
      return with_preset(preset, std::move(made).error());
    }
  }
  if (fs::is_directory(state_dir, ec)) {
    SNAPKEEP_TRY_ASSIGN(auto acquired, PresetLock::acquire(state_dir, preset.name, options.wait_for_lock));
    lock.emplace(std::move(acquired));
  }

  if (!options.dry_run && lock) {
    if (auto finished = finish_interrupted_deletions(preset, backend); !finished) {
      return with_preset(preset, std::move(finished).error());
    }
  }
  // Room first: with min_free, snapshots the policy lets go are deleted before anything is copied,
  // and a target that cannot be reached fails the backup here.
  if (preset.min_free && lock) {
    if (auto made = make_free_space(preset, backend, *preset.min_free, options.dry_run); !made) {
      return with_preset(preset, std::move(made).error());
    }
  }
  auto snapshots = list_snapshots(preset_dir);
  if (!snapshots) {
    return with_preset(preset, std::move(snapshots).error());
  }
  // `latest` must be ours to move before anything is copied, or a snapshot could never become latest.
  if (struct stat st{}; ::lstat((preset_dir / k_latest_name).c_str(), &st) == 0 && !S_ISLNK(st.st_mode)) {
    return runtime_error((preset_dir / k_latest_name).string() +
                         " exists and is not a symlink; snapkeep does not replace what it did not make "
                         "(move it away and run again)")
        .in(preset.name);
  }
  if (!options.dry_run) {
    remove_orphan_records(preset_dir, *snapshots);
  }
  // A run killed between renaming a snapshot into place and moving `latest` left it behind.
  if (!options.dry_run && !snapshots->empty() && read_latest(preset_dir) != snapshots->back().id) {
    if (auto updated = update_latest(preset_dir, snapshots->back().id); !updated) {
      return with_preset(preset, std::move(updated).error());
    }
  }

  // Snapshots are ordered by the recorded clock time (nanoseconds), not by id: ids are local time
  // and can repeat or run backwards (DST, a time zone change, several backups a second).
  // One clock reading for both the id and the record (time(2) can lag the precise clock by a tick).
  BackupOutcome outcome;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  // Rotating drives: which drive this is, and the ids made on the others, which are never reused.
  DriveOfBackup drive = drive_of_backup(preset);
  auto [new_id, id_time] = new_snapshot_id(preset_dir, std::max<std::time_t>(now.tv_sec, drive.id_floor));
  outcome.snapshot_id = new_id;
  if (!options.dry_run) {
    if (auto recorded = record_snapshot_time(preset_dir, outcome.snapshot_id, now, id_time); !recorded) {
      return with_preset(preset, std::move(recorded).error());
    }
  }

  // A frozen source view lives until this function returns, whatever happens.
  std::optional<fs::path> frozen;
  if (freezer != nullptr && !options.dry_run && !backend.capabilities().snapshots_source) {
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
               preset.source.string(), preset_dir.string(), outcome.snapshot_id);
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
    if (auto updated = update_latest(preset_dir, outcome.snapshot_id); !updated) {
      // No room for the new link (a full destination): a snapshot that is not `latest` must not stay
      // as the newest (SPEC §4.2), so the run takes it back and fails like any other.
      Error e = with_preset(preset, std::move(updated).error());
      if (read_latest(preset_dir) != outcome.snapshot_id) {
        SnapshotInfo made;
        made.id = outcome.snapshot_id;
        made.path = preset_dir / outcome.snapshot_id;
        if (auto removed = delete_snapshot(preset, backend, made); !removed) {
          e.message += "\n(removing the snapshot " + outcome.snapshot_id +
                       " that could not become latest failed too: " + removed.error().describe() + ")";
        }
      }
      return e;
    }
    write_backup_manifest(preset, preset_dir, outcome.snapshot_id, *snapshots, *stats);
    if (!drive.uuid.empty()) {
      if (auto recorded = record_drive_backup(preset_dir, preset.name, drive.uuid, outcome.snapshot_id, now.tv_sec);
          !recorded) {
        stats->warnings.push_back("cannot record the drive in the local state: " + recorded.error().describe());
      }
    }
  }
  for (const auto& warning : stats->warnings) {
    spdlog::warn("{}: {}", preset.name, warning);
  }
  outcome.stats = std::move(*stats);
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  outcome.lock = std::move(lock);
  return outcome;
}

}  // namespace

Result<BackupOutcome> run_backup(const Preset& preset, Backend& backend, const BackupOptions& options,
                                 SourceFreezer* freezer) {
  auto outcome = make_backup(preset, backend, options, freezer);
  if (!outcome) {
    return explain_full(preset, std::move(outcome).error());
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
