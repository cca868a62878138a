// Integration tests of free space on the destination (`min_free`, `prune --free`), of a backup that
// runs out of space mid-copy, and of a deletion killed half-way, through the built CLI on small
// loop-mounted ext4 filesystems (rsync backend). SPEC §1 (min_free), §2 (prune, du), §4.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/mounts.hpp"
#include "tests/support/preset_world.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

constexpr std::uint64_t k_mib = 1024 * 1024;

// A test's world: a PresetWorld (src/ and the config on a normal filesystem, preset "home" on a small
// ext4 destination) with versions/ beside src/.
struct World : PresetWorld {
  explicit World(unsigned size_mib = 96) : PresetWorld(size_mib) {
    versions = tmp / "versions";
    fs::create_directories(versions);
  }

  fs::path versions;
};

// What snapkeep calls free: f_bavail * f_frsize, after flushing everything.
std::uint64_t avail_bytes(const fs::path& path) {
  ::sync();
  struct statvfs sv {};
  EXPECT_EQ(::statvfs(path.c_str(), &sv), 0);
  return static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize;
}

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / k_mib);
  return buf;
}

// Writes version `round` of the big file into versions/ (kept for comparison) and into the source,
// with an mtime of its own.
void new_big_version(const World& w, int round, std::size_t size) {
  fs::path kept = w.versions / ("big-" + std::to_string(round) + ".bin");
  write_random_file(kept, size, 1000 + static_cast<unsigned>(round));
  fs::copy_file(kept, w.src / "big.bin", fs::copy_options::overwrite_existing);
  set_mtime(w.src / "big.bin", 1700000000 + round);
  write_file(w.src / "round.txt", "round " + std::to_string(round) + "\n");
  set_mtime(w.src / "round.txt", 1700000000 + round);
}

// Small files that never change (hard-linked between snapshots).
void stable_files(const World& w) {
  write_file(w.src / "stable.txt", "the same every time\n");
  write_random_file(w.src / "sub" / "stable.bin", 50000, 7);
}

// The big file of snapshot `id` is exactly version `round`.
void expect_big_is(const World& w, const std::string& id, int round) {
  fs::path kept = w.versions / ("big-" + std::to_string(round) + ".bin");
  ASSERT_TRUE(fs::exists(w.snap(id) / "big.bin")) << id;
  EXPECT_TRUE(read_file(w.snap(id) / "big.bin") == read_file(kept))
      << "snapshot " << id << ": big.bin is not what the source held at that backup (round " << round << ")";
  EXPECT_EQ(read_file(w.snap(id) / "round.txt"), "round " + std::to_string(round) + "\n") << id;
  EXPECT_EQ(read_file(w.snap(id) / "stable.txt"), "the same every time\n") << id;
}

// Writes the plain config and the stable files, then backs up `rounds` versions of the big file of
// `size` bytes (version `round` in backup `round`); returns the snapshot ids, oldest first.
std::vector<std::string> backup_rounds(const World& w, int rounds, std::uint64_t size) {
  w.write_config();
  stable_files(w);
  std::vector<std::string> ids;
  for (int round = 0; round < rounds; ++round) {
    new_big_version(w, round, size);
    ids.push_back(w.backup_id());
  }
  return ids;
}

// No unfinished backup and no half-deleted snapshot is left behind.
void expect_no_leftovers(const World& w) {
  EXPECT_FALSE(exists_nofollow(w.preset_dir / ".snapkeep" / "partial")) << "the unfinished copy was left";
  for (const auto& name : names_in(w.preset_dir / ".snapkeep")) {
    EXPECT_NE(name.rfind("resume-", 0), 0u) << "left behind: .snapkeep/" << name;
  }
  for (const auto& name : names_in(w.preset_dir)) {
    EXPECT_NE(name.rfind(".deleting-", 0), 0u) << "left behind: " << name;
  }
}

// Ids `list --json` shows, oldest first.
std::vector<std::string> listed_ids(const World& w) {
  json doc = w.cli_json({"list"});
  std::vector<std::string> out;
  if (!doc.contains("presets") || doc["presets"].size() != 1) {
    ADD_FAILURE() << "unexpected list JSON: " << doc.dump();
    return out;
  }
  for (const auto& s : doc["presets"][0]["snapshots"]) {
    out.push_back(s.value("id", ""));
  }
  return out;
}

