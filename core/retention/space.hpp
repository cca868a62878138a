#pragma once
// Making room on the destination before a backup (`min_free`, `prune --free`).

#include <cstdint>
#include <string>
#include <vector>

#include "core/store/backend.hpp"

namespace snapkeep {

// Which snapshots would be deleted to reach a free-space target, and what that predicts.
struct SpacePlan {
  std::uint64_t target = 0;           // bytes that should be free
  std::uint64_t free_now = 0;         // bytes free now (Backend::space, statvfs f_bavail by default)
  std::uint64_t predicted = 0;        // bytes free after deleting `victims`
  std::vector<SnapshotInfo> victims;  // oldest first
  bool reachable = true;
};

// The byte target of a SizeSpec on a destination of this size (a percentage of it).
std::uint64_t free_space_target(const SizeSpec& spec, const DestinationSpace& space);

// Plans deletions to reach `target` free: candidates are the snapshots the `keep` policy lets go,
// or with no policy every snapshot but the newest; oldest first; never one snapkeep did not make.
// Measures free room with the backend's space() and uses its prediction of freed bytes (exact on
// hard-link trees).
Result<SpacePlan> plan_free_space(const Preset& preset, Backend& backend, const SizeSpec& target);

// Carries out plan_free_space with the lock held. When the target cannot be reached, deletes
// nothing and fails saying how much is missing.
Result<SpacePlan> make_free_space(const Preset& preset, Backend& backend, const SizeSpec& target, bool dry_run);

}  // namespace snapkeep
