// Unit tests of the backup flow in core/backup (run_backup, backup_preset) with the fake backend,
// without root: what a failed or killed create_snapshot leaves (only dot-named work, `latest`
// unchanged, the next run succeeds), a killed run's complete snapshot adopted by the next run,
// the prune after a backup under the same lock, and a failed prune finished by the next run.

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/backup/backup.hpp"
#include "core/config/units.hpp"
#include "core/store/catalog.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/fake_world.hpp"
#include "tests/support/file_probes.hpp"
#include "tests/support/forked.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"

namespace snapkeep::test {
namespace {

// The one .fake-work-* entry in the preset folder ("" and a test failure when there is not one).
std::string only_work(const FakeWorld& w) {
  std::vector<std::string> work;
  for (const auto& name : names_in(w.preset_dir())) {
    if (name.rfind(".fake-work-", 0) == 0) {
      work.push_back(name);
    }
  }
  EXPECT_EQ(work.size(), 1u) << "expected exactly one unfinished copy";
  return work.size() == 1 ? work.front() : std::string();
}

// Asserts the preset folder holds exactly `ids`, latest, .snapkeep and `extra` names.
void expect_preset_folder(const FakeWorld& w, const std::vector<std::string>& ids,
                          const std::set<std::string>& extra = {}) {
  std::set<std::string> expected(ids.begin(), ids.end());
  expected.insert({"latest", ".snapkeep"});
  expected.insert(extra.begin(), extra.end());
  EXPECT_EQ(names_in(w.preset_dir()), expected);
  EXPECT_EQ(w.ids(), ids);
}

// Asserts snapshot `id` holds the source as it is now: names, contents, modes, owners, mtimes.
void expect_copy_of_source(const FakeWorld& w, const std::string& id) {
  auto diffs = tree_differences(w.src, w.snap(id));
  EXPECT_TRUE(diffs.empty()) << id << " is not a copy of the source:\n" << join_lines(diffs);
}

TEST(BackupFlow, SecondBackupLinksUnchangedFilesAndMovesLatest) {
  FakeWorld w;
  std::string first = w.backup_ok();
  w.change_source(1);
  std::string second = w.backup_ok();
  ASSERT_NE(first, second);
  EXPECT_EQ(w.latest(), second);
  expect_copy_of_source(w, second);
  EXPECT_EQ(inode_of(w.snap(first) / "data" / "stable.bin"), inode_of(w.snap(second) / "data" / "stable.bin"));
  EXPECT_NE(inode_of(w.snap(first) / "round.txt"), inode_of(w.snap(second) / "round.txt"));
  EXPECT_EQ(read_file(w.snap(first) / "round.txt"), "round 0\n");
  EXPECT_EQ(w.backend.calls().created, (std::vector<std::string>{first, second}));
}

TEST(BackupFlow, DryRunChangesNothing) {
  FakeWorld w;
  std::string first = w.backup_ok();
  BackupOptions dry;
  dry.dry_run = true;
  auto outcome = w.backup(dry);
  ASSERT_TRUE(outcome.ok()) << outcome.error().describe();
  EXPECT_EQ(w.backend.calls().create_snapshot, 2);
  EXPECT_GT(outcome->stats.files, 0u);
  expect_preset_folder(w, {first});
  EXPECT_EQ(w.latest(), first);
}

TEST(BackupFlow, FailedCreateSnapshotLeavesOnlyDotWorkAndLatest) {
  for (FakeStep step : {FakeStep::copy_started, FakeStep::copy_midway, FakeStep::copy_done}) {
    SCOPED_TRACE(std::string(step_name(step)));
    FakeWorld w;
    std::string first = w.backup_ok();
    w.change_source(1);
    w.backend.faults().at[step] = FakeAction::fail;
    auto failed = w.backup();
    ASSERT_FALSE(failed.ok()) << "the armed fault did not fail the backup";
    EXPECT_NE(failed.error().describe().find("failed on purpose at " + std::string(step_name(step))), std::string::npos)
        << failed.error().describe();
    EXPECT_NE(failed.error().describe().find("home"), std::string::npos) << "the preset is not named";

    std::string work = only_work(w);
    expect_preset_folder(w, {first}, {work});
    EXPECT_EQ(w.latest(), first);
    EXPECT_EQ(names_in(w.preset_dir() / ".snapkeep" / "snapshots"), std::set<std::string>{first})
        << "the failed snapshot's time record is left";
    auto interrupted = w.backend.interrupted_work(w.preset_dir());
    ASSERT_EQ(interrupted.size(), 1u);
    EXPECT_EQ(interrupted[0].path, w.preset_dir() / work);

    std::string next = w.backup_ok();
    expect_preset_folder(w, {first, next});
    EXPECT_EQ(w.latest(), next);
    expect_copy_of_source(w, next);
  }
}

TEST(BackupFlow, KilledRunLeavesOnlyDotWorkOrACompleteSnapshotThatTheNextRunAdopts) {
  for (FakeStep step : {FakeStep::copy_started, FakeStep::copy_midway, FakeStep::copy_done, FakeStep::renamed}) {
    SCOPED_TRACE(std::string(step_name(step)));
    FakeWorld w;
    std::string first = w.backup_ok();
    w.change_source(1);
    {
      // Armed in the child only: the parent's fake stays harmless.
      ForkedCall killed([&] {
        w.backend.faults().at[step] = FakeAction::kill;
        return w.backup().ok();
      });
      ASSERT_TRUE(killed.killed()) << "the run was not killed at its step";
    }
    EXPECT_EQ(w.latest(), first) << "latest moved before the run finished";
    std::vector<std::string> after_kill = w.ids();
    if (step == FakeStep::renamed) {
      // Complete under its id: a snapshot, not yet latest.
      ASSERT_EQ(after_kill.size(), 2u);
      expect_copy_of_source(w, after_kill[1]);
      expect_preset_folder(w, after_kill);
    } else {
      expect_preset_folder(w, {first}, {only_work(w)});
    }

    w.change_source(2);
    std::string next = w.backup_ok();
    std::vector<std::string> expected = after_kill;
    expected.push_back(next);
    expect_preset_folder(w, expected);
    EXPECT_EQ(w.latest(), next);
    expect_copy_of_source(w, next);
    // Still incremental from the snapshot before it.
    EXPECT_EQ(inode_of(w.snap(expected[expected.size() - 2]) / "data" / "stable.bin"),
              inode_of(w.snap(next) / "data" / "stable.bin"));
  }
}

// The lock file holds the holder's pid and is emptied when the lock is released: a line a test
// appends while the lock is held survives exactly as long as that holding.
TEST(BackupFlow, PruneAfterBackupRunsUnderTheSameLock) {
  FakeWorld w;
  std::vector<std::string> old{w.backup_ok()};
  w.change_source(1);
  old.push_back(w.backup_ok());
  w.change_source(2);
  auto keep = parse_keep("1");
  ASSERT_TRUE(keep.ok());
  w.preset.keep = *keep;

  fs::path lock = w.preset_dir() / ".snapkeep" / "lock";
  const std::string pid_line = std::to_string(::getpid()) + "\n";
  const std::string marker = "held since the copy\n";
  int marked = 0;
  int checked = 0;
  w.backend.observe([&](FakeStep step, const fs::path&) {
    if (step == FakeStep::copy_done) {
      EXPECT_FALSE(lock_is_free(lock)) << "create_snapshot runs without the lock";
      EXPECT_EQ(read_file(lock), pid_line);
      std::ofstream(lock, std::ios::app) << marker;
      ++marked;
    }
    if (step == FakeStep::delete_started) {
      EXPECT_FALSE(lock_is_free(lock)) << "the prune runs without the lock";
      EXPECT_EQ(read_file(lock), pid_line + marker) << "the lock was released between the backup and its prune";
      ++checked;
    }
  });
  BackupOptions options;
  auto run = backup_preset(w.preset, w.backend, options, nullptr);
  ASSERT_TRUE(run.ok()) << run.error().describe();
  EXPECT_EQ(marked, 1);
  EXPECT_EQ(checked, 2) << "both older snapshots are pruned";
  EXPECT_FALSE(run->prune_error.has_value());
  EXPECT_EQ(run->pruned, old);
  EXPECT_EQ(w.backend.calls().deleted, (std::vector<std::string>{".deleting-" + old[0], ".deleting-" + old[1]}));
  EXPECT_EQ(w.ids(), std::vector<std::string>{run->outcome.snapshot_id});
  EXPECT_EQ(w.latest(), run->outcome.snapshot_id);
  EXPECT_TRUE(lock_is_free(lock)) << "backup_preset returned holding the lock";
  EXPECT_EQ(read_file(lock), "") << "the released lock still names a holder";
}

TEST(BackupFlow, FailedPruneKeepsTheBackupAndTheNextRunFinishesTheDeletion) {
  FakeWorld w;
  std::string old = w.backup_ok();
  w.change_source(1);
  auto keep = parse_keep("1");
  ASSERT_TRUE(keep.ok());
  w.preset.keep = *keep;
  w.backend.faults().at[FakeStep::delete_midway] = FakeAction::fail;
  auto run = backup_preset(w.preset, w.backend, BackupOptions{}, nullptr);
  ASSERT_TRUE(run.ok()) << "a failed prune fails the backup: " << run.error().describe();
  ASSERT_TRUE(run->prune_error.has_value());
  EXPECT_NE(run->prune_error->describe().find("the backup succeeded but pruning failed"), std::string::npos)
      << run->prune_error->describe();
  std::string made = run->outcome.snapshot_id;
  EXPECT_EQ(w.latest(), made);
  // The half-deleted snapshot is out of sight, never listed.
  expect_preset_folder(w, {made}, {".deleting-" + old});

  // run_backup alone (no prune): it finishes the interrupted deletion before anything else.
  w.change_source(2);
  std::string next = w.backup_ok();
  expect_preset_folder(w, {made, next});
  EXPECT_EQ(w.backend.calls().deleted, std::vector<std::string>{".deleting-" + old});
  // The last "create" of that id (ids name the true time, so a deleted snapshot's id may come back).
  const auto& log = w.backend.calls().log;
  const auto created = std::find(log.rbegin(), log.rend(), "create " + next).base() - 1;
  EXPECT_LT(std::find(log.begin(), log.end(), "deleted .deleting-" + old), created);
}

}  // namespace
}  // namespace snapkeep::test
