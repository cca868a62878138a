#pragma once
// The command line (SPEC §2): parses arguments, loads config, runs one command.

namespace snapkeep::cli {

// Runs snapkeep with argc/argv and returns the exit status.
int run_cli(int argc, char** argv);

}  // namespace snapkeep::cli