// du's cumulative_bytes per snapshot id (oldest first).
std::vector<std::pair<std::string, std::uint64_t>> du_cumulative(const World& w) {
  json doc = w.cli_json({"du"});
  std::vector<std::pair<std::string, std::uint64_t>> out;
  if (!doc.contains("presets") || doc["presets"].size() != 1) {
    ADD_FAILURE() << "unexpected du JSON: " << doc.dump();
    return out;
  }
  for (const auto& s : doc["presets"][0]["snapshots"]) {
    out.emplace_back(s.value("id", ""), s.value("cumulative_bytes", std::uint64_t{0}));
  }
  return out;
}

// Free space now, and a target halfway between what deleting the oldest one and the oldest two of
// the preset's snapshots frees (per du's cumulative bytes): only deleting two reaches it.
struct TwoOldestTarget {
  std::uint64_t free_now = 0;
  std::uint64_t target = 0;
};

// Fills `out` for a preset that must hold `count` snapshots (a fatal failure otherwise).
void target_needing_two_oldest(const World& w, std::size_t count, TwoOldestTarget& out) {
  auto cum = du_cumulative(w);
  ASSERT_EQ(cum.size(), count);
  out.free_now = avail_bytes(w.dest.mount_point());
  out.target = out.free_now + (cum[0].second + cum[1].second) / 2;
}

// A backup that must be refused: exit 1, `why` in its stderr, status "failed".
void expect_backup_refused(const World& w, const std::string& why) {
  std::string err;
  json doc = w.cli_json({"backup"}, 1, &err);
  EXPECT_NE(err.find(why), std::string::npos) << err;
  if (doc.contains("presets") && doc["presets"].size() == 1) {
    EXPECT_EQ(doc["presets"][0].value("status", ""), "failed") << doc.dump();
  }
}

// Allocates `bytes` in a file outside the preset (snapkeep must never touch it).
void fill(const fs::path& file, std::uint64_t bytes) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << file;
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  ::close(fd);
  ASSERT_EQ(rc, 0) << "posix_fallocate " << file << " " << bytes;
}

// A tmpfs mounted on an existing folder for the length of a test (declare it after the folder's owner).
class TmpfsMount : public MountGuard {
 public:
  explicit TmpfsMount(const fs::path& at)
      : MountGuard({"-t", "tmpfs", "-o", "size=256m,mode=0755", "--", "tmpfs"}, at) {}
};

// ---------------------------------------------------------------------------------------------
// min_free: a series of backups of a changing 30 MiB file on a 96 MiB filesystem

