#pragma once
// Reading rsync's --stats summary and --info=progress2 lines (backup and restore both run rsync).

#include <cstdint>
#include <optional>
#include <string_view>

namespace snapkeep {

// Counters from rsync --stats --no-human-readable.
struct RsyncStats {
  std::uint64_t files = 0;              // "Number of files"
  std::uint64_t files_transferred = 0;  // "Number of regular files transferred"
  std::uint64_t bytes_total = 0;        // "Total file size"
  std::uint64_t bytes_transferred = 0;  // "Total transferred file size"
};

// Folds one stdout line into stats; lines that are not stats are ignored.
void parse_rsync_stats_line(std::string_view line, RsyncStats& stats);

// One --info=progress2 line: bytes so far, files transferred, files checked of total.
struct RsyncProgress {
  std::uint64_t bytes = 0;
  std::uint64_t files_transferred = 0;
  std::uint64_t files_checked = 0;
  std::uint64_t files_total = 0;
};

// Parses "   1234  45%  1.2MB/s  0:00:01 (xfr#3, to-chk=10/40)"; nullopt for other lines.
std::optional<RsyncProgress> parse_rsync_progress_line(std::string_view line);

}  // namespace snapkeep
