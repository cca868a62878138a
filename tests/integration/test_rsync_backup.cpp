// Integration tests of the rsync backend through the built CLI, on a loop-mounted ext4 destination:
// incremental hard links, metadata, hostile file names, legacy folders, killed runs, locking,
// refusals, restore, exclude patterns and one_file_system.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <string>
#include <thread>
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

using namespace std::chrono_literals;

// A test's world: a PresetWorld with an ext4 destination of `dest_mib` MiB.
struct World : PresetWorld {
  explicit World(unsigned dest_mib = 64) : PresetWorld(dest_mib) {}
  // Runs a backup that must succeed; returns the new snapshot's id ("" on failure).
  std::string backup_ok() const {
    auto before = snapshot_ids(preset_dir);
    RunResult r = cli({"backup"});
    EXPECT_EQ(r.exit_code, 0) << "snapkeep backup failed\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
    auto after = snapshot_ids(preset_dir);
    EXPECT_EQ(after.size(), before.size() + 1) << "a successful backup adds exactly one snapshot";
    return after.empty() || after.size() == before.size() ? std::string() : after.back();
  }
};

// Asserts DEST/home/latest is a relative symlink naming `id`.
void expect_latest(const fs::path& preset_dir, const std::string& id) {
  struct stat st = stat_of(preset_dir / "latest");
  ASSERT_TRUE(S_ISLNK(st.st_mode)) << "latest must be a symlink";
  std::string target = link_target(preset_dir / "latest");
  EXPECT_EQ(target, id);
  EXPECT_EQ(target.find('/'), std::string::npos) << "latest must be a relative link to a sibling: " << target;
}

// Asserts no in-progress work is left under .snapkeep/.
void expect_no_leftover_work(const fs::path& preset_dir) {
  fs::path state = preset_dir / ".snapkeep";
  EXPECT_FALSE(exists_nofollow(state / "partial")) << "partial/ left behind";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state, ec)) {
    EXPECT_NE(entry.path().filename().string().rfind("resume-", 0), 0u) << "left behind: " << entry.path();
  }
}

// A tree with the things a restore must keep: modes, mtimes, symlinks, hard links, an owner.
void make_rich_source(const fs::path& src) {
  write_file(src / "file.txt", "plain file\n");
  write_file(src / "exec.sh", "#!/bin/true\n");
  ::chmod((src / "exec.sh").c_str(), 0755);
  write_file(src / "private" / "secret.txt", "secret\n");
  ::chmod((src / "private" / "secret.txt").c_str(), 0600);
  ::chmod((src / "private").c_str(), 0700);
  write_random_file(src / "sub" / "deep" / "file.bin", 10000, 7);
  write_file(src / "hard1", "linked twice\n");
  fs::create_hard_link(src / "hard1", src / "sub" / "hard2");
  fs::create_symlink("sub/deep/file.bin", src / "link-rel");
  fs::create_symlink("nowhere/at/all", src / "link-dangling");
  write_file(src / "owned.txt", "not root's\n");
  EXPECT_EQ(::chown((src / "owned.txt").c_str(), 1234, 5678), 0);
  set_mtime(src / "file.txt", 1500000000, 123456789);
  set_mtime(src / "exec.sh", 1500000001, 1);
  set_mtime(src / "private" / "secret.txt", 1500000002, 999999999);
  set_mtime(src / "sub" / "deep" / "file.bin", 1500000003, 500);
  set_mtime(src / "hard1", 1500000004, 0);
  set_mtime(src / "owned.txt", 1500000005, 42);
  set_mtime(src / "link-rel", 1500000006, 600);
  set_mtime(src / "link-dangling", 1500000007, 700);
  set_mtime(src / "sub" / "deep", 1500000008, 8);
  set_mtime(src / "sub", 1500000009, 9);
  set_mtime(src / "private", 1500000010, 10);
  set_mtime(src, 1500000011, 11);
}

// Writes the plain config and make_rich_source()'s tree and backs it up; `id` is the snapshot's id
// (a fatal failure when the destination is not mounted or the backup fails).
void backup_rich_source(const World& w, std::string& id) {
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  make_rich_source(w.src);
  id = w.backup_ok();
  ASSERT_FALSE(id.empty());
}

// Writes the plain config and a one-file source (a.txt) and backs it up; `id` is the snapshot's id
// (a fatal failure when the destination is not mounted or the backup fails).
void backup_one_file(const World& w, std::string& id) {
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_file(w.src / "a.txt", "a\n");
  id = w.backup_ok();
  ASSERT_FALSE(id.empty());
}

// ---------------------------------------------------------------------------------------------
// Incremental backups

