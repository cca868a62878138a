#pragma once
// The history log's records of backups and scrubs (docs/history.md), written as each run finishes.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/backup/backup.hpp"
#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/integrity/scrub.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// The filesystem UUID of the drive holding the preset's destination (lower case), when it can be
// read (libblkid needs root); nullopt otherwise.
std::optional<std::string> drive_uuid(const Preset& preset);

// The record of a backup that made a snapshot (not of a dry run): when, how long, what was copied,
// what changed, how many snapshots there are now, and the destination's size and free room.
nlohmann::json backup_record(const Preset& preset, const Backend& backend, const BackupRun& run);

// The record of a finished scrub (damage found or not): what it read against what there is to read
// (the coverage), and its findings with their paths (at most 100 findings of 20 paths each; the
// totals are kept).
nlohmann::json scrub_record(const Preset& preset, const Backend& backend, const ScrubOptions& options,
                            const ScrubReport& report);

// Appends backup_record() to the preset's history log. Fails (the caller warns; the backup stands)
// when the log cannot be written.
Status record_backup(const Preset& preset, const Backend& backend, const BackupRun& run);

// Appends scrub_record() to the preset's history log; fails like record_backup.
Status record_scrub(const Preset& preset, const Backend& backend, const ScrubOptions& options,
                    const ScrubReport& report);

}  // namespace snapkeep
