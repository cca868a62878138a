#pragma once
// The data behind `snapkeep report`: per preset, its snapshots with what each alone holds (the
// backend's usage, as `du`), the retention plan (as `prune --dry-run`), free space over time and
// where it is heading, backup durations, scrub coverage and open findings, from the catalog and the
// history log on the drive. The JSON it makes is what `report --json` prints and what the HTML page
// is drawn from; docs/history.md lists its fields.

#include <cstddef>
#include <ctime>

#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// What a report looks at.
struct ReportOptions {
  std::time_t now = 0;                                  // the report's moment
  std::uint64_t coverage_window_seconds = 30 * 86400;   // scrub coverage: verified within this long
  std::uint64_t projection_basis_seconds = 90 * 86400;  // free space: the line fits this long back
  std::size_t max_runs = 1000;  // the newest backups and scrubs plotted (the log keeps every one)
};

// The report of one preset, written into `entry` (which holds "name"). A destination that is not
// there (an unplugged drive) is no failure: "status" is "unavailable" with the reason and the drives
// this machine knows. Fails when the preset folder or its history log cannot be read.
Status gather_report(const Preset& preset, Backend& backend, const ReportOptions& options, nlohmann::json& entry);

// The report of a preset whose drive is not there (`reason` has drive_absent: no backend could be
// made for it either): "status" "unavailable", the reason, and the drives this machine knows.
void unavailable_report(const Preset& preset, const Error& reason, const ReportOptions& options, nlohmann::json& entry);

}  // namespace snapkeep
