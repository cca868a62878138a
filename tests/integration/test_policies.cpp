// Policies that keep working for years (docs/upgrading.md): the old script's command line and
// configs, quiet cron runs, a clock that jumps, months of runs on a drive that fills up, a source
// that shrinks, the old script's snapshots handed over, a renamed preset, deleting by id, and the
// messages a user acts on. Every destination is a loop-mounted ext4 image made by the test.

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/preset_world.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

// `snapkeep ARGS...` under libfaketime with the clock moved by `offset` ("+2d", "-3h"): only this
// process and its children see the moved clock.
RunResult at_offset(const PresetWorld& w, const std::string& offset, std::vector<std::string> args) {
  std::vector<std::string> argv{"faketime", "-f", offset, snapkeep_binary().string(), "-c", w.config.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

json parsed(const RunResult& r) {
  json doc = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r.out << r.err;
  return doc.is_discarded() ? json::object() : doc;
}

std::vector<std::string> listed(const PresetWorld& w) {
  std::vector<std::string> ids;
  json doc = w.cli_json({"list"});
  for (const auto& s : doc["presets"][0]["snapshots"]) {
    ids.push_back(s.value("id", ""));
  }
  return ids;
}

std::string latest_target(const PresetWorld& w) {
  std::error_code ec;
  return fs::read_symlink(w.preset_dir / "latest", ec).filename().string();
}

// Item 3: `snapkeep a.ini b.ini` with [data] in both backs up each file's own source to its own
// destination, in order, as the old script did (it backed up only b's before).
TEST(Policies, OldFormBacksUpEachFileOnItsOwn) {
  TempDir tmp;
  for (const std::string name : {"a", "b"}) {
    write_file(tmp / ("src-" + name) / "which.txt", "from " + name + "\n");
    fs::create_directories(tmp / ("dest-" + name));
    write_preset_config(tmp / (name + ".ini"), "data", tmp / ("src-" + name), tmp / ("dest-" + name));
  }
  RunResult r = snapkeep({(tmp / "a.ini").string(), (tmp / "b.ini").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const std::string name : {"a", "b"}) {
    EXPECT_EQ(read_file(tmp / ("dest-" + name) / "data" / "latest" / "which.txt"), "from " + name + "\n");
  }
  // A file that does not exist is named, not taken for a subcommand.
  RunResult missing = snapkeep({(tmp / "missing.ini").string()});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find((tmp / "missing.ini").string()), std::string::npos) << missing.err;
  EXPECT_EQ(missing.err.find("A subcommand is required"), std::string::npos) << missing.err;
}

// Item 8: -q prints nothing when a run succeeds without warnings; a warning still prints.
TEST(Policies, QuietMeansQuietUntilThereIsSomethingToSay) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(64);
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  for (int i = 0; i < 150; ++i) {
    write_file(w.src / "many" / ("f" + std::to_string(i)), "file " + std::to_string(i) + "\n");
  }
  for (int run_no = 0; run_no < 2; ++run_no) {
    RunResult quiet = w.cli({"-q", "backup"});
    EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
    EXPECT_EQ(quiet.out, "");
    EXPECT_EQ(quiet.err, "");
  }
  for (const char* command : {"prune", "scrub", "check"}) {
    RunResult quiet = w.cli({"-q", command});
    EXPECT_EQ(quiet.exit_code, 0) << command << ": " << quiet.err;
    EXPECT_EQ(quiet.out + quiet.err, "") << command;
  }
  fs::remove_all(w.src / "many");
  write_file(w.src / "left.txt", "one file left\n");
  RunResult warned = w.cli({"-q", "backup"});
  EXPECT_EQ(warned.exit_code, 0) << warned.err;
  EXPECT_NE((warned.out + warned.err).find("the source shrank drastically"), std::string::npos)
      << warned.out << warned.err;
}

// Item 7: a near-empty snapshot (the source's drive not mounted) is warned about, in JSON too, and
// the next real backup still links everything against the snapshot before it: nothing is copied.
class ShrinkingSource : public ::testing::TestWithParam<std::string> {};

TEST_P(ShrinkingSource, IsWarnedAndTheNextBackupLinksAgainstTheSnapshotBefore) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(128);
  ASSERT_TRUE(w.dest.ok());
  w.write_config("transfer = " + GetParam() + "\n");
  for (int i = 0; i < 120; ++i) {
    write_random_file(w.src / "photos" / ("p" + std::to_string(i) + ".jpg"), 20000, static_cast<unsigned>(i));
  }
  json full = w.backup_entry();
  const std::string first = full.value("snapshot", "");
  ASSERT_FALSE(first.empty());
  EXPECT_FALSE(full.contains("source_shrank"));

  // The source's drive unmounted: only a stray file in the empty mount point.
  fs::rename(w.src / "photos", w.tmp / "photos-away");
  write_file(w.src / "stray.txt", "left in the mount point\n");
  json shrunk = w.backup_entry();
  ASSERT_TRUE(shrunk.contains("source_shrank")) << shrunk.dump();
  EXPECT_EQ(shrunk["source_shrank"].value("previous", ""), first);
  EXPECT_GE(shrunk["source_shrank"].value("previous_files", 0), 120);
  EXPECT_NE(shrunk["warnings"].dump().find("the source shrank drastically"), std::string::npos) << shrunk.dump();

  // The drive is back: nothing is copied again.
  fs::remove(w.src / "stray.txt");
  fs::rename(w.tmp / "photos-away", w.src / "photos");
  json back = w.backup_entry();
  const std::string third = back.value("snapshot", "");
  ASSERT_FALSE(third.empty());
  EXPECT_EQ(back.value("bytes_transferred", -1), 0) << back.dump();
  for (int i = 0; i < 120; i += 17) {
    const std::string name = "p" + std::to_string(i) + ".jpg";
    EXPECT_EQ(inode_of(w.snap(third) / "photos" / name), inode_of(w.snap(first) / "photos" / name)) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Transfer, ShrinkingSource, ::testing::Values("native", "rsync"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Item 2: one backup with the clock two days ahead, then the clock right again. `latest`, `list`,
// `restore latest` and the next backup's link base all mean the snapshot completed last; its id
// names the true time; the run says the clock is behind the newest snapshot.
TEST(Policies, AClockThatJumpedAheadNeverMakesLatestStale) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(64);
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_file(w.src / "doc.txt", "version 1\n");
  write_random_file(w.src / "big.bin", 300000, 5);
  RunResult ahead = at_offset(w, "+2d", {"--json", "backup"});
  ASSERT_EQ(ahead.exit_code, 0) << ahead.err;
  const std::string future = parsed(ahead)["presets"][0].value("snapshot", "");
  ASSERT_FALSE(future.empty());

  write_file(w.src / "doc.txt", "version 2\n");
  RunResult now = w.cli({"--json", "backup"});
  ASSERT_EQ(now.exit_code, 0) << now.err;
  const std::string made = parsed(now)["presets"][0].value("snapshot", "");
  ASSERT_FALSE(made.empty());
  EXPECT_LT(made, future) << "the new id does not name the true time";
  EXPECT_NE(now.err.find("is behind the newest snapshot"), std::string::npos) << now.err;
  EXPECT_EQ(inode_of(w.snap(made) / "big.bin"), inode_of(w.snap(future) / "big.bin"));

  EXPECT_EQ(latest_target(w), made);
  EXPECT_EQ(listed(w), (std::vector<std::string>{future, made}));
  RunResult restore = w.cli({"restore", "home", "latest", "doc.txt", "--to", (w.tmp / "out").string()});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(read_file(w.tmp / "out" / "doc.txt"), "version 2\n");
  // keep = 1 keeps the snapshot made last; the future-dated one is kept while its time is still
  // ahead (retention cannot place it), and goes once the clock has passed it.
  w.write_config("keep = 1\n");
  ASSERT_EQ(w.cli({"prune"}).exit_code, 0);
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{future, made}));
  RunResult later = at_offset(w, "+3d", {"prune"});
  ASSERT_EQ(later.exit_code, 0) << later.err;
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{made});
  EXPECT_EQ(latest_target(w), made);
}

