#pragma once
// Shared test helpers: temporary folders, loop-mounted filesystems, running the snapkeep CLI.

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/mounts.hpp"

namespace snapkeep::test {

namespace fs = std::filesystem;

// Sets an environment variable for its lifetime (and puts back what it was).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* m_name;
  std::optional<std::string> m_old;
};

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return m_path; }
  fs::path operator/(const fs::path& rel) const { return m_path / rel; }

 private:
  fs::path m_path;
};

// True when running as root.
bool is_root();

// In a test body: skip with a message when not root, or fail when SNAPKEEP_REQUIRE_ROOT_TESTS=1.
#define SNAPKEEP_REQUIRE_ROOT()                                                                 \
  do {                                                                                          \
    if (!::snapkeep::test::is_root()) {                                                         \
      if (::snapkeep::test::root_tests_required()) {                                            \
        FAIL() << "this test needs root and SNAPKEEP_REQUIRE_ROOT_TESTS=1 forbids skipping it"; \
      }                                                                                         \
      GTEST_SKIP() << "needs root (loop devices, mount); run as root to include it";            \
    }                                                                                           \
  } while (false)

bool root_tests_required();

// Output of a finished child.
struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int term_signal = 0;
  std::string out;
  std::string err;
};

// Runs argv (no shell) and collects its output; env entries are added to ours ("" value unsets).
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
// Runs argv and fails the test (ADD_FAILURE with stderr) when it does not exit 0.
RunResult run_ok(const std::vector<std::string>& argv);
// Runs the built snapkeep binary with args.
RunResult snapkeep(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {});
// Path of the built snapkeep binary.
fs::path snapkeep_binary();

// A filesystem image made in a TempDir, loop-mounted at mount_point(); unmounted and detached on
// destruction, even when the test failed.
class LoopFs {
 public:
  // type: "ext4" or "btrfs"; size in MiB. Fails the test (and leaves nothing behind) on error.
  LoopFs(const std::string& type, unsigned size_mib, const std::vector<std::string>& mkfs_extra = {});
  ~LoopFs();
  LoopFs(const LoopFs&) = delete;
  LoopFs& operator=(const LoopFs&) = delete;
  const fs::path& mount_point() const { return m_mount_point; }
  const fs::path& image() const { return m_image; }
  // The loop device ("" when none is attached).
  const std::string& device() const;
  bool ok() const;
  // Unmounts and mounts again, which empties the page cache for this filesystem.
  void remount();

 private:
  TempDir m_dir;
  fs::path m_image;
  fs::path m_mount_point;
  std::unique_ptr<LoopMount> m_mount;  // declared last: unmounted before m_dir is removed
};

// File helpers.
void write_file(const fs::path& path, const std::string& content);
std::string read_file(const fs::path& path);
struct stat stat_of(const fs::path& path);  // lstat; fails the test on error
ino_t inode_of(const fs::path& path);
// Writes `size` deterministic pseudo-random bytes derived from seed.
void write_random_file(const fs::path& path, std::size_t size, unsigned seed);
// Writes a config file with one preset; returns its path. A destination that is not a mount point
// gets `require_mount = no`, as a user's must, unless extra_lines set require_mount.
fs::path write_preset_config(const fs::path& config_path, const std::string& preset, const fs::path& source,
                             const fs::path& destination, const std::string& extra_lines = "");
// Snapshot folders (id-named) under dest/preset, in the order snapkeep lists them (latest last).
std::vector<std::string> snapshot_ids(const fs::path& preset_dir);
// Names directly in dir, sorted (none when it does not exist).
std::vector<std::string> entries_of(const fs::path& dir);

}  // namespace snapkeep::test
