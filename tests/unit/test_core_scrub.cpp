// Unit tests for core/scrub, core/scrub_state and core/fs_scrub without root: hard-link snapshot
// trees made by hand in a temporary folder, with manifests from core/manifest_build. Damage is made
// through the filesystem here (page cache coherent); tests/integration/test_scrub.cpp corrupts
// blocks underneath real loop-mounted filesystems.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backends/btrfs/fs_scrub.hpp"
#include "backends/rsync/rsync_backend.hpp"
#include "core/integrity/hashing.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/integrity/scrub.hpp"
#include "core/integrity/scrub_state.hpp"
#include "core/store/catalog.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::TempDir;
using test::write_file;

// A preset "home" with a source and hand-made hard-link snapshots with manifests.
struct Bench {
  Bench() {
    fs::create_directories(tmp / "src");
    fs::create_directories(tmp / "dst" / "home" / ".snapkeep");
    preset.name = "home";
    preset.source = tmp / "src";
    preset.destination = tmp / "dst";
  }
  fs::path preset_dir() const { return preset.preset_dir(); }
  fs::path state_dir() const { return preset_dir() / ".snapkeep"; }

  // Copies the source into snapshot `id` the way the rsync backend does (files whose size and
  // mtime equal the previous snapshot's are hard links to it) and writes its manifest.
  fs::path snapshot(const std::string& id) {
    fs::path snap = preset_dir() / id;
    std::optional<fs::path> previous = ids.empty() ? std::nullopt : std::optional<fs::path>(preset_dir() / ids.back());
    for (auto it = fs::recursive_directory_iterator(preset.source); it != fs::recursive_directory_iterator(); ++it) {
      fs::path rel = it->path().lexically_relative(preset.source);
      fs::path to = snap / rel;
      if (it->is_symlink()) {
        fs::create_directories(to.parent_path());
        fs::copy_symlink(it->path(), to);
        continue;
      }
      if (it->is_directory()) {
        fs::create_directories(to);
        continue;
      }
      fs::create_directories(to.parent_path());
      struct stat src = test::stat_of(it->path());
      struct stat old {};
      if (previous && ::lstat((*previous / rel).c_str(), &old) == 0 && old.st_size == src.st_size &&
          old.st_mtim.tv_sec == src.st_mtim.tv_sec && old.st_mtim.tv_nsec == src.st_mtim.tv_nsec) {
        fs::create_hard_link(*previous / rel, to);
      } else {
        fs::copy_file(it->path(), to);
        struct timespec times[2] = {src.st_mtim, src.st_mtim};
        ::utimensat(AT_FDCWD, to.c_str(), times, AT_SYMLINK_NOFOLLOW);
      }
    }
    fs::create_directories(snap);
    fs::create_directories(manifest_dir(state_dir()));
    ManifestBuildOptions options;
    if (previous) {
      options.previous_snapshot = *previous;
      options.previous_manifest = manifest_path(state_dir(), ids.back());
    }
    auto built = build_manifest(snap, id, manifest_path(state_dir(), id), options);
    EXPECT_TRUE(built.ok()) << built.error().describe();
    ids.push_back(id);
    return snap;
  }

  ScrubReport scrub(ScrubOptions options = {}) {
    auto report = run_scrub(preset, *backend, options);
    EXPECT_TRUE(report.ok()) << report.error().describe();
    return report.ok() ? *report : ScrubReport{};
  }

  TempDir tmp;
  Preset preset;
  std::vector<std::string> ids;
  std::unique_ptr<Backend> backend = make_rsync_backend();  // hard-link trees
};

const std::string k_id1 = "2026-01-01_00-00-00";
const std::string k_id2 = "2026-01-02_00-00-00";
const std::string k_id3 = "2026-01-03_00-00-00";

// Overwrites bytes in place and puts the mtime back, as rot (or a careless tool) would.
void overwrite_keeping_mtime(const fs::path& path, off_t offset, const std::string& bytes) {
  struct stat st = test::stat_of(path);
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), offset), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
}

std::set<fs::path> paths_of(const ScrubFinding& f) {
  return {f.paths.begin(), f.paths.end()};
}

