// Integration tests of the native engine (transfer = native, docs/engine.md) through the built CLI
// on a loop-mounted ext4 destination: the unchanged rule (chmod only, a rewrite with the mtime put
// back), moves, EMLINK, exclude_if_present, the source's lost+found, dry runs, and resuming the
// work of a killed run without copying again what it finished.

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/integration_util.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;

struct NativeWorld : PresetWorld {
  explicit NativeWorld(unsigned dest_mib = 128) : PresetWorld(dest_mib) {}
  // A backup that must succeed; its JSON entry.
  nlohmann::json backup() const { return backup_entry(); }
};

TEST(NativeEngine, ChmodOnlyAndMtimeRestoredRewritesAreCopiedUnchangedFilesLinked) {
  SNAPKEEP_REQUIRE_ROOT();
  NativeWorld w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_file(w.src / "same.txt", "unchanged\n");
  write_file(w.src / "mode.txt", "only the mode changes\n");
  write_file(w.src / "sneaky.txt", "AAAA\n");
  set_mtime(w.src / "sneaky.txt", 1577836800, 123456789);
  std::string first = w.backup().value("snapshot", "");
  ASSERT_FALSE(first.empty());

  ::chmod((w.src / "mode.txt").c_str(), 0600);
  write_file(w.src / "sneaky.txt", "BBBB\n");
  set_mtime(w.src / "sneaky.txt", 1577836800, 123456789);  // size and mtime exactly as before
  nlohmann::json second = w.backup();
  std::string id = second.value("snapshot", "");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(inode_of(w.snap(id) / "same.txt"), inode_of(w.snap(first) / "same.txt"));
  EXPECT_NE(inode_of(w.snap(id) / "mode.txt"), inode_of(w.snap(first) / "mode.txt"));
  EXPECT_EQ(stat_of(w.snap(first) / "mode.txt").st_mode & 07777, 0644u) << "the earlier snapshot's mode changed";
  EXPECT_EQ(stat_of(w.snap(id) / "mode.txt").st_mode & 07777, 0600u);
  EXPECT_EQ(read_file(w.snap(id) / "sneaky.txt"), "BBBB\n") << "a rewrite with the mtime put back was linked";
  EXPECT_EQ(read_file(w.snap(first) / "sneaky.txt"), "AAAA\n");
  EXPECT_EQ(second.value("files_transferred", 0), 2);
}

TEST(NativeEngine, MovedAndRenamedFilesAreLinkedToTheirEarlierCopy) {
  SNAPKEEP_REQUIRE_ROOT();
  NativeWorld w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_random_file(w.src / "a" / "big.bin", 3 << 20, 1);
  write_random_file(w.src / "b" / "other.bin", 1 << 20, 2);
  std::string first = w.backup().value("snapshot", "");
  ASSERT_FALSE(first.empty());
  fs::create_directories(w.src / "z");
  fs::rename(w.src / "a" / "big.bin", w.src / "z" / "renamed.bin");
  fs::rename(w.src / "b", w.src / "0-moved-folder");
  nlohmann::json second = w.backup();
  std::string id = second.value("snapshot", "");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(inode_of(w.snap(id) / "z" / "renamed.bin"), inode_of(w.snap(first) / "a" / "big.bin"));
  EXPECT_EQ(inode_of(w.snap(id) / "0-moved-folder" / "other.bin"), inode_of(w.snap(first) / "b" / "other.bin"));
  EXPECT_EQ(second.value("bytes_transferred", 1), 0) << second.dump();
  EXPECT_TRUE(tree_differences(w.src, w.snap(id)).empty()) << join_lines(tree_differences(w.src, w.snap(id)));
}

// A file absent from the newest snapshot (excluded for a while) is linked to its copy in an older one.
TEST(NativeEngine, LinksAgainstSeveralRecentSnapshots) {
  SNAPKEEP_REQUIRE_ROOT();
  NativeWorld w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_random_file(w.src / "keep" / "big.bin", 2 << 20, 7);
  write_file(w.src / "other.txt", "other\n");
  std::string first = w.backup().value("snapshot", "");
  ASSERT_FALSE(first.empty());
  w.write_config("exclude = /keep/\n");
  std::string second = w.backup().value("snapshot", "");
  ASSERT_FALSE(second.empty());
  EXPECT_FALSE(exists_nofollow(w.snap(second) / "keep"));
  w.write_config();
  nlohmann::json third = w.backup();
  std::string id = third.value("snapshot", "");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(inode_of(w.snap(id) / "keep" / "big.bin"), inode_of(w.snap(first) / "keep" / "big.bin"));
  EXPECT_EQ(third.value("bytes_transferred", 1), 0) << third.dump();
}