TEST(RsyncBackup, FullThenIncrementalLinksUnchangedFilesOnly) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_file(w.src / "keep.txt", "unchanged\n");
  write_random_file(w.src / "sub" / "keep.bin", 50000, 1);
  write_file(w.src / "change.txt", "version 1\n");
  write_file(w.src / "delete.txt", "going away\n");
  write_file(w.src / "perm.txt", "only the mode changes\n");
  ::chmod((w.src / "perm.txt").c_str(), 0644);
  set_mtime(w.src / "change.txt", 1600000000, 0);

  std::string first = w.backup_ok();
  ASSERT_FALSE(first.empty());
  const TreeCompare coarse = whole_second_mtimes();
  EXPECT_TRUE(tree_differences(w.src, w.snap(first), coarse).empty())
      << join_lines(tree_differences(w.src, w.snap(first), coarse));
  expect_latest(w.preset_dir, first);
  expect_no_leftover_work(w.preset_dir);

  write_file(w.src / "change.txt", "version 2, longer\n");
  set_mtime(w.src / "change.txt", 1600000100, 0);
  fs::remove(w.src / "delete.txt");
  write_file(w.src / "new.txt", "brand new\n");
  ::chmod((w.src / "perm.txt").c_str(), 0600);

  std::string second = w.backup_ok();
  ASSERT_FALSE(second.empty());
  EXPECT_LT(first, second);
  fs::path s1 = w.snap(first);
  fs::path s2 = w.snap(second);

  // Unchanged files are the same inode; changed, new and re-moded files are not.
  EXPECT_EQ(inode_of(s1 / "keep.txt"), inode_of(s2 / "keep.txt"));
  EXPECT_EQ(inode_of(s1 / "sub" / "keep.bin"), inode_of(s2 / "sub" / "keep.bin"));
  EXPECT_EQ(stat_of(s2 / "keep.txt").st_nlink, 2u);
  EXPECT_NE(inode_of(s1 / "change.txt"), inode_of(s2 / "change.txt"));
  EXPECT_EQ(stat_of(s2 / "new.txt").st_nlink, 1u);
  EXPECT_NE(inode_of(s1 / "perm.txt"), inode_of(s2 / "perm.txt"));
  // Deleted files are gone from the new snapshot only.
  EXPECT_FALSE(exists_nofollow(s2 / "delete.txt"));
  EXPECT_EQ(read_file(s1 / "delete.txt"), "going away\n");
  // The earlier snapshot is as it was: old content, old mode.
  EXPECT_EQ(read_file(s1 / "change.txt"), "version 1\n");
  EXPECT_EQ(stat_of(s1 / "perm.txt").st_mode & 07777, 0644u);
  EXPECT_EQ(stat_of(s2 / "perm.txt").st_mode & 07777, 0600u);
  // The new snapshot equals the source.
  EXPECT_TRUE(tree_differences(w.src, s2, coarse).empty()) << join_lines(tree_differences(w.src, s2, coarse));
  expect_latest(w.preset_dir, second);
  expect_no_leftover_work(w.preset_dir);
  // A snapshot tree holds the source's files and nothing else.
  EXPECT_FALSE(exists_nofollow(s2 / ".snapkeep"));
}

// A file rewritten with the same size within one second: its mtime differs only in nanoseconds.
// The snapshot must hold the new content, not a hard link to the old one.
TEST(RsyncBackup, SameSecondChangeIsNotLinked) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_file(w.src / "counter", "AAAA\n");
  set_mtime(w.src / "counter", 1577836800, 100000000);
  std::string first = w.backup_ok();
  ASSERT_FALSE(first.empty());
  ASSERT_EQ(stat_of(w.snap(first) / "counter").st_mtim.tv_nsec, 100000000) << "ext4 keeps ns mtimes";

  write_file(w.src / "counter", "BBBB\n");
  set_mtime(w.src / "counter", 1577836800, 200000000);
  std::string second = w.backup_ok();
  ASSERT_FALSE(second.empty());
  EXPECT_EQ(read_file(w.snap(second) / "counter"), "BBBB\n")
      << "the newest snapshot holds stale data: the changed file was hard-linked to the previous snapshot";
  EXPECT_NE(inode_of(w.snap(second) / "counter"), inode_of(w.snap(first) / "counter"));
  EXPECT_EQ(read_file(w.snap(first) / "counter"), "AAAA\n");
}

// ---------------------------------------------------------------------------------------------
// Metadata

