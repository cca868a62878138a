#pragma once
// Copying a snapshot, or one path inside it, out to a folder.

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/base/error.hpp"
#include "core/config/config.hpp"

namespace snapkeep {

struct RestoreRequest {
  std::string snapshot;          // an id or "latest"
  std::filesystem::path inside;  // a path inside the snapshot; empty for all of it
  std::filesystem::path target;  // --to DIR
  bool force = false;            // allow a non-empty target
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

}  // namespace snapkeep
