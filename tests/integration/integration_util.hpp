#pragma once
// The integration tests' helpers, compiled once in tests/support/ (snapkeep_testsupport): this
// header only gathers their declarations (and the system headers tests written against it rely on).
// New tests include the tests/support/ headers they use.

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/mounts.hpp"
#include "tests/support/preset_world.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"
