// Integration tests of the btrfs backend through the built CLI, on loop-mounted btrfs filesystems:
// send/receive with verified parent pairs (one filesystem and two), parent selection after a
// deleted or writable destination snapshot, rsync into a writable subvolume with shared extents,
// frozen btrfs sources for the rsync backend, failing and killed send/receive, list and restore.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::size_t k_kib = 1024;
constexpr std::size_t k_mib = 1024 * 1024;
constexpr const char* k_preset = "home";

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

std::string trim(const std::string& text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// What `btrfs subvolume show` says about a path.
struct SubvolumeShow {
  bool ok = false;  // the command succeeded: path is a subvolume
  std::string uuid;
  std::string parent_uuid;
  std::string received_uuid;  // "-" when none
  bool read_only = false;
  std::string text;  // the command's output, for messages
};

SubvolumeShow subvolume_show(const fs::path& path) {
  RunResult r = run({"btrfs", "subvolume", "show", "--", path.string()});
  SubvolumeShow out;
  out.text = r.out + r.err;
  if (r.exit_code != 0) {
    return out;
  }
  out.ok = true;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    std::string t = trim(line);
    auto value = [&](const std::string& key) { return trim(t.substr(key.size())); };
    if (starts_with(t, "UUID:")) {
      out.uuid = value("UUID:");
    } else if (starts_with(t, "Parent UUID:")) {
      out.parent_uuid = value("Parent UUID:");
    } else if (starts_with(t, "Received UUID:")) {
      out.received_uuid = value("Received UUID:");
    } else if (starts_with(t, "Flags:")) {
      out.read_only = value("Flags:").find("readonly") != std::string::npos;
    }
  }
  return out;
}

// Asserts that dest is a verified copy of the source snapshot: both read-only subvolumes and
// dest's Received UUID is the source snapshot's UUID. Returns dest's `subvolume show`.
SubvolumeShow expect_verified_pair(const fs::path& source_snapshot, const fs::path& dest_snapshot) {
  SubvolumeShow s = subvolume_show(source_snapshot);
  SubvolumeShow d = subvolume_show(dest_snapshot);
  EXPECT_TRUE(s.ok) << source_snapshot << " is not a subvolume: " << s.text;
  EXPECT_TRUE(d.ok) << dest_snapshot << " is not a subvolume: " << d.text;
  if (s.ok && d.ok) {
    EXPECT_TRUE(s.read_only) << "source snapshot " << source_snapshot << " is writable";
    EXPECT_TRUE(d.read_only) << "destination snapshot " << dest_snapshot << " is writable";
    EXPECT_NE(s.uuid, "-");
    EXPECT_FALSE(s.uuid.empty());
    EXPECT_EQ(d.received_uuid, s.uuid) << dest_snapshot << " was not received from " << source_snapshot;
  }
  return d;
}

// Names in dir that start with prefix (dir may be missing).
std::vector<std::string> names_with_prefix(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (starts_with(name, prefix)) {
      out.push_back(name);
    }
  }
  return out;
}

void expect_no_incoming(const fs::path& dir) {
  auto left = names_with_prefix(dir, ".incoming-");
  EXPECT_TRUE(left.empty()) << "in-progress receive left in " << dir << ": " << (left.empty() ? "" : left.front());
}

// Asserts DEST/home/latest is a relative symlink naming id.
void expect_latest(const fs::path& preset_dir, const std::string& id) {
  ASSERT_TRUE(exists_nofollow(preset_dir / "latest")) << "no latest link in " << preset_dir;
  EXPECT_EQ(link_target(preset_dir / "latest"), id);
}

// Fills dir with `files` pseudo-random files of `size` bytes in four subfolders, a symlink and an
// empty folder.
void make_tree(const fs::path& dir, int files, std::size_t size, unsigned seed) {
  for (int i = 0; i < files; ++i) {
    write_random_file(dir / ("d" + std::to_string(i % 4)) / ("f" + std::to_string(i)), size,
                      seed + static_cast<unsigned>(i));
  }
  fs::create_directories(dir / "empty");
  fs::create_symlink("d0/f0", dir / "link");
}

// Overwrites `bytes` in the middle of file (4 KiB aligned, size kept) with pseudo-random data.
void overwrite_middle(const fs::path& file, std::size_t bytes, unsigned seed) {
  auto size = static_cast<std::size_t>(stat_of(file).st_size);
  ASSERT_GE(size, bytes);
  off_t offset = static_cast<off_t>(((size - bytes) / 2) & ~std::size_t{4095});
  std::mt19937 rng(seed);
  std::string data(bytes, '\0');
  for (auto& c : data) {
    c = static_cast<char>(rng());
  }
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << "open " << file << ": " << std::strerror(errno);
  ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
  int err = errno;
  ::fsync(fd);
  ::close(fd);
  ASSERT_EQ(n, static_cast<ssize_t>(bytes)) << "pwrite " << file << ": " << std::strerror(err);
}

// Asserts two trees are equal: names, types, contents, modes, owners, mtimes, hard links.
void expect_same_tree(const fs::path& expected, const fs::path& actual, TreeCompare what = {}) {
  auto diffs = tree_differences(expected, actual, what);
  EXPECT_TRUE(diffs.empty()) << expected << " vs " << actual << ":\n" << join_lines(diffs);
}

// Asserts every entry below both roots has the same mtime in whole seconds (trees otherwise compared).
void expect_same_mtime_seconds(const fs::path& expected, const fs::path& actual) {
  for (const auto& rel : tree_entries(expected)) {
    struct stat a {};
    struct stat b {};
    if (::lstat((expected / rel).c_str(), &a) != 0 || ::lstat((actual / rel).c_str(), &b) != 0) {
      continue;  // reported by tree_differences
    }
    EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec) << rel << ": mtime differs by whole seconds";
  }
}

// Bytes of `file`'s extents whose physical location is not also used by `base`'s extents.
std::uint64_t bytes_not_shared_with(const std::vector<Extent>& file, const std::vector<Extent>& base) {
  std::uint64_t total = 0;
  for (const auto& e : file) {
    // Uncovered parts of [physical, physical + length), subtracting every base extent.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> left{{e.physical, e.physical + e.length}};
    for (const auto& b : base) {
      std::vector<std::pair<std::uint64_t, std::uint64_t>> next;
      for (auto [lo, hi] : left) {
        std::uint64_t blo = b.physical;
        std::uint64_t bhi = b.physical + b.length;
        if (bhi <= lo || blo >= hi) {
          next.emplace_back(lo, hi);
          continue;
        }
        if (lo < blo) {
          next.emplace_back(lo, blo);
        }
        if (bhi < hi) {
          next.emplace_back(bhi, hi);
        }
      }
      left = std::move(next);
    }
    for (auto [lo, hi] : left) {
      total += hi - lo;
    }
  }
  return total;
}