TEST(FreeSpace, MinFreeKeepsBackupsGoingByPruningOldestFirst) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  const std::uint64_t target = 35 * k_mib;
  w.write_config("min_free = 35M\n");
  stable_files(w);
  std::map<std::string, int> round_of;  // snapshot id -> round of its big file
  std::vector<std::string> made;
  int pruning_backups = 0;
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("backup " + std::to_string(round));
    new_big_version(w, round, 30 * k_mib);
    // In the order made (ids name the true time, so a freed id may come back): `list`'s order.
    std::vector<std::string> before = listed_ids(w);
    // What the contract says must go: oldest first, never the newest, as few as reach the target.
    std::uint64_t free_now = avail_bytes(w.dest.mount_point());
    std::size_t expected_victims = 0;
    bool near_boundary = false;
    if (free_now < target && !before.empty()) {
      auto cum = du_cumulative(w);
      ASSERT_EQ(cum.size(), before.size());
      expected_victims = before.size();  // "unreachable"
      for (std::size_t k = 0; k + 1 < cum.size(); ++k) {
        std::uint64_t predicted = free_now + cum[k].second;
        near_boundary = near_boundary || (predicted + k_mib > target && predicted < target + k_mib);
        if (predicted >= target) {
          expected_victims = k + 1;
          break;
        }
      }
      ASSERT_LT(expected_victims, before.size()) << "test setup: the target cannot be reached";
    }

    RunResult r = w.cli({"--json", "backup"});
    ASSERT_EQ(r.exit_code, 0) << r.out << "\n" << r.err;
    json doc = json::parse(r.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << r.out;
    std::string id = doc["presets"][0].value("snapshot", "");
    ASSERT_FALSE(id.empty()) << r.out;
    made.push_back(id);
    round_of[id] = round;

    std::vector<std::string> after = listed_ids(w);
    ASSERT_FALSE(after.empty());
    EXPECT_EQ(after.back(), id);
    // Both in list order: ids that ran ahead of the clock may be freed and named again, so name
    // order is not the order snapshots were made in.
    EXPECT_EQ(after, snapshot_ids(w.preset_dir)) << "list and the folders disagree";
    if (!before.empty()) {
      EXPECT_NE(std::find(after.begin(), after.end(), before.back()), after.end())
          << "the newest snapshot " << before.back() << " was deleted to make room";
    }
    // What went is exactly the oldest `expected_victims` of before.
    std::vector<std::string> expected(before.begin() + static_cast<std::ptrdiff_t>(expected_victims), before.end());
    expected.push_back(id);
    if (!near_boundary) {
      EXPECT_EQ(after, expected) << "free before: " << mib(free_now) << ", target " << mib(target);
    }
    if (after.size() < before.size() + 1) {
      ++pruning_backups;
    }
    EXPECT_EQ(expect_latest_valid(w.preset_dir), id);
    for (const auto& s : after) {
      expect_big_is(w, s, round_of[s]);
    }
    for (const auto& gone : before) {
      if (std::find(after.begin(), after.end(), gone) == after.end()) {
        EXPECT_FALSE(fs::exists(w.record(gone))) << "record of deleted " << gone << " kept";
      }
    }
    expect_no_leftovers(w);
  }
  EXPECT_GE(pruning_backups, 3) << "the filesystem should have needed pruning in most backups";
  EXPECT_GE(snapshot_ids(w.preset_dir).size(), 2u) << "more was deleted than needed";
}

// ---------------------------------------------------------------------------------------------
// An impossible target fails before copying and deletes nothing

TEST(FreeSpace, ImpossibleTargetFailsBeforeCopyingAndDeletesNothing) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  std::vector<std::string> ids = backup_rounds(w, 3, 8 * k_mib);
  ASSERT_EQ(snapshot_ids(w.preset_dir), ids);
  new_big_version(w, 3, 8 * k_mib);
  write_file(w.src / "marker-new-file.txt", "must not be copied\n");

  for (const std::string spec : {"95%", "200M"}) {
    SCOPED_TRACE("min_free = " + spec);
    w.write_config("min_free = " + spec + "\n");
    std::uint64_t free_before = avail_bytes(w.dest.mount_point());
    std::set<std::string> records_before = names_in(w.preset_dir / ".snapkeep" / "snapshots");
    expect_backup_refused(w, "missing");
    EXPECT_EQ(snapshot_ids(w.preset_dir), ids) << "a snapshot was deleted or made";
    EXPECT_EQ(names_in(w.preset_dir / ".snapkeep" / "snapshots"), records_before);
    expect_no_leftovers(w);
    EXPECT_EQ(expect_latest_valid(w.preset_dir), ids.back());
    EXPECT_LE(free_before, avail_bytes(w.dest.mount_point()) + 64 * 1024) << "something was written";
    for (std::size_t i = 0; i < ids.size(); ++i) {
      expect_big_is(w, ids[i], static_cast<int>(i));
      EXPECT_FALSE(fs::exists(w.snap(ids[i]) / "marker-new-file.txt"));
    }
    // prune --free with the same target: the same refusal, nothing deleted.
    RunResult p = w.cli({"prune", "--free", spec});
    EXPECT_EQ(p.exit_code, 1) << p.out << "\n" << p.err;
    EXPECT_NE(p.err.find("missing"), std::string::npos) << p.err;
    EXPECT_EQ(snapshot_ids(w.preset_dir), ids);
  }
  // A dry run of the backup says the same and makes nothing either.
  RunResult dry = w.cli({"backup", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 1) << dry.out << "\n" << dry.err;
  EXPECT_EQ(snapshot_ids(w.preset_dir), ids);
}