TEST(RsyncBackup, MetadataIsKept) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  const fs::path& s = w.src;
  write_file(s / "suid", "#!/bin/true\n");
  ASSERT_EQ(::chown((s / "suid").c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod((s / "suid").c_str(), 04755), 0);
  fs::create_directories(s / "private");
  write_file(s / "private" / "inside.txt", "x\n");
  ASSERT_EQ(::chmod((s / "private").c_str(), 0700), 0);
  fs::create_directories(s / "sticky");
  ASSERT_EQ(::chmod((s / "sticky").c_str(), 01777), 0);
  fs::create_directories(s / "sgid");
  ASSERT_EQ(::chmod((s / "sgid").c_str(), 02750), 0);
  write_file(s / "owned.txt", "owned by 1234:5678\n");
  ASSERT_EQ(::chown((s / "owned.txt").c_str(), 1234, 5678), 0);
  fs::create_directories(s / "owned-dir");
  ASSERT_EQ(::chown((s / "owned-dir").c_str(), 1234, 5678), 0);
  write_file(s / "ns.txt", "nanoseconds\n");
  fs::create_symlink("ns.txt", s / "link");
  fs::create_symlink("../does/not/exist", s / "dangling");
  ASSERT_EQ(::lchown((s / "dangling").c_str(), 1234, 5678), 0);
  write_file(s / "h1", "one inode, three names\n");
  fs::create_hard_link(s / "h1", s / "h2");
  fs::create_hard_link(s / "h1", s / "private" / "h3");
  write_file(s / "xattr.txt", "with xattrs\n");
  const std::string binary_value("bin\0ary\xff", 8);
  ASSERT_EQ(::setxattr((s / "xattr.txt").c_str(), "user.snapkeep.note", "hello", 5, 0), 0);
  ASSERT_EQ(::setxattr((s / "xattr.txt").c_str(), "user.snapkeep.bin", binary_value.data(), binary_value.size(), 0), 0);
  ASSERT_EQ(::setxattr((s / "owned-dir").c_str(), "user.snapkeep.dir", "d", 1, 0), 0);
  write_file(s / "acl.txt", "with an ACL\n");
  run_ok({"setfacl", "-m", "u:1234:r", "--", (s / "acl.txt").string()});
  run_ok({"setfacl", "-d", "-m", "u:1234:rx", "--", (s / "owned-dir").string()});
  ASSERT_EQ(::mkfifo((s / "fifo").c_str(), 0640), 0);
  ASSERT_EQ(::mknod((s / "null-dev").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  set_mtime(s / "ns.txt", 1234567890, 123456789);
  set_mtime(s / "link", 1234567891, 987654321);
  set_mtime(s / "dangling", 1234567892, 5);
  set_mtime(s / "suid", 1234567893, 0);
  set_mtime(s / "private", 1234567894, 444);
  set_mtime(s / "owned-dir", 1234567895, 555);
  const std::string acl_before = xattrs_of(s / "acl.txt")["system.posix_acl_access"];
  ASSERT_FALSE(acl_before.empty()) << "setfacl did not set an ACL on the source";

  std::string id = w.backup_ok();
  ASSERT_FALSE(id.empty());
  fs::path snap = w.snap(id);

  EXPECT_EQ(stat_of(snap / "suid").st_mode & 07777, 04755u) << "setuid bit lost";
  EXPECT_EQ(stat_of(snap / "private").st_mode & 07777, 0700u);
  EXPECT_EQ(stat_of(snap / "sticky").st_mode & 07777, 01777u);
  EXPECT_EQ(stat_of(snap / "sgid").st_mode & 07777, 02750u);
  struct stat owned = stat_of(snap / "owned.txt");
  EXPECT_EQ(owned.st_uid, 1234u);
  EXPECT_EQ(owned.st_gid, 5678u);
  EXPECT_EQ(stat_of(snap / "owned-dir").st_uid, 1234u);
  EXPECT_EQ(stat_of(snap / "dangling").st_uid, 1234u) << "symlink owner lost";
  struct stat ns = stat_of(snap / "ns.txt");
  EXPECT_EQ(ns.st_mtim.tv_sec, 1234567890);
  EXPECT_EQ(ns.st_mtim.tv_nsec, 123456789);
  EXPECT_EQ(stat_of(snap / "private").st_mtim.tv_nsec, 444);
  EXPECT_TRUE(S_ISLNK(stat_of(snap / "link").st_mode));
  EXPECT_EQ(link_target(snap / "link"), "ns.txt");
  EXPECT_TRUE(S_ISLNK(stat_of(snap / "dangling").st_mode));
  EXPECT_EQ(link_target(snap / "dangling"), "../does/not/exist");
  EXPECT_EQ(inode_of(snap / "h1"), inode_of(snap / "h2"));
  EXPECT_EQ(inode_of(snap / "h1"), inode_of(snap / "private" / "h3"));
  EXPECT_EQ(stat_of(snap / "h1").st_nlink, 3u);
  auto xattrs = xattrs_of(snap / "xattr.txt");
  EXPECT_EQ(xattrs["user.snapkeep.note"], "hello");
  EXPECT_EQ(xattrs["user.snapkeep.bin"], binary_value);
  EXPECT_EQ(xattrs_of(snap / "owned-dir")["user.snapkeep.dir"], "d");
  EXPECT_EQ(xattrs_of(snap / "acl.txt")["system.posix_acl_access"], acl_before) << "access ACL lost";
  EXPECT_FALSE(xattrs_of(snap / "owned-dir")["system.posix_acl_default"].empty()) << "default ACL lost";
  RunResult acl = run_ok({"getfacl", "--omit-header", "--numeric", "--", (snap / "acl.txt").string()});
  EXPECT_NE(acl.out.find("user:1234:r--"), std::string::npos) << acl.out;
  EXPECT_TRUE(S_ISFIFO(stat_of(snap / "fifo").st_mode));
  EXPECT_EQ(stat_of(snap / "fifo").st_mode & 07777, 0640u);
  struct stat dev = stat_of(snap / "null-dev");
  EXPECT_TRUE(S_ISCHR(dev.st_mode));
  EXPECT_EQ(dev.st_rdev, makedev(1, 3));

  TreeCompare all;
  all.xattrs = true;
  auto diffs = tree_differences(s, snap, all);
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);

  // An incremental run keeps all of it too, and links the unchanged hard-link group as one.
  std::string second = w.backup_ok();
  ASSERT_FALSE(second.empty());
  diffs = tree_differences(s, w.snap(second), all);
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
  EXPECT_EQ(inode_of(w.snap(second) / "h1"), inode_of(snap / "h1"));
  EXPECT_EQ(inode_of(w.snap(second) / "xattr.txt"), inode_of(snap / "xattr.txt"));
}

// Sparse files stay sparse with either engine of the hard-link backend, and through restore.
class SparseEngines : public ::testing::TestWithParam<std::string> {};

TEST_P(SparseEngines, SparseFileStaysSparse) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config("transfer = " + GetParam() + "\n");
  const off_t size = 32 * 1024 * 1024;
  {
    int fd = ::open((w.src / "sparse.img").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, size), 0);
    ASSERT_EQ(::pwrite(fd, "head", 4, 0), 4);
    ASSERT_EQ(::pwrite(fd, "tail", 4, size - 4), 4);
    ::close(fd);
  }
  ASSERT_LT(stat_of(w.src / "sparse.img").st_blocks * 512, 1024 * 1024) << "the source file is not sparse";

  std::string id = w.backup_ok();
  ASSERT_FALSE(id.empty());
  struct stat st = stat_of(w.snap(id) / "sparse.img");
  EXPECT_EQ(st.st_size, size);
  EXPECT_EQ(read_file(w.snap(id) / "sparse.img"), read_file(w.src / "sparse.img"));
  EXPECT_LT(st.st_blocks * 512, 1024 * 1024)
      << "a 32 MiB sparse file with 8 bytes of data takes " << st.st_blocks * 512 << " bytes in the snapshot";

  fs::path restored = w.tmp / "restored";
  RunResult r = w.cli({"restore", "home", "latest", "sparse.img", "--to", restored.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  struct stat rs = stat_of(restored / "sparse.img");
  EXPECT_EQ(rs.st_size, size);
  EXPECT_LT(rs.st_blocks * 512, 1024 * 1024) << "restore made the sparse file take " << rs.st_blocks * 512 << " bytes";
}

INSTANTIATE_TEST_SUITE_P(Transfer, SparseEngines, ::testing::Values("native", "rsync"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// ---------------------------------------------------------------------------------------------
// Hostile names

TEST(RsyncBackup, HostileNamesAreCopiedByteExactAndNeverExecuted) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  // The source folder's own name is hostile too.
  w.src = w.tmp / "src -x ;$(touch pwned-src) `touch pwned-src2` 'q\" #h";
  fs::create_directories(w.src);
  w.write_config();
  const std::string marker = "/tmp/snapkeep-pwned-" + std::to_string(::getpid());
  fs::remove(marker);
  const std::vector<std::string> names = {
      "with space",
      " leading space",
      "trailing space ",
      "new\nline",
      "carriage\rreturn",
      "tab\there",
      "-leading-dash",
      "--help",
      "-rf",
      "--delete",
      "'single quotes'",
      "\"double quotes\"",
      "`touch pwned-bt`",
      "$(touch pwned-dollar)",
      "a;touch pwned-semi;",
      "a && touch pwned-and",
      "| touch pwned-pipe",
      "> redirect",
      "back\\slash",
      "*",
      "?[ab]{c,d}",
      "#hash",
      "~tilde",
      ":colon:",
      "host:path",
      "%percent%s",
      "\xff\xfe",
      "caf\xc3\xa9 \xe2\x98\x83",
      std::string(255, 'n'),
      std::string(254, 'm') + "\xff",
  };
  for (std::size_t i = 0; i < names.size(); ++i) {
    write_file(w.src / names[i], "content of name #" + std::to_string(i) + "\n");
  }
  fs::create_directories(w.src / "-dir with space");
  write_file(w.src / "-dir with space" / "--file\n", "nested\n");
  // Joined by a shell, this path would run: touch /tmp/snapkeep-pwned-PID
  fs::path nested = w.src / "$(touch " / "tmp" / ("snapkeep-pwned-" + std::to_string(::getpid()) + ")");
  write_file(nested, "nested hostile\n");
  fs::create_symlink("$(touch pwned-link)", w.src / "`link`");

  std::string id = w.backup_ok();
  ASSERT_FALSE(id.empty());
  fs::path snap = w.snap(id);
  for (std::size_t i = 0; i < names.size(); ++i) {
    ASSERT_TRUE(exists_nofollow(snap / names[i])) << "missing in the snapshot: " << printable(names[i]);
    EXPECT_EQ(read_file(snap / names[i]), "content of name #" + std::to_string(i) + "\n") << printable(names[i]);
  }
  EXPECT_EQ(read_file(snap / "-dir with space" / "--file\n"), "nested\n");
  EXPECT_EQ(read_file(snap / nested.lexically_relative(w.src)), "nested hostile\n");
  EXPECT_EQ(link_target(snap / "`link`"), "$(touch pwned-link)");
  auto diffs = tree_differences(w.src, snap, whole_second_mtimes());
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);

  // A restore of single hostile paths works too.
  fs::path restored = w.tmp / "restored";
  for (const std::string& name : {std::string("-leading-dash"), std::string("new\nline"),
                                  std::string("$(touch pwned-dollar)"), std::string("\xff\xfe")}) {
    // "--" ends the options, so a name starting with '-' is a PATH.
    RunResult r = w.cli({"restore", "home", "latest", "--to", restored.string(), "--force", "--", name});
    EXPECT_EQ(r.exit_code, 0) << printable(name) << ": " << r.err;
    EXPECT_TRUE(exists_nofollow(restored / name)) << printable(name);
  }

  // Nothing was executed anywhere a shell could have run.
  EXPECT_FALSE(exists_nofollow(marker)) << marker << " exists: a file name was run by a shell";
  std::error_code ec;
  std::vector<fs::path> places = {
      fs::current_path(ec), w.tmp.path(), w.src, w.dest.mount_point(), w.preset_dir, snap, "/", "/tmp", restored};
  if (const char* home = std::getenv("HOME")) {
    places.emplace_back(home);
  }
  for (const fs::path& place : places) {
    for (const char* m : {"pwned-bt", "pwned-dollar", "pwned-semi", "pwned-and", "pwned-pipe", "pwned-src",
                          "pwned-src2", "pwned-link", "redirect"}) {
      EXPECT_FALSE(exists_nofollow(place / m)) << (place / m) << " exists: a file name was run by a shell";
    }
  }
  fs::remove(marker);
}

// ---------------------------------------------------------------------------------------------
// Legacy date-only folders

TEST(RsyncBackup, LegacyDateFolderIsLinkBaseAndListed) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  write_file(w.src / "same.txt", "same as in 2014\n");
  write_random_file(w.src / "dir" / "same.bin", 20000, 3);
  write_file(w.src / "changed.txt", "old\n");
  set_mtime(w.src / "changed.txt", 1389398400, 0);
  fs::create_directories(w.preset_dir);
  fs::path legacy = w.preset_dir / "2014-01-11";
  run_ok({"cp", "-a", "--", w.src.string() + "/.", legacy.string()});
  ASSERT_EQ(read_file(legacy / "same.txt"), "same as in 2014\n");
  write_file(w.src / "changed.txt", "new and longer\n");

  std::string id = w.backup_ok();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{"2014-01-11", id}));
  fs::path snap = w.snap(id);
  EXPECT_EQ(inode_of(snap / "same.txt"), inode_of(legacy / "same.txt")) << "the legacy folder was not the link base";
  EXPECT_EQ(inode_of(snap / "dir" / "same.bin"), inode_of(legacy / "dir" / "same.bin"));
  EXPECT_NE(inode_of(snap / "changed.txt"), inode_of(legacy / "changed.txt"));
  EXPECT_EQ(read_file(legacy / "changed.txt"), "old\n") << "the legacy folder was modified";
  EXPECT_TRUE(tree_differences(w.src, snap, whole_second_mtimes()).empty())
      << join_lines(tree_differences(w.src, snap, whole_second_mtimes()));
  expect_latest(w.preset_dir, id);

  RunResult list = w.cli({"--json", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto doc = nlohmann::json::parse(list.out);
  const auto& snaps = doc.at("presets").at(0).at("snapshots");
  ASSERT_EQ(snaps.size(), 2u) << list.out;
  EXPECT_EQ(snaps[0].at("id"), "2014-01-11");
  EXPECT_EQ(snaps[0].at("path"), legacy.string());
  EXPECT_EQ(snaps[0].at("latest"), false);
  EXPECT_EQ(snaps[1].at("id"), id);
  EXPECT_EQ(snaps[1].at("latest"), true);
  RunResult plain = w.cli({"list"});
  EXPECT_NE(plain.out.find("2014-01-11"), std::string::npos) << plain.out;
}

// ---------------------------------------------------------------------------------------------
// A killed run

TEST(RsyncBackup, SigkillMidRunLeavesNoSnapshotAndNextRunResumes) {
  SNAPKEEP_REQUIRE_ROOT();
  World w(128);
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  for (int d = 0; d < 20; ++d) {
    for (int f = 0; f < 100; ++f) {
      char name[32];
      std::snprintf(name, sizeof name, "d%02d/f%03d.txt", d, f);
      write_file(w.src / name, std::string(200 + f, static_cast<char>('a' + d)));
    }
  }
  std::string first = w.backup_ok();
  ASSERT_FALSE(first.empty());
  fs::path s1 = w.snap(first);
  const ino_t keep_inode = inode_of(s1 / "d05" / "f050.txt");

  // New data to copy, so the next run takes a while; and one changed small file.
  for (int i = 0; i < 4; ++i) {
    write_random_file(w.src / ("big" + std::to_string(i) + ".bin"), 6 * 1024 * 1024, 100 + i);
  }
  write_file(w.src / "d07" / "f007.txt", "changed, and of another size\n");

  fs::path partial = w.preset_dir / ".snapkeep" / "partial";
  BackgroundRun run({"-c", w.config.string(), "backup"}, w.tmp.path());
  ASSERT_TRUE(wait_until([&] { return exists_nofollow(partial) || !run.running(); }, 20s)) << "partial/ never appeared";
  // Give rsync a moment to put something into partial/, then kill -9 mid-run.
  auto partial_has_entries = [&] {
    std::error_code ec;
    fs::directory_iterator it(partial, ec);
    return !ec && it != fs::directory_iterator();
  };
  wait_until([&] { return partial_has_entries() || !run.running(); }, 2s, 200us);
  run.kill(SIGKILL);
  int status = run.wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the backup finished before it could be killed (status " << status << "); the test needs a slower source";
  // rsync's own helper processes must go away with it.
  bool orphans_gone = wait_until([&] { return processes_working_in(w.dest.mount_point()).empty(); }, 10s, 10ms);
  EXPECT_TRUE(orphans_gone) << "processes still working in the destination after snapkeep was killed";
  for (pid_t pid : processes_working_in(w.dest.mount_point())) {
    ::kill(pid, SIGKILL);
  }

  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{first}) << "a killed run left a snapshot folder";
  expect_latest(w.preset_dir, first);
  EXPECT_TRUE(exists_nofollow(partial)) << "the interrupted work should be kept for the next run";
  EXPECT_FALSE(exists_nofollow(s1 / "big0.bin")) << "the earlier snapshot was changed";
  EXPECT_EQ(inode_of(s1 / "d05" / "f050.txt"), keep_inode);

  std::string second = w.backup_ok();
  ASSERT_FALSE(second.empty());
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{first, second}));
  fs::path s2 = w.snap(second);
  auto diffs = tree_differences(w.src, s2, whole_second_mtimes());
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
  EXPECT_EQ(inode_of(s2 / "d05" / "f050.txt"), keep_inode) << "the run after the kill is not incremental";
  EXPECT_EQ(inode_of(s2 / "d19" / "f099.txt"), inode_of(s1 / "d19" / "f099.txt"));
  EXPECT_NE(inode_of(s2 / "d07" / "f007.txt"), inode_of(s1 / "d07" / "f007.txt"));
  expect_latest(w.preset_dir, second);
  expect_no_leftover_work(w.preset_dir);
}

