#pragma once
// What every fuzz target of tests/fuzz shares: stopping on a broken invariant, and a fixed time zone.

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace snapkeep::fuzz {

// Stops the run with a message when an invariant does not hold; libFuzzer saves the input.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz target: invariant broken: %s\n", what);
    std::abort();
  }
}

// Runs the target in time zone `tz` (from LLVMFuzzerInitialize), whatever the machine's is.
inline int use_time_zone(const char* tz) {
  ::setenv("TZ", tz, 1);
  ::tzset();
  return 0;
}

}  // namespace snapkeep::fuzz
