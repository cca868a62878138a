#pragma once
// The fault-injection suite's helpers (seeds, tree descriptions, process groups and the process
// table, mounted image copies), compiled once in tests/support/: this header only gathers their
// declarations. New tests include the tests/support/ headers they use.

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/integration_util.hpp"
#include "tests/support/mounts.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/seeds.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_state.hpp"
