// Unit tests for core/lock: the per-preset flock, seen from other processes (fork), its holder's pid
// in the message, release on destruction and on death, and stale lock files.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "core/base/process.hpp"
#include "core/store/lock.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// What a forked child reported: its exit status and the message it wrote to the pipe.
struct ChildReport {
  int exit_code = -1;
  std::string message;
  pid_t pid = -1;
};

// Exit statuses of try_lock_in_child.
constexpr int k_child_locked_it = 0;
constexpr int k_child_saw_locked = 3;
constexpr int k_child_other_error = 4;

// Forks a child that tries to take the lock in state_dir (without waiting unless `wait`); it exits
// 0 when it got the lock, 3 for ErrorKind::locked, 4 for any other error, and writes the message.
ChildReport try_lock_in_child(const fs::path& state_dir, bool wait = false) {
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return {};
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return {};
  }
  if (pid == 0) {
    ::close(fds[0]);
    auto lock = PresetLock::acquire(state_dir, "home", wait);
    int code = k_child_locked_it;
    std::string message;
    if (!lock.ok()) {
      message = lock.error().describe();
      code = lock.error().kind == ErrorKind::locked ? k_child_saw_locked : k_child_other_error;
    }
    (void)!::write(fds[1], message.data(), message.size());
    ::_exit(code);
  }
  ::close(fds[1]);
  ChildReport report;
  report.pid = pid;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    report.message.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  report.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return report;
}

TEST(CoreLock, AcquireInEmptyFolderWritesOurPid) {
  TempDir tmp;
  auto lock = PresetLock::acquire(tmp.path(), "home", false);
  ASSERT_TRUE(lock.ok()) << lock.error().describe();
  EXPECT_EQ(test::read_file(tmp / "lock"), std::to_string(::getpid()) + "\n");
}

TEST(CoreLock, OtherProcessSeesItLockedAndLearnsHolderPid) {
  TempDir tmp;
  auto lock = PresetLock::acquire(tmp.path(), "home", false);
  ASSERT_TRUE(lock.ok()) << lock.error().describe();
  ChildReport child = try_lock_in_child(tmp.path());
  EXPECT_EQ(child.exit_code, k_child_saw_locked) << child.message;
  EXPECT_NE(child.message.find("pid " + std::to_string(::getpid())), std::string::npos) << child.message;
  EXPECT_NE(child.message.find("home"), std::string::npos) << child.message;
  // The failed attempt did not take over the pid in the lock file.
  EXPECT_EQ(test::read_file(tmp / "lock"), std::to_string(::getpid()) + "\n");
}

TEST(CoreLock, SecondAcquireInSameProcessIsAlsoLocked) {
  TempDir tmp;
  auto first = PresetLock::acquire(tmp.path(), "home", false);
  ASSERT_TRUE(first.ok());
  auto second = PresetLock::acquire(tmp.path(), "home", false);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ErrorKind::locked);
  EXPECT_EQ(second.error().exit_code(), 3);
}

TEST(CoreLock, ReleasedByDestructorThenOthersCanTakeIt) {
  TempDir tmp;
  {
    auto lock = PresetLock::acquire(tmp.path(), "home", false);
    ASSERT_TRUE(lock.ok());
    EXPECT_EQ(try_lock_in_child(tmp.path()).exit_code, k_child_saw_locked);
  }
  ChildReport child = try_lock_in_child(tmp.path());
  EXPECT_EQ(child.exit_code, k_child_locked_it) << child.message;
  // The new holder wrote its own pid.
  EXPECT_EQ(test::read_file(tmp / "lock"), std::to_string(child.pid) + "\n");
  // The lock file stays (nobody races on re-creating it), and we can take the lock again.
  EXPECT_TRUE(fs::exists(tmp / "lock"));
  EXPECT_TRUE(PresetLock::acquire(tmp.path(), "home", false).ok());
}

TEST(CoreLock, MovedLockKeepsHolding) {
  TempDir tmp;
  std::optional<PresetLock> held;
  {
    auto lock = PresetLock::acquire(tmp.path(), "home", false);
    ASSERT_TRUE(lock.ok());
    held.emplace(std::move(*lock));
  }  // the moved-from lock is destroyed here and must not release
  EXPECT_EQ(try_lock_in_child(tmp.path()).exit_code, k_child_saw_locked);
  PresetLock other = std::move(*held);
  held.reset();
  EXPECT_EQ(try_lock_in_child(tmp.path()).exit_code, k_child_saw_locked);
}

TEST(CoreLock, StaleLockFileWithDeadPidDoesNotBlock) {
  TempDir tmp;
  // A pid that certainly is dead: a child we already reaped.
  pid_t dead = ::fork();
  if (dead == 0) {
    ::_exit(0);
  }
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  test::write_file(tmp / "lock", std::to_string(dead) + "\n");
  auto lock = PresetLock::acquire(tmp.path(), "home", false);
  ASSERT_TRUE(lock.ok()) << lock.error().describe();
  EXPECT_EQ(test::read_file(tmp / "lock"), std::to_string(::getpid()) + "\n");
}