// ---------------------------------------------------------------------------------------------
// With `keep`, only what no rule keeps may go; without it, all but the newest

TEST(FreeSpace, KeepPolicyLimitsWhatMinFreeMayDelete) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  std::vector<std::string> ids = backup_rounds(w, 4, 8 * k_mib);
  // Reachable by deleting the two oldest, not by deleting the oldest alone.
  TwoOldestTarget two;
  ASSERT_NO_FATAL_FAILURE(target_needing_two_oldest(w, 4, two));
  const std::uint64_t target = two.target;
  std::string min_free = "min_free = " + std::to_string(target) + "\n";

  // keep = 3 lets only the oldest go: unreachable, nothing deleted, nothing copied.
  w.write_config("keep = 3\n" + min_free);
  expect_backup_refused(w, "missing");
  EXPECT_EQ(snapshot_ids(w.preset_dir), ids);
  expect_no_leftovers(w);

  // No keep: the two oldest go, before anything is copied.
  w.write_config(min_free);
  std::string id = w.backup_id();
  std::vector<std::string> left = snapshot_ids(w.preset_dir);
  EXPECT_EQ(std::set<std::string>(left.begin(), left.end()), (std::set<std::string>{ids[2], ids[3], id}));
  EXPECT_EQ(expect_latest_valid(w.preset_dir), id);
  // The new snapshot is all hard links and folders: what was free before copying is nearly all still free.
  EXPECT_GE(avail_bytes(w.dest.mount_point()) + k_mib, target);
  expect_big_is(w, ids[2], 2);
  expect_big_is(w, ids[3], 3);
  expect_big_is(w, id, 3);
  expect_no_leftovers(w);
}

// Several backups within a second get ids that run ahead of the clock. When min_free then deletes
// the oldest of them before the next backup, their ids are free again, but the new snapshot must
// not take one: it is the newest, the one completed last, for `list`, `latest` and retention alike
// (SPEC §4.2, §4.4), whatever its id. CoreCatalog.NewSnapshotIdNamesTheTrueTime... pins the
// ahead-of-the-clock case exactly.
TEST(FreeSpace, BackupAfterMakingRoomIsTheNewestSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  std::vector<std::string> ids = backup_rounds(w, 4, 2 * k_mib);
  new_big_version(w, 4, 2 * k_mib);
  // Deleting the two oldest (2 MiB each) reaches the target.
  std::uint64_t target = avail_bytes(w.dest.mount_point()) + 3 * k_mib;
  w.write_config("min_free = " + std::to_string(target) + "\n");
  std::string id = w.backup_id();
  ASSERT_FALSE(id.empty());
  std::vector<std::string> listed = listed_ids(w);
  ASSERT_EQ(listed.size(), 3u) << ::testing::PrintToString(listed);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), (std::set<std::string>{ids[2], ids[3], id}));
  EXPECT_EQ(listed.back(), id) << "the snapshot just made is not the newest in `list` (ids before: "
                               << ::testing::PrintToString(ids) << ", listed: " << ::testing::PrintToString(listed)
                               << "); `latest` and list disagree";
  // Its id names the true time, which may sort before a predecessor that ran ahead of the clock
  // (several backups in one second): the order is the recorded sequence, never the names.
  EXPECT_EQ(expect_latest_valid(w.preset_dir), id);
  // And a keep = 1 prune keeps the snapshot just made.
  w.write_config("keep = 1\n");
  json doc = w.cli_json({"prune"});
  EXPECT_TRUE(fs::is_directory(w.snap(id))) << "keep = 1 deleted the snapshot just made: " << doc.dump();
  expect_big_is(w, id, 4);
}