// `btrfs filesystem du -s --raw PATH`: total, exclusive and set-shared bytes.
struct BtrfsDu {
  std::uint64_t total = 0;
  std::uint64_t exclusive = 0;
  std::uint64_t shared = 0;
};

BtrfsDu btrfs_du(const fs::path& path) {
  BtrfsDu out;
  RunResult r = run_ok({"btrfs", "filesystem", "du", "-s", "--raw", "--", path.string()});
  std::istringstream in(r.out);
  std::string header;
  std::getline(in, header);
  in >> out.total >> out.exclusive >> out.shared;
  if (!in) {
    ADD_FAILURE() << "cannot parse btrfs filesystem du output:\n" << r.out;
  }
  return out;
}

// PATH with the fake btrfs (tests/fakes/btrfs-fail, FAKE_BTRFS_FAIL picks what it breaks) first.
std::string path_with_btrfs_fake() {
  const char* path = std::getenv("PATH");
  return std::string(SNAPKEEP_SOURCE_DIR) + "/tests/fakes/btrfs-fail:" + (path != nullptr ? path : "/usr/bin:/bin");
}

// Pids (other than ours) whose command line mentions `text`: children that outlived a kill.
std::vector<pid_t> processes_mentioning(const std::string& text) {
  return processes_where([&](const fs::path& proc) {
    std::ifstream in(proc / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return cmdline.find(text) != std::string::npos;
  });
}

// The snapshot id of the local time `ahead` seconds from now.
std::string now_id(int ahead = 0) {
  std::time_t t = std::time(nullptr) + ahead;
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H-%M-%S", &tm);
  return buf;
}

// Quick backups take ids ahead of the clock; waits until the clock is past `id`, so that deleting
// the snapshot `id` cannot hand its id to the next backup (see NewIdOfAStaleSourceSnapshot).
void wait_for_clock_past(const std::string& id) {
  EXPECT_TRUE(wait_until([&] { return now_id() > id; }, 30s, 50ms)) << "clock never passed " << id;
}

// The parsed result of one `snapkeep --json backup`.
struct Backup {
  RunResult run;
  json preset;  // presets[0], null when stdout was not the expected JSON
  std::string status;
  std::string id;
  std::string backend;
  std::uint64_t bytes = 0;  // bytes_transferred
};

Backup parse_backup(RunResult r) {
  Backup b;
  b.run = std::move(r);
  json doc = json::parse(b.run.out, nullptr, false);
  if (doc.is_discarded() || !doc.contains("presets") || doc["presets"].empty()) {
    return b;
  }
  b.preset = doc["presets"][0];
  b.status = b.preset.value("status", "");
  b.id = b.preset.value("snapshot", "");
  b.backend = b.preset.value("backend", "");
  b.bytes = b.preset.value("bytes_transferred", std::uint64_t{0});
  return b;
}

// A test's world: a btrfs source subvolume SRC_FS/src and a destination folder DEST_FS/backup,
// on one btrfs filesystem or on two.
struct BtrfsWorld {
  explicit BtrfsWorld(bool same_fs, unsigned src_mib = 512, unsigned dest_mib = 512) {
    src_fs = std::make_unique<LoopFs>("btrfs", src_mib);
    if (!same_fs) {
      dest_fs = std::make_unique<LoopFs>("btrfs", dest_mib);
    }
    if (!ready()) {
      return;
    }
    src = src_fs->mount_point() / "src";
    run_ok({"btrfs", "subvolume", "create", "--", src.string()});
    dest = (same_fs ? src_fs : dest_fs)->mount_point() / "backup";
    fs::create_directories(dest);
    preset_dir = dest / k_preset;
    snapshot_root = src_fs->mount_point() / ".snapkeep-snapshots" / k_preset;
    config = tmp / "snapkeep.ini";
    write_config();
  }
  bool ready() const { return src_fs->ok() && (!dest_fs || dest_fs->ok()); }
  void write_config(const std::string& extra = "") { write_preset_config(config, k_preset, src, dest, extra); }
  // `snapkeep -c CONFIG -v --json backup`, with env added to the environment.
  Backup backup(const std::map<std::string, std::string>& env = {}) const {
    return parse_backup(snapkeep({"-c", config.string(), "-v", "--json", "backup"}, env));
  }
  // A backup that must succeed and add exactly one snapshot.
  Backup backup_ok() const {
    auto before = snapshot_ids(preset_dir);
    Backup b = backup();
    EXPECT_EQ(b.run.exit_code, 0) << "snapkeep backup failed\nstdout:\n" << b.run.out << "\nstderr:\n" << b.run.err;
    EXPECT_EQ(b.status, "ok") << b.run.out;
    EXPECT_EQ(b.backend, "btrfs") << b.run.out;
    auto after = snapshot_ids(preset_dir);
    EXPECT_EQ(after.size(), before.size() + 1) << "a successful backup adds exactly one snapshot";
    EXPECT_TRUE(!b.id.empty() && fs::is_directory(preset_dir / b.id)) << "no snapshot folder for id '" << b.id << "'";
    return b;
  }
  fs::path snap(const std::string& id) const { return preset_dir / id; }
  fs::path source_snap(const std::string& id) const { return snapshot_root / id; }

  TempDir tmp;
  std::unique_ptr<LoopFs> src_fs;
  std::unique_ptr<LoopFs> dest_fs;  // null when the destination is on src_fs
  fs::path src;
  fs::path dest;
  fs::path preset_dir;
  fs::path snapshot_root;  // where source snapshots are expected
  fs::path config;
};

// Case 1 end to end: full backup of 8 MiB, then an incremental one after an 80 KiB change.
void check_full_then_incremental(BtrfsWorld& w, const char* label) {
  make_tree(w.src, 32, 256 * k_kib, 1);
  Backup first = w.backup_ok();
  ASSERT_FALSE(first.id.empty());
  EXPECT_NE(first.run.err.find("full send"), std::string::npos) << first.run.err;
  SubvolumeShow d1 = expect_verified_pair(w.source_snap(first.id), w.snap(first.id));
  expect_same_tree(w.src, w.snap(first.id));
  EXPECT_GE(first.bytes, 8 * k_mib) << "a full send carries all the data";
  expect_latest(w.preset_dir, first.id);

  overwrite_middle(w.src / "d1" / "f5", 80 * k_kib, 99);
  Backup second = w.backup_ok();
  ASSERT_FALSE(second.id.empty());
  EXPECT_NE(second.run.err.find("incremental send from parent " + first.id), std::string::npos) << second.run.err;
  SubvolumeShow d2 = expect_verified_pair(w.source_snap(second.id), w.snap(second.id));
  EXPECT_EQ(d2.parent_uuid, d1.uuid) << "an incremental receive is a snapshot of the destination's parent copy";
  expect_same_tree(w.src, w.snap(second.id));
  // The first snapshot still holds the old content, as its source snapshot does.
  expect_same_tree(w.source_snap(first.id), w.snap(first.id));
  EXPECT_NE(read_file(w.snap(first.id) / "d1" / "f5"), read_file(w.snap(second.id) / "d1" / "f5"));
  EXPECT_LT(second.bytes * 20, first.bytes) << "incremental " << second.bytes << " bytes vs full " << first.bytes;
  expect_latest(w.preset_dir, second.id);
  expect_no_incoming(w.preset_dir);
  expect_no_incoming(w.snapshot_root);
  // A read-only snapshot really refuses writes.
  int fd = ::open((w.snap(second.id) / "new-file").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  EXPECT_LT(fd, 0) << "could create a file in a read-only snapshot";
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) {
    ::close(fd);
  }
  std::printf("[ measure  ] %s: full send %llu bytes, incremental after 80 KiB change %llu bytes (%.2f %%)\n", label,
              static_cast<unsigned long long>(first.bytes), static_cast<unsigned long long>(second.bytes),
              first.bytes == 0 ? 0.0 : 100.0 * static_cast<double>(second.bytes) / static_cast<double>(first.bytes));
  testing::Test::RecordProperty("full_bytes", std::to_string(first.bytes));
  testing::Test::RecordProperty("incremental_bytes", std::to_string(second.bytes));
}

TEST(BtrfsBackend, SendReceiveWithinOneFilesystem) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsWorld w(/*same_fs=*/true);
  ASSERT_TRUE(w.ready());
  check_full_then_incremental(w, "one filesystem");
  // Source snapshots live beside the source, not inside it.
  EXPECT_FALSE(exists_nofollow(w.src / ".snapkeep-snapshots"));
  EXPECT_EQ(snapshot_ids(w.snapshot_root).size(), 2u);
}

