#include "core/history/trends.hpp"

#include <algorithm>

namespace snapkeep {
namespace {

// The shortest span of readings a rate is drawn from, and how many readings at least (when there are).
constexpr double k_min_span = 86400;
constexpr std::size_t k_min_points = 3;

}  // namespace

FillProjection project_fill(const std::vector<TimePoint>& free_bytes, double now, double basis_seconds,
                            std::optional<double> free_now) {
  FillProjection out;
  std::size_t first = free_bytes.size();
  while (first > 0 && free_bytes[first - 1].time >= now - basis_seconds) {
    --first;
  }
  first = std::min(first, free_bytes.size() - std::min<std::size_t>(free_bytes.size(), k_min_points));
  const std::size_t n = free_bytes.size() - first;
  if (n < 2 || free_bytes.back().time - free_bytes[first].time < k_min_span) {
    return out;  // readings within minutes of each other say nothing about a rate
  }
  // Least squares, with times relative to the newest reading for precision.
  const double origin = free_bytes.back().time;
  double sum_t = 0;
  double sum_v = 0;
  for (std::size_t i = first; i < free_bytes.size(); ++i) {
    sum_t += free_bytes[i].time - origin;
    sum_v += free_bytes[i].value;
  }
  const double mean_t = sum_t / static_cast<double>(n);
  const double mean_v = sum_v / static_cast<double>(n);
  double sxx = 0;
  double sxy = 0;
  for (std::size_t i = first; i < free_bytes.size(); ++i) {
    const double dt = free_bytes[i].time - origin - mean_t;
    sxx += dt * dt;
    sxy += dt * (free_bytes[i].value - mean_v);
  }
  const double slope = sxy / sxx;  // bytes per second; sxx > 0 as the times span a day
  out.points = n;
  out.bytes_per_day = slope * 86400;
  if (slope < 0) {
    const double start = std::max(0.0, free_now.value_or(mean_v + slope * (now - origin - mean_t)));
    const double seconds = start / -slope;
    out.full_at = now + seconds;
    out.days_left = seconds / 86400;
  }
  return out;
}

double coverage_at(const std::vector<ScrubRun>& runs, double at, double window) {
  double read = 0;
  std::optional<std::uint64_t> whole_total;  // of the last run over every snapshot
  std::uint64_t last_total = 0;              // of the last run, whatever it looked at
  bool any = false;
  for (const ScrubRun& run : runs) {
    if (run.time > at) {
      break;
    }
    last_total = run.bytes_total;
    if (run.whole) {
      whole_total = run.bytes_total;
    }
    if (run.time > at - window) {
      read += static_cast<double>(run.bytes_read);
      any = true;
    }
  }
  if (!any) {
    return 0;
  }
  const std::uint64_t total = whole_total.value_or(last_total);
  return total == 0 ? 1.0 : std::min(1.0, read / static_cast<double>(total));
}

}  // namespace snapkeep
