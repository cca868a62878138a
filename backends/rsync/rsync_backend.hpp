#pragma once
// The rsync backend: hard-link snapshot trees made with rsync --link-dest (SPEC §5).

#include <filesystem>
#include <memory>
#include <vector>

#include "core/backend.hpp"

namespace snapkeep {

// One rsync transfer from a source folder's contents into a target folder.
struct RsyncTransfer {
  std::filesystem::path source;                   // its contents are copied
  std::filesystem::path target;                   // made to mirror source
  std::vector<std::filesystem::path> link_dests;  // --link-dest candidates, best first
  bool dry_run = false;
  bool in_place = false;  // --inplace --no-whole-file: rewrite only changed blocks (btrfs)
  // --modify-window=-1: compare and set mtimes to the nanosecond, so a file rewritten within the
  // second of the last backup is not taken as unchanged. Only where the target keeps nanoseconds.
  bool exact_mtimes = false;
};

// The argv for a transfer (no shell): `rsync -aHAX --numeric-ids ... -- SOURCE/ TARGET/`.
std::vector<std::string> rsync_argv(const Preset& preset, const RsyncTransfer& transfer, bool show_progress);

// Runs rsync for a transfer, shows progress, classifies its exit status (warnings go into the stats).
// The error names the preset, rsync's status and meaning, and the tail of its stderr.
Result<BackupStats> run_rsync(const Preset& preset, const RsyncTransfer& transfer, Progress& progress);

// The backend for the registry.
std::unique_ptr<Backend> make_rsync_backend();

}  // namespace snapkeep