TEST(BtrfsBackend, SendReceiveAcrossFilesystemsWithSnapshotDir) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsWorld w(/*same_fs=*/false);
  ASSERT_TRUE(w.ready());
  fs::path snapshot_dir = w.src_fs->mount_point() / "snaps";
  w.write_config("snapshot_dir = " + snapshot_dir.string() + "\n");
  w.snapshot_root = snapshot_dir / k_preset;
  check_full_then_incremental(w, "two filesystems");
  EXPECT_FALSE(exists_nofollow(w.src_fs->mount_point() / ".snapkeep-snapshots"))
      << "snapshot_dir is set: nothing goes to the default place";
  EXPECT_EQ(snapshot_ids(w.snapshot_root).size(), 2u);
}

// A source subvolume mounted at its filesystem's root (the parent folder is on another
// filesystem) keeps its source snapshots inside itself; the backups must still hold only the
// source's files (SPEC §3), not snapkeep's snapshot folders.
TEST(BtrfsBackend, SourceAtMountRootSnapshotsHoldOnlyTheSource) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsWorld w(/*same_fs=*/false, 256, 256);
  ASSERT_TRUE(w.ready());
  run_ok({"btrfs", "subvolume", "delete", "--", w.src.string()});
  w.src = w.src_fs->mount_point();
  w.write_config();
  make_tree(w.src, 8, 64 * k_kib, 7);
  TempDir pristine;
  run_ok({"cp", "-a", "--", w.src.string() + "/.", pristine.path().string()});
  Backup first = w.backup_ok();
  write_file(w.src / "d0" / "added", "added\n");
  write_file(pristine / "d0" / "added", "added\n");
  Backup second = w.backup_ok();
  ASSERT_FALSE(second.id.empty());
  EXPECT_FALSE(exists_nofollow(w.snap(second.id) / ".snapkeep-snapshots"))
      << "snapkeep's own source snapshot folder landed in the backup";
  TreeCompare what;
  what.root = false;
  what.mtimes = false;
  expect_same_tree(pristine.path(), w.snap(second.id), what);
}