// Item 1 over months: a backup every 60 hours for four months (libfaketime) on a drive that holds
// only a few snapshots, with keep = 24h 7d 12m and min_free. With min_free_overrides_keep (the
// default) every run succeeds, the oldest go first even where a rule would keep them, each such
// deletion is a warning and a JSON reason, and the newest is never deleted. With `no`, a target only
// deleting kept snapshots could reach fails before copying and says how much is missing.
TEST(Policies, MonthsOfBackupsOnAFullDriveKeepGoing) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(96);
  ASSERT_TRUE(w.dest.ok());
  constexpr std::size_t k_size = 14 * 1024 * 1024;  // room for three snapshots above min_free
  const std::string policy = "keep = 24h 7d 12m\nmin_free = 40M\n";
  w.write_config(policy);
  int overriding = 0;
  std::string previous;
  auto backup_at = [&](int hours) { return at_offset(w, "+" + std::to_string(hours) + "h", {"--json", "backup"}); };
  for (int run_no = 0; run_no < 48; ++run_no) {
    SCOPED_TRACE("run " + std::to_string(run_no));
    write_random_file(w.src / "week.bin", k_size, static_cast<unsigned>(run_no));
    RunResult r = backup_at(60 * run_no);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    json entry = parsed(r)["presets"][0];
    const std::string id = entry.value("snapshot", "");
    ASSERT_FALSE(id.empty());
    for (const auto& victim : entry["deleted_for_space"]) {
      EXPECT_NE(victim.value("id", ""), previous) << "the newest snapshot was deleted for space";
      if (victim.value("overrides_keep", false)) {
        ++overriding;
        EXPECT_NE(victim.value("reason", "").find("although keep kept it"), std::string::npos) << victim;
        EXPECT_NE(r.err.find(victim.value("id", "") + " was deleted to make room although keep would keep it"),
                  std::string::npos)
            << r.err;
      }
    }
    EXPECT_EQ(latest_target(w), id);
    EXPECT_EQ(read_file(w.snap(id) / "week.bin").size(), k_size);
    previous = id;
  }
  EXPECT_GE(overriding, 1) << "the drive should have needed room that a keep rule would have kept";

  // 60M free needs every snapshot but the newest gone: with `no`, refused before copying.
  const std::vector<std::string> before = snapshot_ids(w.preset_dir);
  ASSERT_GE(before.size(), 2u);
  write_random_file(w.src / "week.bin", k_size, 999);
  w.write_config("keep = 24h 7d 12m\nmin_free = 60M\nmin_free_overrides_keep = no\n");
  RunResult refused = backup_at(60 * 48);
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("missing"), std::string::npos) << refused.err;
  EXPECT_EQ(snapshot_ids(w.preset_dir), before) << "a snapshot was made or deleted";
  // With the default, the same run succeeds and keeps the snapshot made before it.
  w.write_config("keep = 24h 7d 12m\nmin_free = 60M\n");
  RunResult made = backup_at(60 * 48);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::vector<std::string> after = snapshot_ids(w.preset_dir);
  EXPECT_EQ(after.size(), 2u);
  EXPECT_EQ(after.front(), before.back());
}

