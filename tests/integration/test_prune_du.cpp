// Integration tests of `prune` and `du` through the built CLI, on a loop-mounted ext4 destination
// (rsync backend): retention decisions and what is really deleted, dry runs, idempotence, folders
// snapkeep did not make, the automatic prune after a backup, interrupted deletions, the preset lock,
// and du's predictions checked against the space the filesystem really frees.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/preset_world.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

// A test's world: a PresetWorld with an ext4 destination of 128 MiB.
struct World : PresetWorld {
  World() : PresetWorld(128) {}
};

// A small source whose content changes with `round`, so each backup is a little different.
void change_source(const fs::path& src, int round) {
  write_file(src / "stable.txt", "the same every time\n");
  write_random_file(src / "data" / "stable.bin", 20000, 99);
  write_file(src / "round.txt", "round " + std::to_string(round) + "\n");
  set_mtime(src / "round.txt", 1700000000 + round);
}

// Backs up `rounds` versions of change_source()'s tree (version `round` in backup `round`); returns
// the snapshot ids, oldest first.
std::vector<std::string> backup_rounds(const World& w, int rounds) {
  std::vector<std::string> ids;
  for (int round = 0; round < rounds; ++round) {
    change_source(w.src, round);
    ids.push_back(w.backup_id());
  }
  return ids;
}

// cp -a (hard links, owners, modes, times kept), no shell.
void copy_tree(const fs::path& from, const fs::path& to) {
  run_ok({"cp", "-a", "--", from.string(), to.string()});
}

// ---------------------------------------------------------------------------------------------
// prune: retention, dry run, idempotence

TEST(PruneDu, KeepTwoLeavesTheTwoNewestDryRunAgreesAndTwiceIsOnce) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();  // no keep while the history is made: nothing is pruned automatically
  std::vector<std::string> ids = backup_rounds(w, 4);
  ASSERT_EQ(snapshot_ids(w.preset_dir), ids);
  w.write_config("keep = 2\n");

  // Dry run: the decision for every snapshot, and nothing deleted.
  json dry = w.cli_json({"prune", "--dry-run"});
  ASSERT_EQ(dry["presets"].size(), 1u);
  EXPECT_EQ(dry["presets"][0].value("dry_run", false), true);
  auto dry_entries = prune_entries(dry);
  ASSERT_EQ(dry_entries.size(), 4u) << dry.dump();
  EXPECT_EQ(snapshot_ids(w.preset_dir), ids) << "a dry run deleted something";
  for (const auto& id : ids) {
    EXPECT_TRUE(fs::exists(w.record(id))) << "a dry run dropped the record of " << id;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const json& e = dry_entries[ids[i]];
    bool keep = i >= 2;
    EXPECT_EQ(e.value("keep", !keep), keep) << e.dump();
    EXPECT_EQ(e.value("deleted", true), false) << "dry run reports a deletion: " << e.dump();
    EXPECT_EQ(e["reasons"].empty(), !keep) << e.dump();
  }

  // The real prune decides the same and deletes exactly what it reports.
  json real = w.cli_json({"prune"});
  EXPECT_EQ(real["presets"][0].value("dry_run", true), false);
  auto entries = prune_entries(real);
  ASSERT_EQ(entries.size(), 4u) << real.dump();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const json& e = entries[ids[i]];
    const json& d = dry_entries[ids[i]];
    EXPECT_EQ(e["keep"], d["keep"]) << ids[i] << ": the dry run said " << d.dump() << ", the prune " << e.dump();
    EXPECT_EQ(e["reasons"], d["reasons"]) << ids[i];
    EXPECT_EQ(e.value("deleted", false), !e.value("keep", true)) << e.dump();
  }
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{ids[2], ids[3]}));
  EXPECT_FALSE(fs::exists(w.record(ids[0])));
  EXPECT_FALSE(fs::exists(w.record(ids[1])));
  EXPECT_EQ(expect_latest_valid(w.preset_dir), ids[3]);
  for (const auto& name : names_in(w.preset_dir)) {
    EXPECT_NE(name.rfind(".deleting-", 0), 0u) << "left behind: " << name;
  }
  // The kept snapshots are intact.
  EXPECT_EQ(read_file(w.snap(ids[2]) / "round.txt"), "round 2\n");
  EXPECT_EQ(read_file(w.snap(ids[3]) / "round.txt"), "round 3\n");
  EXPECT_EQ(read_file(w.snap(ids[3]) / "stable.txt"), "the same every time\n");

  // Pruning again changes nothing: both kept, for the same reasons.
  json again = w.cli_json({"prune"});
  auto again_entries = prune_entries(again);
  ASSERT_EQ(again_entries.size(), 2u) << again.dump();
  for (const auto& id : {ids[2], ids[3]}) {
    EXPECT_EQ(again_entries[id].value("keep", false), true) << again_entries[id].dump();
    EXPECT_EQ(again_entries[id].value("deleted", true), false);
    EXPECT_EQ(again_entries[id]["reasons"], entries[id]["reasons"]) << id;
  }
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{ids[2], ids[3]}));
  EXPECT_EQ(expect_latest_valid(w.preset_dir), ids[3]);
}

