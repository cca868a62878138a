#include "core/retention/space.hpp"

#include <spdlog/spdlog.h>

#include "core/config/units.hpp"
#include "core/retention/prune.hpp"
#include "core/retention/retention.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
std::uint64_t free_space_target(const SizeSpec& spec, const DestinationSpace& space) {
  if (!spec.is_percent) {
    return spec.bytes;
  }
  return static_cast<std::uint64_t>(static_cast<double>(space.size_bytes) * spec.percent / 100.0);
}

Result<SpacePlan> plan_free_space(const Preset& preset, Backend& backend, const SizeSpec& target) {
  fs::path preset_dir = preset.preset_dir();
  SpacePlan plan;
  SNAPKEEP_TRY_ASSIGN(DestinationSpace space, backend.space(preset.destination));
  plan.target = free_space_target(target, space);
  plan.free_now = space.free_bytes;
  plan.predicted = plan.free_now;
  if (plan.free_now >= plan.target) {
    return plan;
  }
  auto snapshots = list_snapshots(preset_dir);
  if (!snapshots) {
    return std::move(snapshots).error();
  }
  // Candidates, oldest first: what the policy lets go, or with no policy all but the newest.
  std::vector<std::size_t> order;
  if (!preset.keep.rules.empty()) {
    std::vector<SnapshotInfo> own;
    for (const auto& s : *snapshots) {
      if (s.time_recorded) {
        own.push_back(s);
      }
    }
    for (const auto& decision : apply_retention(preset.keep, own, std::time(nullptr))) {
      for (std::size_t i = 0; i < snapshots->size(); ++i) {
        if ((*snapshots)[i].id == decision.id && !decision.keep) {
          order.push_back(i);
        }
      }
    }
  } else {
    // Every own snapshot older than the newest own one (the one `latest` names).
    std::size_t newest_own = snapshots->size();
    for (std::size_t i = 0; i < snapshots->size(); ++i) {
      if ((*snapshots)[i].time_recorded) {
        newest_own = i;
      }
    }
    for (std::size_t i = 0; i < newest_own; ++i) {
      if ((*snapshots)[i].time_recorded) {
        order.push_back(i);
      }
    }
  }
  auto usage = backend.usage(*snapshots, order);
  if (!usage) {
    return std::move(usage).error();
  }
  for (std::size_t j = 0; j < order.size(); ++j) {
    plan.victims.push_back((*snapshots)[order[j]]);
    plan.predicted = plan.free_now + usage->freed_after[j];
    if (plan.predicted >= plan.target) {
      return plan;
    }
  }
  plan.reachable = false;
  return plan;
}

Result<SpacePlan> make_free_space(const Preset& preset, Backend& backend, const SizeSpec& target, bool dry_run) {
  auto plan = plan_free_space(preset, backend, target);
  if (!plan) {
    return plan;
  }
  if (!plan->reachable) {
    return runtime_error(preset.name + ": cannot free enough space on " + preset.destination.string() + ": " +
                         format_bytes(plan->target) + " wanted free, " + format_bytes(plan->free_now) +
                         " free now, and deleting every snapshot that may go frees only " +
                         format_bytes(plan->predicted - plan->free_now) + "; " +
                         format_bytes(plan->target - plan->predicted) + " are missing. Nothing was deleted or copied");
  }
  if (plan->victims.empty()) {
    return plan;
  }
  spdlog::info("{}: {} free, {} wanted: {} {} snapshot(s) to free {}", preset.name, format_bytes(plan->free_now),
               format_bytes(plan->target), dry_run ? "would delete" : "deleting", plan->victims.size(),
               format_bytes(plan->predicted - plan->free_now));
  if (!dry_run) {
    for (const auto& victim : plan->victims) {
      SNAPKEEP_TRY(delete_snapshot(preset, backend, victim));
    }
  }
  return plan;
}

}  // namespace snapkeep