TEST(BtrfsBackend, ParentIsTheNewestVerifiedPair) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsWorld w(/*same_fs=*/true);
  ASSERT_TRUE(w.ready());
  make_tree(w.src, 32, 256 * k_kib, 11);
  fs::path changing = w.src / "d2" / "f6";
  Backup b1 = w.backup_ok();
  overwrite_middle(changing, 80 * k_kib, 1);
  Backup b2 = w.backup_ok();
  overwrite_middle(changing, 80 * k_kib, 2);
  Backup b3 = w.backup_ok();
  ASSERT_FALSE(b1.id.empty() || b2.id.empty() || b3.id.empty());
  std::uint64_t small = b1.bytes / 20;

  // The newest destination snapshot is gone: the next send is incremental from the pair before it.
  wait_for_clock_past(b3.id);
  run_ok({"btrfs", "subvolume", "delete", "--", w.snap(b3.id).string()});
  overwrite_middle(changing, 80 * k_kib, 3);
  Backup b4 = w.backup_ok();
  ASSERT_FALSE(b4.id.empty());
  EXPECT_NE(b4.run.err.find("incremental send from parent " + b2.id), std::string::npos) << b4.run.err;
  EXPECT_LT(b4.bytes, small) << "not a full send: " << b4.bytes << " bytes vs full " << b1.bytes;
  SubvolumeShow d2 = subvolume_show(w.snap(b2.id));
  SubvolumeShow d4 = expect_verified_pair(w.source_snap(b4.id), w.snap(b4.id));
  EXPECT_EQ(d4.parent_uuid, d2.uuid);
  expect_same_tree(w.src, w.snap(b4.id));
  expect_latest(w.preset_dir, b4.id);
  EXPECT_FALSE(exists_nofollow(w.source_snap(b3.id))) << "a source snapshot without a copy is not kept";

  // The newest destination snapshot made writable no longer counts as a verified copy.
  run_ok({"btrfs", "property", "set", "-f", "-ts", w.snap(b4.id).string(), "ro", "false"});
  ASSERT_FALSE(subvolume_show(w.snap(b4.id)).read_only);
  overwrite_middle(changing, 80 * k_kib, 4);
  Backup b5 = w.backup_ok();
  ASSERT_FALSE(b5.id.empty());
  EXPECT_EQ(b5.run.err.find("incremental send from parent " + b4.id), std::string::npos)
      << "a writable copy was used as parent:\n"
      << b5.run.err;
  EXPECT_NE(b5.run.err.find("incremental send from parent " + b2.id), std::string::npos) << b5.run.err;
  EXPECT_LT(b5.bytes, small);
  expect_verified_pair(w.source_snap(b5.id), w.snap(b5.id));
  expect_same_tree(w.src, w.snap(b5.id));
  EXPECT_TRUE(fs::is_directory(w.snap(b4.id))) << "the writable snapshot is the user's to keep";

  // And the pair just made is a good parent.
  overwrite_middle(changing, 80 * k_kib, 5);
  Backup b6 = w.backup_ok();
  ASSERT_FALSE(b6.id.empty());
  EXPECT_NE(b6.run.err.find("incremental send from parent " + b5.id), std::string::npos) << b6.run.err;
  EXPECT_LT(b6.bytes, small);
  expect_verified_pair(w.source_snap(b6.id), w.snap(b6.id));

  // No verified pair left at all (only the writable one): a full send, which succeeds.
  wait_for_clock_past(b6.id);
  for (const auto& id : {b1.id, b2.id, b5.id, b6.id}) {
    run_ok({"btrfs", "subvolume", "delete", "--", w.snap(id).string()});
  }
  overwrite_middle(changing, 80 * k_kib, 6);
  Backup b7 = w.backup_ok();
  ASSERT_FALSE(b7.id.empty());
  EXPECT_NE(b7.run.err.find("full send"), std::string::npos) << b7.run.err;
  EXPECT_GE(b7.bytes, 8 * k_mib);
  expect_verified_pair(w.source_snap(b7.id), w.snap(b7.id));
  expect_same_tree(w.src, w.snap(b7.id));
  expect_latest(w.preset_dir, b7.id);
  expect_no_incoming(w.preset_dir);
  expect_no_incoming(w.snapshot_root);
}

// Quick backups take ids ahead of the clock (each takes the next free second). Deleting the
// newest destination snapshot frees its id while its source snapshot stays, so the next backup is
// handed the id of an existing source snapshot; it must still succeed, and so must the next one.
TEST(BtrfsBackend, NewIdOfAStaleSourceSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsWorld w(/*same_fs=*/true, 256);
  ASSERT_TRUE(w.ready());
  write_file(w.src / "a.txt", "a\n");
  std::string newest;
  for (int i = 0; i < 15 && (newest.empty() || newest <= now_id(3)); ++i) {
    write_file(w.src / "a.txt", "a" + std::to_string(i) + "\n");
    Backup b = w.backup_ok();
    ASSERT_FALSE(b.id.empty());
    newest = b.id;
  }
  ASSERT_GT(newest, now_id(2)) << "backups too slow to run ahead of the clock; the test cannot set up its case";
  ASSERT_TRUE(fs::is_directory(w.source_snap(newest)));
  run_ok({"btrfs", "subvolume", "delete", "--", w.snap(newest).string()});
  write_file(w.src / "a.txt", "after delete\n");

  Backup next = w.backup();
  EXPECT_EQ(next.run.exit_code, 0) << next.run.err;
  EXPECT_EQ(next.status, "ok") << next.run.out;
  if (!next.id.empty() && fs::is_directory(w.snap(next.id))) {
    expect_latest(w.preset_dir, next.id);
  }
  write_file(w.src / "a.txt", "later\n");
  Backup later = w.backup();
  EXPECT_EQ(later.run.exit_code, 0) << "the run after is blocked too:\n" << later.run.err;
  if (later.run.exit_code == 0) {
    expect_verified_pair(w.source_snap(later.id), w.snap(later.id));
    expect_same_tree(w.src, w.snap(later.id));
    expect_latest(w.preset_dir, later.id);
  }
  expect_no_incoming(w.preset_dir);
  expect_no_incoming(w.snapshot_root);
}

