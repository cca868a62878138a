#pragma once
// `check`: everything a backup of a preset would need, verified without changing anything.

#include <string>
#include <vector>

#include "core/store/backend.hpp"

namespace snapkeep {

// What `check` found beyond pass/fail.
struct CheckReport {
  std::vector<std::string> warnings;  // e.g. a destination mounted read-only
};

// Checks a preset's source and destination (the drive, and that its filesystem can hold a snapshot),
// what its backend needs (tools, destination filesystem), its exclude_from file and its snapshot
// folder. Changes nothing on disk but a dot-named probe folder it removes again.
Result<CheckReport> check_setup(const Preset& preset, const Backend& backend);

}  // namespace snapkeep