TEST(CoreLock, StaleLockFileWithLongGarbageIsReplacedByOurPid) {
  TempDir tmp;
  test::write_file(tmp / "lock", std::string(100, '9') + "\nleft over from an older version\n");
  auto lock = PresetLock::acquire(tmp.path(), "home", false);
  ASSERT_TRUE(lock.ok()) << lock.error().describe();
  EXPECT_EQ(test::read_file(tmp / "lock"), std::to_string(::getpid()) + "\n");
}

TEST(CoreLock, HolderKilledReleasesTheLock) {
  TempDir tmp;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    ::close(ready[0]);
    auto lock = PresetLock::acquire(tmp.path(), "home", false);
    char c = lock.ok() ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    for (;;) {
      ::pause();
    }
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(c, 'y');
  auto while_held = PresetLock::acquire(tmp.path(), "home", false);
  ASSERT_FALSE(while_held.ok());
  EXPECT_EQ(while_held.error().kind, ErrorKind::locked);
  EXPECT_NE(while_held.error().message.find("pid " + std::to_string(holder)), std::string::npos)
      << while_held.error().message;
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  auto after = PresetLock::acquire(tmp.path(), "home", false);
  EXPECT_TRUE(after.ok()) << after.error().describe();
}

TEST(CoreLock, ProgramsWeStartKeepTheLockUntilTheyExit) {
  // The lock fd is inherited on purpose (core/lock.cpp): helpers that outlive us (rsync's, after a
  // kill) keep the preset locked until the last of them has exited, so runs never interleave.
  TempDir tmp;
  {
    auto lock = PresetLock::acquire(tmp.path(), "home", false);
    ASSERT_TRUE(lock.ok());
    auto started = run_process({"sh", "-c", "sleep 1 </dev/null >/dev/null 2>&1 &"});
    ASSERT_TRUE(started.ok() && started->succeeded());
  }
  EXPECT_EQ(try_lock_in_child(tmp.path()).exit_code, k_child_saw_locked) << "a still running helper lost the lock";
  ChildReport child;
  for (int i = 0; i < 60; ++i) {
    ::usleep(100 * 1000);
    child = try_lock_in_child(tmp.path());
    if (child.exit_code == k_child_locked_it) {
      break;
    }
  }
  EXPECT_EQ(child.exit_code, k_child_locked_it) << "still locked after the helper exited: " << child.message;
}

TEST(CoreLock, WaitingAcquireBlocksUntilReleased) {
  TempDir tmp;
  // The holder is a child of its own: a forked waiter must not inherit our lock's file description.
  int ready[2];
  int release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    ::close(ready[0]);
    ::close(release[1]);
    auto lock = PresetLock::acquire(tmp.path(), "home", false);
    char c = lock.ok() ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(release[0], &c, 1);  // until the parent says so
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(c, 'y');

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t waiter = ::fork();
  ASSERT_GE(waiter, 0);
  if (waiter == 0) {
    ::close(fds[0]);
    ::close(release[1]);
    auto start = std::chrono::steady_clock::now();
    auto got = PresetLock::acquire(tmp.path(), "home", true);
    auto waited_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    std::string report = std::to_string(waited_ms);
    (void)!::write(fds[1], report.data(), report.size());
    ::_exit(got.ok() ? 0 : 1);
  }
  ::close(fds[1]);
  ::usleep(300 * 1000);
  ::close(release[1]);  // the holder reads EOF and exits, which releases the lock
  ::waitpid(holder, nullptr, 0);
  std::string report;
  char buf[64];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    report.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(waiter, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_GE(std::stol(report.empty() ? "0" : report), 200) << "the waiting run did not wait";
  EXPECT_EQ(test::read_file(tmp / "lock"), std::to_string(waiter) + "\n");
}

TEST(CoreLock, MissingStateFolderIsAnErrorNamingThePath) {
  TempDir tmp;
  auto lock = PresetLock::acquire(tmp / "missing", "home", false);
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.error().kind, ErrorKind::locked);
  EXPECT_NE(lock.error().describe().find((tmp / "missing").string()), std::string::npos) << lock.error().describe();
  EXPECT_FALSE(fs::exists(tmp / "missing"));
}

TEST(CoreLock, SymlinkedLockFileIsNotFollowed) {
  TempDir tmp;
  fs::create_directory(tmp / "state");
  test::write_file(tmp / "precious", "do not truncate me");
  fs::create_symlink(tmp / "precious", tmp / "state" / "lock");
  auto lock = PresetLock::acquire(tmp / "state", "home", false);
  EXPECT_FALSE(lock.ok());
  EXPECT_EQ(test::read_file(tmp / "precious"), "do not truncate me");
}

}  // namespace
}  // namespace snapkeep
