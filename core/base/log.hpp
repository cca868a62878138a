#pragma once
// Logging setup: spdlog to stderr; results go to stdout elsewhere.

namespace snapkeep {

// -1 = quiet (warnings and errors), 0 = normal (info), 1+ = verbose (debug).
void setup_logging(int verbosity);

// The verbosity setup_logging() was given.
int log_verbosity();

}  // namespace snapkeep