// A backup killed after its receive was complete leaves .incoming-<id> work and a time record
// for <id>. When the next run is handed the same id (ids run ahead of the clock after quick
// backups, or the next run starts in the same second), it must still succeed.
TEST(BtrfsBackend, KilledRunsIdIsNotReused) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsWorld w(/*same_fs=*/false, 512, 512);
  ASSERT_TRUE(w.ready());
  write_file(w.src / "a.txt", "a\n");
  std::string newest;
  for (int i = 0; i < 15 && (newest.empty() || newest <= now_id(4)); ++i) {
    write_file(w.src / "a.txt", "a" + std::to_string(i) + "\n");
    Backup b = w.backup_ok();
    ASSERT_FALSE(b.id.empty());
    newest = b.id;
  }
  ASSERT_GT(newest, now_id(3)) << "backups too slow to run ahead of the clock; the test cannot set up its case";
  write_random_file(w.src / "big", 100 * k_mib, 800);
  ::sync();

  // Kill the next backup once its receive is complete (read-only), before it is renamed into place:
  // the fake btrfs (FAKE_BTRFS_FAIL=receive-hold) holds the run there once the real receive is done.
  TempDir logs;
  std::string killed_id;
  {
    fs::path held = logs / "receive-held";
    BackgroundRun bg(
        {"-c", w.config.string(), "--json", "backup"}, logs.path(),
        {"PATH=" + path_with_btrfs_fake(), "FAKE_BTRFS_FAIL=receive-hold", "FAKE_BTRFS_HELD=" + held.string()});
    ASSERT_TRUE(wait_until([&] { return exists_nofollow(held) || !bg.running(); }, 120s, 1ms))
        << "the receive neither ended nor failed";
    ASSERT_TRUE(bg.running()) << "the backup ended without being held after its receive:\n" << bg.stderr_text();
    for (const auto& name : names_with_prefix(w.preset_dir, ".incoming-")) {
      if (is_read_only_subvolume(w.preset_dir / name)) {
        killed_id = name.substr(std::string(".incoming-").size());
      }
    }
    bg.kill(SIGKILL);
    bg.wait();
  }
  ASSERT_TRUE(wait_until([&] { return processes_mentioning(w.preset_dir.string()).empty(); }, 20s, 10ms));
  // The held receive dies with the run (PR_SET_PDEATHSIG), and the lock it inherited with it.
  ASSERT_TRUE(wait_until([&] { return lock_is_free(w.preset_dir / ".snapkeep" / "lock"); }, 20s, 10ms))
      << "the killed run's children still hold the lock";
  ASSERT_FALSE(killed_id.empty()) << "no complete (read-only) receive was held";
  ASSERT_TRUE(exists_nofollow(w.preset_dir / (".incoming-" + killed_id)))
      << "the kill did not land between the end of the receive and its rename";
  ASSERT_GT(killed_id, now_id(1)) << "the killed run's id is not ahead of the clock";

  Backup next = w.backup();
  EXPECT_EQ(next.run.exit_code, 0) << "the run after the kill failed:\n" << next.run.err;
  EXPECT_EQ(next.status, "ok") << next.run.out;
  if (next.run.exit_code == 0) {
    expect_verified_pair(w.source_snap(next.id), w.snap(next.id));
    expect_same_tree(w.src, w.snap(next.id));
    expect_latest(w.preset_dir, next.id);
    EXPECT_LT(next.bytes, 10 * k_mib) << "the killed run's complete receive was sent again";
  }
  write_file(w.src / "a.txt", "later\n");
  Backup later = w.backup();
  EXPECT_EQ(later.run.exit_code, 0) << later.run.err;
  expect_no_incoming(w.preset_dir);
  expect_no_incoming(w.snapshot_root);
  for (const auto& id : snapshot_ids(w.preset_dir)) {
    SubvolumeShow d = subvolume_show(w.snap(id));
    EXPECT_TRUE(d.read_only && d.received_uuid != "-") << id;
  }
}

// Case 2: a plain source folder synced into a writable subvolume, then snapshotted read-only.
TEST(BtrfsBackend, PlainSourceSharesExtentsBetweenSnapshots) {
  SNAPKEEP_REQUIRE_ROOT();
  TempDir tmp;
  LoopFs dest("btrfs", 512);
  ASSERT_TRUE(dest.ok());
  fs::path src = tmp / "src";
  write_random_file(src / "big.bin", 64 * k_mib, 42);
  write_file(src / "small.txt", "small\n");
  fs::path config = write_preset_config(tmp / "snapkeep.ini", k_preset, src, dest.mount_point());
  fs::path preset_dir = dest.mount_point() / k_preset;
  auto backup = [&] { return parse_backup(snapkeep({"-c", config.string(), "-v", "--json", "backup"})); };

  Backup b1 = backup();
  ASSERT_EQ(b1.run.exit_code, 0) << b1.run.err;
  EXPECT_EQ(b1.backend, "btrfs");
  Backup b2 = backup();
  ASSERT_EQ(b2.run.exit_code, 0) << b2.run.err;
  ASSERT_NE(b1.id, b2.id);
  for (const auto& id : {b1.id, b2.id}) {
    SubvolumeShow s = subvolume_show(preset_dir / id);
    EXPECT_TRUE(s.ok && s.read_only) << id << ": " << s.text;
    expect_same_tree(src, preset_dir / id);
  }
  SubvolumeShow current = subvolume_show(preset_dir / ".snapkeep" / "current");
  EXPECT_TRUE(current.ok && !current.read_only) << current.text;
  ::sync();
  auto e1 = extents_of(preset_dir / b1.id / "big.bin");
  auto e2 = extents_of(preset_dir / b2.id / "big.bin");
  ASSERT_FALSE(e1.empty());
  ASSERT_EQ(e1.size(), e2.size());
  EXPECT_EQ(e1.front().physical, e2.front().physical) << "the unchanged file was copied again";
  EXPECT_EQ(bytes_not_shared_with(e2, e1), 0u);

  // 4 KiB changed in the middle: only about that much new data.
  overwrite_middle(src / "big.bin", 4 * k_kib, 43);
  Backup b3 = backup();
  ASSERT_EQ(b3.run.exit_code, 0) << b3.run.err;
  ASSERT_NE(b3.id, b2.id);
  expect_same_tree(src, preset_dir / b3.id);
  expect_same_tree(tmp / "src", preset_dir / b3.id);
  ::sync();
  auto e3 = extents_of(preset_dir / b3.id / "big.bin");
  std::uint64_t fresh = bytes_not_shared_with(e3, e2);
  EXPECT_GT(fresh, 0u) << "the change is not in the snapshot?";
  EXPECT_LT(fresh, 1 * k_mib) << "the changed file was rewritten rather than patched in place";
  BtrfsDu du = btrfs_du(preset_dir / b3.id);
  EXPECT_LT(du.exclusive, 1 * k_mib);
  EXPECT_GE(du.total, 64 * k_mib);
  std::printf("[ measure  ] plain source: 4 KiB change -> %llu new bytes in the snapshot; du exclusive %llu\n",
              static_cast<unsigned long long>(fresh), static_cast<unsigned long long>(du.exclusive));
}