// ---------------------------------------------------------------------------------------------
// Folders snapkeep did not make

TEST(PruneDu, LegacyAndUnrecordedFoldersAreNeverDeleted) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  change_source(w.src, 0);
  std::string first = w.backup_id();
  ASSERT_FALSE(first.empty());
  // The old script's date-only folder and an id-named folder made by hand, both older than any
  // snapshot snapkeep made, with realistic contents.
  copy_tree(w.snap(first), w.preset_dir / "2014-01-11");
  copy_tree(w.snap(first), w.preset_dir / "2020-05-05_05-05-05");
  std::vector<std::string> made{first};
  for (int round = 1; round < 4; ++round) {
    change_source(w.src, round);
    made.push_back(w.backup_id());
  }
  // A settled history (hourly, three days ago), so that only the folders' origin matters here.
  made = backdate(w, made, std::time(nullptr) - 3 * 86400, 3600);
  first = made.front();
  w.write_config("keep = 1\n");

  for (bool dry_run : {true, false}) {
    SCOPED_TRACE(dry_run ? "dry run" : "prune");
    std::vector<std::string> args{"prune"};
    if (dry_run) {
      args.push_back("--dry-run");
    }
    auto entries = prune_entries(w.cli_json(args));
    for (const std::string id : {"2014-01-11", "2020-05-05_05-05-05"}) {
      ASSERT_TRUE(entries.count(id)) << id << " is not listed";
      EXPECT_EQ(entries[id].value("keep", false), true) << entries[id].dump();
      EXPECT_EQ(entries[id].value("deleted", true), false) << entries[id].dump();
      std::vector<std::string> reasons = entries[id]["reasons"];
      EXPECT_NE(std::find(reasons.begin(), reasons.end(), "not made by snapkeep"), reasons.end()) << entries[id].dump();
    }
    // snapkeep's own older snapshots do go.
    EXPECT_EQ(entries[first].value("keep", true), false) << entries[first].dump();
    EXPECT_EQ(entries[made.back()].value("keep", false), true) << entries[made.back()].dump();
  }
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{"2014-01-11", "2020-05-05_05-05-05", made.back()}));
  EXPECT_EQ(read_file(w.preset_dir / "2014-01-11" / "round.txt"), "round 0\n");
  EXPECT_EQ(read_file(w.preset_dir / "2020-05-05_05-05-05" / "round.txt"), "round 0\n");
  EXPECT_EQ(expect_latest_valid(w.preset_dir), made.back());
}

