#pragma once
// The full-destination suite's helpers (Filler, FullWorld), compiled once in
// tests/support/full_disk.cpp: this header only gathers their declarations.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/fault/fault_util.hpp"
#include "tests/fault/source_tree.hpp"
#include "tests/support/full_disk.hpp"
#include "tests/support/testutil.hpp"
