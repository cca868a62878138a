#pragma once
// The retention engine: which snapshots a `keep` policy keeps at a given moment, and why.
// Pure logic over the catalog; the exact semantics, with worked examples, are in docs/retention.md.

#include <ctime>
#include <string>
#include <vector>

#include "core/config/units.hpp"
#include "core/store/catalog.hpp"

namespace snapkeep {

// The verdict on one snapshot: kept exactly when reasons is not empty.
struct RetentionDecision {
  std::string id;
  bool keep = false;
  // Why it stays, e.g. "newest 3", "hourly 24h", "daily 14d", "weekly 8w", "monthly 12m", "yearly *y",
  // "newest snapshot", "keep all (no policy)", "future-dated"; empty when it may be deleted.
  std::vector<std::string> reasons;
};

// Decides every snapshot against `policy` at `now`, with calendar buckets in the local time zone
// (TZ, re-read here). Snapshots in any order: "newest N" and "newest snapshot" follow the order they
// were completed (recorded sequence, as the catalog orders), calendar rules the recorded times. The
// result is oldest first by (time, id). Never fails.
std::vector<RetentionDecision> apply_retention(const KeepPolicy& policy, const std::vector<SnapshotInfo>& snapshots,
                                               std::time_t now);

// The local calendar bucket of `when` as text: "2024-10-27T02" (hour), "2024-10-27" (day),
// "2026-W53" (ISO 8601 week and week-year), "2024-02" (month), "2024" (year); "" for Unit::newest.
std::string retention_bucket_name(KeepRule::Unit unit, std::time_t when);

}  // namespace snapkeep