// An id-named folder made by hand that is *newer* than snapkeep's newest snapshot: it is not
// snapkeep's, so it is kept; but snapkeep's own newest snapshot (the one `latest` names) must not be
// deleted because of it either (SPEC §4.2, §4.4). History with recorded times is simulated.
TEST(PruneDu, HandMadeNewerFolderDoesNotCostTheNewestSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  change_source(w.src, 0);
  std::string real = w.backup_id();
  ASSERT_FALSE(real.empty());
  // Turn it into a history of three snapkeep snapshots one day apart, ten days ago.
  std::time_t base = std::time(nullptr) - 10 * 86400;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(id_for(base + i * 86400));
  }
  fs::rename(w.snap(real), w.snap(ids[2]));
  fs::remove(w.record(real));
  copy_tree(w.snap(ids[2]), w.snap(ids[0]));
  copy_tree(w.snap(ids[2]), w.snap(ids[1]));
  for (int i = 0; i < 3; ++i) {
    write_file(w.record(ids[i]), "time=" + std::to_string(static_cast<long long>(base + i * 86400)) + "\n");
  }
  fs::remove(w.preset_dir / "latest");
  fs::create_symlink(ids[2], w.preset_dir / "latest");
  // A copy made by hand, named like a snapshot five days ago.
  std::string by_hand = id_for(base + 5 * 86400);
  copy_tree(w.snap(ids[2]), w.snap(by_hand));
  w.write_config("keep = 1\n");

  auto entries = prune_entries(w.cli_json({"prune"}));
  EXPECT_EQ(entries[by_hand].value("keep", false), true) << entries[by_hand].dump();
  EXPECT_TRUE(fs::is_directory(w.snap(by_hand)));
  EXPECT_EQ(entries[ids[2]].value("keep", false), true)
      << "snapkeep deleted its own newest snapshot, the one `latest` points to: " << entries[ids[2]].dump();
  EXPECT_TRUE(fs::is_directory(w.snap(ids[2])));
  expect_latest_valid(w.preset_dir);
  EXPECT_FALSE(fs::exists(w.snap(ids[0])));
  EXPECT_FALSE(fs::exists(w.snap(ids[1])));
}

// ---------------------------------------------------------------------------------------------
// Automatic prune after a backup

TEST(PruneDu, BackupWithKeepOnePrunesAutomatically) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config("keep = 1\n");
  std::vector<std::string> ids;
  std::vector<json> pruned;
  for (int round = 0; round < 3; ++round) {
    change_source(w.src, round);
    json entry = w.backup_entry();
    ids.push_back(entry.value("snapshot", ""));
    ASSERT_TRUE(entry.contains("pruned")) << entry.dump();
    EXPECT_FALSE(entry.contains("prune_error")) << entry.dump();
    pruned.push_back(entry["pruned"]);
  }
  EXPECT_EQ(pruned[0], json::array());
  EXPECT_EQ(pruned[1], json::array({ids[0]}));
  EXPECT_EQ(pruned[2], json::array({ids[1]}));
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{ids[2]});
  EXPECT_EQ(expect_latest_valid(w.preset_dir), ids[2]);
  EXPECT_EQ(read_file(w.snap(ids[2]) / "round.txt"), "round 2\n");
}

// Backups in quick succession with the automatic prune: every new snapshot is the newest one
// (SPEC §4.2: `latest` names the newest complete snapshot), whatever ids earlier prunes freed.
TEST(PruneDu, EveryBackupMakesTheNewestSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config("keep = 1\n");
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("backup " + std::to_string(round));
    change_source(w.src, round);
    std::string id = w.backup_id();
    auto ids = snapshot_ids(w.preset_dir);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.back(), id) << "the new snapshot is not the newest; snapshots: " << ::testing::PrintToString(ids);
    EXPECT_EQ(expect_latest_valid(w.preset_dir), id);
    json listed = w.cli_json({"list"});
    const json& snaps = listed["presets"][0]["snapshots"];
    ASSERT_FALSE(snaps.empty());
    EXPECT_EQ(snaps.back().value("id", ""), id) << listed.dump();
    EXPECT_EQ(read_file(w.snap(id) / "round.txt"), "round " + std::to_string(round) + "\n");
  }
}

