// snapkeep's entry point: signals, resource limits, and the one place exceptions are caught.

#include <sys/resource.h>

#include <cstdio>
#include <exception>

#include "cli/app.hpp"
#include "core/base/signals.hpp"

int main(int argc, char** argv) {
  snapkeep::install_signal_handlers();
  // Deleting deep trees keeps one descriptor per level open.
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  try {
    return snapkeep::cli::run_cli(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "snapkeep: error: unexpected failure: %s\n", e.what());
    return 1;
  }
}