// Rules of the backup both engines keep (transfer = native and transfer = rsync).
class BothEngines : public ::testing::TestWithParam<std::string> {
 protected:
  std::string transfer_line() const { return "transfer = " + GetParam() + "\n"; }
};

TEST_P(BothEngines, TooManyLinksCopiesOnceMoreAndCheckWarnsNearTheLimit) {
  SNAPKEEP_REQUIRE_ROOT();
  NativeWorld w(256);
  ASSERT_TRUE(w.dest.ok());
  w.write_config(transfer_line());
  // One inode with 40 000 names: the second snapshot's link count would pass ext4's 65 000.
  write_file(w.src / "many" / "n0", "one content, many names\n");
  for (int i = 1; i < 40000; ++i) {
    ASSERT_EQ(::link((w.src / "many" / "n0").c_str(), (w.src / "many" / ("n" + std::to_string(i))).c_str()), 0);
  }
  std::string first = w.backup().value("snapshot", "");
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(stat_of(w.snap(first) / "many" / "n0").st_nlink, 40000u);
  // 40 000 links and 40 000 more in the next snapshot pass 65 000: check warns before.
  RunResult check = w.cli({"--json", "check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.err.find("will pass the destination's limit of 65000 hard links"), std::string::npos) << check.err;
  EXPECT_EQ(nlohmann::json::parse(check.out)["presets"][0]["warnings"].size(), 1u) << check.out;

  std::string id = w.backup().value("snapshot", "");
  ASSERT_FALSE(id.empty());
  std::set<ino_t> inodes;
  for (int i = 0; i < 40000; i += 1) {
    fs::path name = w.snap(id) / "many" / ("n" + std::to_string(i));
    inodes.insert(inode_of(name));
    if (i % 997 == 0 || i == 39999) {
      EXPECT_EQ(read_file(name), "one content, many names\n") << name;
    }
  }
  if (GetParam() == "native") {
    // The native engine links up to the limit, then copies once and links the rest to the copy.
    EXPECT_EQ(inodes.size(), 2u) << "one more copy, the rest linked to it";
    EXPECT_EQ(stat_of(w.snap(first) / "many" / "n0").st_nlink, 65000u);
  } else {
    // rsync's second pass copies the whole group once more and links it within the snapshot.
    EXPECT_EQ(inodes.size(), 1u) << "the group copied once, its names linked to the copy";
    EXPECT_LE(stat_of(w.snap(first) / "many" / "n0").st_nlink, 65000u);
  }
  // A third backup (rsync hits the limit inside its own -H group here, and aborts) succeeds too.
  std::string third = w.backup().value("snapshot", "");
  ASSERT_FALSE(third.empty());
  inodes.clear();
  for (int i = 0; i < 40000; i += 1) {
    fs::path name = w.snap(third) / "many" / ("n" + std::to_string(i));
    inodes.insert(inode_of(name));
    EXPECT_LE(stat_of(name).st_nlink, 65000u);
  }
  EXPECT_LE(inodes.size(), 3u);
  EXPECT_EQ(read_file(w.snap(third) / "many" / "n39999"), "one content, many names\n");
}

TEST_P(BothEngines, TopLevelLostFoundIsNeverCopied) {
  SNAPKEEP_REQUIRE_ROOT();
  NativeWorld w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config(transfer_line());
  write_file(w.src / "work" / "file", "kept\n");
  write_file(w.src / "lost+found" / "#123", "fsck's\n");
  write_file(w.src / "work" / "lost+found" / "x", "not the top level\n");
  std::string id = w.backup().value("snapshot", "");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(tree_entries(w.snap(id)),
            (std::vector<fs::path>{"work", "work/file", "work/lost+found", "work/lost+found/x"}));
}

INSTANTIATE_TEST_SUITE_P(Transfer, BothEngines, ::testing::Values("native", "rsync"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(NativeEngine, ExcludeIfPresentKeepsTheTag) {
  SNAPKEEP_REQUIRE_ROOT();
  NativeWorld w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config("exclude_if_present =\n    CACHEDIR.TAG\n");
  write_file(w.src / "cache" / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n");
  write_file(w.src / "cache" / "blob", "cached\n");
  write_file(w.src / "cache" / "sub" / "more", "cached\n");
  write_file(w.src / "work" / "file", "kept\n");
  std::string id = w.backup().value("snapshot", "");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(tree_entries(w.snap(id)), (std::vector<fs::path>{"cache", "cache/CACHEDIR.TAG", "work", "work/file"}));
}

TEST(NativeEngine, DryRunReportsAndChangesNothing) {
  SNAPKEEP_REQUIRE_ROOT();
  NativeWorld w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_file(w.src / "a.txt", "a\n");
  std::string first = w.backup().value("snapshot", "");
  ASSERT_FALSE(first.empty());
  write_random_file(w.src / "new.bin", 10000, 4);
  nlohmann::json doc = w.cli_json({"backup", "--dry-run"});
  EXPECT_EQ(doc["presets"][0].value("bytes_transferred", 0), 10000) << doc.dump();
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{first});
  EXPECT_FALSE(exists_nofollow(w.preset_dir / ".snapkeep" / "partial"));
}

// A killed run leaves partial/ and its journal; the next run links what the killed one finished
// (the same inodes) instead of copying it again.
TEST(NativeEngine, ResumeAfterSigkillLinksWhatTheKilledRunFinished) {
  SNAPKEEP_REQUIRE_ROOT();
  NativeWorld w(512);
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  for (int i = 0; i < 24; ++i) {
    write_random_file(w.src / ("b" + std::to_string(100 + i) + ".bin"), 8 << 20, 10 + static_cast<unsigned>(i));
  }
  fs::path partial = w.preset_dir / ".snapkeep" / "partial";
  fs::path journal = w.preset_dir / ".snapkeep" / "partial.manifest";
  std::uint64_t finished_bytes = 0;
  std::map<std::string, ino_t> finished;
  for (int attempt = 0; attempt < 5 && finished.empty(); ++attempt) {
    BackgroundRun run({"-c", w.config.string(), "backup"}, w.tmp.path());
    // Killed once the journal holds records (64 MiB copied) and before the end.
    wait_until([&] { return (exists_nofollow(journal) && fs::file_size(journal) > 400) || !run.running(); }, 60s, 1ms);
    run.kill(SIGKILL);
    int status = run.wait();
    if (!WIFSIGNALED(status)) {
      fs::remove_all(w.preset_dir);
      continue;
    }
    ASSERT_TRUE(exists_nofollow(partial));
    std::string text = read_file(journal);
    for (int i = 0; i < 24; ++i) {
      std::string name = "b" + std::to_string(100 + i) + ".bin";
      if (text.find(":" + name + "\n") != std::string::npos) {
        finished[name] = inode_of(partial / name);
        finished_bytes += 8 << 20;
      }
    }
  }
  ASSERT_FALSE(finished.empty()) << "no run was killed after finishing a file";
  nlohmann::json next = w.backup();
  std::string id = next.value("snapshot", "");
  ASSERT_FALSE(id.empty());
  for (const auto& [name, ino] : finished) {
    EXPECT_EQ(inode_of(w.snap(id) / name), ino) << name << " was copied again";
  }
  EXPECT_LE(next.value("bytes_transferred", std::uint64_t{0}), 24ull * (8 << 20) - finished_bytes);
  EXPECT_TRUE(tree_differences(w.src, w.snap(id)).empty()) << join_lines(tree_differences(w.src, w.snap(id)));
  EXPECT_FALSE(exists_nofollow(partial));
  EXPECT_FALSE(exists_nofollow(journal));
  for (const auto& name : names_in(w.preset_dir / ".snapkeep")) {
    EXPECT_NE(name.rfind("resume-", 0), 0u) << "left behind: " << name;
  }
}

}  // namespace
}  // namespace snapkeep::test