// A folder snapkeep did not make is never deleted, and one that looks newer than snapkeep's own
// newest snapshot does not make that snapshot (the one `latest` names) deletable (SPEC §4.4).
TEST(FreeSpace, FoldersNotMadeBySnapkeepAndTheOwnNewestAreNeverFreed) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  std::vector<std::string> made = backup_rounds(w, 2, 10 * k_mib);
  // A settled history: the two snapshots three days and three days minus an hour ago.
  std::vector<std::string> ids = backdate(w, made, std::time(nullptr) - 3 * 86400, 3600);
  // Independent copies made by hand: an old-script folder older than everything, and an id-named
  // folder one day ago (newer than snapkeep's newest).
  run_ok({"cp", "-a", "--", w.snap(ids[0]).string(), (w.preset_dir / "2014-01-11").string()});
  std::string by_hand = id_for(std::time(nullptr) - 86400);
  run_ok({"cp", "-a", "--", w.snap(ids[1]).string(), w.snap(by_hand).string()});
  std::vector<std::string> all = snapshot_ids(w.preset_dir);
  ASSERT_EQ(all, (std::vector<std::string>{"2014-01-11", ids[0], ids[1], by_hand}));

  std::uint64_t free_now = avail_bytes(w.dest.mount_point());
  // 5 MiB more than deleting ids[0] frees: only deleting ids[1] (snapkeep's newest) would reach it.
  std::uint64_t target = free_now + 15 * k_mib;
  RunResult r = w.cli({"--json", "prune", "--free", std::to_string(target)});
  EXPECT_EQ(r.exit_code, 1) << "prune --free reached its target by deleting snapkeep's own newest snapshot " << ids[1]
                            << " (latest) because a hand-made folder looks newer:\n"
                            << r.out << "\n"
                            << r.err;
  EXPECT_TRUE(fs::is_directory(w.snap(ids[1]))) << "snapkeep's newest snapshot (latest) was deleted";
  EXPECT_TRUE(fs::is_directory(w.preset_dir / "2014-01-11"));
  EXPECT_TRUE(fs::is_directory(w.snap(by_hand)));
  expect_latest_valid(w.preset_dir);

  // A target that deleting snapkeep's oldest reaches: that one goes, never the old-script folder.
  free_now = avail_bytes(w.dest.mount_point());
  if (fs::is_directory(w.snap(ids[0]))) {
    target = free_now + 5 * k_mib;
    json doc = w.cli_json({"prune", "--free", std::to_string(target)});
    auto entries = prune_entries(doc);
    EXPECT_EQ(entries[ids[0]].value("deleted", false), true) << doc.dump();
    EXPECT_EQ(entries["2014-01-11"].value("deleted", true), false) << doc.dump();
    EXPECT_FALSE(fs::exists(w.snap(ids[0])));
  }
  EXPECT_TRUE(fs::is_directory(w.preset_dir / "2014-01-11"));
  EXPECT_EQ(read_file(w.preset_dir / "2014-01-11" / "round.txt"), "round 0\n");
  EXPECT_TRUE(fs::is_directory(w.snap(by_hand)));
}

// ---------------------------------------------------------------------------------------------
// ENOSPC in the middle of a backup

TEST(FreeSpace, FullDestinationMidBackupLosesNothing) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  std::vector<std::string> ids = backup_rounds(w, 2, 20 * k_mib);
  // Leave 10 MiB available (a little more for root's reserve): the next 20 MiB cannot fit.
  std::uint64_t avail = avail_bytes(w.dest.mount_point());
  ASSERT_GT(avail, 12 * k_mib);
  fill(w.dest.mount_point() / "filler.bin", avail - 10 * k_mib);
  new_big_version(w, 2, 20 * k_mib);
  std::set<std::string> records_before = names_in(w.preset_dir / ".snapkeep" / "snapshots");

  expect_backup_refused(w, "is full");
  expect_no_leftovers(w);
  EXPECT_EQ(snapshot_ids(w.preset_dir), ids);
  EXPECT_EQ(listed_ids(w), ids);
  EXPECT_EQ(names_in(w.preset_dir / ".snapkeep" / "snapshots"), records_before) << "a record was left";
  EXPECT_EQ(expect_latest_valid(w.preset_dir), ids[1]);
  expect_big_is(w, ids[0], 0);
  expect_big_is(w, ids[1], 1);
  EXPECT_TRUE(fs::exists(w.dest.mount_point() / "filler.bin"));
  // The unfinished copy's space is back.
  EXPECT_GE(avail_bytes(w.dest.mount_point()) + k_mib, 10 * k_mib);

  // Room made on demand, then the same backup succeeds and is still incremental.
  std::uint64_t wanted = 25 * k_mib;
  json pruned = w.cli_json({"prune", "--free", "25M"});
  auto entries = prune_entries(pruned);
  EXPECT_EQ(entries[ids[0]].value("deleted", false), true) << pruned.dump();
  EXPECT_EQ(entries[ids[1]].value("keep", false), true) << pruned.dump();
  EXPECT_GE(avail_bytes(w.dest.mount_point()), wanted);
  std::string id = w.backup_id();
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{ids[1], id}));
  EXPECT_EQ(expect_latest_valid(w.preset_dir), id);
  expect_big_is(w, ids[1], 1);
  expect_big_is(w, id, 2);
  EXPECT_EQ(inode_of(w.snap(id) / "stable.txt"), inode_of(w.snap(ids[1]) / "stable.txt"))
      << "the backup after a full destination is not incremental";
  expect_no_leftovers(w);
}

