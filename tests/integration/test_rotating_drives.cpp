// Rotating backup drives (two disks swapped under one mount point): every backup after a drive's
// first is incremental against that drive's own newest snapshot, on btrfs (parent pairs kept per
// drive in the local state, their source snapshots pinned while the drive is away) and with the
// hard-link backend; a drive away for longer than forget_drive_after loses its pin with a warning
// and its next backup is a full send that succeeds. `list` and `check` name the drives.

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/integration_util.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::size_t k_kib = 1024;

// The result of one `snapkeep -v --json backup`.
struct BackupRun {
  RunResult result;
  json entry;  // presets[0]
  std::string id;
  std::uint64_t bytes = 0;  // bytes_transferred
};

// Two destination filesystems of one type, either of them bind-mounted at one mount point (the
// preset's destination), and a config backing `src` up to it.
struct TwoDrives {
  TwoDrives(const std::string& type, unsigned mib) : a(type, mib), b(type, mib) {
    mount_point = tmp / "backup";
    fs::create_directories(mount_point);
    config = tmp / "snapkeep.ini";
    preset_dir = mount_point / "home";
  }
  bool ok() const { return a.ok() && b.ok(); }
  // Unplugs the drive in use (if any) and plugs in `drive`.
  void plug(const LoopFs& drive) {
    mounted.reset();
    mounted = std::make_unique<BindMount>(drive.mount_point(), mount_point);
    ASSERT_TRUE(mounted->ok());
  }
  // The filesystem UUID of a drive, as blkid reads it from the device (-p: not from its cache, which
  // can still name a loop device's earlier filesystem).
  static std::string uuid_of(const LoopFs& drive) {
    RunResult r = run_ok({"blkid", "-p", "-s", "UUID", "-o", "value", "--", drive.device()});
    return r.out.substr(0, r.out.find('\n'));
  }
  BackupRun backup() const {
    BackupRun out;
    out.result = snapkeep({"-c", config.string(), "-v", "--json", "backup"});
    EXPECT_EQ(out.result.exit_code, 0) << out.result.out << out.result.err;
    json doc = json::parse(out.result.out, nullptr, false);
    if (doc.is_discarded() || !doc.contains("presets")) {
      ADD_FAILURE() << "no JSON from backup: " << out.result.out << out.result.err;
      return out;
    }
    out.entry = doc["presets"][0];
    EXPECT_EQ(out.entry.value("status", ""), "ok") << out.entry.dump(2);
    out.id = out.entry.value("snapshot", "");
    out.bytes = out.entry.value("bytes_transferred", std::uint64_t{0});
    return out;
  }
  // `list --json`: the preset's drives by UUID.
  std::map<std::string, json> listed_drives() const {
    RunResult r = snapkeep({"-c", config.string(), "--json", "list"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json doc = json::parse(r.out, nullptr, false);
    std::map<std::string, json> out;
    if (doc.is_discarded() || !doc["presets"][0].contains("drives")) {
      ADD_FAILURE() << "no drives in list --json: " << r.out << r.err;
      return out;
    }
    for (const auto& d : doc["presets"][0]["drives"]) {
      out[d.value("uuid", "")] = d;
    }
    return out;
  }

  TempDir tmp;
  LoopFs a;
  LoopFs b;
  fs::path mount_point;
  fs::path config;
  fs::path preset_dir;
  std::unique_ptr<BindMount> mounted;  // declared after the drives: unmounted first
};

// Fills dir with `files` pseudo-random files of `size` bytes.
void make_tree(const fs::path& dir, int files, std::size_t size, unsigned seed) {
  for (int i = 0; i < files; ++i) {
    write_random_file(dir / ("d" + std::to_string(i % 3)) / ("f" + std::to_string(i)), size,
                      seed + static_cast<unsigned>(i));
  }
}

void expect_same_tree(const fs::path& expected, const fs::path& actual) {
  auto diffs = tree_differences(expected, actual);
  EXPECT_TRUE(diffs.empty()) << expected << " vs " << actual << ":\n" << join_lines(diffs);
}

bool mentions(const BackupRun& run, const std::string& text) {
  return run.result.err.find(text) != std::string::npos;
}

std::string warnings_of(const BackupRun& run) {
  return run.entry.value("warnings", json::array()).dump();
}

// btrfs: a source subvolume on its own filesystem and two destination drives.
struct BtrfsRotation : TwoDrives {
  BtrfsRotation() : TwoDrives("btrfs", 256), source_fs("btrfs", 256) {
    src = source_fs.mount_point() / "src";
    source_snapshots = source_fs.mount_point() / ".snapkeep-snapshots" / "home";
    if (source_fs.ok()) {
      run_ok({"btrfs", "subvolume", "create", "--", src.string()});
    }
    write_config();
  }
  void write_config(const std::string& extra = "") const {
    write_preset_config(config, "home", src, mount_point, extra);
  }
  fs::path source_snapshot(const std::string& id) const { return source_snapshots / id; }

  LoopFs source_fs;
  fs::path src;
  fs::path source_snapshots;
};

TEST(RotatingDrives, BtrfsEveryRunAfterEachDrivesFirstIsIncremental) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsRotation w;
  ASSERT_TRUE(w.ok() && w.source_fs.ok());
  make_tree(w.src, 24, 256 * k_kib, 1);
  const std::string uuid_a = TwoDrives::uuid_of(w.a);
  const std::string uuid_b = TwoDrives::uuid_of(w.b);
  ASSERT_FALSE(uuid_a.empty() || uuid_b.empty());

  // One A, B, A, B, A rotation; a file changes before every run.
  const LoopFs* drives[] = {&w.a, &w.b, &w.a, &w.b, &w.a};
  std::vector<BackupRun> runs;
  std::map<const LoopFs*, std::string> newest;  // drive -> its newest snapshot id
  for (int i = 0; i < 5; ++i) {
    write_random_file(w.src / "d1" / "changing", 64 * k_kib, 100 + static_cast<unsigned>(i));
    w.plug(*drives[i]);
    BackupRun run = w.backup();
    ASSERT_FALSE(run.id.empty());
    expect_same_tree(w.src, w.preset_dir / run.id);
    EXPECT_TRUE(is_read_only_subvolume(w.preset_dir / run.id));
    auto previous = newest.find(drives[i]);
    if (previous == newest.end()) {
      EXPECT_TRUE(mentions(run, "full send")) << "run " << i << ":\n" << run.result.err;
      EXPECT_GE(run.bytes, 24 * 256 * k_kib) << "a drive's first backup is a full send";
    } else {
      EXPECT_TRUE(mentions(run, "incremental send from parent " + previous->second))
          << "run " << i << " is not incremental from its drive's newest snapshot " << previous->second << ":\n"
          << run.result.err;
      EXPECT_LT(run.bytes * 10, runs.front().bytes) << "run " << i << ": " << run.bytes << " bytes sent";
    }
    newest[drives[i]] = run.id;
    runs.push_back(std::move(run));
  }
  // The source keeps the parents of both drives, and nothing else that no drive needs.
  EXPECT_TRUE(fs::is_directory(w.source_snapshot(newest[&w.a])));
  EXPECT_TRUE(fs::is_directory(w.source_snapshot(newest[&w.b])));
  EXPECT_FALSE(exists_nofollow(w.source_snapshot(runs[0].id))) << "drive A's first parent is no longer needed";
  EXPECT_FALSE(exists_nofollow(w.source_snapshot(runs[1].id))) << "drive B's first parent is no longer needed";
  // Ids never repeat across drives.
  std::set<std::string> ids;
  for (const auto& run : runs) {
    EXPECT_TRUE(ids.insert(run.id).second) << "id " << run.id << " made twice";
  }

  // list and check say which drives the preset has seen, and which one is plugged in.
  auto listed = w.listed_drives();
  ASSERT_EQ(listed.size(), 2u);
  ASSERT_TRUE(listed.count(uuid_a) && listed.count(uuid_b));
  EXPECT_EQ(listed[uuid_a]["last_snapshot"], newest[&w.a]);
  EXPECT_EQ(listed[uuid_b]["last_snapshot"], newest[&w.b]);
  EXPECT_EQ(listed[uuid_a]["mounted"], true);
  EXPECT_EQ(listed[uuid_b]["mounted"], false);
  EXPECT_EQ(listed[uuid_b]["parent"]["snapshot"], newest[&w.b]);
  EXPECT_LE(listed[uuid_a]["first_seen"].get<std::string>(), listed[uuid_a]["last_seen"].get<std::string>());
  RunResult check = snapkeep({"-c", w.config.string(), "check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("drive " + uuid_a + ": first seen"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("drive " + uuid_b + ": first seen"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("mounted now"), std::string::npos) << check.out;
  RunResult human = snapkeep({"-c", w.config.string(), "list"});
  EXPECT_NE(human.out.find("drive " + uuid_b + ": first seen"), std::string::npos) << human.out;
}

TEST(RotatingDrives, BtrfsDriveAwayTooLongLosesItsPinAndGetsAFullSend) {
  SNAPKEEP_REQUIRE_ROOT();
  BtrfsRotation w;
  ASSERT_TRUE(w.ok() && w.source_fs.ok());
  make_tree(w.src, 16, 256 * k_kib, 2);
  const std::string uuid_a = TwoDrives::uuid_of(w.a);
  w.plug(w.a);
  BackupRun a1 = w.backup();
  w.plug(w.b);
  BackupRun b1 = w.backup();
  ASSERT_FALSE(a1.id.empty() || b1.id.empty());
  EXPECT_TRUE(fs::is_directory(w.source_snapshot(a1.id))) << "drive A's parent is pinned while A is away";

  // A has been away for longer than forget_drive_after by the next run.
  std::this_thread::sleep_for(3s);
  w.write_config("forget_drive_after = 2s\n");
  write_random_file(w.src / "d0" / "new", 64 * k_kib, 7);
  BackupRun b2 = w.backup();
  EXPECT_TRUE(mentions(b2, "incremental send from parent " + b1.id)) << b2.result.err;
  std::string warned = warnings_of(b2);
  EXPECT_NE(warned.find("drive " + uuid_a), std::string::npos) << warned;
  EXPECT_NE(warned.find("forget_drive_after (2s)"), std::string::npos) << warned;
  EXPECT_NE(warned.find("releasing the source snapshot " + a1.id), std::string::npos) << warned;
  EXPECT_NE(b2.result.err.find("warning"), std::string::npos) << "the release is logged as a warning";
  EXPECT_FALSE(exists_nofollow(w.source_snapshot(a1.id))) << "the released parent was not deleted";
  auto listed = w.listed_drives();
  ASSERT_TRUE(listed.count(uuid_a));
  EXPECT_TRUE(listed[uuid_a].contains("parent_released")) << listed[uuid_a].dump();
  EXPECT_FALSE(listed[uuid_a].contains("parent")) << listed[uuid_a].dump();

  // A comes back: a full send, which succeeds and is complete.
  w.write_config();
  w.plug(w.a);
  BackupRun a2 = w.backup();
  ASSERT_FALSE(a2.id.empty());
  EXPECT_TRUE(mentions(a2, "full send")) << a2.result.err;
  EXPECT_GE(a2.bytes, 16 * 256 * k_kib);
  expect_same_tree(w.src, w.preset_dir / a2.id);
  EXPECT_TRUE(fs::is_directory(w.preset_dir / a1.id)) << "the drive's old snapshots stay";
  listed = w.listed_drives();
  EXPECT_EQ(listed[uuid_a]["parent"]["snapshot"], a2.id);
}

// The hard-link backend needs no pins: each drive's new snapshot links to that drive's own newest.
TEST(RotatingDrives, HardLinkBackendLinksToEachDrivesOwnNewestSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  TwoDrives w("ext4", 64);
  ASSERT_TRUE(w.ok());
  fs::path src = w.tmp / "src";
  make_tree(src, 12, 64 * k_kib, 3);
  write_preset_config(w.config, "home", src, w.mount_point);
  const std::string uuid_a = TwoDrives::uuid_of(w.a);
  const std::string uuid_b = TwoDrives::uuid_of(w.b);
  ASSERT_FALSE(uuid_a.empty() || uuid_b.empty());

  const LoopFs* drives[] = {&w.a, &w.b, &w.a, &w.b};
  std::map<const LoopFs*, std::string> newest;
  for (int i = 0; i < 4; ++i) {
    write_random_file(src / "d2" / "changing", 32 * k_kib, 200 + static_cast<unsigned>(i));
    w.plug(*drives[i]);
    BackupRun run = w.backup();
    ASSERT_FALSE(run.id.empty());
    fs::path snap = w.preset_dir / run.id;
    auto what = whole_second_mtimes();
    auto diffs = tree_differences(src, snap, what);
    EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
    auto previous = newest.find(drives[i]);
    if (previous == newest.end()) {
      EXPECT_GE(run.bytes, 12 * 64 * k_kib) << "a drive's first backup copies everything";
    } else {
      fs::path before = w.preset_dir / previous->second;
      EXPECT_EQ(inode_of(snap / "d0" / "f0"), inode_of(before / "d0" / "f0"))
          << "run " << i << ": unchanged file not linked to the drive's newest snapshot";
      EXPECT_NE(inode_of(snap / "d2" / "changing"), inode_of(before / "d2" / "changing"));
      EXPECT_LE(run.bytes, 32 * k_kib) << "run " << i << " copied more than the change";
    }
    newest[drives[i]] = run.id;
  }
  auto listed = w.listed_drives();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[uuid_a]["last_snapshot"], newest[&w.a]);
  EXPECT_EQ(listed[uuid_b]["last_snapshot"], newest[&w.b]);
  EXPECT_EQ(listed[uuid_b]["mounted"], true);
}

}  // namespace
}  // namespace snapkeep::test
