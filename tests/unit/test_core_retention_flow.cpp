// Unit tests of the retention flows in core/retention (run_prune, plan_free_space,
// make_free_space) as a backup and a prune run them, with the fake backend and its quota, without
// root: min_free deletes the oldest snapshots the policy lets go first and fails before copying
// when the target cannot be reached, a full quota fails as a full destination, and a killed
// deletion (.deleting-*) is finished by the next run.

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/units.hpp"
#include "core/retention/prune.hpp"
#include "core/retention/space.hpp"
#include "core/store/catalog.hpp"
#include "core/store/lock.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/fake_world.hpp"
#include "tests/support/file_probes.hpp"
#include "tests/support/forked.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

constexpr std::size_t k_unique = 64 * 1024;

// Four snapshots, each holding 64 KiB no other holds; returns their ids, oldest first.
std::vector<std::string> four_snapshots(FakeWorld& w) {
  std::vector<std::string> ids;
  for (int round = 0; round < 4; ++round) {
    w.change_source(round, k_unique);
    ids.push_back(w.backup_ok());
  }
  w.change_source(4, k_unique);
  return ids;
}

// The fake's brute-force prediction of what deleting the snapshots at `order` frees, step by step.
std::vector<std::uint64_t> freed_after(FakeWorld& w, const std::vector<std::size_t>& order) {
  auto snapshots = list_snapshots(w.preset_dir());
  EXPECT_TRUE(snapshots.ok());
  auto usage = w.backend.usage(*snapshots, order);
  EXPECT_TRUE(usage.ok());
  return usage ? usage->freed_after : std::vector<std::uint64_t>{};
}

// Gives the destination a quota that leaves `free` bytes free while a run holds the preset's lock
// (whose file then names it: a block of its own); returns that free room.
std::uint64_t set_free_room(FakeWorld& w, std::uint64_t free) {
  auto lock = PresetLock::acquire(w.preset_dir() / ".snapkeep", w.preset.name, false);
  EXPECT_TRUE(lock.ok());
  w.backend.faults().quota_bytes = FakeBackend::used_bytes(w.dest) + free;
  auto space = w.backend.space(w.dest);
  EXPECT_TRUE(space.ok());
  EXPECT_EQ(space->free_bytes, free);
  return free;
}

SizeSpec bytes(std::uint64_t n) {
  SizeSpec spec;
  spec.bytes = n;
  return spec;
}

std::vector<std::string> deleting(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    out.push_back(".deleting-" + id);
  }
  return out;
}

TEST(FreeSpaceFlow, MinFreeDeletesTheOldestSnapshotsFirstBeforeCopying) {
  FakeWorld w;
  std::vector<std::string> ids = four_snapshots(w);
  std::uint64_t free = set_free_room(w, 1024 * 1024);
  std::vector<std::uint64_t> freed = freed_after(w, {0, 1, 2});
  ASSERT_EQ(freed.size(), 3u);
  ASSERT_GT(freed[0], k_unique);
  // One byte more than deleting the oldest frees: the two oldest must go, and no more.
  w.preset.min_free = bytes(free + freed[0] + 1);
  std::uint64_t free_when_copying = 0;
  w.backend.observe([&](FakeStep step, const fs::path&) {
    if (step == FakeStep::copy_started) {
      free_when_copying = w.backend.space(w.dest)->free_bytes;
    }
  });
  std::string made = w.backup_ok();
  EXPECT_EQ(w.backend.calls().deleted, deleting({ids[0], ids[1]}));
  EXPECT_EQ(w.ids(), (std::vector<std::string>{ids[2], ids[3], made}));
  EXPECT_EQ(w.latest(), made);
  // Deleting also drops two time records; one (the new snapshot's) is written before copying.
  EXPECT_GE(free_when_copying, free + freed[1]) << "the deletions freed less than predicted";
  const auto& log = w.backend.calls().log;
  EXPECT_LT(std::find(log.begin(), log.end(), "deleted .deleting-" + ids[1]),
            std::find(log.rbegin(), log.rend(), "create " + made).base() - 1)
      << "room is made before anything is copied";
}

TEST(FreeSpaceFlow, MinFreeNeverDeletesWhatThePolicyKeepsOrWhatSnapkeepDidNotMake) {
  FakeWorld w;
  std::vector<std::string> ids = four_snapshots(w);
  // An old-script folder, older than every snapshot and holding data of its own: never a victim.
  write_random_file(w.preset_dir() / "2014-01-11" / "old.bin", k_unique, 7);
  auto keep = parse_keep("2");
  ASSERT_TRUE(keep.ok());
  w.preset.keep = *keep;
  std::uint64_t free = set_free_room(w, 1024 * 1024);
  // Snapshot indices with the legacy folder first: 1 and 2 are the two oldest of snapkeep's own.
  std::vector<std::uint64_t> freed = freed_after(w, {1, 2});
  ASSERT_EQ(freed.size(), 2u);
  w.preset.min_free = bytes(free + freed[0]);
  std::string made = w.backup_ok();
  EXPECT_EQ(w.backend.calls().deleted, deleting({ids[0]}));
  EXPECT_EQ(w.ids(), (std::vector<std::string>{"2014-01-11", ids[1], ids[2], ids[3], made}));
}

