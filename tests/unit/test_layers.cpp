// Unit tests for scripts/check-layers: the tree passes, and each kind of wrong-way dependency
// injected into a copy of it fails the check with the file and line named.

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::RunResult;
using test::TempDir;

// A copy of the product code folders (core, backends, cli) in `dir`.
void copy_tree(const fs::path& dir) {
  for (const char* folder : {"core", "backends", "cli"}) {
    fs::copy(fs::path(SNAPKEEP_SOURCE_DIR) / folder, dir / folder, fs::copy_options::recursive);
  }
}

RunResult check_layers(const fs::path& tree) {
  return test::run({(fs::path(SNAPKEEP_SOURCE_DIR) / "scripts" / "check-layers").string(), tree.string()});
}

void append_line(const fs::path& file, const std::string& line) {
  std::ofstream out(file, std::ios::app);
  out << line << "\n";
}

TEST(LayerCheck, TheTreeHasNoWrongWayInclude) {
  RunResult r = check_layers(SNAPKEEP_SOURCE_DIR);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(LayerCheck, FailsOnAnIncludeFromALowerLayer) {
  TempDir tmp;
  copy_tree(tmp.path());
  ASSERT_EQ(check_layers(tmp.path()).exit_code, 0);
  append_line(tmp / "core/base/fsutil.cpp", "#include \"core/backup/backup.hpp\"");
  RunResult r = check_layers(tmp.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("core/base/fsutil.cpp:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("must not include core/backup/backup.hpp"), std::string::npos) << r.err;
}

TEST(LayerCheck, FailsOnASiblingInclude) {
  TempDir tmp;
  copy_tree(tmp.path());
  append_line(tmp / "core/retention/prune.cpp", "#include \"core/integrity/manifest.hpp\"");
  RunResult r = check_layers(tmp.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("core/retention/prune.cpp:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("a sibling"), std::string::npos) << r.err;
}

TEST(LayerCheck, FailsWhenCoreIncludesABackendOrLibbtrfsutil) {
  TempDir tmp;
  copy_tree(tmp.path());
  append_line(tmp / "core/integrity/scrub.cpp", "#include \"backends/btrfs/fs_scrub.hpp\"");
  append_line(tmp / "core/store/catalog.cpp", "#include <btrfsutil.h>");
  RunResult r = check_layers(tmp.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("core/integrity/scrub.cpp:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("core/store/catalog.cpp:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("only backends/btrfs may"), std::string::npos) << r.err;
}

TEST(LayerCheck, FailsWhenCodeOutsideBackendsComparesABackendName) {
  TempDir tmp;
  copy_tree(tmp.path());
  append_line(tmp / "cli/cmd_list.cpp", "static bool is_btrfs(const std::string& n) { return n == \"btrfs\"; }");
  RunResult r = check_layers(tmp.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cli/cmd_list.cpp:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("compares with a backend's name"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace snapkeep