// ---------------------------------------------------------------------------------------------
// Locking

TEST(RsyncBackup, HeldLockMakesSecondRunExit3) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  std::string first;
  ASSERT_NO_FATAL_FAILURE(backup_one_file(w, first));

  fs::path lock = w.preset_dir / ".snapkeep" / "lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  std::string pid = std::to_string(::getpid()) + "\n";
  ASSERT_EQ(::ftruncate(fd, 0), 0);
  ASSERT_EQ(::pwrite(fd, pid.data(), pid.size(), 0), static_cast<ssize_t>(pid.size()));

  write_file(w.src / "b.txt", "b\n");
  RunResult second = w.cli({"backup"});
  EXPECT_EQ(second.exit_code, 3) << second.err;
  EXPECT_NE(second.err.find(std::to_string(::getpid())), std::string::npos) << "stderr does not name the pid:\n"
                                                                            << second.err;
  EXPECT_NE(second.err.find(lock.string()), std::string::npos) << "stderr does not name the lock:\n" << second.err;
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{first});
  RunResult json = w.cli({"--json", "backup"});
  EXPECT_EQ(json.exit_code, 3);
  auto doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  EXPECT_EQ(doc["presets"][0]["status"], "failed");
  EXPECT_TRUE(doc["presets"][0]["error"].is_string());

  // --wait blocks until the lock is free, then runs.
  BackgroundRun waiting({"-c", w.config.string(), "backup", "--wait"}, w.tmp.path());
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(waiting.running()) << "backup --wait did not wait for the lock";
  EXPECT_EQ(snapshot_ids(w.preset_dir).size(), 1u);

  ::close(fd);  // releases the flock
  int status = waiting.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << waiting.stderr_text();
  auto ids = snapshot_ids(w.preset_dir);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(read_file(w.snap(ids.back()) / "b.txt"), "b\n");
  std::string third = w.backup_ok();
  EXPECT_FALSE(third.empty());
  expect_latest(w.preset_dir, third);
}

