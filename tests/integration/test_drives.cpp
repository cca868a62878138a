// Real drives (issue: safe on real drives): an unplugged drive under its mount point, a wrong drive,
// rotating drives, subvolumes of one btrfs. Every destination here is a loop-mounted image made by
// the test; nothing is ever written to the folder a drive is mounted on while it is unmounted.

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
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
    } else if (type == "exfat") {
      mkfs = {"mkfs.exfat", "--", m_image.string()};
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
  // Plugs the drive in at `at` (options such as "ro" or "subvol=x" go to mount -o; a type such as
  // "exfat-fuse" to mount -t).
  bool mount(const fs::path& at, const std::string& options = "", const std::string& type = "") {
    std::vector<std::string> argv{"mount"};
    if (!options.empty()) {
      argv.insert(argv.end(), {"-o", options});
    }
    if (!type.empty()) {
      argv.insert(argv.end(), {"-t", type});
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
  // Read from the superblock (-p), not blkid's cache, which may remember an earlier filesystem on this loop device.
  std::string uuid() const { return run_ok({"blkid", "-p", "-s", "UUID", "-o", "value", "--", m_device}).out; }
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
    EXPECT_NE(r.err.find("is not a mount point and lies on the same filesystem as the system disk"), std::string::npos)
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

// Runs argv as uid/gid 12345 with no supplementary groups (an ordinary user, or malware running as one).
RunResult as_user(const std::vector<std::string>& argv) {
  std::vector<std::string> full{"setpriv", "--reuid=12345", "--regid=12345", "--clear-groups", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full);
}

// exFAT (through FUSE, as on most USB sticks) has no hard links, symlinks or owners: check and
// backup refuse it by trying each in a probe, naming what is missing, and copy nothing.
TEST(Drives, ExfatDriveIsRefusedBeforeAnythingIsCopied) {
  SNAPKEEP_REQUIRE_ROOT();
  DriveWorld w;
  Drive stick(w.tmp.path(), "stick", "exfat", 64);
  ASSERT_TRUE(stick.ok());
  ASSERT_TRUE(stick.mount(w.mnt, "", "exfat-fuse"));
  const std::string uuid = trimmed(stick.uuid());
  ASSERT_EQ(uuid.size(), 9u) << "an exFAT UUID looks like 1A2B-3C4D: " << uuid;
  const std::string extra = "destination_uuid = " + uuid + "\n";
  for (const char* command : {"check", "backup"}) {
    RunResult r = w.cli({command}, extra);
    EXPECT_EQ(r.exit_code, 1) << command << ":\n" << r.err;
    EXPECT_NE(r.err.find("is on a exfat (fuseblk) filesystem, which cannot hold a snapshot: it lacks hard links"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("symlinks"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("file owners"), std::string::npos) << r.err;
  }
  EXPECT_TRUE(entries(w.mnt).empty()) << "something was copied to (or left on) the exFAT drive";
}

// An off-site drive mounted read-only to look at it: list, du and restore work; check warns; a
// backup says why it cannot run.
TEST(Drives, ReadOnlyDriveCanBeListedMeasuredAndRestoredFrom) {
  SNAPKEEP_REQUIRE_ROOT();
  DriveWorld w;
  Drive drive(w.tmp.path(), "offsite", "ext4", 64);
  ASSERT_TRUE(drive.ok());
  ASSERT_TRUE(drive.mount(w.mnt));
  write_file(w.src / "rots.txt", "this content will rot\n");
  ASSERT_EQ(w.cli({"backup"}).exit_code, 0);
  write_file(w.src / "a.txt", "alpha 2\n");
  ASSERT_EQ(w.cli({"backup"}).exit_code, 0);
  // Bit-rot in a file both snapshots share (one inode), after the manifests recorded it.
  const fs::path rotten = w.mnt / "home" / snapshot_ids(w.mnt / "home").front() / "rots.txt";
  {
    std::fstream f(rotten, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5);
    f.put('X');
  }
  drive.unmount();
  ASSERT_TRUE(drive.mount(w.mnt, "ro"));

  RunResult list = w.cli({"--json", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(parse(list)["presets"][0]["snapshots"].size(), 2u);
  RunResult du = w.cli({"du"});
  EXPECT_EQ(du.exit_code, 0) << du.err;
  RunResult restore = w.cli({"restore", "home", "latest", "a.txt", "--to", (w.tmp / "out").string()});
  EXPECT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(read_file(w.tmp / "out" / "a.txt"), "alpha 2\n");
  RunResult check = w.cli({"--json", "check"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.err.find("mounted read-only"), std::string::npos) << check.err;
  RunResult backup = w.cli({"backup"});
  EXPECT_EQ(backup.exit_code, 1);
  EXPECT_NE(backup.err.find("is mounted read-only"), std::string::npos) << backup.err;

  // Scrub verifies everything, finds the rot, and says once that it records nothing; --repair is
  // refused. Nothing on the drive changes.
  const std::string image_before = run_ok({"sha256sum", "--", (w.tmp / "offsite.img").string()}).out;
  RunResult scrub = w.cli({"--json", "scrub"});
  EXPECT_NE(scrub.exit_code, 0) << scrub.out << scrub.err;
  json scrubbed = parse(scrub);
  EXPECT_EQ(scrubbed["presets"][0].value("snapshots_checked", -1), 2) << scrub.out;
  EXPECT_EQ(scrubbed["presets"][0].value("damage", false), true) << scrub.out;
  EXPECT_NE(scrub.out.find("rots.txt"), std::string::npos) << scrub.out;
  const std::string said = "read-only";
  std::size_t first = scrub.err.find(said);
  EXPECT_NE(first, std::string::npos) << scrub.err;
  EXPECT_EQ(scrub.err.find(said, first + 1), std::string::npos) << "said more than once:\n" << scrub.err;
  RunResult repair = w.cli({"scrub", "--repair"});
  EXPECT_EQ(repair.exit_code, 1) << repair.err;
  EXPECT_NE(repair.err.find("read-only"), std::string::npos) << repair.err;
  EXPECT_EQ(run_ok({"sha256sum", "--", (w.tmp / "offsite.img").string()}).out, image_before)
      << "the read-only drive changed";
}

// No ordinary user can change a snapshot, not even their own files in it (one inode shared by every
// snapshot): the preset folder is 0700, also when it existed before with 0755. Users browse the
// read-only view docs/drives.md describes (an overlay whose top layer is an empty 0755 folder).
TEST(Drives, UsersCannotChangeHistoryAndBrowseAReadOnlyView) {
  SNAPKEEP_REQUIRE_ROOT();
  DriveWorld w;
  Drive drive(w.tmp.path(), "usb", "ext4", 64);
  ASSERT_TRUE(drive.ok());
  ASSERT_TRUE(drive.mount(w.mnt));
  write_file(w.src / "mine.txt", "my own file\n");
  ASSERT_EQ(::chown((w.src / "mine.txt").c_str(), 12345, 12345), 0);
  write_file(w.src / "secret.txt", "root's\n");
  ASSERT_EQ(::chmod((w.src / "secret.txt").c_str(), 0600), 0);
  fs::create_directories(w.mnt / "home");
  ASSERT_EQ(::chmod((w.mnt / "home").c_str(), 0755), 0);  // an older snapkeep's destination
  RunResult first = w.cli({"backup"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("it is 0700 now"), std::string::npos) << first.err;
  ASSERT_EQ(w.cli({"backup"}).exit_code, 0);
  EXPECT_EQ(stat_of(w.mnt / "home").st_mode & 07777, 0700u);
  const auto ids = snapshot_ids(w.mnt / "home");
  ASSERT_EQ(ids.size(), 2u);
  const fs::path old_file = w.mnt / "home" / ids[0] / "mine.txt";
  ASSERT_EQ(inode_of(old_file), inode_of(w.mnt / "home" / ids[1] / "mine.txt"));

  // Through the destination: no way in.
  EXPECT_NE(as_user({"sh", "-c", "echo evil > \"$0\"", old_file.string()}).exit_code, 0);
  EXPECT_NE(as_user({"rm", "-f", "--", old_file.string()}).exit_code, 0);
  EXPECT_NE(as_user({"ls", "--", (w.mnt / "home").string()}).exit_code, 0);
  EXPECT_EQ(read_file(old_file), "my own file\n");

  // The documented view: readable where the files allow it, never writable. (The test's folder is
  // made reachable for the user first; a TempDir is 0700.)
  ASSERT_EQ(::chmod(w.tmp.path().c_str(), 0755), 0);
  const fs::path top = w.tmp / "view-top";
  const fs::path view = w.tmp / "view";
  fs::create_directories(top);
  fs::create_directories(view);
  ASSERT_EQ(run_ok({"mount", "-t", "overlay", "overlay", "-o",
                    "lowerdir=" + top.string() + ":" + (w.mnt / "home").string(), view.string()})
                .exit_code,
            0);
  RunResult read = as_user({"cat", "--", (view / ids[0] / "mine.txt").string()});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(read.out, "my own file\n");
  RunResult write = as_user({"sh", "-c", "echo evil > \"$0\"", (view / ids[0] / "mine.txt").string()});
  EXPECT_NE(write.exit_code, 0);
  EXPECT_NE(write.err.find("Read-only file system"), std::string::npos) << write.err;
  EXPECT_NE(as_user({"cat", "--", (view / ids[0] / "secret.txt").string()}).exit_code, 0)
      << "the view showed another user's private file";
  run({"umount", "--", view.string()});
  EXPECT_EQ(read_file(old_file), "my own file\n");
}

// getfacl of a path, without the comment header (numeric ids).
std::string acl_of(const fs::path& path) {
  return run_ok({"getfacl", "--omit-header", "--numeric", "--", path.string()}).out;
}

// ACLs and xattrs come out of every snapshot as they went in, whatever the destination's filesystem
// (rsync on XFS as root used to see XFS's own trusted.SGI_ACL_* attributes, lose access and default
// ACLs in every other snapshot and restore files with more group access than the original).
// The parameter is the filesystem, and "-rsync" for the rsync engine of the hard-link backend.
class DestinationFilesystems : public ::testing::TestWithParam<std::string> {
 protected:
  std::string type() const { return GetParam().substr(0, GetParam().find('-')); }
  std::string extra() const { return GetParam().find("-rsync") != std::string::npos ? "transfer = rsync\n" : ""; }
};

TEST_P(DestinationFilesystems, KeepAclsAndXattrsInEverySnapshotAndRestore) {
  SNAPKEEP_REQUIRE_ROOT();
  DriveWorld w;
  Drive drive(w.tmp.path(), "dest", type(), type() == "xfs" ? 320 : 128);
  ASSERT_TRUE(drive.ok());
  ASSERT_TRUE(drive.mount(w.mnt));
  fs::create_directories(w.src / "shared");
  write_file(w.src / "shared" / "plan.txt", "plan\n");
  ASSERT_EQ(
      run_ok({"setfacl", "-m", "u:1234:rw,g:2345:r,m::rw", "--", (w.src / "shared" / "plan.txt").string()}).exit_code,
      0);
  ASSERT_EQ(
      run_ok({"setfacl", "-m", "u:1234:rwx", "-d", "-m", "u:1234:rwx,g:2345:rx", "--", (w.src / "shared").string()})
          .exit_code,
      0);
  ASSERT_EQ(run_ok({"setfattr", "-n", "user.origin", "-v", "camera", "--", (w.src / "a.txt").string()}).exit_code, 0);
  ASSERT_EQ(run_ok({"setfattr", "-n", "trusted.note", "-v", "root-only", "--", (w.src / "a.txt").string()}).exit_code,
            0);
  const std::string file_acl = acl_of(w.src / "shared" / "plan.txt");
  const std::string dir_acl = acl_of(w.src / "shared");
  for (int round = 0; round < 3; ++round) {
    write_file(w.src / ("new-" + std::to_string(round) + ".txt"), "round\n");
    RunResult r = w.cli({"backup"}, extra());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const auto ids = snapshot_ids(w.mnt / "home");
  ASSERT_EQ(ids.size(), 3u);
  for (const auto& id : ids) {
    const fs::path snap = w.mnt / "home" / id;
    EXPECT_EQ(acl_of(snap / "shared" / "plan.txt"), file_acl) << GetParam() << " snapshot " << id;
    EXPECT_EQ(acl_of(snap / "shared"), dir_acl) << GetParam() << " snapshot " << id;
    EXPECT_EQ(run_ok({"getfattr", "--only-values", "-n", "user.origin", "--", (snap / "a.txt").string()}).out, "camera")
        << id;
    EXPECT_EQ(run_ok({"getfattr", "--only-values", "-n", "trusted.note", "--", (snap / "a.txt").string()}).out,
              "root-only")
        << id;
  }
  EXPECT_EQ(inode_of(w.mnt / "home" / ids[0] / "shared" / "plan.txt"),
            inode_of(w.mnt / "home" / ids[2] / "shared" / "plan.txt"))
      << "an unchanged file with an ACL was copied again instead of linked";
  RunResult restore = w.cli({"restore", "home", "latest", "--to", (w.tmp / "out").string()});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(acl_of(w.tmp / "out" / "shared" / "plan.txt"), file_acl);
  EXPECT_EQ(acl_of(w.tmp / "out" / "shared"), dir_acl);
}

INSTANTIATE_TEST_SUITE_P(Drives, DestinationFilesystems,
                         ::testing::Values("ext4", "xfs", "btrfs", "ext4-rsync", "xfs-rsync"), [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// Switching `backend` under existing snapshots (btrfs snapshots, then backend = rsync) would make a
// full copy that shares nothing and confuse du: refused, naming --switch-backend, until asked.
TEST(Drives, SwitchingTheBackendUnderExistingSnapshotsIsRefusedUntilAsked) {
  SNAPKEEP_REQUIRE_ROOT();
  DriveWorld w;
  Drive drive(w.tmp.path(), "btrfs", "btrfs", 256);
  ASSERT_TRUE(drive.ok());
  ASSERT_TRUE(drive.mount(w.mnt));
  RunResult first = w.cli({"--json", "backup"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(parse(first)["presets"][0].value("backend", ""), "btrfs") << first.out;
  const std::vector<std::string> before = snapshot_ids(w.mnt / "home");

  RunResult refused = w.cli({"--json", "backup"}, "backend = rsync\n");
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("were made by another backend"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("snapkeep backup --switch-backend home"), std::string::npos) << refused.err;
  EXPECT_EQ(parse(refused)["presets"][0].value("status", ""), "failed");
  EXPECT_EQ(snapshot_ids(w.mnt / "home"), before) << "a snapshot was made";

  RunResult switched = w.cli({"--json", "backup", "--switch-backend"}, "backend = rsync\n");
  ASSERT_EQ(switched.exit_code, 0) << switched.err;
  json entry = parse(switched)["presets"][0];
  EXPECT_EQ(entry.value("backend", ""), "rsync");
  EXPECT_EQ(entry.value("bytes_transferred", 0), entry.value("bytes_total", -1)) << "the switch is a full copy";
  // From then on the new backend's snapshots are the newest: no flag needed.
  RunResult next = w.cli({"--json", "backup"}, "backend = rsync\n");
  EXPECT_EQ(next.exit_code, 0) << next.err;
}

// Rotating drives and the report: each drive carries its own history log, so the report shows the
// plugged-in drive's snapshots and runs, and names the other drive this machine has seen (not
// connected); with no drive plugged in, the preset is "unavailable" and both drives are named.
TEST(Drives, ReportShowsEachDriveItCanSee) {
  SNAPKEEP_REQUIRE_ROOT();
  DriveWorld w;
  Drive a(w.tmp.path(), "a", "ext4", 64);
  Drive b(w.tmp.path(), "b", "ext4", 64);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string ua = trimmed(a.uuid());
  const std::string ub = trimmed(b.uuid());
  ASSERT_NE(ua, ub);
  const std::string both = "destination_uuid = " + ua + " " + ub + "\n";
  ASSERT_TRUE(a.mount(w.mnt));
  ASSERT_EQ(w.cli({"backup"}, both).exit_code, 0);
  a.unmount();
  ASSERT_TRUE(b.mount(w.mnt));
  for (int i = 0; i < 2; ++i) {
    write_file(w.src / ("b-" + std::to_string(i) + ".txt"), "on drive b\n");
    ASSERT_EQ(w.cli({"backup"}, both).exit_code, 0);
  }
  RunResult plugged = w.cli({"--json", "report"}, both);
  ASSERT_EQ(plugged.exit_code, 0) << plugged.err;
  json entry = parse(plugged)["presets"][0];
  ASSERT_EQ(entry.value("status", ""), "ok") << entry.dump(2);
  EXPECT_EQ(entry["snapshots"].size(), 2u) << "drive b's snapshots";
  EXPECT_EQ(entry["backups"].size(), 2u) << "drive b's history log";
  EXPECT_EQ(entry["history"]["records"], 2);
  std::map<std::string, json> drives;
  for (const auto& d : entry["drives"]) {
    drives[d.value("uuid", "")] = d;
  }
  ASSERT_EQ(drives.size(), 2u) << entry["drives"].dump(2);
  EXPECT_EQ(drives[ub]["connected"], true);
  EXPECT_EQ(drives[ua]["connected"], false);
  EXPECT_EQ(drives[ua]["configured"], true);
  EXPECT_TRUE(drives[ua].contains("last_seen")) << "drive a, seen by this machine's local state: " << drives[ua];
  b.unmount();

  RunResult absent = w.cli({"--json", "report"}, both);
  EXPECT_EQ(absent.exit_code, 0) << absent.err;
  entry = parse(absent)["presets"][0];
  EXPECT_EQ(entry.value("status", ""), "unavailable") << entry.dump(2);
  EXPECT_EQ(entry["drives"].size(), 2u) << entry.dump(2);
  EXPECT_TRUE(entries(w.mnt).empty()) << "the report wrote under the mount point of an unplugged drive";
  fs::path page = w.tmp / "report.html";
  EXPECT_EQ(w.cli({"report", "--html", page.string()}, both).exit_code, 0);
  EXPECT_NE(read_file(page).find(ua), std::string::npos) << "the page names the drives";
}

}  // namespace
}  // namespace snapkeep::test