// Case 3: a btrfs subvolume source with backend = rsync is read from a frozen read-only snapshot.
TEST(BtrfsRsyncSource, FrozenSnapshotGivesAPointInTimeCopy) {
  SNAPKEEP_REQUIRE_ROOT();
  TempDir tmp;
  LoopFs src_fs("btrfs", 512);
  LoopFs dest("ext4", 128);
  ASSERT_TRUE(src_fs.ok() && dest.ok());
  fs::path src = src_fs.mount_point() / "src";
  run_ok({"btrfs", "subvolume", "create", "--", src.string()});
  fs::path snapshot_root = src_fs.mount_point() / ".snapkeep-snapshots" / k_preset;
  fs::path config = write_preset_config(tmp / "snapkeep.ini", k_preset, src, dest.mount_point(), "backend = rsync\n");
  fs::path preset_dir = dest.mount_point() / k_preset;
  fs::create_directories(src / "tmp");
  for (int i = 0; i < 4; ++i) {
    write_random_file(src / ("filler" + std::to_string(i)), 4 * k_mib, 100 + static_cast<unsigned>(i));
  }

  // Writes version v of a and then of b, each as a whole new file (write, fsync, rename): at any
  // moment a is at b's version or one ahead. Version v is 4 MiB + v % 1040 bytes of the letter
  // 'A' + v % 26; the size changes with every version so that rsync's size+mtime quick check
  // (which ignores nanoseconds) never takes a new version for the old one.
  constexpr std::size_t k_size = 4 * k_mib;
  constexpr int k_cycle = 1040;
  auto write_version = [&](const std::string& name, int v) {
    std::string data(k_size + static_cast<std::size_t>(v % k_cycle), static_cast<char>('A' + v % 26));
    fs::path tmp_path = src / "tmp" / name;
    int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      return false;
    }
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
    ::close(fd);
    return ok && ::rename(tmp_path.c_str(), (src / name).c_str()) == 0;
  };
  ASSERT_TRUE(write_version("a", 0) && write_version("b", 0));
  std::atomic<bool> stop{false};
  std::atomic<int> version{0};
  std::atomic<bool> write_failed{false};
  std::thread writer([&] {
    for (int v = 1; !stop; ++v) {
      if (!write_version("a", v) || !write_version("b", v)) {
        write_failed = true;
        return;
      }
      version = v;
    }
  });

  for (int round = 0; round < 3; ++round) {
    int before = version;
    RunResult r = snapkeep({"-c", config.string(), "-v", "--json", "backup"});
    int after = version;
    Backup b = parse_backup(r);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(b.backend, "rsync");
    EXPECT_NE(r.err.find("read-only snapshot of the source"), std::string::npos) << r.err;
    EXPECT_GT(after, before) << "the writer made no new version during the backup";
    if (b.id.empty()) {
      continue;
    }
    int versions[2] = {-1, -1};
    const char* names[2] = {"a", "b"};
    for (int f = 0; f < 2; ++f) {
      std::string got = read_file(preset_dir / b.id / names[f]);
      ASSERT_GE(got.size(), k_size) << names[f] << " in snapshot " << b.id;
      ASSERT_LT(got.size(), k_size + k_cycle) << names[f] << " in snapshot " << b.id;
      versions[f] = static_cast<int>(got.size() - k_size);
      EXPECT_EQ(got.front(), 'A' + versions[f] % 26)
          << names[f] << " in snapshot " << b.id << ": size and data disagree";
      EXPECT_EQ(got.find_first_not_of(got.front()), std::string::npos)
          << names[f] << " in snapshot " << b.id << " mixes two versions";
    }
    int gap = ((versions[0] - versions[1]) % k_cycle + k_cycle) % k_cycle;
    EXPECT_LE(gap, 1) << "a is at version " << versions[0] << ", b at " << versions[1] << " (mod " << k_cycle
                      << "): the files were read at different moments, not from one snapshot";
    EXPECT_TRUE(names_with_prefix(snapshot_root, ".frozen-").empty()) << "the frozen view was left behind";
    RunResult list = run_ok({"btrfs", "subvolume", "list", "--", src_fs.mount_point().string()});
    EXPECT_EQ(list.out.find(".frozen-"), std::string::npos) << list.out;
  }
  stop = true;
  writer.join();
  EXPECT_FALSE(write_failed) << "the writer thread failed";
}

// A failing btrfs send or receive leaves no trace and the next run is incremental.
TEST(BtrfsBackend, FailingSendOrReceiveLeavesNothing) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsWorld w(/*same_fs=*/true);
  ASSERT_TRUE(w.ready());
  make_tree(w.src, 32, 256 * k_kib, 21);
  Backup first = w.backup_ok();
  ASSERT_FALSE(first.id.empty());
  std::string fake_path = path_with_btrfs_fake();

  for (const std::string mode : {"receive", "receive-late", "send"}) {
    SCOPED_TRACE("FAKE_BTRFS_FAIL=" + mode);
    overwrite_middle(w.src / "d3" / "f7", 80 * k_kib, 30);
    auto ids_before = snapshot_ids(w.preset_dir);
    auto source_before = snapshot_ids(w.snapshot_root);
    Backup b = w.backup({{"PATH", fake_path}, {"FAKE_BTRFS_FAIL", mode}});
    EXPECT_EQ(b.run.exit_code, 1) << b.run.err;
    EXPECT_EQ(b.status, "failed") << b.run.out;
    std::string fake_line = mode == "receive-late" ? "fake-btrfs: receive failed on purpose after receiving"
                                                   : "fake-btrfs: " + mode + " failed on purpose";
    EXPECT_NE(b.run.err.find(fake_line), std::string::npos) << "the child's stderr is lost:\n" << b.run.err;
    EXPECT_EQ(snapshot_ids(w.preset_dir), ids_before) << "a failed run added a snapshot";
    EXPECT_EQ(snapshot_ids(w.snapshot_root), source_before) << "a failed run kept a source snapshot";
    expect_no_incoming(w.preset_dir);
    expect_no_incoming(w.snapshot_root);
    expect_latest(w.preset_dir, first.id);
  }

  Backup after = w.backup_ok();
  ASSERT_FALSE(after.id.empty());
  EXPECT_NE(after.run.err.find("incremental send from parent " + first.id), std::string::npos) << after.run.err;
  EXPECT_LT(after.bytes * 20, first.bytes);
  expect_verified_pair(w.source_snap(after.id), w.snap(after.id));
  expect_same_tree(w.src, w.snap(after.id));
  expect_latest(w.preset_dir, after.id);
}

