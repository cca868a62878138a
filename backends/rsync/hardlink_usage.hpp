#pragma once
// Space accounting of hard-link trees: what deleting a snapshot (and everything older) would free.

#include <cstdint>
#include <string>
#include <vector>

#include "core/store/backend.hpp"

namespace snapkeep {

// Exact accounting for hard-link trees, in one pass over all snapshots (oldest first in `snapshots`):
// an inode is freed once every link to it is gone, so it counts for the newest snapshot holding one
// of its links (cumulative) and, when only one snapshot holds links, for that one (exclusive). An
// inode also linked from outside the preset frees nothing. Allocated bytes (st_blocks) throughout.
// With `deletion_order` (indices into snapshots), also fills freed_after for deleting them in that order.
Result<UsageReport> hardlink_tree_usage(const std::vector<SnapshotInfo>& snapshots,
                                        const std::vector<std::size_t>& deletion_order = {});

}  // namespace snapkeep