TEST(RsyncBackup, RunningBackupHoldsLockAgainstSecondRun) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  std::string first;
  ASSERT_NO_FATAL_FAILURE(backup_one_file(w, first));

  // A slow "rsync" first on PATH keeps the first run busy while it holds the lock.
  w.write_config("transfer = rsync\n");
  fs::path bin = w.tmp / "slowbin";
  write_file(bin / "rsync", "#!/bin/sh\nexec sleep 60\n");
  ::chmod((bin / "rsync").c_str(), 0755);
  const char* path_env = std::getenv("PATH");
  std::string path = bin.string() + ":" + (path_env != nullptr ? path_env : "/usr/bin:/bin");
  BackgroundRun slow({"-c", w.config.string(), "backup"}, w.tmp.path(), {"PATH=" + path});
  fs::path lock = w.preset_dir / ".snapkeep" / "lock";
  fs::path partial = w.preset_dir / ".snapkeep" / "partial";
  ASSERT_TRUE(wait_until(
      [&] {
        return (exists_nofollow(partial) && read_file(lock) == std::to_string(slow.pid()) + "\n") || !slow.running();
      },
      20s, 1ms))
      << "the slow run never took the lock: " << slow.stderr_text();
  ASSERT_TRUE(slow.running()) << slow.stderr_text();

  RunResult second = w.cli({"backup"});
  EXPECT_EQ(second.exit_code, 3) << second.err;
  EXPECT_NE(second.err.find("pid " + std::to_string(slow.pid())), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("lock"), std::string::npos) << second.err;

  slow.kill(SIGTERM);
  int status = slow.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1)
      << "an interrupted backup should exit 1, got status " << status << "\n"
      << slow.stderr_text();
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{first});
  expect_latest(w.preset_dir, first);

  write_file(w.src / "b.txt", "b\n");
  std::string third = w.backup_ok();
  ASSERT_FALSE(third.empty());
  EXPECT_EQ(read_file(w.snap(third) / "b.txt"), "b\n");
  expect_latest(w.preset_dir, third);
  expect_no_leftover_work(w.preset_dir);
}