// ---------------------------------------------------------------------------------------------
// Interrupted deletions

TEST(PruneDu, LeftoverDeletingFolderIsFinishedAndNeverListed) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  std::vector<std::string> ids = backdate(w, backup_rounds(w, 3), std::time(nullptr) - 3 * 86400, 3600);
  // A prune killed right after its rename: the folder is hidden, its record still there.
  fs::path hidden = w.preset_dir / (".deleting-" + ids[0]);
  fs::rename(w.snap(ids[0]), hidden);
  ASSERT_TRUE(fs::is_directory(hidden / "data"));

  json listed = w.cli_json({"list"});
  ASSERT_EQ(listed["presets"].size(), 1u);
  std::vector<std::string> list_ids;
  for (const auto& s : listed["presets"][0]["snapshots"]) {
    list_ids.push_back(s.value("id", ""));
  }
  EXPECT_EQ(list_ids, (std::vector<std::string>{ids[1], ids[2]})) << listed.dump();
  RunResult plain = w.cli({"list"});
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_EQ(plain.out.find("deleting"), std::string::npos) << plain.out;
  EXPECT_EQ(plain.out.find(ids[0]), std::string::npos) << plain.out;

  // A dry run leaves it alone; a real prune (even with no keep policy) finishes it.
  auto dry = prune_entries(w.cli_json({"prune", "--dry-run"}));
  EXPECT_EQ(dry.count(ids[0]), 0u);
  EXPECT_TRUE(fs::exists(hidden));
  auto entries = prune_entries(w.cli_json({"prune"}));
  EXPECT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries.count(ids[0]), 0u) << "the half-deleted snapshot was treated as a snapshot";
  EXPECT_FALSE(exists_nofollow(hidden)) << "the leftover deletion was not finished";
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{ids[1], ids[2]}));
  EXPECT_EQ(expect_latest_valid(w.preset_dir), ids[2]);

  // The automatic prune of a backup with `keep` finishes one too.
  fs::path hidden2 = w.preset_dir / (".deleting-" + ids[1]);
  fs::rename(w.snap(ids[1]), hidden2);
  w.write_config("keep = 10\n");
  change_source(w.src, 3);
  json entry = w.backup_entry();
  EXPECT_FALSE(exists_nofollow(hidden2)) << "the backup's automatic prune did not finish the deletion";
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{ids[2], entry.value("snapshot", "")}));
  for (const auto& name : names_in(w.preset_dir)) {
    EXPECT_NE(name.rfind(".deleting-", 0), 0u) << "left behind: " << name;
  }
}

// ---------------------------------------------------------------------------------------------
// Lock

