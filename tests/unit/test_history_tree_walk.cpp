// Unit tests for core/history/tree_walk: a tree read in manifest order (the order of path bytes),
// and paths opened beneath a snapshot without following symlinks.

#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/history/tree_walk.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_file;

std::vector<std::string> walk(const fs::path& root, const std::string& rel = "") {
  std::vector<std::string> out;
  auto stream = TreeStream::open(root, rel);
  EXPECT_TRUE(stream.ok()) << stream.error().describe();
  if (!stream) {
    return out;
  }
  ManifestEntry e;
  for (;;) {
    auto more = (*stream)->next(e);
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) {
      break;
    }
    out.push_back(e.path);
  }
  return out;
}

TEST(TreeWalk, ListsEntriesInPathByteOrder) {
  TempDir tmp;
  // A folder "a" sorts before "a.txt", whose bytes sort before the folder's contents "a/...".
  for (const char* rel : {"a/x", "a/y/z", "a.txt", "a-b", "b", "\xc3\xa9t\xc3\xa9", "Z", "a/\xff"}) {
    write_file(tmp / rel, "x");
  }
  fs::create_symlink("a", tmp / "link");
  const std::vector<std::string> got = walk(tmp.path());
  std::vector<std::string> sorted = got;
  std::sort(sorted.begin(), sorted.end());  // std::string: bytes as unsigned char
  EXPECT_EQ(got, sorted);
  EXPECT_EQ(got, (std::vector<std::string>{"Z", "a", "a-b", "a.txt", "a/x", "a/y", "a/y/z", "a/\xff", "b", "link",
                                           "\xc3\xa9t\xc3\xa9"}));
}

TEST(TreeWalk, EntriesCarryTheirMetadataWithoutHashes) {
  TempDir tmp;
  write_file(tmp / "d" / "f", "12345");
  fs::create_symlink("target", tmp / "d" / "l");
  auto stream = TreeStream::open(tmp.path(), "d");
  ASSERT_TRUE(stream.ok());
  ManifestEntry e;
  ASSERT_TRUE(*(*stream)->next(e));
  EXPECT_EQ(e.path, "f");
  EXPECT_EQ(e.type, EntryType::file);
  EXPECT_EQ(e.size, 5u);
  EXPECT_EQ(e.ino, test::inode_of(tmp / "d" / "f"));
  EXPECT_TRUE(e.hash.empty());
  ASSERT_TRUE(*(*stream)->next(e));
  EXPECT_EQ(e.path, "l");
  EXPECT_EQ(e.type, EntryType::symlink);
  EXPECT_EQ(e.size, 6u);
  EXPECT_FALSE(*(*stream)->next(e));
}

TEST(TreeWalk, NeverFollowsASymlinkOnTheWay) {
  TempDir tmp;
  write_file(tmp / "outside" / "secret", "x");
  fs::create_directories(tmp / "snap");
  fs::create_directory_symlink(tmp / "outside", tmp / "snap" / "via");
  auto opened = open_folder_beneath(tmp / "snap", "via");
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().describe().find("via"), std::string::npos);
  Fd parent;
  auto st = stat_beneath(tmp / "snap", "via/secret", parent);
  ASSERT_FALSE(st.ok());
  auto link = stat_beneath(tmp / "snap", "via", parent);
  ASSERT_TRUE(link.ok());
  EXPECT_TRUE(S_ISLNK(link->st_mode)) << "the link itself, not its target";
}

}  // namespace
}  // namespace snapkeep
