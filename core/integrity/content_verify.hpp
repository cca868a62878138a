#pragma once
// The data half of a scrub: read the unique contents in the content index's order, from the disk
// (cached pages dropped first), hashing every algorithm their manifests use, within the run's
// budgets; record each verification in the scrub state as soon as it is done. The next files are
// opened and their reading started while one is hashed (a window of k_read_ahead_files files and
// k_read_ahead_bytes bytes), so the disk is never idle between files.

#include <cstdint>
#include <optional>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/progress.hpp"
#include "core/integrity/content_index.hpp"
#include "core/integrity/damaged_content.hpp"
#include "core/integrity/scrub.hpp"
#include "core/integrity/scrub_state.hpp"
#include "core/integrity/snapshot_check.hpp"

namespace snapkeep {

// Files opened ahead of the one being hashed, and the data asked of the disk for them.
inline constexpr std::size_t k_read_ahead_files = 16;
inline constexpr std::uint64_t k_read_ahead_bytes = 8u << 20;

// Bounds of one run (ScrubOptions).
struct VerifyBudget {
  std::optional<std::uint64_t> max_bytes;    // read no content that would pass this (the first is always read)
  std::optional<std::uint64_t> max_seconds;  // start no content after this long (the first is always read)
};

// What verification found.
struct VerifyOutcome {
  std::vector<DamagedContent> damaged;  // in verification order
  std::uint64_t verified = 0;           // the first `verified` contents of ContentIndex::in_order()
  std::uint64_t first_verified = 0;     // of them, contents the scrub state had no record of
};

// Verifies the contents of `index` (paths in `snapshots`) in order within `budget`, recording each
// in `state` and counting into `report` (files_checked, contents_verified, bytes_read, mismatches,
// budget_reached). An I/O error reading a content (EIO, EUCLEAN, ENODATA) makes it damaged
// (unreadable); any other error, a failed state write or a stop signal fails the run.
Result<VerifyOutcome> verify_contents(const ContentIndex& index, const std::vector<VerifiedSnapshot>& snapshots,
                                      const VerifyBudget& budget, ScrubState& state, Progress& progress,
                                      ScrubReport& report);

}  // namespace snapkeep