TEST(PruneDu, PruneExitsThreeWhileTheLockIsHeld) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  std::vector<std::string> ids = backdate(w, backup_rounds(w, 3), std::time(nullptr) - 3 * 86400, 3600);
  w.write_config("keep = 1\n");
  {
    int fd = ::open((w.preset_dir / ".snapkeep" / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    RunResult r = w.cli({"prune"});
    EXPECT_EQ(r.exit_code, 3) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
    json doc = w.cli_json({"prune"}, 3);
    if (doc.contains("presets") && doc["presets"].size() == 1) {
      EXPECT_EQ(doc["presets"][0].value("status", ""), "failed") << doc.dump();
    }
    EXPECT_EQ(snapshot_ids(w.preset_dir), ids) << "prune deleted while another run held the lock";
    for (const auto& id : ids) {
      EXPECT_TRUE(fs::exists(w.record(id))) << id;
    }
    for (const auto& name : names_in(w.preset_dir)) {
      EXPECT_NE(name.rfind(".deleting-", 0), 0u) << "renamed while locked: " << name;
    }
    ::close(fd);
  }
  // Once released, the same prune goes ahead.
  RunResult r = w.cli({"prune"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{ids[2]});
}

// ---------------------------------------------------------------------------------------------
// du against the filesystem

// Free bytes of the filesystem holding `path`, after flushing everything.
std::uint64_t free_bytes(const fs::path& path) {
  ::sync();
  struct statvfs sv {};
  EXPECT_EQ(::statvfs(path.c_str(), &sv), 0);
  return static_cast<std::uint64_t>(sv.f_bfree) * sv.f_bsize;
}

// Four snapshots: unchanged files (one a hard-linked pair), files changed every time, a file gone
// after snapshot 1, one only in snapshot 0 that is also hard-linked from DEST/other/, a folder new in
// snapshot 2. Returns the snapshot ids, oldest first.
std::vector<std::string> make_du_history(World& w) {
  w.write_config();
  write_random_file(w.src / "shared.bin", 200000, 1);
  write_file(w.src / "shared_small.txt", "hello\n");
  write_random_file(w.src / "pair_a.bin", 30000, 2);
  fs::create_directories(w.src / "sub" / "deeper");
  fs::create_hard_link(w.src / "pair_a.bin", w.src / "sub" / "pair_b.bin");
  write_file(w.src / "sub" / "empty", "");
  fs::create_symlink("../shared.bin", w.src / "sub" / "link");
  write_random_file(w.src / "gone_after_1.bin", 80000, 3);
  write_random_file(w.src / "only_in_0.bin", 64000, 4);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    write_random_file(w.src / "changing.bin", 50000 + 1000 * i, 10 + i);
    set_mtime(w.src / "changing.bin", 1600000000 + i);
    write_file(w.src / "sub" / "deeper" / "note.txt", "note " + std::to_string(i) + "\n");
    set_mtime(w.src / "sub" / "deeper" / "note.txt", 1600000000 + i);
    if (i == 1) {
      fs::remove(w.src / "only_in_0.bin");
    }
    if (i == 2) {
      fs::remove(w.src / "gone_after_1.bin");
      write_random_file(w.src / "newdir" / "new.bin", 40000, 5);
    }
    ids.push_back(w.backup_id());
  }
  fs::create_directories(w.dest.mount_point() / "other");
  fs::create_hard_link(w.snap(ids[0]) / "only_in_0.bin", w.dest.mount_point() / "other" / "kept.bin");
  return ids;
}

struct DuPrediction {
  std::uint64_t total = 0;
  std::vector<std::string> ids;
  std::vector<std::uint64_t> exclusive;
  std::vector<std::uint64_t> cumulative;
};

DuPrediction run_du(const World& w) {
  DuPrediction p;
  json doc = w.cli_json({"du"});
  if (!doc.contains("presets") || doc["presets"].size() != 1) {
    ADD_FAILURE() << "unexpected du JSON: " << doc.dump();
    return p;
  }
  const json& preset = doc["presets"][0];
  EXPECT_EQ(preset.value("status", ""), "ok") << preset.dump();
  EXPECT_EQ(preset.value("exact", false), true) << "hard-link trees are measured exactly";
  p.total = preset.value("total_bytes", std::uint64_t{0});
  for (const auto& s : preset["snapshots"]) {
    p.ids.push_back(s.value("id", ""));
    p.exclusive.push_back(s.value("exclusive_bytes", std::uint64_t{0}));
    p.cumulative.push_back(s.value("cumulative_bytes", std::uint64_t{0}));
  }
  return p;
}

// Sum of st_blocks*512 over the distinct inodes of the snapshot trees (roots included).
std::uint64_t unique_allocated_bytes(const std::vector<fs::path>& roots) {
  std::set<std::pair<dev_t, ino_t>> seen;
  std::uint64_t total = 0;
  auto add = [&](const fs::path& p) {
    struct stat st = stat_of(p);
    if (seen.emplace(st.st_dev, st.st_ino).second) {
      total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
  };
  for (const auto& root : roots) {
    add(root);
    for (const auto& rel : tree_entries(root)) {
      add(root / rel);
    }
  }
  return total;
}

// Bytes the destination's filesystem frees (f_bfree) when `tree` is deleted with rm -rf.
std::int64_t freed_by_rm(const World& w, const fs::path& tree) {
  std::uint64_t before = free_bytes(w.dest.mount_point());
  run_ok({"rm", "-rf", "--", tree.string()});
  std::uint64_t after = free_bytes(w.dest.mount_point());
  return static_cast<std::int64_t>(after) - static_cast<std::int64_t>(before);
}

TEST(PruneDu, DuPredictsFreedSpaceOldestFirstAndTotal) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  std::vector<std::string> ids = make_du_history(w);
  ASSERT_EQ(snapshot_ids(w.preset_dir), ids);
  DuPrediction p = run_du(w);
  ASSERT_EQ(p.ids, ids) << "du lists snapshots oldest first";

  std::vector<fs::path> roots;
  for (const auto& id : ids) {
    roots.push_back(w.snap(id));
  }
  EXPECT_EQ(p.total, unique_allocated_bytes(roots));
  EXPECT_EQ(p.cumulative[0], p.exclusive[0]);
  for (std::size_t i = 1; i < ids.size(); ++i) {
    EXPECT_GE(p.cumulative[i], p.cumulative[i - 1] + p.exclusive[i]) << ids[i];
  }
  // The file also linked from DEST/other/ keeps its blocks: everything else is freed in the end.
  std::uint64_t outside =
      static_cast<std::uint64_t>(stat_of(w.dest.mount_point() / "other" / "kept.bin").st_blocks) * 512;
  EXPECT_GT(outside, 0u);
  EXPECT_EQ(p.cumulative.back() + outside, p.total);

  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::int64_t freed = freed_by_rm(w, w.snap(ids[i]));
    std::uint64_t predicted = p.cumulative[i] - (i == 0 ? 0 : p.cumulative[i - 1]);
    RecordProperty("freed_" + std::to_string(i), std::to_string(freed) + " predicted " + std::to_string(predicted));
    std::printf("[du] deleting %s (oldest first): freed %lld, predicted %llu\n", ids[i].c_str(),
                static_cast<long long>(freed), static_cast<unsigned long long>(predicted));
    EXPECT_EQ(freed, static_cast<std::int64_t>(predicted)) << "deleting " << ids[i] << " (and older)";
  }
  EXPECT_TRUE(fs::exists(w.dest.mount_point() / "other" / "kept.bin"));
}

