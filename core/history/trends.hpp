#pragma once
// The arithmetic behind the report's plots: when the destination fills at the current rate (a
// least-squares line through recent free-space readings), and scrub coverage (the share of the
// content verified within a sliding window). Pure functions; docs/history.md gives the rules.

#include <cstdint>
#include <optional>
#include <vector>

namespace snapkeep {

// A reading at a moment (seconds since the epoch).
struct TimePoint {
  double time = 0;
  double value = 0;
};

// Where the free space is heading.
struct FillProjection {
  double bytes_per_day = 0;       // the slope of the line (negative: filling up)
  std::size_t points = 0;         // readings the line was fitted to (0: no projection)
  std::optional<double> full_at;  // when free space reaches 0, if it is falling
  std::optional<double> days_left;
};

// Fits a line to the free-space readings (oldest first, one per backup) taken within
// `basis_seconds` before `now`, and at least the last three; from `free_now` (else the line's value
// at `now`) it reaches 0 at the line's rate. No projection when the readings used span less than a
// day, or when free space is not falling.
FillProjection project_fill(const std::vector<TimePoint>& free_bytes, double now, double basis_seconds,
                            std::optional<double> free_now = std::nullopt);

// One scrub run as coverage needs it.
struct ScrubRun {
  double time = 0;                // when it finished
  std::uint64_t bytes_read = 0;   // unique content it verified
  std::uint64_t bytes_total = 0;  // unique content there was to verify
  bool whole = true;              // it looked at every snapshot (not --snapshot)
};

// The share of the content verified within `window` seconds before `at`: the bytes the runs in
// that window read over the content there was at the last run of every snapshot (else at the last
// run), at most 1.
// Repeated bounded runs continue with what was verified longest ago, so the runs within one
// window read distinct content until everything is covered. 0 without runs in the window.
double coverage_at(const std::vector<ScrubRun>& runs, double at, double window);

}  // namespace snapkeep