// ---------------------------------------------------------------------------------------------
// Refusals

void check_missing_destination(const std::string& extra) {
  World w;
  ASSERT_TRUE(w.dest.ok());
  write_file(w.src / "a.txt", "a\n");
  fs::path missing = w.dest.mount_point() / "not-mounted";
  write_preset_config(w.config, "home", w.src, missing, extra);
  RunResult r = w.cli({"backup"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << "stderr:\n" << r.err;
  EXPECT_NE(r.err.find(missing.string()), std::string::npos) << "stderr:\n" << r.err;
  EXPECT_FALSE(exists_nofollow(missing)) << "snapkeep created the destination root";
  RunResult json = w.cli({"--json", "backup"});
  EXPECT_EQ(json.exit_code, 1);
  auto doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  EXPECT_EQ(doc["presets"][0]["status"], "failed");
  EXPECT_NE(doc["presets"][0]["error"].get<std::string>().find("does not exist"), std::string::npos) << doc.dump();
  EXPECT_FALSE(exists_nofollow(missing));
}

TEST(RsyncBackup, MissingDestinationIsAnErrorAndNotCreated) {
  SNAPKEEP_REQUIRE_ROOT();
  check_missing_destination("");  // backend = auto, as users have it
}

TEST(RsyncBackup, MissingDestinationIsAnErrorWithExplicitRsyncBackend) {
  SNAPKEEP_REQUIRE_ROOT();
  check_missing_destination("backend = rsync\n");
}

TEST(RsyncBackup, EmptySourceRefusedUnlessAllowed) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  RunResult refused = w.cli({"backup"});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("empty"), std::string::npos) << refused.err;
  EXPECT_TRUE(snapshot_ids(w.preset_dir).empty());
  EXPECT_FALSE(exists_nofollow(w.preset_dir / "latest"));

  w.write_config("allow_empty_source = yes\n");
  std::string id = w.backup_ok();
  ASSERT_FALSE(id.empty());
  EXPECT_TRUE(tree_entries(w.snap(id)).empty());
  expect_latest(w.preset_dir, id);
}

