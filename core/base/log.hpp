#pragma once
// Logging setup: spdlog to stderr; results go to stdout elsewhere.

#include <cstdint>
#include <string>
#include <vector>

namespace snapkeep {

// -1 = quiet (warnings and errors), 0 = normal (info), 1+ = verbose (debug).
void setup_logging(int verbosity);

// The verbosity setup_logging() was given.
int log_verbosity();

// Where the warnings and errors logged so far end: a mark to pass to log_problems_since.
std::uint64_t log_mark();

// The warnings and errors logged since `mark` ("warning: ..." / "error: ..."), oldest first: what a
// failure ping carries (docs/monitoring.md). Only the newest few hundred are kept; empty before
// setup_logging (the unit tests).
std::vector<std::string> log_problems_since(std::uint64_t mark);

}  // namespace snapkeep