// ---------------------------------------------------------------------------------------------
// prune --free: dry run and the real thing

TEST(FreeSpace, PruneFreeDryRunListsVictimsAndRealRunFreesTheTarget) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  std::vector<std::string> ids = backup_rounds(w, 4, 15 * k_mib);
  // Halfway between what deleting one and two of the oldest frees: two must go.
  TwoOldestTarget two;
  ASSERT_NO_FATAL_FAILURE(target_needing_two_oldest(w, 4, two));
  const std::uint64_t free_now = two.free_now;
  std::uint64_t target = two.target;
  std::string size = std::to_string(target / 1024) + "K";
  target = target / 1024 * 1024;

  json dry = w.cli_json({"prune", "--dry-run", "--free", size});
  EXPECT_EQ(dry["presets"][0].value("dry_run", false), true) << dry.dump();
  auto dry_entries = prune_entries(dry);
  ASSERT_EQ(dry_entries.size(), 4u) << dry.dump();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const json& e = dry_entries[ids[i]];
    EXPECT_EQ(e.value("keep", i < 2), i >= 2) << e.dump();
    EXPECT_EQ(e.value("deleted", true), false) << "a dry run reports a deletion: " << e.dump();
  }
  EXPECT_EQ(snapshot_ids(w.preset_dir), ids) << "a dry run deleted something";
  for (const auto& id : ids) {
    EXPECT_TRUE(fs::exists(w.record(id))) << id;
  }
  EXPECT_GE(avail_bytes(w.dest.mount_point()) + 64 * 1024, free_now);

  json real = w.cli_json({"prune", "--free", size});
  auto entries = prune_entries(real);
  ASSERT_EQ(entries.size(), 4u) << real.dump();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const json& e = entries[ids[i]];
    EXPECT_EQ(e["keep"], dry_entries[ids[i]]["keep"]) << "dry run and prune disagree: " << e.dump();
    EXPECT_EQ(e.value("deleted", i >= 2), i < 2) << e.dump();
  }
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{ids[2], ids[3]}));
  std::uint64_t free_after = avail_bytes(w.dest.mount_point());
  EXPECT_GE(free_after, target) << "free after: " << mib(free_after) << ", asked for " << mib(target);
  EXPECT_EQ(expect_latest_valid(w.preset_dir), ids[3]);
  expect_big_is(w, ids[2], 2);
  expect_big_is(w, ids[3], 3);
  expect_no_leftovers(w);

  // Already enough free: nothing more goes.
  json again = w.cli_json({"prune", "--free", size});
  EXPECT_EQ(prune_entries(again).size(), 2u) << again.dump();
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{ids[2], ids[3]}));
}

// ---------------------------------------------------------------------------------------------
// SIGKILL during a deletion

