#include "core/retention/policy.hpp"

#include <algorithm>

#include "core/retention/retention.hpp"

namespace snapkeep {

std::vector<SnapshotVerdict> judge_snapshots(const Preset& preset, const std::vector<SnapshotInfo>& catalog,
                                             std::time_t now) {
  // Only snapkeep's own snapshots take part in the policy: a folder it did not make (no record) is
  // never deleted, and must not take the place of the newest snapshot either.
  std::vector<SnapshotInfo> own;
  for (const auto& s : catalog) {
    if (s.time_recorded) {
      own.push_back(s);
    }
  }
  const auto decisions = apply_retention(preset.keep, own, now);
  std::uint64_t bare = 0;
  for (const auto& rule : preset.keep.rules) {
    if (rule.unit == KeepRule::Unit::newest && rule.count) {
      bare = std::max(bare, *rule.count);
    }
  }
  std::vector<SnapshotVerdict> out;
  std::uint64_t own_from_newest = 0;
  for (auto it = catalog.rbegin(); it != catalog.rend(); ++it) {
    SnapshotVerdict v;
    v.snapshot = *it;
    if (!it->time_recorded) {
      v.untouchable = true;
      v.reasons = {"not made by snapkeep"};
    } else {
      auto d = std::find_if(decisions.begin(), decisions.end(), [&](const auto& x) { return x.id == it->id; });
      if (d != decisions.end()) {
        v.keep = d->keep;
        v.reasons = d->reasons;
      }
      ++own_from_newest;
      v.in_bare_count = own_from_newest <= bare;
    }
    // `latest`: the snapshot of snapkeep's completed last, whatever the clock said when it was made.
    if (it->time_recorded && own_from_newest == 1) {
      v.untouchable = true;
      if (!v.keep) {
        v.keep = true;
        v.reasons = {"latest (completed last)"};
      }
    }
    out.push_back(std::move(v));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace snapkeep
