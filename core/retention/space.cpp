#include "core/retention/space.hpp"

#include <spdlog/spdlog.h>

#include "core/config/units.hpp"
#include "core/retention/deletion.hpp"
#include "core/retention/policy.hpp"

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
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset_dir));
  const auto verdicts = judge_snapshots(preset, snapshots, std::time(nullptr));
  // Candidates in deletion order: what the policy lets go (or, with no policy, everything that may
  // go), oldest first; then what long rules keep, oldest first.
  const bool no_policy = preset.keep.rules.empty();
  std::vector<std::size_t> order;
  std::vector<std::size_t> overriding;
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    const SnapshotVerdict& v = verdicts[i];
    if (v.untouchable || v.in_bare_count) {
      continue;
    }
    (no_policy || !v.keep ? order : overriding).push_back(i);
  }
  const std::size_t policy_count = order.size();
  order.insert(order.end(), overriding.begin(), overriding.end());
  SNAPKEEP_TRY_ASSIGN(UsageReport usage, backend.usage(snapshots, order));
  for (std::size_t j = 0; j < order.size(); ++j) {
    const bool overrides = j >= policy_count;
    if (overrides && !preset.min_free_overrides_keep) {
      plan.protected_bytes = usage.freed_after.back() - (j == 0 ? 0 : usage.freed_after[j - 1]);
      break;
    }
    SpaceVictim victim;
    victim.snapshot = snapshots[order[j]];
    victim.overrides_keep = overrides;
    if (overrides) {
      victim.kept_by = verdicts[order[j]].reasons;
    }
    plan.victims.push_back(std::move(victim));
    plan.predicted = plan.free_now + usage.freed_after[j];
    if (plan.predicted >= plan.target) {
      return plan;
    }
  }
  plan.reachable = false;
  return plan;
}

Result<SpacePlan> make_free_space(const Preset& preset, Backend& backend, const SizeSpec& target, bool dry_run) {
  SNAPKEEP_TRY_ASSIGN(SpacePlan plan, plan_free_space(preset, backend, target));
  if (!plan.reachable) {
    std::string hint;
    if (plan.protected_bytes > 0) {
      hint = " (min_free_overrides_keep = no: deleting the snapshots that keep rules protect would free " +
             format_bytes(plan.protected_bytes) + " more)";
    }
    return runtime_error("cannot free enough space on " + preset.destination.string() + ": " +
                         format_bytes(plan.target) + " wanted free, " + format_bytes(plan.free_now) +
                         " free now, and deleting every snapshot that may go frees only " +
                         format_bytes(plan.predicted - plan.free_now) + "; " +
                         format_bytes(plan.target - plan.predicted) + " are missing" + hint +
                         ". Nothing was deleted or copied")
        .in(preset.name);
  }
  if (plan.victims.empty()) {
    return plan;
  }
  spdlog::info("{}: {} free, {} wanted: {} {} snapshot(s) to free {}", preset.name, format_bytes(plan.free_now),
               format_bytes(plan.target), dry_run ? "would delete" : "deleting", plan.victims.size(),
               format_bytes(plan.predicted - plan.free_now));
  for (const auto& victim : plan.victims) {
    if (victim.overrides_keep) {
      std::string rules;
      for (const auto& r : victim.kept_by) {
        rules += (rules.empty() ? "" : ", ") + r;
      }
      spdlog::warn(
          "{}: {} snapshot {} although keep would keep it ({}): the destination needs room "
          "(min_free_overrides_keep = yes)",
          preset.name, dry_run ? "would delete" : "deleting", victim.snapshot.id, rules);
    }
    if (!dry_run) {
      SNAPKEEP_TRY(delete_snapshot(preset, backend, victim.snapshot));
    }
  }
  return plan;
}

}  // namespace snapkeep