TEST(FreeSpace, KilledDeletionIsNeverListedAndTheNextPruneFinishesIt) {
  SNAPKEEP_REQUIRE_ROOT();
  World w(256);  // inodes for 40 000 files
  ASSERT_TRUE(w.dest.ok());
  // The source lives on a tmpfs: 20 000 files made and removed without touching the disk.
  TmpfsMount src_fs(w.src);
  ASSERT_TRUE(src_fs.ok());
  w.write_config();
  int files = 0;
  // Adds `n` files, spread over the same 100 folders.
  auto add_files = [&](int n) {
    for (int i = files; i < files + n; ++i) {
      fs::path p = w.src / ("d" + std::to_string(i % 100)) / ("f" + std::to_string(i) + ".txt");
      if (i < 100) {
        fs::create_directories(p.parent_path());
      }
      write_file(p, "file " + std::to_string(i) + "\n");
    }
    files += n;
  };
  add_files(20000);
  std::string first = w.backup_id();
  std::string second = w.backup_id();
  ASSERT_NE(first, second);
  ASSERT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{first, second}));
  w.write_config("keep = 1\n");

  // The prune is stopped (SIGSTOP) once the tree is renamed and some of it (at least one of its 100
  // folders) is gone, checked again while it cannot move, and then killed: certainly mid-way. A
  // deletion too quick to be caught is tried again, with 10 000 more files each time.
  fs::path hidden;
  bool killed_mid_way = false;
  for (int attempt = 0; attempt < 3 && !killed_mid_way; ++attempt) {
    if (attempt > 0) {
      add_files(10000);
      w.write_config("keep = 2\n");  // the second backup prunes the last attempt's survivor
      first = w.backup_id();
      second = w.backup_id();
      ASSERT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{first, second}));
      w.write_config("keep = 1\n");
    }
    hidden = w.preset_dir / (".deleting-" + first);
    BackgroundRun prune({"-c", w.config.string(), "prune"}, w.tmp.path());
    auto folders_left = [&] {
      std::size_t n = 0;
      std::error_code ec;
      for (fs::directory_iterator it(hidden, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        ++n;
      }
      return ec ? std::size_t{0} : n;
    };
    auto mid_way = [&] {
      std::size_t n = exists_nofollow(hidden) ? folders_left() : 0;
      return n > 0 && n < 100;
    };
    if (stop_when(prune, mid_way)) {
      prune.kill(SIGKILL);
      int status = prune.wait();
      killed_mid_way = WIFSIGNALED(status) && exists_nofollow(hidden);
      ASSERT_TRUE(killed_mid_way) << "status " << status;
    } else {
      ASSERT_FALSE(prune.running()) << "prune neither started deleting nor ended";
      ASSERT_EQ(prune.exit_code(), 0) << prune.stderr_text();
      std::printf("[kill] the deletion of %d files ended before it could be stopped (attempt %d)\n", files,
                  attempt + 1);
    }
  }
  ASSERT_TRUE(killed_mid_way) << "the deletion always finished before it could be stopped";
  std::size_t left = tree_entries(hidden).size();
  std::printf("[kill] killed with %zu of %d+ entries of %s left\n", left, files, first.c_str());

  // The half tree is never listed, under any name.
  EXPECT_EQ(listed_ids(w), std::vector<std::string>{second});
  RunResult plain = w.cli({"list"});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.find(first), std::string::npos) << plain.out;
  EXPECT_EQ(plain.out.find("deleting"), std::string::npos) << plain.out;
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{second});
  EXPECT_EQ(expect_latest_valid(w.preset_dir), second);
  json du = w.cli_json({"du"});
  EXPECT_EQ(du["presets"][0]["snapshots"].size(), 1u) << du.dump();

  // The next prune finishes it; the kept snapshot is intact.
  json doc = w.cli_json({"prune"});
  auto entries = prune_entries(doc);
  EXPECT_EQ(entries.size(), 1u) << doc.dump();
  EXPECT_EQ(entries.count(first), 0u) << "the half-deleted snapshot was treated as a snapshot";
  EXPECT_FALSE(exists_nofollow(hidden)) << "the interrupted deletion was not finished";
  expect_no_leftovers(w);
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{second});
  EXPECT_EQ(expect_latest_valid(w.preset_dir), second);
  auto diffs = tree_differences(w.src, w.snap(second), whole_second_mtimes());
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
}

}  // namespace
}  // namespace snapkeep::test
