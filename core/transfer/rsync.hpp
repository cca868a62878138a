#pragma once
// rsync as a copy engine: the one argv builder and runner shared by both backends and restore.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/base/progress.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// One rsync transfer from a source folder (or its contents) into a target folder.
struct RsyncTransfer {
  std::filesystem::path source;                   // its contents are copied (or itself, see contents)
  std::filesystem::path target;                   // made to mirror source
  std::vector<std::filesystem::path> link_dests;  // --link-dest candidates, best first
  bool dry_run = false;
  bool in_place = false;  // --inplace --no-whole-file: rewrite only changed blocks (btrfs)
  // The target is new and empty, so every file is a fresh copy: --sparse even with in_place (rsync's
  // --sparse rewrites blocks of files it updates in place; see docs/btrfs.md "Sparse files").
  bool fresh_target = false;
  // --modify-window=-1: compare and set mtimes to the nanosecond, so a file rewritten within the
  // second of the last backup is not taken as unchanged. Only where the target keeps nanoseconds.
  bool exact_mtimes = false;
  // A backup: --delete and the preset's filters (exclude, exclude_from, one_file_system). A restore
  // copies what the snapshot holds into a folder and deletes nothing.
  bool mirror = true;
  // Copy the contents of source (SOURCE/), or source itself by name (a single file or folder).
  bool contents = true;
  // What the transfer is for, in messages ("backup failed: ...").
  std::string operation = "backup";
  // Every non-zero exit is a failure (restore: a snapshot does not change while it is read).
  bool strict = false;
  // Only the paths listed in this file (NUL-separated, relative to source): --files-from --from0.
  std::optional<std::filesystem::path> files_from;
};

// The argv for a transfer (no shell): `rsync -aHAX --numeric-ids ... -- SOURCE/ TARGET/`.
std::vector<std::string> rsync_argv(const Preset& preset, const RsyncTransfer& transfer, bool show_progress);

// Runs rsync for a transfer, shows progress, classifies its exit status (warnings go into the stats).
// The error names rsync's status and meaning, and the tail of its stderr.
Result<BackupStats> run_rsync(const Preset& preset, const RsyncTransfer& transfer, Progress& progress);

}  // namespace snapkeep
