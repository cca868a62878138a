// Real drives (issue: safe on real drives): an unplugged drive under its mount point, a wrong drive,
// rotating drives, subvolumes of one btrfs. Every destination here is a loop-mounted image made by
// the test; nothing is ever written to the folder a drive is mounted on while it is unmounted.

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/base/mounts.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

// A filesystem image with its own loop device that can be mounted at any folder and unmounted
// again: a USB drive. Teardown unmounts and detaches, whatever happened.
class Drive {
 public:
  Drive(const fs::path& dir, const std::string& name, const std::string& type, unsigned size_mib) {
    m_image = dir / (name + ".img");
    RunResult made = run_ok({"truncate", "-s", std::to_string(size_mib) + "M", "--", m_image.string()});
    if (made.exit_code != 0) {
      return;
    }
    std::vector<std::string> mkfs{"mkfs." + type, type == "btrfs" ? "-f" : "-F", "-q", "--", m_image.string()};
    if (type == "xfs") {
      mkfs = {"mkfs.xfs", "-f", "-q", "--", m_image.string()};
    }
    if (run_ok(mkfs).exit_code != 0) {
      return;
    }
    RunResult setup = run_ok({"losetup", "--find", "--show", "--", m_image.string()});
    if (setup.exit_code == 0) {
      m_device = setup.out.substr(0, setup.out.find('\n'));
    }
  }
  ~Drive() {
    unmount();
    if (!m_device.empty()) {
      run({"losetup", "-d", m_device});
    }
  }
  Drive(const Drive&) = delete;
  Drive& operator=(const Drive&) = delete;

  bool ok() const { return !m_device.empty(); }
  // Plugs the drive in at `at` (options such as "ro" or "subvol=x" go to mount -o).
  bool mount(const fs::path& at, const std::string& options = "") {
    std::vector<std::string> argv{"mount"};
    if (!options.empty()) {
      argv.insert(argv.end(), {"-o", options});
    }
    argv.insert(argv.end(), {"--", m_device, at.string()});
    if (run_ok(argv).exit_code != 0) {
      return false;
    }
    m_mounts.push_back(at);
    return true;
  }
  // Unplugs it from every folder it is mounted at.
  void unmount() {
    for (auto it = m_mounts.rbegin(); it != m_mounts.rend(); ++it) {
      if (run({"umount", "--", it->string()}).exit_code != 0) {
        run({"umount", "-l", "--", it->string()});
      }
    }
    m_mounts.clear();
  }
  std::string uuid() const { return run_ok({"blkid", "-s", "UUID", "-o", "value", "--", m_device}).out; }
  const std::string& device() const { return m_device; }

 private:
  fs::path m_image;
  std::string m_device;
  std::vector<fs::path> m_mounts;
};

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

json parse(const RunResult& r) {
  json doc = json::parse(r.out, nullptr, false);
  if (doc.is_discarded()) {
    ADD_FAILURE() << "stdout is not JSON:\n" << r.out << "\nstderr:\n" << r.err;
    return json::object();
  }
  return doc;
}

// Entries of a folder ("" when it cannot be listed).
std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    out.push_back(e.path().filename().string());
  }
  return out;
}

// A source on the system disk and a mount point folder /…/backup for a drive.
struct DriveWorld {
  DriveWorld() {
    src = tmp / "src";
    mnt = tmp / "backup";
    fs::create_directories(mnt);
    write_file(src / "a.txt", "alpha\n");
    write_random_file(src / "big.bin", 200000, 3);
  }
  fs::path config(const std::string& extra = "") {
    fs::path file = tmp / "snapkeep.conf";
    write_file(file, "[home]\nsource = " + src.string() + "\ndestination = " + mnt.string() + "\n" + extra);
    return file;
  }
  RunResult cli(const std::vector<std::string>& args, const std::string& extra = "") {
    std::vector<std::string> argv{"-c", config(extra).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return snapkeep(argv);
  }
  TempDir tmp;
  fs::path src;
  fs::path mnt;
};

TEST(Mounts, MountinfoLinesAreParsedWithEscapes) {
  auto entries = parse_mountinfo(
      "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
      "48 27 0:40 /sub /tmp/m2 ro,relatime - btrfs /dev/loop2 rw,subvolid=256,subvol=/sub\n"
      "garbage line\n");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].mount_point, "/mnt/with space");
  EXPECT_EQ(entries[0].device_id, "98:0");
  EXPECT_EQ(entries[0].fs_type, "ext3");
  EXPECT_EQ(entries[0].source, "/dev/root");
  EXPECT_FALSE(entries[0].read_only);
  EXPECT_EQ(entries[1].root, "/sub");
  EXPECT_TRUE(entries[1].read_only);
  EXPECT_EQ(normalize_uuid("1A2B-3C4D"), "1a2b-3c4d");
}