TEST(PruneDu, DuExclusiveMatchesFreedSpaceOfOneSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  std::vector<std::string> ids = make_du_history(w);
  DuPrediction p = run_du(w);
  ASSERT_EQ(p.ids, ids);

  // The newest alone.
  std::int64_t freed = freed_by_rm(w, w.snap(ids[3]));
  std::printf("[du] deleting newest %s alone: freed %lld, predicted exclusive %llu\n", ids[3].c_str(),
              static_cast<long long>(freed), static_cast<unsigned long long>(p.exclusive[3]));
  EXPECT_EQ(freed, static_cast<std::int64_t>(p.exclusive[3]));

  // Then a middle one alone, predicted again on what is left.
  DuPrediction q = run_du(w);
  ASSERT_EQ(q.ids, (std::vector<std::string>{ids[0], ids[1], ids[2]}));
  freed = freed_by_rm(w, w.snap(ids[1]));
  std::printf("[du] deleting middle %s alone: freed %lld, predicted exclusive %llu\n", ids[1].c_str(),
              static_cast<long long>(freed), static_cast<unsigned long long>(q.exclusive[1]));
  EXPECT_EQ(freed, static_cast<std::int64_t>(q.exclusive[1]));
}

}  // namespace
}  // namespace snapkeep::test
