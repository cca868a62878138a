#pragma once
// Copying a snapshot, or one path inside it, out to a folder.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/transfer/rsync.hpp"

namespace snapkeep {

struct RestoreRequest {
  std::string snapshot;          // an id or "latest"
  std::filesystem::path inside;  // a path inside the snapshot; empty for all of it
  std::filesystem::path target;  // --to DIR
  bool force = false;            // allow a non-empty target
  // The target is a folder on another machine, reached through this rsync end (serve's relay to a
  // client): that machine checks and prepares its target (prepare_restore_target).
  std::optional<RsyncRemoteEnd> remote_target;
  bool exact_mtimes = false;  // with remote_target: the target keeps nanosecond mtimes
};

struct RestoreOutcome {
  std::string snapshot_id;
  std::filesystem::path copied_from;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
};

// Copies with rsync -aHAX --numeric-ids into request.target: the whole snapshot's contents, or the
// named file or folder (keeping its name) inside the target. Refuses a path that leaves the snapshot
// or passes through a symlink in it, a non-empty target without force, and a target inside the
// backups. Never writes outside the target.
Result<RestoreOutcome> restore_snapshot(const Preset& preset, const RestoreRequest& request);

// The checks restore makes of its target folder, and the folder made when missing: not inside the
// preset's backups (when they are on this machine) nor any other preset folder, a directory, empty
// unless `force`. Returns the absolute target.
Result<std::filesystem::path> prepare_restore_target(const Preset& preset, const std::filesystem::path& target,
                                                     bool force);

}  // namespace snapkeep
