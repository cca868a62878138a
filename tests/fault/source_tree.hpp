#pragma once
// The fault trials' changing source tree, compiled once in tests/support/source_tree.cpp: this
// header only gathers its declarations.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/source_tree.hpp"
#include "tests/support/testutil.hpp"
