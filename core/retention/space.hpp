#pragma once
// Making room on the destination before a backup (`min_free`, `prune --free`); docs/retention.md.

#include <cstdint>
#include <string>
#include <vector>

#include "core/store/backend.hpp"

namespace snapkeep {

// A snapshot a space plan deletes, and whether a `keep` rule wanted it (min_free_overrides_keep).
struct SpaceVictim {
  SnapshotInfo snapshot;
  bool overrides_keep = false;       // deleted although a keep rule keeps it: space ran out
  std::vector<std::string> kept_by;  // those rules ("monthly 12m"), when overrides_keep
};

// Which snapshots would be deleted to reach a free-space target, and what that predicts.
struct SpacePlan {
  std::uint64_t target = 0;          // bytes that should be free
  std::uint64_t free_now = 0;        // bytes free now (Backend::space, statvfs f_bavail by default)
  std::uint64_t predicted = 0;       // bytes free after deleting `victims`
  std::vector<SpaceVictim> victims;  // oldest first within each tier (what keep lets go, then the rest)
  bool reachable = true;
  // When not reachable with min_free_overrides_keep = no: what deleting the snapshots keep protects
  // (all that may go for space) would have freed in addition.
  std::uint64_t protected_bytes = 0;
};

// The byte target of a SizeSpec on a destination of this size (a percentage of it).
std::uint64_t free_space_target(const SizeSpec& spec, const DestinationSpace& space);

// Plans deletions to reach `target` free, oldest first: first what the `keep` policy lets go (with
// no policy: every snapshot), then, with min_free_overrides_keep (the default), snapshots a long
// rule would keep; never `latest`, never one of keep's bare count (keep = 3 ...), never one
// snapkeep did not make (policy.hpp). Measures free room with the backend's space() and uses its
// prediction of freed bytes (exact on hard-link trees).
Result<SpacePlan> plan_free_space(const Preset& preset, Backend& backend, const SizeSpec& target);

// Carries out plan_free_space with the lock held; a protected snapshot deleted for space is a
// warning. When the target cannot be reached, deletes nothing and fails saying how much is missing.
Result<SpacePlan> make_free_space(const Preset& preset, Backend& backend, const SizeSpec& target, bool dry_run);

}  // namespace snapkeep
