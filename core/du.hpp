#pragma once
// Space accounting per snapshot: what deleting it (and everything older) would free.

#include <cstdint>
#include <string>
#include <vector>

#include "core/catalog.hpp"
#include "core/error.hpp"

namespace snapkeep {

struct SnapshotUsage {
  std::string id;
  std::uint64_t exclusive_bytes = 0;   // freed by deleting this snapshot alone
  std::uint64_t cumulative_bytes = 0;  // freed by deleting it and every older one
};

struct UsageReport {
  std::vector<SnapshotUsage> snapshots;  // oldest first
  std::uint64_t total_bytes = 0;         // allocated bytes of all snapshots, each inode once
  bool exact = true;                     // false where the filesystem only allows an estimate
  // With a deletion order: freed_after[j] = bytes freed once order[0..j] are all deleted.
  std::vector<std::uint64_t> freed_after;
};

// Exact accounting for hard-link trees, in one pass over all snapshots (oldest first in `snapshots`):
// an inode is freed once every link to it is gone, so it counts for the newest snapshot holding one
// of its links (cumulative) and, when only one snapshot holds links, for that one (exclusive). An
// inode also linked from outside the preset frees nothing. Allocated bytes (st_blocks) throughout.
// With `deletion_order` (indices into snapshots), also fills freed_after for deleting them in that order.
Result<UsageReport> hardlink_tree_usage(const std::vector<SnapshotInfo>& snapshots,
                                        const std::vector<std::size_t>& deletion_order = {});

}  // namespace snapkeep