// After SIGKILL at some moment of a backup: every id folder is a verified copy, no leftovers
// survive the next run, and the next run is still incremental.
TEST(BtrfsBackend, KilledSendReceive) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsWorld w(/*same_fs=*/false, 768, 1024);
  ASSERT_TRUE(w.ready());
  for (int i = 0; i < 4; ++i) {
    write_random_file(w.src / ("big" + std::to_string(i)), 50 * k_mib, 300 + static_cast<unsigned>(i));
  }
  make_tree(w.src / "small", 8, 64 * k_kib, 400);
  ::sync();
  TempDir logs;

  // Every id folder is a read-only copy received from the source snapshot of that id.
  auto check_id_folders = [&](const std::string& when) {
    SCOPED_TRACE(when);
    for (const auto& id : snapshot_ids(w.preset_dir)) {
      SubvolumeShow d = subvolume_show(w.snap(id));
      ASSERT_TRUE(d.ok) << id << " is not a subvolume";
      EXPECT_TRUE(d.read_only) << id << " is writable, so it may be incomplete";
      EXPECT_NE(d.received_uuid, "-") << id << " was not received";
      fs::path source = w.source_snap(id);
      if (!exists_nofollow(source)) {
        source = w.snapshot_root / (".incoming-" + id);
      }
      if (exists_nofollow(source)) {
        EXPECT_EQ(d.received_uuid, subvolume_show(source).uuid) << id;
      }
    }
  };
  // Starts a backup and SIGKILLs it once `moment` holds; true when the kill landed mid-run.
  auto kill_backup_when = [&](const std::function<bool()>& moment, std::chrono::milliseconds extra) {
    BackgroundRun bg({"-c", w.config.string(), "-v", "--json", "backup"}, logs.path());
    bool hit = wait_until([&] { return moment() || !bg.running(); }, 60s, 200us);
    EXPECT_TRUE(hit);
    std::this_thread::sleep_for(extra);
    bool killed_mid_run = bg.running();
    bg.kill(SIGKILL);
    bg.wait();
    // Its btrfs send and receive die with it (PR_SET_PDEATHSIG); wait until they are gone.
    EXPECT_TRUE(wait_until(
        [&] {
          return processes_mentioning(w.preset_dir.string()).empty() &&
                 processes_mentioning(w.snapshot_root.string()).empty();
        },
        20s, 10ms))
        << "children of the killed run are still alive";
    return killed_mid_run;
  };
  auto incoming_at_dest = [&] { return !names_with_prefix(w.preset_dir, ".incoming-").empty(); };

  // A full backup killed as soon as its receive appears, then one killed 0.3 s after its start.
  bool mid1 = kill_backup_when(incoming_at_dest, 0ms);
  EXPECT_TRUE(mid1) << "the backup finished before the kill";
  check_id_folders("after a kill when the receive began");
  auto started = std::chrono::steady_clock::now();
  bool mid2 = kill_backup_when([&] { return std::chrono::steady_clock::now() - started > 300ms; }, 0ms);
  check_id_folders("after a kill at 0.3 s");
  std::printf("[ measure  ] kill when the receive began: %s; kill at 0.3 s: %s\n", mid1 ? "mid-run" : "after the end",
              mid2 ? "mid-run" : "after the end");

  Backup full = w.backup_ok();
  ASSERT_FALSE(full.id.empty());
  EXPECT_GE(full.bytes, 200 * k_mib);
  expect_verified_pair(w.source_snap(full.id), w.snap(full.id));
  expect_same_tree(w.src, w.snap(full.id));
  expect_no_incoming(w.preset_dir);
  expect_no_incoming(w.snapshot_root);

  // 100 MiB of new data; the backup killed once its receive is complete (read-only) but, most
  // likely, not yet renamed into place. The next run keeps that receive: it sends little.
  write_random_file(w.src / "new-big", 100 * k_mib, 500);
  ::sync();
  auto received_at_dest = [&] {
    for (const auto& name : names_with_prefix(w.preset_dir, ".incoming-")) {
      if (is_read_only_subvolume(w.preset_dir / name)) {
        return true;
      }
    }
    return false;
  };
  bool mid4 = kill_backup_when(received_at_dest, 0ms);
  check_id_folders("after a kill when the receive was complete");
  // A run in the killed run's second would be handed its id (see KilledRunsIdIsNotReused).
  for (const auto& dir : {w.preset_dir, w.snapshot_root}) {
    for (const auto& name : names_with_prefix(dir, ".incoming-")) {
      wait_for_clock_past(name.substr(std::string(".incoming-").size()));
    }
  }
  auto ids_before_late = snapshot_ids(w.preset_dir);
  Backup after_late = w.backup();
  ASSERT_EQ(after_late.run.exit_code, 0) << after_late.run.err;
  ASSERT_FALSE(after_late.id.empty());
  EXPECT_GE(snapshot_ids(w.preset_dir).size(), ids_before_late.size() + 1);
  EXPECT_LE(snapshot_ids(w.preset_dir).size(), ids_before_late.size() + 2)
      << "besides the new snapshot, at most the killed run's complete receive is added";
  EXPECT_LT(after_late.bytes * 20, full.bytes)
      << "the complete receive of the killed run was thrown away and sent again: " << after_late.bytes << " bytes";
  check_id_folders("after the run after a late kill");
  expect_same_tree(w.src, w.snap(after_late.id));
  expect_no_incoming(w.preset_dir);
  expect_no_incoming(w.snapshot_root);

  // Another 100 MiB of new data, the backup killed in the middle of its stream.
  write_random_file(w.src / "new-big2", 100 * k_mib, 501);
  ::sync();
  bool mid3 = kill_backup_when(incoming_at_dest, 150ms);
  check_id_folders("after a kill during an incremental receive");
  EXPECT_TRUE(mid3) << "the backup finished before the kill";
  EXPECT_TRUE(fs::is_directory(w.snap(after_late.id))) << "the killed run lost the earlier snapshot";
  fs::remove(w.src / "new-big2");
  overwrite_middle(w.src / "small" / "d1" / "f1", 16 * k_kib, 502);

  Backup next = w.backup_ok();
  ASSERT_FALSE(next.id.empty());
  check_id_folders("after a clean run");
  expect_no_incoming(w.preset_dir);
  expect_no_incoming(w.snapshot_root);
  expect_verified_pair(w.source_snap(next.id), w.snap(next.id));
  expect_same_tree(w.src, w.snap(next.id));
  expect_latest(w.preset_dir, next.id);
  if (mid3) {
    EXPECT_NE(next.run.err.find("incremental send from parent " + after_late.id), std::string::npos) << next.run.err;
  }
  EXPECT_LT(next.bytes * 20, full.bytes) << "the run after a kill is not incremental: " << next.bytes << " bytes";
  std::printf(
      "[ measure  ] killed runs: full %llu bytes; after a kill with the receive complete (%s) %llu bytes; "
      "after a kill mid-stream %llu bytes\n",
      static_cast<unsigned long long>(full.bytes), mid4 ? "hit" : "missed",
      static_cast<unsigned long long>(after_late.bytes), static_cast<unsigned long long>(next.bytes));
}