TEST(FreeSpaceFlow, UnreachableMinFreeFailsBeforeCopyingAndDeletesNothing) {
  FakeWorld w;
  std::vector<std::string> ids = four_snapshots(w);
  auto keep = parse_keep("2");
  ASSERT_TRUE(keep.ok());
  w.preset.keep = *keep;
  std::uint64_t free = set_free_room(w, 1024 * 1024);
  std::vector<std::uint64_t> freed = freed_after(w, {0, 1});
  ASSERT_EQ(freed.size(), 2u);
  // Deleting both snapshots `keep = 2` lets go is one byte short.
  w.preset.min_free = bytes(free + freed[1] + 1);
  int creates = w.backend.calls().create_snapshot;
  auto failed = w.backup();
  ASSERT_FALSE(failed.ok());
  std::string message = failed.error().describe();
  EXPECT_NE(message.find("cannot free enough space"), std::string::npos) << message;
  EXPECT_NE(message.find("Nothing was deleted or copied"), std::string::npos) << message;
  EXPECT_EQ(w.backend.calls().create_snapshot, creates) << "copying started although the room cannot be made";
  EXPECT_TRUE(w.backend.calls().deleted.empty());
  EXPECT_EQ(w.ids(), ids);
  EXPECT_EQ(w.latest(), ids.back());
}

TEST(FreeSpaceFlow, PercentTargetIsOfTheDestinationSize) {
  FakeWorld w;
  std::vector<std::string> ids = four_snapshots(w);
  w.backend.faults().quota_bytes = 64 * 1024 * 1024;
  auto spec = parse_size_spec("25%");
  ASSERT_TRUE(spec.ok());
  auto plan = plan_free_space(w.preset, w.backend, *spec);
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  EXPECT_EQ(plan->target, 16u * 1024 * 1024);
  EXPECT_EQ(plan->free_now, 64u * 1024 * 1024 - FakeBackend::used_bytes(w.dest));
  EXPECT_TRUE(plan->victims.empty()) << "the target is met: nothing to delete";
  EXPECT_TRUE(plan->reachable);
}

TEST(FreeSpaceFlow, PruneFreeDeletesTheOldestFirstUntilTheTargetIsFree) {
  FakeWorld w;
  std::vector<std::string> ids = four_snapshots(w);
  std::uint64_t free = set_free_room(w, 256 * 1024);
  std::vector<std::uint64_t> freed = freed_after(w, {0, 1, 2});
  ASSERT_EQ(freed.size(), 3u);
  PruneOptions options;
  options.free = bytes(free + freed[2]);
  auto entries = run_prune(w.preset, w.backend, options);
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  EXPECT_EQ(w.backend.calls().deleted, deleting({ids[0], ids[1], ids[2]}));
  EXPECT_EQ(w.ids(), std::vector<std::string>{ids[3]});
  EXPECT_GE(w.backend.space(w.dest)->free_bytes, free + freed[2]) << "the deletions freed less than predicted";
  for (const auto& entry : *entries) {
    EXPECT_EQ(entry.deleted, entry.id != ids[3]) << entry.id;
  }
}

TEST(FreeSpaceFlow, FullQuotaFailsAsAFullDestinationAndLosesNothing) {
  FakeWorld w;
  std::vector<std::string> ids = four_snapshots(w);
  set_free_room(w, 8 * 1024);  // the new 64 KiB do not fit
  auto failed = w.backup();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.error().full_filesystem()) << "ENOSPC is not flagged: " << failed.error().describe();
  std::string message = failed.error().describe();
  EXPECT_NE(message.find("is full"), std::string::npos) << message;
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << "the errno is lost: " << message;
  EXPECT_EQ(w.ids(), ids);
  EXPECT_EQ(w.latest(), ids.back());
  std::set<std::string> expected(ids.begin(), ids.end());
  expected.insert({"latest", ".snapkeep"});
  EXPECT_EQ(names_in(w.preset_dir()), expected) << "the unfinished copy is left";
  EXPECT_EQ(names_in(w.preset_dir() / ".snapkeep" / "snapshots"), std::set<std::string>(ids.begin(), ids.end()));

  set_free_room(w, 1024 * 1024);
  std::string made = w.backup_ok();
  EXPECT_EQ(w.latest(), made);
}

TEST(PruneFlow, KilledDeletionIsFinishedByTheNextRun) {
  for (bool next_is_backup : {false, true}) {
    SCOPED_TRACE(next_is_backup ? "next run: backup" : "next run: prune");
    FakeWorld w;
    std::vector<std::string> ids = four_snapshots(w);
    auto keep = parse_keep("2");
    ASSERT_TRUE(keep.ok());
    w.preset.keep = *keep;
    {
      ForkedCall killed([&] {
        w.backend.faults().at[FakeStep::delete_midway] = FakeAction::kill;
        return run_prune(w.preset, w.backend, PruneOptions{}).ok();
      });
      ASSERT_TRUE(killed.killed());
    }
    // Half deleted, out of sight: never listed, the other snapshots untouched.
    fs::path hidden = w.preset_dir() / (".deleting-" + ids[0]);
    ASSERT_TRUE(fs::is_directory(hidden));
    EXPECT_FALSE(fs::exists(hidden / "unique.bin") && fs::exists(hidden / "round.txt"))
        << "the kill came before anything was deleted";
    EXPECT_EQ(w.ids(), (std::vector<std::string>{ids[1], ids[2], ids[3]}));

    if (next_is_backup) {
      std::string made = w.backup_ok();
      EXPECT_EQ(w.backend.calls().deleted, deleting({ids[0]}));
      EXPECT_EQ(w.ids(), (std::vector<std::string>{ids[1], ids[2], ids[3], made}));
    } else {
      auto entries = run_prune(w.preset, w.backend, PruneOptions{});
      ASSERT_TRUE(entries.ok()) << entries.error().describe();
      EXPECT_EQ(w.backend.calls().deleted, deleting({ids[0], ids[1]}));
      EXPECT_EQ(w.ids(), (std::vector<std::string>{ids[2], ids[3]}));
    }
    EXPECT_FALSE(exists_nofollow(hidden));
  }
}

}  // namespace
}  // namespace snapkeep::test