TEST(Scrub, CleanSnapshotsReadEachContentOnce) {
  Bench b;
  test::write_random_file(b.preset.source / "a.bin", 30000, 1);
  test::write_random_file(b.preset.source / "dir" / "b.bin", 20000, 2);
  fs::create_symlink("a.bin", b.preset.source / "link");
  b.snapshot(k_id1);
  b.snapshot(k_id2);
  test::write_random_file(b.preset.source / "c.bin", 10000, 3);
  b.snapshot(k_id3);
  ScrubReport r = b.scrub();
  EXPECT_TRUE(r.findings.empty());
  EXPECT_FALSE(r.damage_remains());
  EXPECT_EQ(r.snapshots_checked, 3u);
  EXPECT_EQ(r.contents_total, 3u);
  EXPECT_EQ(r.bytes_read, 60000u) << "each unique content once, not once per snapshot";
  EXPECT_EQ(r.files_checked, 2u * 3 + 1 + 3u) << "7 file paths and 3 symlinks";
  EXPECT_EQ(r.contents_unverified, 0u);
}

TEST(Scrub, CorruptedContentListsEveryHardLinkedPath) {
  Bench b;
  test::write_random_file(b.preset.source / "a.bin", 30000, 1);
  test::write_random_file(b.preset.source / "other.bin", 1000, 2);
  fs::path s1 = b.snapshot(k_id1);
  fs::path s2 = b.snapshot(k_id2);
  fs::path s3 = b.snapshot(k_id3);
  ASSERT_EQ(test::inode_of(s1 / "a.bin"), test::inode_of(s3 / "a.bin"));
  overwrite_keeping_mtime(s2 / "a.bin", 777, "\x42");
  ScrubReport r = b.scrub();
  ASSERT_EQ(r.findings.size(), 1u);
  const ScrubFinding& f = r.findings[0];
  EXPECT_EQ(finding_status_name(f.status), "corrupted");
  EXPECT_EQ(paths_of(f), (std::set<fs::path>{s1 / "a.bin", s2 / "a.bin", s3 / "a.bin"}));
  EXPECT_EQ(f.snapshots.size(), 3u);
  EXPECT_NE(f.actual_hash, f.expected_hash);
  EXPECT_EQ(r.mismatches, 1u);
  EXPECT_EQ(r.bytes_read, 31000u);
  EXPECT_TRUE(r.damage_remains());
}

TEST(Scrub, TruncatedWithMtimeBackIsCorruptedRewrittenIsModified) {
  Bench b;
  write_file(b.preset.source / "t.txt", "some text to be truncated");
  write_file(b.preset.source / "m.txt", "original");
  fs::path s1 = b.snapshot(k_id1);
  struct stat st = test::stat_of(s1 / "t.txt");
  ASSERT_EQ(::truncate((s1 / "t.txt").c_str(), 4), 0);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ::utimensat(AT_FDCWD, (s1 / "t.txt").c_str(), times, 0);
  write_file(s1 / "m.txt", "rewritten");
  struct timespec later[2] = {{1800000000, 0}, {1800000000, 0}};
  ::utimensat(AT_FDCWD, (s1 / "m.txt").c_str(), later, 0);
  ScrubReport r = b.scrub();
  ASSERT_EQ(r.findings.size(), 2u);
  std::map<std::string, fs::path> got;
  for (const auto& f : r.findings) {
    ASSERT_EQ(f.paths.size(), 1u);
    got[std::string(finding_status_name(f.status))] = f.paths[0];
  }
  EXPECT_EQ(got["corrupted"], s1 / "t.txt");
  EXPECT_EQ(got["modified"], s1 / "m.txt");
}

TEST(Scrub, MissingEntryAndTypeChange) {
  Bench b;
  write_file(b.preset.source / "gone.txt", "gone");
  write_file(b.preset.source / "dir" / "x", "x");
  fs::path s1 = b.snapshot(k_id1);
  fs::remove(s1 / "gone.txt");
  fs::remove_all(s1 / "dir");
  write_file(s1 / "dir", "now a file");
  ScrubReport r = b.scrub();
  std::map<std::string, std::set<fs::path>> got;
  for (const auto& f : r.findings) {
    for (const auto& p : f.paths) {
      got[std::string(finding_status_name(f.status))].insert(p);
    }
  }
  EXPECT_EQ(got["missing"], (std::set<fs::path>{s1 / "gone.txt", s1 / "dir" / "x"}));
  EXPECT_EQ(got["modified"], (std::set<fs::path>{s1 / "dir"}));
  EXPECT_TRUE(r.damage_remains());
}