// Item 5: the old script's date-only snapshots are handed over by `adopt`; before, prune could
// never delete them. A dry run changes nothing.
TEST(Policies, AdoptHandsTheOldScriptsSnapshotsToRetentionAndScrub) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(64);
  ASSERT_TRUE(w.dest.ok());
  w.write_config("keep = 2\n");
  const std::vector<std::string> old_ids{"2014-01-11", "2014-01-12", "2014-01-13"};
  for (const auto& id : old_ids) {
    write_file(w.preset_dir / id / "notes.txt", "notes of " + id + "\n");
  }
  write_file(w.src / "notes.txt", "notes now\n");
  const std::string made = w.backup_id();
  ASSERT_FALSE(made.empty());
  // Not snapkeep's: prune keeps them whatever keep says.
  ASSERT_EQ(w.cli({"prune"}).exit_code, 0);
  EXPECT_EQ(snapshot_ids(w.preset_dir).size(), 4u);

  json dry = w.cli_json({"adopt", "home", "--dry-run"});
  EXPECT_EQ(dry["presets"][0]["adopted"].size(), 3u) << dry.dump();
  EXPECT_FALSE(fs::exists(w.record(old_ids[0]))) << "a dry run recorded something";
  json adopted = w.cli_json({"adopt", "home"});
  ASSERT_EQ(adopted["presets"][0]["adopted"].size(), 3u) << adopted.dump();
  EXPECT_TRUE(adopted["presets"][0]["adopted"][0].value("manifest_made", false));
  EXPECT_TRUE(fs::exists(w.preset_dir / ".snapkeep" / "manifests" / old_ids[0]));
  EXPECT_EQ(w.cli_json({"adopt", "home"})["presets"][0]["adopted"].size(), 0u) << "adopted twice";

  // Scrub verifies them like its own; prune now deletes the oldest beyond keep = 2.
  ASSERT_EQ(w.cli({"scrub"}).exit_code, 0);
  ASSERT_EQ(w.cli({"prune"}).exit_code, 0);
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{old_ids[2], made}));
  EXPECT_EQ(latest_target(w), made);
}