// ---------------------------------------------------------------------------------------------
// Restore

TEST(RsyncRestore, LatestRoundTripKeepsMetadataAndLinks) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  std::string id;
  ASSERT_NO_FATAL_FAILURE(backup_rich_source(w, id));

  fs::path target = w.tmp / "restored" / "here";
  RunResult r = w.cli({"restore", "home", "latest", "--to", target.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto diffs = tree_differences(w.src, target);
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
  EXPECT_EQ(inode_of(target / "hard1"), inode_of(target / "sub" / "hard2")) << "hard link not restored";
  EXPECT_EQ(stat_of(target / "hard1").st_nlink, 2u);
  EXPECT_NE(inode_of(target / "file.txt"), inode_of(w.snap(id) / "file.txt")) << "restore must copy, not link";
  EXPECT_EQ(link_target(target / "link-dangling"), "nowhere/at/all");
  EXPECT_EQ(stat_of(target / "private").st_mode & 07777, 0700u);
  EXPECT_EQ(stat_of(target / "owned.txt").st_uid, 1234u);
  EXPECT_EQ(stat_of(target / "file.txt").st_mtim.tv_nsec, 123456789);

  // By id as well as by `latest`.
  fs::path by_id = w.tmp / "by-id";
  r = w.cli({"restore", "home", id, "--to", by_id.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(tree_differences(w.src, by_id).empty()) << join_lines(tree_differences(w.src, by_id));
  // An unknown id is an error and creates nothing.
  fs::path none = w.tmp / "none";
  r = w.cli({"restore", "home", "1999-01-01_00-00-00", "--to", none.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(exists_nofollow(none));
}

TEST(RsyncRestore, SinglePathKeepsItsName) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  std::string id;
  ASSERT_NO_FATAL_FAILURE(backup_rich_source(w, id));

  fs::path one = w.tmp / "one";
  RunResult r = w.cli({"restore", "home", "latest", "sub/deep/file.bin", "--to", one.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_entries(one), std::vector<fs::path>{"file.bin"});
  EXPECT_EQ(read_file(one / "file.bin"), read_file(w.src / "sub" / "deep" / "file.bin"));
  struct stat st = stat_of(one / "file.bin");
  EXPECT_EQ(st.st_mtim.tv_sec, 1500000003);
  EXPECT_EQ(st.st_mtim.tv_nsec, 500);

  fs::path dir = w.tmp / "dir";
  r = w.cli({"restore", "home", "latest", "private", "--to", dir.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_entries(dir), (std::vector<fs::path>{"private", "private/secret.txt"}));
  EXPECT_EQ(stat_of(dir / "private").st_mode & 07777, 0700u);
  EXPECT_EQ(stat_of(dir / "private" / "secret.txt").st_mode & 07777, 0600u);
  EXPECT_EQ(read_file(dir / "private" / "secret.txt"), "secret\n");

  // A symlink named as the path is restored as the symlink.
  fs::path link = w.tmp / "link";
  r = w.cli({"restore", "home", "latest", "link-dangling", "--to", link.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(link_target(link / "link-dangling"), "nowhere/at/all");

  // A path not in the snapshot is an error.
  fs::path missing = w.tmp / "missing";
  r = w.cli({"restore", "home", "latest", "no/such/file", "--to", missing.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(!exists_nofollow(missing) || tree_entries(missing).empty());
}

TEST(RsyncRestore, NonEmptyTargetNeedsForce) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  std::string id;
  ASSERT_NO_FATAL_FAILURE(backup_rich_source(w, id));

  fs::path busy = w.tmp / "busy";
  write_file(busy / "mine.txt", "keep me\n");
  write_file(busy / "file.txt", "local edit\n");
  set_mtime(busy / "file.txt", 1700000000, 0);
  RunResult r = w.cli({"restore", "home", "latest", "--to", busy.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(tree_entries(busy), (std::vector<fs::path>{"file.txt", "mine.txt"})) << "the target was changed";
  EXPECT_EQ(read_file(busy / "file.txt"), "local edit\n");

  r = w.cli({"restore", "home", "latest", "--to", busy.string(), "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(busy / "file.txt"), "plain file\n") << "a file of the same name is replaced";
  EXPECT_EQ(stat_of(busy / "file.txt").st_mtim.tv_sec, 1500000000);
  EXPECT_EQ(read_file(busy / "mine.txt"), "keep me\n") << "--force must not delete the target's other files";
  EXPECT_EQ(read_file(busy / "sub" / "deep" / "file.bin"), read_file(w.src / "sub" / "deep" / "file.bin"));
  EXPECT_EQ(inode_of(busy / "hard1"), inode_of(busy / "sub" / "hard2"));
}

TEST(RsyncRestore, DotDotPathRefused) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  std::string id;
  ASSERT_NO_FATAL_FAILURE(backup_rich_source(w, id));
  // Something a '..' escape from the snapshot could reach: the preset's state.
  for (const std::string& path : {std::string("../.snapkeep"), std::string("sub/../../latest"),
                                  std::string("../../../../../etc/passwd"), std::string("sub/..")}) {
    fs::path target = w.tmp / "dotdot";
    RunResult r = w.cli({"restore", "home", "latest", path, "--to", target.string()});
    EXPECT_EQ(r.exit_code, 2) << path << ": " << r.err;
    EXPECT_NE(r.err.find(".."), std::string::npos) << r.err;
    EXPECT_TRUE(!exists_nofollow(target) || tree_entries(target).empty()) << path << " restored something";
  }
  // Nor may a restore write into the backups themselves.
  fs::path inside = w.preset_dir / "restored-here";
  RunResult r = w.cli({"restore", "home", "latest", "--to", inside.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(exists_nofollow(inside));
  auto ids = snapshot_ids(w.preset_dir);
  ASSERT_EQ(ids.size(), 1u);
  fs::path into_snapshot = w.snap(ids[0]) / "sub" / "restored";
  r = w.cli({"restore", "home", "latest", "file.txt", "--to", into_snapshot.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(exists_nofollow(into_snapshot)) << "restore wrote into a snapshot";
}

TEST(RsyncRestore, SymlinkPointingOutsideIsRestoredAsSymlinkOnly) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config();
  fs::path outside = w.tmp / "outside";
  fs::create_directories(outside);
  write_file(w.src / "sub" / "file.txt", "inside the snapshot\n");
  fs::create_symlink("/etc", w.src / "etc-link");
  fs::create_symlink(outside, w.src / "outside-abs");
  fs::create_symlink("../../../outside", w.src / "outside-rel");
  ASSERT_FALSE(w.backup_ok().empty());

  fs::path all = w.tmp / "all";
  RunResult r = w.cli({"restore", "home", "latest", "--to", all.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(S_ISLNK(stat_of(all / "etc-link").st_mode));
  EXPECT_EQ(link_target(all / "etc-link"), "/etc");
  EXPECT_EQ(link_target(all / "outside-abs"), outside.string());
  EXPECT_EQ(link_target(all / "outside-rel"), "../../../outside");

  fs::path one = w.tmp / "one";
  r = w.cli({"restore", "home", "latest", "etc-link", "--to", one.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_entries(one), std::vector<fs::path>{"etc-link"});
  EXPECT_TRUE(S_ISLNK(stat_of(one / "etc-link").st_mode));

  // Paths through a symlink of the snapshot are refused.
  fs::path through = w.tmp / "through";
  r = w.cli({"restore", "home", "latest", "etc-link/passwd", "--to", through.string()});
  EXPECT_NE(r.exit_code, 0) << "restoring through a symlink to /etc was allowed";
  EXPECT_NE(r.err.find("symlink"), std::string::npos) << r.err;
  EXPECT_TRUE(!exists_nofollow(through) || tree_entries(through).empty());
  r = w.cli({"restore", "home", "latest", "outside-abs/x", "--to", through.string()});
  EXPECT_NE(r.exit_code, 0);

  // A target whose folder is a symlink to elsewhere: --force replaces the link, writes nothing there.
  fs::path hostile = w.tmp / "hostile";
  fs::create_directories(hostile);
  fs::create_symlink(outside, hostile / "sub");
  r = w.cli({"restore", "home", "latest", "--to", hostile.string(), "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(S_ISDIR(stat_of(hostile / "sub").st_mode));
  EXPECT_EQ(read_file(hostile / "sub" / "file.txt"), "inside the snapshot\n");
  EXPECT_TRUE(tree_entries(outside).empty()) << "restore wrote outside its target";
}

// ---------------------------------------------------------------------------------------------
// Selection: exclude patterns and one_file_system

TEST(RsyncBackup, ExcludePatternsFromMultiLineValue) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  w.write_config("exclude =\n    *.tmp\n    /build/\n");
  write_file(w.src / "a.txt", "a\n");
  write_file(w.src / "b.tmp", "b\n");
  write_file(w.src / "sub" / "c.tmp", "c\n");
  write_file(w.src / "sub" / "d.txt", "d\n");
  write_file(w.src / "build" / "x.o", "x\n");
  write_file(w.src / "sub" / "build" / "y.o", "y\n");
  std::string id = w.backup_ok();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(tree_entries(w.snap(id)),
            (std::vector<fs::path>{"a.txt", "sub", "sub/build", "sub/build/y.o", "sub/d.txt"}));
}

TEST(RsyncBackup, OneFileSystemDoesNotDescendIntoMounts) {
  SNAPKEEP_REQUIRE_ROOT();
  World w;
  ASSERT_TRUE(w.dest.ok());
  LoopFs inner("ext4", 64);
  ASSERT_TRUE(inner.ok());
  write_file(inner.mount_point() / "inner.txt", "on another filesystem\n");
  write_file(w.src / "outer.txt", "on the source filesystem\n");
  fs::create_directories(w.src / "mnt");
  BindMount bind(inner.mount_point(), w.src / "mnt");
  ASSERT_TRUE(bind.ok());
  ASSERT_TRUE(exists_nofollow(w.src / "mnt" / "inner.txt"));

  w.write_config("one_file_system = yes\n");
  std::string id = w.backup_ok();
  ASSERT_FALSE(id.empty());
  fs::path snap = w.snap(id);
  EXPECT_EQ(read_file(snap / "outer.txt"), "on the source filesystem\n");
  EXPECT_FALSE(exists_nofollow(snap / "mnt" / "inner.txt")) << "one_file_system = yes crossed a mount point";
  EXPECT_FALSE(exists_nofollow(snap / "mnt" / "lost+found"));

  // Control: without the option the mounted tree is copied.
  w.write_config("one_file_system = no\n");
  std::string all = w.backup_ok();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(read_file(w.snap(all) / "mnt" / "inner.txt"), "on another filesystem\n");
}

}  // namespace
}  // namespace snapkeep::test