TEST(Scrub, DamagedManifestIsReportedAndNeverTrusted) {
  Bench b;
  write_file(b.preset.source / "a", "a");
  fs::path s1 = b.snapshot(k_id1);
  b.snapshot(k_id2);
  fs::path m1 = manifest_path(b.state_dir(), k_id1);
  std::string text = read_file(m1);
  text[text.size() / 2] = static_cast<char>(text[text.size() / 2] ^ 0x20);
  write_file(m1, text);
  ScrubReport r = b.scrub();
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(finding_status_name(r.findings[0].status), "manifest_damaged");
  EXPECT_EQ(r.findings[0].paths, std::vector<fs::path>{s1});
  EXPECT_EQ(r.snapshots_checked, 1u);
  EXPECT_TRUE(r.damage_remains());
}

TEST(Scrub, InitMakesMissingManifestsFirstSeenNotVerified) {
  Bench b;
  write_file(b.preset.source / "a", std::string(4000, 'a'));
  b.snapshot(k_id1);
  b.snapshot(k_id2);
  fs::remove(manifest_path(b.state_dir(), k_id1));
  fs::remove(manifest_path(b.state_dir(), k_id2));
  ScrubReport before = b.scrub();
  EXPECT_EQ(before.without_manifest, (std::vector<std::string>{k_id1, k_id2}));
  EXPECT_FALSE(before.damage_remains());
  ScrubOptions init;
  init.init = true;
  ScrubReport r = b.scrub(init);
  EXPECT_EQ(r.initialized, (std::vector<std::string>{k_id1, k_id2}));
  EXPECT_EQ(r.snapshots_checked, 0u) << "snapshots first seen are not verified by the same run";
  EXPECT_EQ(open_manifest(manifest_path(b.state_dir(), k_id2)).reader->header().origin, "init");
  ScrubReport after = b.scrub();
  EXPECT_EQ(after.snapshots_checked, 2u);
  EXPECT_TRUE(after.findings.empty());
  EXPECT_EQ(after.bytes_read, 4000u);
}

TEST(Scrub, ByteBudgetCoversEverythingExactlyOnceInFourRuns) {
  Bench b;
  for (int i = 0; i < 16; ++i) {
    test::write_random_file(b.preset.source / ("f" + std::to_string(i)), 4096, static_cast<unsigned>(i));
  }
  b.snapshot(k_id1);
  b.snapshot(k_id2);
  ScrubOptions quarter;
  quarter.max_bytes = 4 * 4096;
  std::uint64_t total = 0;
  for (int run = 0; run < 4; ++run) {
    ScrubReport r = b.scrub(quarter);
    EXPECT_EQ(r.contents_verified, 4u) << "run " << run;
    EXPECT_EQ(r.bytes_read, 4u * 4096) << "run " << run;
    EXPECT_EQ(r.contents_unverified, 16u - 4u * static_cast<unsigned>(run + 1));
    EXPECT_TRUE(r.budget_reached || run == 3);
    total += r.bytes_read;
  }
  EXPECT_EQ(total, 16u * 4096);
  // Each content was recorded exactly once: 16 lines, 16 distinct keys.
  std::string state = read_file(b.state_dir() / "scrub-state");
  EXPECT_EQ(std::count(state.begin(), state.end(), '\n'), 16);
  auto st = ScrubState::open(b.state_dir());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size(), 16u);
}

TEST(Scrub, TimeBudgetStillMakesProgress) {
  Bench b;
  for (int i = 0; i < 3; ++i) {
    test::write_random_file(b.preset.source / ("f" + std::to_string(i)), 4096, static_cast<unsigned>(i));
  }
  b.snapshot(k_id1);
  ScrubOptions none_left;
  none_left.max_seconds = 0;
  for (int run = 1; run <= 3; ++run) {
    ScrubReport r = b.scrub(none_left);
    EXPECT_EQ(r.contents_verified, 1u) << "a run whose time is up still verifies one content";
    EXPECT_EQ(r.contents_unverified, 3u - static_cast<unsigned>(run));
    EXPECT_TRUE(r.budget_reached);
  }
}