// The drive is unplugged: /…/backup is an empty folder on the system disk. check and backup refuse
// (exit 1, naming require_mount), nothing is written there; plugged in again, the next backup is
// incremental against the snapshot made before.
TEST(Drives, UnpluggedDriveIsNeverWrittenTo) {
  SNAPKEEP_REQUIRE_ROOT();
  DriveWorld w;
  Drive drive(w.tmp.path(), "usb", "ext4", 64);
  ASSERT_TRUE(drive.ok());
  ASSERT_TRUE(drive.mount(w.mnt));
  RunResult first = w.cli({"backup"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto ids = snapshot_ids(w.mnt / "home");
  ASSERT_EQ(ids.size(), 1u);
  const ino_t big = inode_of(w.mnt / "home" / ids[0] / "big.bin");
  drive.unmount();

  for (const char* command : {"check", "backup", "prune", "scrub", "du", "list"}) {
    RunResult r = w.cli({"--json", command});
    EXPECT_EQ(r.exit_code, 1) << command << ":\n" << r.err;
    EXPECT_NE(r.err.find("is not a mount point and lies on the same filesystem as the system disk"),
              std::string::npos)
        << command << ":\n"
        << r.err;
    EXPECT_NE(r.err.find("require_mount = no"), std::string::npos) << r.err;
    EXPECT_EQ(parse(r)["presets"][0]["status"], "failed") << command;
  }
  RunResult restore = w.cli({"restore", "home", "latest", "--to", (w.tmp / "out").string()});
  EXPECT_EQ(restore.exit_code, 1) << restore.err;
  EXPECT_TRUE(entries(w.mnt).empty()) << "something was written under the mount point of an unplugged drive";

  ASSERT_TRUE(drive.mount(w.mnt));
  RunResult again = w.cli({"backup"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  ids = snapshot_ids(w.mnt / "home");
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(inode_of(w.mnt / "home" / ids[1] / "big.bin"), big) << "the next backup was not incremental";
}

// if_unmounted = skip: a drive that is often unplugged is a "skipped" run, exit 0, and with -q
// nothing at all is printed (a cron job mails nothing).
TEST(Drives, AbsentDriveIsSkippedQuietlyWhenAsked) {
  SNAPKEEP_REQUIRE_ROOT();
  DriveWorld w;
  const std::string skip = "if_unmounted = skip\n";
  RunResult json_run = w.cli({"--json", "backup"}, skip);
  EXPECT_EQ(json_run.exit_code, 0) << json_run.err;
  json entry = parse(json_run)["presets"][0];
  EXPECT_EQ(entry["status"], "skipped");
  EXPECT_NE(entry["reason"].get<std::string>().find("not a mount point"), std::string::npos) << entry;
  for (const char* command : {"backup", "scrub", "prune"}) {
    RunResult quiet = w.cli({"-q", command}, skip);
    EXPECT_EQ(quiet.exit_code, 0) << command << ": " << quiet.err;
    EXPECT_EQ(quiet.out, "") << command;
    EXPECT_EQ(quiet.err, "") << command;
  }
  // A missing mount folder is an absent drive too.
  fs::remove(w.mnt);
  RunResult gone = w.cli({"backup"}, skip);
  EXPECT_EQ(gone.exit_code, 0) << gone.err;
  EXPECT_FALSE(fs::exists(w.mnt)) << "snapkeep created the destination root";
  // Without skip the same is a failure.
  EXPECT_EQ(w.cli({"backup"}).exit_code, 1);
}

// destination_uuid pins the drive: another drive mounted at the same folder is refused (or skipped),
// and listing both UUIDs allows rotating between them.
TEST(Drives, DestinationUuidRefusesAnotherDrive) {
  SNAPKEEP_REQUIRE_ROOT();
  DriveWorld w;
  Drive a(w.tmp.path(), "a", "ext4", 64);
  Drive b(w.tmp.path(), "b", "ext4", 64);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string ua = trimmed(a.uuid());
  const std::string ub = trimmed(b.uuid());
  ASSERT_FALSE(ua.empty());
  ASSERT_NE(ua, ub);
  const std::string pin_a = "destination_uuid = " + ua + "\n";

  ASSERT_TRUE(b.mount(w.mnt));
  RunResult wrong = w.cli({"backup"}, pin_a);
  EXPECT_EQ(wrong.exit_code, 1) << wrong.err;
  EXPECT_NE(wrong.err.find("with UUID " + ub), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("another drive is mounted there"), std::string::npos) << wrong.err;
  EXPECT_NE(w.cli({"check"}, pin_a).exit_code, 0);
  EXPECT_FALSE(fs::exists(w.mnt / "home")) << "the wrong drive was written to";
  RunResult skipped = w.cli({"--json", "backup"}, pin_a + "if_unmounted = skip\n");
  EXPECT_EQ(skipped.exit_code, 0);
  EXPECT_EQ(parse(skipped)["presets"][0]["status"], "skipped");
  b.unmount();

  ASSERT_TRUE(a.mount(w.mnt));
  RunResult right = w.cli({"backup"}, pin_a);
  EXPECT_EQ(right.exit_code, 0) << right.err;
  a.unmount();

  // Upper case, commas and several UUIDs: rotating drives.
  std::string upper = ub;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  const std::string both = "destination_uuid = " + ua + ", " + upper + "\n";
  ASSERT_TRUE(b.mount(w.mnt));
  RunResult rotated = w.cli({"backup"}, both);
  EXPECT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_EQ(snapshot_ids(w.mnt / "home").size(), 1u);
}

// A folder on the same btrfs as the source is not a backup drive, even in a subvolume of its own
// (st_dev differs, the filesystem does not); a subfolder of another filesystem is fine.
TEST(Drives, SubvolumeOfTheSourceFilesystemIsNotAnotherDrive) {
  SNAPKEEP_REQUIRE_ROOT();
  TempDir tmp;
  LoopFs pool("btrfs", 256);
  ASSERT_TRUE(pool.ok());
  ASSERT_EQ(run_ok({"btrfs", "subvolume", "create", (pool.mount_point() / "data").string()}).exit_code, 0);
  ASSERT_EQ(run_ok({"btrfs", "subvolume", "create", (pool.mount_point() / "backups").string()}).exit_code, 0);
  write_file(pool.mount_point() / "data" / "a.txt", "alpha\n");
  ASSERT_NE(stat_of(pool.mount_point() / "data").st_dev, stat_of(pool.mount_point() / "backups").st_dev);
  fs::path config = tmp / "c.conf";
  write_file(config, "[data]\nsource = " + (pool.mount_point() / "data").string() +
                         "\ndestination = " + (pool.mount_point() / "backups").string() + "\n");
  RunResult r = snapkeep({"-c", config.string(), "backup"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("lies on the same filesystem as the source"), std::string::npos) << r.err;
  EXPECT_TRUE(entries(pool.mount_point() / "backups").empty());

  LoopFs other("ext4", 64);
  ASSERT_TRUE(other.ok());
  fs::create_directories(other.mount_point() / "snapkeep");
  write_file(config, "[data]\nsource = " + (pool.mount_point() / "data").string() +
                         "\ndestination = " + (other.mount_point() / "snapkeep").string() + "\n");
  RunResult ok = snapkeep({"-c", config.string(), "backup"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

}  // namespace
}  // namespace snapkeep::test
