// Unit tests for core/integrity/content_identity: the one rule for "these two files are one
// content" (hard-link trees: one inode; btrfs subvolume lineages: inode number, ctime, size and
// mtime) and when a recorded hash may be reused for a live file.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <unordered_set>

#include <gtest/gtest.h>

#include "core/base/fsutil.hpp"
#include "core/integrity/content_identity.hpp"
#include "core/integrity/manifest.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_file;

// The manifest record of a file as lstat sees it now.
ManifestEntry recorded(const fs::path& path) {
  struct stat st = test::stat_of(path);
  ManifestEntry e;
  e.path = path.filename().string();
  e.size = static_cast<std::uint64_t>(st.st_size);
  e.mtime_ns = timespec_ns(st.st_mtim);
  e.ctime_ns = timespec_ns(st.st_ctim);
  e.ino = st.st_ino;
  e.hash = "00";
  return e;
}

void set_mtime(const fs::path& path, time_t sec) {
  struct timespec times[2] = {{sec, 0}, {sec, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
}

TEST(ContentIdentity, HardLinksAreOneContentOtherFilesAreNot) {
  TempDir tmp;
  write_file(tmp / "a", "same");
  write_file(tmp / "b", "same");
  fs::create_hard_link(tmp / "a", tmp / "link");
  auto key = [&](const char* name) { return content_key(test::stat_of(tmp / name), ContentSharing::hard_links); };
  EXPECT_EQ(key("a"), key("link"));
  EXPECT_NE(key("a"), key("b")) << "equal data in another inode is another content";
  struct stat moved = test::stat_of(tmp / "a");
  moved.st_dev += 1;
  EXPECT_NE(content_key(moved, ContentSharing::hard_links), key("a")) << "the same inode number on another device";
  set_mtime(tmp / "a", 1600000000);
  EXPECT_EQ(key("a"), key("link")) << "one inode stays one content whatever its metadata";
}

TEST(ContentIdentity, ExtentLineageIgnoresTheDeviceButNotTheInodesMetadata) {
  TempDir tmp;
  write_file(tmp / "a", "data");
  struct stat st = test::stat_of(tmp / "a");
  struct stat other_subvolume = st;
  other_subvolume.st_dev += 7;
  EXPECT_EQ(content_key(st, ContentSharing::extent_lineage),
            content_key(other_subvolume, ContentSharing::extent_lineage))
      << "a snapshot of a subvolume has its own device number but shares the extents";
  for (int field = 0; field < 4; ++field) {
    struct stat changed = st;
    switch (field) {
      case 0: changed.st_ino += 1; break;
      case 1: changed.st_ctim.tv_nsec += 1; break;
      case 2: changed.st_size += 1; break;
      case 3: changed.st_mtim.tv_sec += 1; break;
    }
    EXPECT_NE(content_key(changed, ContentSharing::extent_lineage), content_key(st, ContentSharing::extent_lineage))
        << "field " << field;
  }
  std::unordered_set<ContentKey, ContentKeyHash> keys{content_key(st, ContentSharing::extent_lineage),
                                                      content_key(other_subvolume, ContentSharing::extent_lineage),
                                                      content_key(st, ContentSharing::hard_links)};
  EXPECT_EQ(keys.size(), 2u);
}

TEST(ContentIdentity, HardLinkTreesReuseAcrossNewLinksButNotAfterAChange) {
  TempDir tmp;
  write_file(tmp / "a", "version 1");
  set_mtime(tmp / "a", 1600000000);
  ManifestEntry then = recorded(tmp / "a");
  struct stat now = test::stat_of(tmp / "a");
  now.st_ctim.tv_sec += 60;  // what the next backup's hard link does to the inode
  EXPECT_TRUE(may_reuse_hash(then, now, ContentSharing::hard_links));
  EXPECT_FALSE(may_reuse_hash(then, now, ContentSharing::extent_lineage)) << "on btrfs a new ctime is a change";

  write_file(tmp / "a", "version 2");  // rewritten in place: same inode, new mtime and size
  EXPECT_FALSE(may_reuse_hash(then, test::stat_of(tmp / "a"), ContentSharing::hard_links));
  write_file(tmp / "c", "version 1");
  set_mtime(tmp / "c", 1600000000);
  EXPECT_FALSE(may_reuse_hash(then, test::stat_of(tmp / "c"), ContentSharing::hard_links))
      << "another inode with the same size and mtime";
}

TEST(ContentIdentity, LineageReusesOnlyWhatKeptItsCtime) {
  TempDir tmp;
  write_file(tmp / "a", "data");
  ManifestEntry then = recorded(tmp / "a");
  struct stat same = test::stat_of(tmp / "a");
  same.st_dev += 3;  // the next snapshot: another subvolume
  EXPECT_TRUE(may_reuse_hash(then, same, ContentSharing::extent_lineage));
  struct stat changed = test::stat_of(tmp / "a");
  changed.st_ctim.tv_nsec += 1;  // any change to the inode (btrfs receive, rsync --inplace) moves its ctime
  EXPECT_FALSE(may_reuse_hash(then, changed, ContentSharing::extent_lineage));
}

}  // namespace
}  // namespace snapkeep
