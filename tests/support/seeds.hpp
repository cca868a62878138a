#pragma once
// Seeds of the fault-injection trials: mixing, stable label hashes, and what the environment asks
// for (base seed, replay of one trial, trial counts).

#include <cstdint>
#include <optional>
#include <string_view>

namespace snapkeep::test::fault {

// SplitMix64: a good 64-bit mix, so nearby seeds give unrelated streams.
std::uint64_t mix64(std::uint64_t x);

// FNV-1a of a label (stable across builds, unlike std::hash).
std::uint64_t label_hash(std::string_view text);

// What the environment asks for: SNAPKEEP_FAULT_SEED = "BASE" (every trial from that base) or
// "BASE:I" (replay trial I only: trials before it run without faults to rebuild the same source
// history); SNAPKEEP_FAULT_TRIALS = trials per backend; SNAPKEEP_FAULT_POWER_TRIALS = power cuts.
struct FaultSettings {
  std::uint64_t base_seed = 20261126;
  int trials = 30;
  int power_trials = 3;
  std::optional<int> replay_trial;
};

// The settings from the environment (defaults where a variable is unset).
FaultSettings fault_settings();

}  // namespace snapkeep::test::fault