// Item 5: damage in a file the old script's snapshot shares (one inode) is reported with that
// snapshot's path too, although the snapshot has no manifest and is not verified.
TEST(Policies, ScrubNamesTheOldScriptsPathsThatShareADamagedFile) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(64);
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_random_file(w.src / "photo.jpg", 40000, 21);
  const std::string made = w.backup_id();
  ASSERT_FALSE(made.empty());
  const fs::path file = w.snap(made) / "photo.jpg";
  const fs::path legacy = w.preset_dir / "2014-01-11" / "photo.jpg";
  fs::create_directories(legacy.parent_path());
  ASSERT_EQ(::link(file.c_str(), legacy.c_str()), 0);
  {
    const struct stat st = stat_of(file);
    std::string data = read_file(file);
    data[100] = static_cast<char>(data[100] ^ 0x10);
    write_file(file, data);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  }
  RunResult r = w.cli({"--json", "scrub"});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  json entry = parsed(r)["presets"][0];
  ASSERT_EQ(entry["findings"].size(), 1u) << entry.dump(2);
  EXPECT_EQ(entry["findings"][0]["unverified_paths"], json::array({legacy.string()})) << entry.dump(2);
  RunResult human = w.cli({"scrub"});
  EXPECT_NE(human.out.find(legacy.string()), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("snapkeep adopt home"), std::string::npos) << human.out;
}

// Item 6: a preset renamed in the config would start a new folder with a full copy. The backup
// refuses and names `snapkeep rename`; after it the next backup is incremental.
TEST(Policies, RenamedPresetMovesItsSnapshotsAlong) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(64);
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_random_file(w.src / "big.bin", 400000, 8);
  const std::string first = w.backup_id();
  ASSERT_FALSE(first.empty());
  const ino_t big = inode_of(w.snap(first) / "big.bin");

  write_preset_config(w.config, "documents", w.src, w.dest.mount_point());
  RunResult refused = w.cli({"backup"});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("snapkeep rename home documents"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(w.dest.mount_point() / "documents" / "latest"));

  RunResult renamed = w.cli({"rename", "home", "documents"});
  ASSERT_EQ(renamed.exit_code, 0) << renamed.err;
  EXPECT_FALSE(fs::exists(w.preset_dir));
  RunResult next = w.cli({"--json", "backup"});
  ASSERT_EQ(next.exit_code, 0) << next.err;
  json entry = parsed(next)["presets"][0];
  EXPECT_EQ(entry.value("bytes_transferred", -1), 0) << entry.dump();
  const fs::path moved = w.dest.mount_point() / "documents";
  EXPECT_EQ(inode_of(moved / first / "big.bin"), big);
  EXPECT_EQ(inode_of(moved / entry.value("snapshot", "") / "big.bin"), big);
  EXPECT_EQ(snapshot_ids(moved).size(), 2u);
}

// Item 9: `delete PRESET ID…` deletes snapkeep's own snapshots, the newest too (then `latest`
// moves back); never a folder snapkeep did not make, never an unknown id.
TEST(Policies, DeleteByIdMovesLatestBack) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(64);
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    write_file(w.src / "v.txt", "version " + std::to_string(i) + "\n");
    ids.push_back(w.backup_id());
    ASSERT_FALSE(ids.back().empty());
  }
  write_file(w.preset_dir / "2014-01-11" / "old.txt", "the old script's\n");

  json dry = w.cli_json({"delete", "home", ids[2], "--dry-run"});
  EXPECT_EQ(dry["presets"][0]["deleted"], json::array({ids[2]}));
  EXPECT_TRUE(fs::exists(w.snap(ids[2])));
  json deleted = w.cli_json({"delete", "home", ids[2]});
  EXPECT_EQ(deleted["presets"][0]["deleted"], json::array({ids[2]}));
  EXPECT_FALSE(fs::exists(w.snap(ids[2])));
  EXPECT_FALSE(fs::exists(w.record(ids[2])));
  EXPECT_EQ(latest_target(w), ids[1]);
  EXPECT_EQ(read_file(w.preset_dir / "latest" / "v.txt"), "version 1\n");

  for (const std::string bad : {"2014-01-11", "2030-01-01_00-00-00", "../home"}) {
    RunResult refused = w.cli({"delete", "home", bad});
    EXPECT_NE(refused.exit_code, 0) << bad;
    EXPECT_NE(refused.err.find(bad), std::string::npos) << refused.err;
  }
  EXPECT_TRUE(fs::exists(w.preset_dir / "2014-01-11" / "old.txt"));
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{"2014-01-11", ids[0], ids[1]}));
}

