// A full destination (ENOSPC) at every stage of a backup, on both backends, through the built CLI on
// small loop-mounted filesystems (SPEC §4): before anything is copied (even the snapshot record
// cannot be written), in the middle of a btrfs send/receive or rsync --inplace (the rsync backend's
// mid-copy case is FreeSpace.FullDestinationMidBackupLosesNothing), at the end (no inode left for
// the `latest` link; no room for the manifest), in the middle of a large manifest, and ext4 inode
// exhaustion at each step (also with allow_partial = yes). After every failure: exit 1, "the
// destination DEST is full" with the errno, JSON status "failed", no new snapshot, every snapshot
// equal to the source state that made it, latest unchanged, no record or work left behind; once
// room is made, the next backup succeeds and is incremental. A manifest that does not fit fails
// the run (exit 1) but keeps the snapshot, complete and `latest`: `scrub --init` makes the manifest
// later (docs/scrub.md).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/full_disk.hpp"
#include "tests/support/source_tree.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_state.hpp"

namespace snapkeep::test::fault {
namespace {

using nlohmann::json;

constexpr std::uint64_t k_mib = k_full_mib;
constexpr std::uint64_t k_chunk = 64 * k_kib;  // filler granularity where the room given back matters

// Writes `size` seeded bytes to SRC/rel, with an mtime second of its own.
void put(FullWorld& w, const std::string& rel, std::size_t size, unsigned seed) {
  static std::int64_t mtime = k_first_mtime;
  write_random_file(w.src() / rel, size, seed);
  set_time(w.src() / rel, ++mtime);
}

void print_counters(const std::string& label, FullWorld& w) {
  const FullCounters& c = w.counters();
  std::printf("FULLDISK %s: failed_runs=%d manifest_failures=%d snapshots_checked=%d data_lost=%d\n", label.c_str(),
              c.failed_runs, c.manifest_failures, c.snapshots_checked, c.data_lost);
  std::fflush(stdout);
  testing::Test::RecordProperty("failed_runs", c.failed_runs);
  testing::Test::RecordProperty("manifest_failures", c.manifest_failures);
  testing::Test::RecordProperty("data_lost", c.data_lost);
  EXPECT_EQ(c.data_lost, 0);
}

// Destination sizes: ext4 small, btrfs near its minimum.
unsigned dest_mib(FullKind kind) {
  return hard_links(kind) ? 32 : 128;
}

std::string param_name(const testing::TestParamInfo<FullKind>& info) {
  return kind_name(info.param);
}

// Two snapshots of a source with files that never change and a `big`-byte file that does; then a
// new `next_big`-byte version of it and a new folder wait for the next backup.
void two_snapshots(FullWorld& w, std::size_t big, std::size_t next_big, unsigned seed) {
  put(w, "stable.txt", 100, seed);
  put(w, "sub/stable.bin", 256 * k_kib, seed + 1);
  put(w, "big.bin", big, seed + 2);
  w.backup_ok("the first backup");
  put(w, "big.bin", big, seed + 3);
  put(w, "sub/second.txt", 50, seed + 4);
  w.backup_ok("the second backup");
  put(w, "big.bin", next_big, seed + 5);
  put(w, "new/one.bin", 100 * k_kib, seed + 6);
}

// ---------------------------------------------------------------------------------------------
// 1. Full before anything is copied

class BeforeTheBackup : public testing::TestWithParam<FullKind> {};

// Nothing free at all (ext4: no block and no inode; btrfs: no data space), so not even the record
// of the new snapshot can be written; then a little free (the record fits, the data does not).
TEST_P(BeforeTheBackup, NothingIsMadeAndTheNextRunIsIncremental) {
  SNAPKEEP_REQUIRE_ROOT();
  FullWorld w(GetParam(), dest_mib(GetParam()));
  ASSERT_TRUE(w.ready());
  two_snapshots(w, 2 * k_mib, 4 * k_mib, 1);

  // Nothing free.
  w.filler().take_blocks(k_mib);
  if (hard_links(GetParam())) {
    w.filler().give_bytes(k_mib);  // room for the filler folder's entries
    w.filler().take_inodes();
    w.filler().take_blocks(k_chunk);
  }
  Room before = room_of(w.dest());
  ASSERT_LT(before.bytes, 64 * k_kib) << "the filler left room";
  if (hard_links(GetParam())) {
    ASSERT_EQ(before.inodes, 0u);
  }
  FullRun none = w.backup_fails_full("a backup with nothing free");
  EXPECT_NE(none.err.find(".snapkeep/snapshots/"), std::string::npos)
      << "expected to fail at the snapshot's record, before anything is copied:\n"
      << none.err;
  Room after = room_of(w.dest());
  EXPECT_GE(after.bytes + 64 * k_kib, before.bytes) << "the failed run kept space";
  EXPECT_EQ(after.inodes, before.inodes) << "the failed run kept inodes";

  // A little free: the record fits, the 4 MiB of new data does not.
  w.filler().give_bytes(256 * k_kib);
  if (hard_links(GetParam())) {
    w.filler().give_inodes(64);
  }
  before = room_of(w.dest());
  FullRun little = w.backup_fails_full("a backup with 256 KiB free");
  EXPECT_EQ(little.err.find(".snapkeep/snapshots/"), std::string::npos) << "the record should have fit:\n"
                                                                        << little.err;
  if (GetParam() != FullKind::btrfs_plain) {  // btrfs plain: .snapkeep/current keeps what was copied, to resume
    after = room_of(w.dest());
    EXPECT_GE(after.bytes + 64 * k_kib, before.bytes) << "the failed run kept space";
    EXPECT_EQ(after.inodes, before.inodes) << "the failed run kept inodes";
  }

  // Room made: the same backup succeeds and is incremental.
  w.filler().give_all();
  w.backup_ok("the backup after making room");
  print_counters("before-the-backup " + kind_name(GetParam()), w);
}

INSTANTIATE_TEST_SUITE_P(FullDisk, BeforeTheBackup,
                         testing::Values(FullKind::rsync, FullKind::native, FullKind::btrfs_send,
                                         FullKind::btrfs_plain),
                         param_name);

// ---------------------------------------------------------------------------------------------
// 2. Full in the middle of a btrfs backup

class MidBackup : public testing::TestWithParam<FullKind> {};

// 4 MiB free when 8 MiB of new data arrive: the receive (or rsync --inplace into
// .snapkeep/current) fails while writing the data.
TEST_P(MidBackup, BtrfsLosesNothing) {
  SNAPKEEP_REQUIRE_ROOT();
  FullWorld w(GetParam(), dest_mib(GetParam()));
  ASSERT_TRUE(w.ready());
  two_snapshots(w, 8 * k_mib, 8 * k_mib, 11);

  w.filler().take_blocks(k_chunk);
  w.filler().give_bytes(4 * k_mib);
  Room before = room_of(w.dest());
  FullRun mid = w.backup_fails_full("a backup with 4 MiB free for 8 MiB of new data");
  EXPECT_NE(mid.err.find("big.bin"), std::string::npos) << "expected to fail writing big.bin:\n" << mid.err;
  if (GetParam() == FullKind::btrfs_send) {
    // The unfinished receive is deleted and its space comes back (btrfs plain keeps the partly
    // updated .snapkeep/current: the next run continues from it).
    EXPECT_GE(room_of(w.dest()).bytes + 256 * k_kib, before.bytes) << "the unfinished receive kept space";
  }

  w.filler().give_all();
  w.backup_ok("the backup after making room");
  print_counters("mid-backup " + kind_name(GetParam()), w);
}

INSTANTIATE_TEST_SUITE_P(FullDisk, MidBackup, testing::Values(FullKind::btrfs_send, FullKind::btrfs_plain), param_name);

// ---------------------------------------------------------------------------------------------
// 3 and 4. The data fits, the manifest does not

class Manifest : public testing::TestWithParam<FullKind> {};

// The snapshot's own data fits but its manifest (3000 entries, sha256: ~570 KiB) does not: first
// with no room beyond the data (the manifest's first 256 KiB write fails), then with room for about
// half of it (it fails part-way). Both times the snapshot is complete and `latest`; the backup
// exits 1, naming the full destination, and leaves no temporary manifest; `scrub --init` makes the
// missing manifests once there is room.
TEST_P(Manifest, DoesNotFitTheRunFailsAndTheSnapshotIsKept) {
  SNAPKEEP_REQUIRE_ROOT();
  // Whole manifests, the large ones: a btrfs backup would write its small changes as a delta of a
  // few KiB (docs/scrub.md), which takes the room of the changes, not of the tree.
  ScopedEnv whole_manifests("SNAPKEEP_MANIFEST_DELTAS", "0");
  FullWorld w(GetParam(), dest_mib(GetParam()), {}, "checksum = sha256\n");
  ASSERT_TRUE(w.ready());
  const std::string long_name(70, 'n');
  for (int i = 0; i < 3000; ++i) {
    fs::path file = w.src() / ("d" + std::to_string(i % 3)) / (long_name + std::to_string(i));
    if (i < 3) {
      fs::create_directories(file.parent_path());
    }
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << file;
    ::close(fd);
  }
  put(w, "data/stable.bin", 256 * k_kib, 21);
  w.backup_ok("the first backup");

  // What a backup of one new 1 MiB file needs besides its manifest: measured on ext4 by the same
  // backup once; on btrfs (unchanged files and folders are metadata) the new data and the record.
  put(w, "data/new-1.bin", k_mib, 22);
  Room before = room_of(w.dest());
  FullRun measured = w.backup_ok("the measuring backup");
  ASSERT_FALSE(measured.id.empty());
  std::uint64_t manifest_bytes = allocated_bytes(w.manifest(measured.id));
  ASSERT_GE(manifest_bytes, 512 * k_kib) << "the manifest is too small for this test";
  std::uint64_t need = k_mib + 4 * k_kib;
  if (hard_links(GetParam())) {
    Room after = room_of(w.dest());
    ASSERT_GT(before.bytes, after.bytes + manifest_bytes);
    need = before.bytes - after.bytes - manifest_bytes;
  }
  std::printf("[ fulldisk ] %s: a backup needs %llu KiB besides its %llu KiB manifest\n", kind_name(GetParam()).c_str(),
              static_cast<unsigned long long>(need / k_kib), static_cast<unsigned long long>(manifest_bytes / k_kib));

  // On btrfs a patched manifest is mostly its parent's pages, cloned: it takes little room. A
  // manifest written in full is the one that needs its size: without the parent's manifest, the
  // next backup writes its own in full (and scrub --init makes the parent's again at the end).
  std::vector<std::string> expected_init;
  if (!hard_links(GetParam())) {
    fs::remove(w.manifest(measured.id));
    expected_init.push_back(measured.id);
  }

  struct Step {
    std::string what;
    std::uint64_t spare;  // room given beyond `need`
  };
  std::vector<std::string> without_manifest;
  for (const Step& step :
       {Step{"no room for the manifest", 0}, Step{"room for half the manifest", manifest_bytes / 2}}) {
    SCOPED_TRACE(step.what);
    put(w, "data/new-" + std::to_string(without_manifest.size() + 2) + ".bin", k_mib,
        23 + static_cast<unsigned>(without_manifest.size()));
    w.filler().take_blocks(k_chunk);
    w.filler().give_bytes(need + step.spare + k_chunk);
    FullRun b = w.backup_without_manifest(step.what);
    ASSERT_FALSE(b.id.empty());
    without_manifest.push_back(b.id);
    std::string full = "the destination " + w.dest().string() + " is full";
    std::string error = b.preset.value("error", "");
    EXPECT_NE(error.find(full), std::string::npos) << "the error does not say '" << full << "': " << error;
    EXPECT_NE(error.find("No space left on device"), std::string::npos) << error;
    EXPECT_NE(error.find("scrub --init"), std::string::npos) << error;
    EXPECT_NE(error.find(b.id + " is complete and is `latest`"), std::string::npos) << error;
    EXPECT_NE(b.err.find(full), std::string::npos) << "no error on stderr:\n" << b.err;
    EXPECT_FALSE(fs::exists(w.manifest(b.id))) << "a manifest that did not fit is there";
    w.filler().give_all();
  }

  // Room made: scrub --init makes the missing manifests, and everything verifies.
  RunResult init = w.cli({"--json", "scrub", "--init"});
  EXPECT_EQ(init.exit_code, 0) << init.out << "\n" << init.err;
  json doc = json::parse(init.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << init.out;
  std::vector<std::string> initialized;
  for (const auto& id : doc["presets"][0]["initialized"]) {
    initialized.push_back(id.get<std::string>());
  }
  expected_init.insert(expected_init.end(), without_manifest.begin(), without_manifest.end());
  EXPECT_EQ(initialized, expected_init) << init.out;
  for (const auto& id : w.order()) {
    EXPECT_TRUE(fs::exists(w.manifest(id))) << "no manifest for " << id;
  }
  RunResult scrub = w.cli({"scrub"});
  EXPECT_EQ(scrub.exit_code, 0) << scrub.out << "\n" << scrub.err;
  w.check_destination("after scrub --init");

  put(w, "data/new-last.bin", k_mib, 30);
  w.backup_ok("the backup after making room");
  print_counters("manifest " + kind_name(GetParam()), w);
}

INSTANTIATE_TEST_SUITE_P(FullDisk, Manifest,
                         testing::Values(FullKind::rsync, FullKind::native, FullKind::btrfs_send,
                                         FullKind::btrfs_plain),
                         param_name);

// ---------------------------------------------------------------------------------------------
// 3 and 5. ext4 inodes run out at each step: the record, the copy's folder, the copy, the
// `latest` link; with and without allow_partial

// Where a backup met ENOSPC, from its error.
enum class Stage { record, start, copy, latest, none };

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::record: return "record";
    case Stage::start: return "start";
    case Stage::copy: return "copy";
    case Stage::latest: return "latest";
    case Stage::none: return "none";
  }
  return "?";
}

class Ext4Inodes : public testing::TestWithParam<std::tuple<FullKind, bool>> {};

// With 0, 1, 2, ... free inodes (every other inode taken by empty filler files), backups run
// until one succeeds. Each that fails must fail cleanly and give back every inode it took; the
// stages they fail at must come in the order of a backup, and all of them must be met: the record
// (before anything is copied), the copy's folder, the copy itself (mid-way), and the `latest` link
// once the snapshot was complete (exactly the data fitted: the snapshot is taken back). The same
// with allow_partial = yes: files rsync could not create on a full destination (rsync exit 23)
// never make a snapshot that lacks them.
TEST_P(Ext4Inodes, RunOutAtEachStep) {
  SNAPKEEP_REQUIRE_ROOT();
  const auto [kind, allow_partial] = GetParam();
  FullWorld w(kind, 16, {"-N", "128"}, allow_partial ? "allow_partial = yes\n" : "");
  ASSERT_TRUE(w.ready());
  put(w, "top.txt", 100, 41);
  put(w, "sub/a.bin", 64 * k_kib, 42);
  put(w, "sub/b.txt", 10, 43);
  fs::create_symlink("sub/a.bin", w.src() / "link");
  w.backup_ok("the first backup");
  put(w, "sub/b.txt", 20, 44);
  w.backup_ok("the second backup");
  // New: a folder with three files, and a changed file.
  put(w, "new/1.txt", 10, 45);
  put(w, "new/2.txt", 10, 46);
  put(w, "new/3.txt", 10, 47);
  put(w, "top.txt", 200, 48);

  const TreeState state = w.source_state();
  w.filler().take_inodes();
  ASSERT_EQ(room_of(w.dest()).inodes, 0u);
  std::vector<Stage> stages;
  std::string made;
  for (std::uint64_t free = 0; free < 40 && made.empty(); ++free) {
    SCOPED_TRACE("free inodes: " + std::to_string(free));
    if (free > 0) {
      w.filler().give_inodes(1);
    }
    ASSERT_EQ(room_of(w.dest()).inodes, free);
    FullRun probe = w.backup();
    if (probe.exit_code == 0) {
      // Replacing `latest` gave back the inode of the old link: the manifest had one.
      made = probe.id;
      EXPECT_EQ(probe.preset.value("manifest_ok", false), true) << probe.out;
      w.adopt(probe, state, "the first run that succeeded");
      break;
    }
    // Checked here rather than by backup_fails_full, which would run a backup of its own.
    ++w.counters().failed_runs;
    std::string full = "the destination " + w.dest().string() + " is full";
    EXPECT_EQ(probe.exit_code, 1) << probe.err;
    EXPECT_NE(probe.err.find(full), std::string::npos) << probe.err;
    EXPECT_NE(probe.err.find("No space left on device"), std::string::npos) << probe.err;
    EXPECT_EQ(probe.status, "failed") << probe.out;
    w.check_destination("after a run with " + std::to_string(free) + " free inodes");
    EXPECT_EQ(room_of(w.dest()).inodes, free) << "the failed run kept inodes";
    std::string error = probe.preset.value("error", "");
    Stage stage = Stage::none;
    // (The copy's errors say "backup failed": rsync's exit, or the native engine's failed call.)
    if (error.find(".snapkeep/snapshots/") != std::string::npos) {
      stage = Stage::record;
    } else if (error.find("backup failed: ") != std::string::npos) {
      stage = Stage::copy;
    } else if (error.find("cannot create directory") != std::string::npos &&
               error.find(".snapkeep/partial") != std::string::npos) {
      stage = Stage::start;
    } else if (error.find("latest.new") != std::string::npos) {
      stage = Stage::latest;
    }
    EXPECT_NE(stage, Stage::none) << "failed at an unexpected step: " << error;
    stages.push_back(stage);
  }
  ASSERT_FALSE(made.empty()) << "no backup succeeded with up to 40 free inodes";

  std::string seen;
  for (Stage s : stages) {
    seen += std::string(stage_name(s)) + " ";
  }
  std::printf("[ fulldisk ] ext4 inodes: stages by free inodes 0..%zu: %s\n", stages.size() - 1, seen.c_str());
  EXPECT_TRUE(std::is_sorted(stages.begin(), stages.end())) << "stages out of a backup's order: " << seen;
  for (Stage s : {Stage::record, Stage::start, Stage::copy, Stage::latest}) {
    EXPECT_NE(std::find(stages.begin(), stages.end(), s), stages.end())
        << "no run failed at the " << stage_name(s) << " step: " << seen;
  }

  // Room made: the next backup succeeds, is incremental and has its manifest.
  w.filler().give_all();
  put(w, "new/4.txt", 10, 49);
  w.backup_ok("the backup after making room");
  print_counters("ext4-inodes " + kind_name(kind) + (allow_partial ? " allow_partial" : ""), w);
}

INSTANTIATE_TEST_SUITE_P(FullDisk, Ext4Inodes,
                         testing::Combine(testing::Values(FullKind::rsync, FullKind::native), testing::Bool()),
                         [](const testing::TestParamInfo<std::tuple<FullKind, bool>>& param) {
                           return kind_name(std::get<0>(param.param)) +
                                  (std::get<1>(param.param) ? "_allow_partial" : "_strict");
                         });

}  // namespace
}  // namespace snapkeep::test::fault