TEST(BtrfsBackend, ListAndRestore) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsWorld w(/*same_fs=*/false, 256, 256);
  ASSERT_TRUE(w.ready());
  make_tree(w.src, 8, 128 * k_kib, 61);
  Backup b1 = w.backup_ok();
  write_file(w.src / "d0" / "second.txt", "second\n");
  Backup b2 = w.backup_ok();
  ASSERT_FALSE(b1.id.empty() || b2.id.empty());
  // An incremental receive that creates a file leaves the received root's mtime at the time of the
  // receive (btrfs send moves new files in through the root); everything else is equal.
  TreeCompare below_root;
  below_root.root = false;
  expect_same_tree(w.src, w.snap(b2.id), below_root);

  RunResult list = snapkeep({"-c", w.config.string(), "--json", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  json doc = json::parse(list.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << list.out;
  const json& preset = doc["presets"][0];
  EXPECT_EQ(preset.value("backend", ""), "btrfs");
  EXPECT_EQ(preset.value("name", ""), k_preset);
  ASSERT_EQ(preset["snapshots"].size(), 2u) << list.out;
  EXPECT_EQ(preset["snapshots"][0].value("id", ""), b1.id);
  EXPECT_EQ(preset["snapshots"][1].value("id", ""), b2.id);
  EXPECT_TRUE(preset["snapshots"][1].value("latest", false));
  EXPECT_FALSE(preset["snapshots"][0].value("latest", true));

  TempDir out;
  fs::path target = out / "restored";
  RunResult restore = snapkeep({"-c", w.config.string(), "restore", k_preset, "latest", "--to", target.string()});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  TreeCompare no_mtimes;
  no_mtimes.mtimes = false;
  expect_same_tree(w.src, target, no_mtimes);
  expect_same_mtime_seconds(w.src, target);
  fs::path older = out / "older";
  restore = snapkeep({"-c", w.config.string(), "restore", k_preset, b1.id, "--to", older.string()});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_FALSE(exists_nofollow(older / "d0" / "second.txt"));
  TreeCompare older_compare;
  older_compare.root = false;
  older_compare.mtimes = false;
  expect_same_tree(w.source_snap(b1.id), older, older_compare);
  expect_same_mtime_seconds(w.source_snap(b1.id), older);
}

// Case 2: a file rewritten with the same size within the second of its previous version (saved
// twice in one second, a backup in between) is backed up with its new content. rsync's quick check
// compares whole seconds unless given --modify-window=-1, and would keep the old data.
TEST(BtrfsBackend, PlainSourceSameSizeRewriteInOneSecond) {
  SNAPKEEP_REQUIRE_ROOT();
  TempDir tmp;
  LoopFs dest("btrfs", 256);
  ASSERT_TRUE(dest.ok());
  fs::path src = tmp / "src";
  fs::path file = src / "notes.txt";
  write_file(file, std::string(4096, 'A'));
  std::time_t second = std::time(nullptr) - 3600;
  set_mtime(file, second, 100'000'000);
  fs::path config = write_preset_config(tmp / "snapkeep.ini", k_preset, src, dest.mount_point());
  fs::path preset_dir = dest.mount_point() / k_preset;
  Backup b1 = parse_backup(snapkeep({"-c", config.string(), "--json", "backup"}));
  ASSERT_EQ(b1.run.exit_code, 0) << b1.run.err;
  EXPECT_EQ(b1.backend, "btrfs");

  write_file(file, std::string(4096, 'B'));
  set_mtime(file, second, 700'000'000);
  Backup b2 = parse_backup(snapkeep({"-c", config.string(), "--json", "backup"}));
  ASSERT_EQ(b2.run.exit_code, 0) << b2.run.err;
  ASSERT_FALSE(b2.id.empty());
  std::string got = read_file(preset_dir / b2.id / "notes.txt");
  EXPECT_TRUE(got == std::string(4096, 'B')) << "the snapshot kept the previous content ('" << got.substr(0, 8)
                                             << "...') of a file rewritten with the same size within the same second";
  expect_same_tree(src, preset_dir / b2.id);
}

// A plain source synced into `.snapkeep/current`, which lives on from backup to backup: a pattern
// added to `exclude` later must drop what it matches from the next snapshot, as it would from a
// fresh copy (rsync --delete alone keeps excluded files on the receiving side).
TEST(BtrfsBackend, PlainSourceAnExcludeAddedLaterDropsWhatItMatchesFromTheNextSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  TempDir tmp;
  LoopFs dest("btrfs", 256);
  ASSERT_TRUE(dest.ok());
  fs::path src = tmp / "src";
  write_file(src / "keep.txt", "keep\n");
  write_random_file(src / "cache/disk.iso", 256 * k_kib, 5);
  write_file(src / "sub/tmp.log", "log\n");
  fs::path config = write_preset_config(tmp / "snapkeep.ini", k_preset, src, dest.mount_point());
  fs::path preset_dir = dest.mount_point() / k_preset;
  Backup b1 = parse_backup(snapkeep({"-c", config.string(), "--json", "backup"}));
  ASSERT_EQ(b1.run.exit_code, 0) << b1.run.err;
  EXPECT_EQ(b1.backend, "btrfs");
  EXPECT_TRUE(fs::exists(preset_dir / b1.id / "cache/disk.iso"));

  write_preset_config(config, k_preset, src, dest.mount_point(), "exclude = *.iso\n  /sub/tmp.log\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Backup b2 = parse_backup(snapkeep({"-c", config.string(), "--json", "backup"}));
  ASSERT_EQ(b2.run.exit_code, 0) << b2.run.err;
  EXPECT_FALSE(fs::exists(preset_dir / b2.id / "cache/disk.iso")) << "an excluded file stayed in the snapshot";
  EXPECT_FALSE(fs::exists(preset_dir / b2.id / "sub/tmp.log")) << "an excluded file stayed in the snapshot";
  EXPECT_EQ(read_file(preset_dir / b2.id / "keep.txt"), "keep\n");
  EXPECT_TRUE(fs::is_directory(preset_dir / b2.id / "cache")) << "the folder itself is not excluded";
  EXPECT_TRUE(fs::exists(preset_dir / b1.id / "cache/disk.iso")) << "the earlier snapshot keeps it";
}

}  // namespace
}  // namespace snapkeep::test
