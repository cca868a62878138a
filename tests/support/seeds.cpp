#include "tests/support/seeds.hpp"

#include <algorithm>
#include <cstdlib>

namespace snapkeep::test::fault {

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t label_hash(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h = (h ^ c) * 0x100000001b3ULL;
  }
  return h;
}

FaultSettings fault_settings() {
  FaultSettings s;
  if (const char* v = std::getenv("SNAPKEEP_FAULT_SEED"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    s.base_seed = std::strtoull(v, &end, 0);
    if (end != nullptr && *end == ':') {
      s.replay_trial = static_cast<int>(std::strtol(end + 1, nullptr, 10));
    }
  }
  if (const char* v = std::getenv("SNAPKEEP_FAULT_TRIALS"); v != nullptr && *v != '\0') {
    s.trials = std::max(1, std::atoi(v));
  }
  if (const char* v = std::getenv("SNAPKEEP_FAULT_POWER_TRIALS"); v != nullptr && *v != '\0') {
    s.power_trials = std::max(0, std::atoi(v));
  }
  if (s.replay_trial) {
    s.trials = *s.replay_trial + 1;
    s.power_trials = 0;
  }
  return s;
}

}  // namespace snapkeep::test::fault