TEST(Scrub, KnownDamageIsCheckedAgainOutsideTheBudget) {
  Bench b;
  for (int i = 0; i < 4; ++i) {
    test::write_random_file(b.preset.source / ("f" + std::to_string(i)), 4096, static_cast<unsigned>(i));
  }
  fs::path s1 = b.snapshot(k_id1);
  overwrite_keeping_mtime(s1 / "f0", 0, "rot");
  ScrubReport first = b.scrub();
  ASSERT_EQ(first.findings.size(), 1u);
  ScrubOptions tiny;
  tiny.max_bytes = 1;
  ScrubReport second = b.scrub(tiny);
  ASSERT_EQ(second.findings.size(), 1u) << "a bounded run must not forget damage it did not get to";
  EXPECT_TRUE(second.damage_remains());
}

TEST(Scrub, RepairFromUnchangedSourceKeepsInodeAndMetadata) {
  Bench b;
  test::write_random_file(b.preset.source / "a.bin", 50000, 5);
  ::chmod((b.preset.source / "a.bin").c_str(), 0640);
  fs::path s1 = b.snapshot(k_id1);
  fs::path s2 = b.snapshot(k_id2);
  struct stat before = test::stat_of(s1 / "a.bin");
  overwrite_keeping_mtime(s1 / "a.bin", 100, "XYZ");
  ScrubOptions repair;
  repair.repair = true;
  ScrubReport r = b.scrub(repair);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_TRUE(r.findings[0].repaired) << r.findings[0].repair_note;
  EXPECT_EQ(r.findings[0].repaired_from, (b.preset.source / "a.bin").string());
  EXPECT_FALSE(r.damage_remains());
  struct stat after = test::stat_of(s2 / "a.bin");
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_nlink, before.st_nlink);
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_EQ(read_file(s1 / "a.bin"), read_file(b.preset.source / "a.bin"));
  EXPECT_TRUE(fs::is_empty(b.state_dir() / "repair")) << "the staged copy is removed";
  EXPECT_TRUE(b.scrub().findings.empty());
}

TEST(Scrub, ChangedSourceIsNotUsedButAnotherGoodCopyIs) {
  Bench b;
  test::write_random_file(b.preset.source / "a.bin", 8000, 5);
  fs::path s1 = b.snapshot(k_id1);
  // The source changes; a copy with the same content exists elsewhere on the destination.
  test::write_random_file(b.preset.source / "a.bin", 8000, 6);
  b.snapshot(k_id2);
  overwrite_keeping_mtime(s1 / "a.bin", 0, "rot");
  ScrubOptions repair;
  repair.repair = true;
  ScrubReport r = b.scrub(repair);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_FALSE(r.findings[0].repaired);
  EXPECT_NE(r.findings[0].repair_note.find("changed since the backup"), std::string::npos) << r.findings[0].repair_note;
  EXPECT_TRUE(r.damage_remains());

  // Now give the destination a good copy under another name in a later snapshot.
  fs::remove(b.preset.source / "a.bin");
  test::write_random_file(b.preset.source / "copy.bin", 8000, 5);
  fs::path s3 = b.snapshot(k_id3);
  ScrubReport fixed = b.scrub(repair);
  ASSERT_EQ(fixed.findings.size(), 1u);
  EXPECT_TRUE(fixed.findings[0].repaired) << fixed.findings[0].repair_note;
  EXPECT_EQ(fixed.findings[0].repaired_from, (s3 / "copy.bin").string());
  EXPECT_FALSE(fixed.damage_remains());
  EXPECT_EQ(read_file(s1 / "a.bin"), read_file(s3 / "copy.bin"));
}

TEST(Scrub, MissingHardLinkIsRelinkedToItsInode) {
  Bench b;
  test::write_random_file(b.preset.source / "a.bin", 8000, 5);
  fs::path s1 = b.snapshot(k_id1);
  fs::path s2 = b.snapshot(k_id2);
  ino_t ino = test::inode_of(s1 / "a.bin");
  fs::remove(s2 / "a.bin");
  ScrubOptions repair;
  repair.repair = true;
  ScrubReport r = b.scrub(repair);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(finding_status_name(r.findings[0].status), "missing");
  EXPECT_TRUE(r.findings[0].repaired) << r.findings[0].repair_note;
  EXPECT_EQ(test::inode_of(s2 / "a.bin"), ino);
  EXPECT_TRUE(b.scrub().findings.empty());
}

