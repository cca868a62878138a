#pragma once
// Backups and scrubs with what monitoring puts around them (docs/monitoring.md): the hooks, the
// local state record `status` reads, the metrics file, the healthcheck pings and the on_success /
// on_failure commands. Every command and `serve` that runs a backup or a scrub goes through here.

#include <functional>
#include <memory>

#include "core/backup/backup.hpp"
#include "core/integrity/scrub.hpp"
#include "core/ops/healthcheck.hpp"

namespace snapkeep {

// Makes the backend a preset uses (backends/registry's backend_for: the registry sits above core/ops).
using BackendMaker = std::function<Result<std::unique_ptr<Backend>>(const Preset& preset)>;

// A backup of `preset` as the `backup` command makes it (make_backend, then backup_preset), with,
// around it:
// - once the checks passed and the lock is held: a /start ping, then before_backup (a failing one
//   fails the backup before anything is copied);
// - after it: after_backup (when before_backup's turn came, whatever the result; a failing one
//   fails the run), the local state record, the metrics file, on_success or on_failure, and the
//   success or /fail ping with the run's warnings and errors.
// A skipped run (if_unmounted = skip) is recorded but pings nothing and runs no command; a run that
// found the lock held records and pings nothing (the run holding it will). A dry run is
// backup_preset alone. Monitoring's own troubles (an unreachable monitor, an unwritable metrics
// file, a failing on_success) are warnings, never a failed backup.
Result<BackupRun> monitored_backup(const Preset& preset, const BackendMaker& make_backend, const BackupOptions& options,
                                   SourceFreezer* freezer, const PingOptions& ping = {});

// How a backup or a scrub is carried out somewhere else: a push through `snapkeep serve`
// (core/serve, above this layer). The same monitoring goes around it; before_backup and the /start
// ping come through options.before_copy, which the runner calls before anything is copied. The
// destination's size is not measured (it is on the other host).
using BackupRunner = std::function<Result<BackupRun>(const BackupOptions& options)>;
using ScrubRunner = std::function<Result<ScrubReport>()>;
Result<BackupRun> monitored_backup(const Preset& preset, const BackupRunner& run_backup, const BackupOptions& options,
                                   const PingOptions& ping = {});

// A scrub (run_scrub) with, after it: the local state record, the metrics file, on_success or
// on_failure, and a /fail ping when it found damage it did not repair or failed. A scrub never
// pings /start or success: those belong to the backups, and a weekly scrub must not hide that the
// hourly backups stopped.
Result<ScrubReport> monitored_scrub(const Preset& preset, const Backend& backend, const ScrubOptions& options,
                                    const PingOptions& ping = {});
Result<ScrubReport> monitored_scrub(const Preset& preset, const ScrubRunner& run_scrub, const PingOptions& ping = {});

}  // namespace snapkeep
