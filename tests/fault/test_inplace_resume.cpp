// A killed run of the btrfs backend's plain-folder case leaves `.snapkeep/current` half updated:
// the native engine's in-place mode and rsync --inplace rewrite a file's blocks and set its mtime
// only at the end, so a file cut off mid-way holds part new, part old data. Were its old size and mtime still on it, a
// source file given exactly that size and mtime back (the user restores yesterday's version from the backup, which
// keeps mtimes) would pass the next run's quick check and the snapshot would keep the mixed file. It is safe because
// the interrupted writes themselves stamp the file with the time of the kill; this test keeps it so (a change to, say,
// preallocate-and-restore-mtime would break it).

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/processes.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test::fault {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t k_mib = 1024 * 1024;
constexpr std::size_t k_probe = 64 * 1024;

// `len` bytes of file at offset ("" when it cannot be read).
std::string read_at(const fs::path& file, off_t offset, std::size_t len) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  std::string out(len, '\0');
  ssize_t n = ::pread(fd, out.data(), len, offset);
  ::close(fd);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

std::string json_backup_id(const RunResult& r) {
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  if (doc.is_discarded() || !doc.contains("presets") || doc["presets"].empty()) {
    return {};
  }
  return doc["presets"][0].value("snapshot", "");
}

// `transfer`: native (the in-place mode) or rsync.
void restored_after_a_killed_run(const std::string& transfer) {
  TempDir tmp;
  LoopFs dest("btrfs", 512);
  ASSERT_TRUE(dest.ok());
  fs::path src = tmp / "src";
  fs::path big = src / "big.bin";
  constexpr std::size_t size = 96 * k_mib;
  write_random_file(big, size, 1);
  write_file(src / "small.txt", "small\n");
  struct timespec old_time[2] = {{1600000000, 0}, {1600000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, big.c_str(), old_time, 0), 0);
  fs::path config = write_preset_config(tmp / "c.ini", "home", src, dest.mount_point(),
                                        "backend = btrfs\ntransfer = " + transfer + "\n");
  fs::path preset_dir = dest.mount_point() / "home";
  fs::path current = preset_dir / ".snapkeep" / "current" / "big.bin";

  RunResult first = snapkeep({"-c", config.string(), "--json", "backup"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string first_id = json_backup_id(first);
  ASSERT_FALSE(first_id.empty());
  const std::string old_head = read_at(big, 0, k_probe);
  const std::string old_tail = read_at(big, static_cast<off_t>(size - k_probe), k_probe);

  // A new version of the file; the backup is killed once its beginning is rewritten in place. rsync
  // runs through the hold fake with --bwlimit, so the rest of the file takes seconds to come and the
  // poll below sees the rewritten beginning long before the end, however busy the machine; the
  // native engine compares and writes 96 MiB in blocks of 16 KiB, which takes long enough too.
  const char* path_env = std::getenv("PATH");
  const std::string hold_fake = std::string(SNAPKEEP_SOURCE_DIR) + "/tests/fakes/hold";
  const std::vector<std::string> slow_rsync{
      "PATH=" + hold_fake + ":" + (path_env != nullptr ? path_env : "/usr/bin:/bin"), "FAKE_HOLD_ARG=--bwlimit=8m"};
  BackgroundOptions own_group;
  own_group.name = "run";
  own_group.own_group = true;
  bool mixed = false;
  for (unsigned attempt = 0; attempt < 5 && !mixed; ++attempt) {
    write_random_file(big, size, 100 + attempt);
    struct timespec new_time[2] = {{1700000000 + static_cast<time_t>(attempt), 0},
                                   {1700000000 + static_cast<time_t>(attempt), 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, big.c_str(), new_time, 0), 0);
    const std::string new_head = read_at(big, 0, k_probe);
    ::sync();
    BackgroundRun run({"-c", config.string(), "backup"}, tmp.path(), slow_rsync, own_group);
    ASSERT_GT(run.pid(), 0);
    while (run.running() && read_at(current, 0, k_probe) != new_head) {
      std::this_thread::sleep_for(50us);
    }
    run.kill_group(SIGKILL);
    run.wait();
    ASSERT_TRUE(wait_until_gone({tmp.path().string(), dest.mount_point().string()}));
    mixed = read_at(current, 0, k_probe) == new_head &&
            read_at(current, static_cast<off_t>(size - k_probe), k_probe) == old_tail;
  }
  ASSERT_TRUE(mixed) << transfer << " finished the file before the kill landed five times";

  // The user restores the first snapshot's version (same size, same mtime), then backs up.
  RunResult restore = run({"cp", "-a", "--", (preset_dir / first_id / "big.bin").string(), big.string()});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  ASSERT_EQ(read_at(big, 0, k_probe), old_head);
  RunResult next = snapkeep({"-c", config.string(), "--json", "backup"});
  ASSERT_EQ(next.exit_code, 0) << next.err;
  std::string next_id = json_backup_id(next);
  ASSERT_FALSE(next_id.empty());
  fs::path snap = preset_dir / next_id / "big.bin";
  EXPECT_EQ(read_at(snap, 0, k_probe), old_head)
      << "the new snapshot holds the killed run's half-written data instead of the source file";
  EXPECT_TRUE(read_file(snap) == read_file(big)) << snap << " differs from the source " << big;
}

TEST(InplaceResume, BtrfsPlainSourceFileRestoredAfterAKilledRunIsBackedUpWhole) {
  SNAPKEEP_REQUIRE_ROOT();
  restored_after_a_killed_run("native");
}

TEST(InplaceResume, BtrfsPlainSourceFileRestoredAfterAKilledRsyncRunIsBackedUpWhole) {
  SNAPKEEP_REQUIRE_ROOT();
  restored_after_a_killed_run("rsync");
}

}  // namespace
}  // namespace snapkeep::test::fault