TEST(Scrub, OneSnapshotOnly) {
  Bench b;
  test::write_random_file(b.preset.source / "a.bin", 8000, 5);
  fs::path s1 = b.snapshot(k_id1);
  test::write_random_file(b.preset.source / "b.bin", 2000, 6);
  b.snapshot(k_id2);
  fs::remove(s1 / "a.bin");
  ScrubOptions only;
  only.snapshot = k_id2;
  ScrubReport r = b.scrub(only);
  EXPECT_EQ(r.snapshots_checked, 1u);
  EXPECT_TRUE(r.findings.empty());
  EXPECT_EQ(r.bytes_read, 10000u);
  only.snapshot = "2030-01-01_00-00-00";
  EXPECT_FALSE(run_scrub(b.preset, *b.backend, only).ok());
}

// ---------------------------------------------------------------------------------------------
// The scrub state log

TEST(ScrubState, RecordsSurviveReopenAndATornLastLineIsCut) {
  TempDir tmp;
  {
    auto st = ScrubState::open(tmp.path());
    ASSERT_TRUE(st.ok()) << st.error().describe();
    ASSERT_TRUE(st->record(0xabc, 111, false).ok());
    ASSERT_TRUE(st->record(0xdef, 222, true).ok());
    ASSERT_TRUE(st->record(0xabc, 333, false).ok());
  }
  // A killed run's half-written line.
  std::string text = read_file(tmp / "scrub-state");
  write_file(tmp / "scrub-state", text + "0000000000000fff 44");
  {
    auto st = ScrubState::open(tmp.path());
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->size(), 2u);
    EXPECT_EQ(st->find(0xabc)->verified_ns, 333);
    EXPECT_TRUE(st->find(0xdef)->damaged);
    EXPECT_EQ(st->find(0xfff), nullptr);
    ASSERT_TRUE(st->record(0x123, 555, false).ok());
  }
  EXPECT_EQ(read_file(tmp / "scrub-state"), text + "0000000000000123 555 o\n");
}

TEST(ScrubState, CompactKeepsOnlyLiveKeys) {
  TempDir tmp;
  auto st = ScrubState::open(tmp.path());
  ASSERT_TRUE(st.ok());
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(st->record(static_cast<std::uint64_t>(i % 1500), i, false).ok());
  }
  ASSERT_TRUE(st->compact({1, 2, 3}).ok());
  ASSERT_TRUE(st->record(4, 9, false).ok());
  auto again = ScrubState::open(tmp.path());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 4u);
  EXPECT_EQ(again->find(1)->verified_ns, 1501);
  std::string text = read_file(tmp / "scrub-state");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);
}

TEST(FsScrub, ParsesRawCountersOfEveryDevice) {
  const char* text =
      "\nScrub device /dev/loop0 (id 1) done\nScrub started:    Thu Nov 26 04:21:41 2026\nStatus:           finished\n"
      "\tdata_extents_scrubbed: 1\n\tdata_bytes_scrubbed: 65536\n\ttree_bytes_scrubbed: 294912\n\tread_errors: 0\n"
      "\tcsum_errors: 1\n\tverify_errors: 2\n\tsuper_errors: 0\n\tuncorrectable_errors: 1\n\tcorrected_errors: 0\n"
      "Scrub device /dev/loop1 (id 2) done\n\tcsum_errors: 3\n\tcorrected_errors: 3\n\tdata_bytes_scrubbed: 1\n";
  FsScrubCounters c = parse_btrfs_scrub_output(text);
  EXPECT_EQ(c.data_bytes_scrubbed, 65537u);
  EXPECT_EQ(c.tree_bytes_scrubbed, 294912u);
  EXPECT_EQ(c.data_csum_errors, 4u);
  EXPECT_EQ(c.tree_errors, 2u);
  EXPECT_EQ(c.corrected_errors, 3u);
  EXPECT_EQ(c.uncorrectable_errors, 1u);
}

}  // namespace
}  // namespace snapkeep