// Item 9, messages: commas separate exclude patterns; `keep` units say they are lower case; tab
// completion's trailing slash on an id; restore never into another preset's folder; a preset
// called lost+found is refused; a non-root user gets a hint.
TEST(Policies, MessagesAUserCanActOn) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(64);
  ASSERT_TRUE(w.dest.ok());
  write_file(w.src / "keep.txt", "kept\n");
  write_file(w.src / "junk.tmp", "temporary\n");
  write_file(w.src / ".cache" / "blob", "cached\n");
  // A comma list is refused with the line and what to write instead (it used to be one pattern).
  w.write_config("exclude = *.tmp, .cache\n");
  RunResult comma = w.cli({"backup"});
  EXPECT_EQ(comma.exit_code, 2) << comma.err;
  EXPECT_NE(comma.err.find(w.config.string() + ":4: 'exclude' in preset 'home'"), std::string::npos) << comma.err;
  EXPECT_NE(comma.err.find("one pattern per line"), std::string::npos) << comma.err;
  EXPECT_FALSE(fs::exists(w.preset_dir / "latest"));
  w.write_config("exclude =\n    *.tmp\n    .cache\n");
  const std::string id = w.backup_id();
  ASSERT_FALSE(id.empty());
  EXPECT_TRUE(fs::exists(w.snap(id) / "keep.txt"));
  EXPECT_FALSE(fs::exists(w.snap(id) / "junk.tmp"));
  EXPECT_FALSE(fs::exists(w.snap(id) / ".cache"));

  RunResult slash = w.cli({"restore", "home", id + "/", "keep.txt", "--to", (w.tmp / "out").string()});
  EXPECT_EQ(slash.exit_code, 0) << slash.err;
  EXPECT_EQ(read_file(w.tmp / "out" / "keep.txt"), "kept\n");

  // Another preset's folder on the same drive (it holds snapkeep's state).
  fs::create_directories(w.dest.mount_point() / "other" / ".snapkeep" / "snapshots");
  RunResult into_other = w.cli({"restore", "home", id, "--to", (w.dest.mount_point() / "other" / "restored").string()});
  EXPECT_NE(into_other.exit_code, 0);
  EXPECT_NE(into_other.err.find("inside"), std::string::npos) << into_other.err;
  EXPECT_FALSE(fs::exists(w.dest.mount_point() / "other" / "restored"));

  w.write_config("keep = 24H 7D\n");
  RunResult upper = w.cli({"check"});
  EXPECT_EQ(upper.exit_code, 2) << upper.err;
  EXPECT_NE(upper.err.find("lower case"), std::string::npos) << upper.err;
  EXPECT_NE(upper.err.find("months"), std::string::npos) << upper.err;

  write_preset_config(w.config, "lost+found", w.src, w.dest.mount_point());
  RunResult reserved = w.cli({"backup"});
  EXPECT_EQ(reserved.exit_code, 2) << reserved.err;
  EXPECT_NE(reserved.err.find("lost+found"), std::string::npos) << reserved.err;
  EXPECT_FALSE(fs::exists(w.dest.mount_point() / "lost+found" / "latest"));

  // A source that is not there: said once by check, citing the `source =` line, not the header.
  write_file(w.config, "[home]\nrequire_mount = no\ndestination = " + w.dest.mount_point().string() +
                           "\nsource = " + (w.tmp / "nowhere").string() + "\n");
  RunResult nowhere = w.cli({"check"});
  EXPECT_EQ(nowhere.exit_code, 1) << nowhere.err;
  const std::string cited = "(" + w.config.string() + ":4)";
  const std::size_t at = nowhere.err.find(cited);
  EXPECT_NE(at, std::string::npos) << nowhere.err;
  EXPECT_EQ(nowhere.err.find("nowhere", nowhere.err.find('\n') + 1), std::string::npos) << "said twice:\n"
                                                                                        << nowhere.err;

  w.write_config();
  ::chmod(w.tmp.path().c_str(), 0755);
  ::chmod(w.config.c_str(), 0644);
  RunResult user = run({"setpriv", "--reuid=12345", "--regid=12345", "--clear-groups", "--", snapkeep_binary().string(),
                        "-c", w.config.string(), "backup"},
                       {{"SNAPKEEP_STATE_DIR", (w.tmp / "user-state").string()}});
  EXPECT_NE(user.exit_code, 0);
  EXPECT_NE(user.err.find("sudo snapkeep"), std::string::npos) << user.err;
}

}  // namespace
}  // namespace snapkeep::test
