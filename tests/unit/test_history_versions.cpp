// Unit tests for core/history/versions over snapshots made by the fake backend: identical versions
// collapsed newest first, folders, snapshots without a manifest read from their trees, and how a
// path on the command line is taken.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/history/versions.hpp"
#include "core/integrity/manifest.hpp"
#include "tests/support/fake_world.hpp"
#include "tests/support/file_probes.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::FakeWorld;
using test::write_file;

TEST(HistoryVersions, CollapsesIdenticalVersionsNewestFirst) {
  FakeWorld w;
  write_file(w.src / "doc.txt", "v1\n");
  test::set_mtime(w.src / "doc.txt", 1700000000);
  const std::string s1 = w.backup_ok();
  const std::string s2 = w.backup_ok();  // unchanged
  write_file(w.src / "doc.txt", "version 2\n");
  test::set_mtime(w.src / "doc.txt", 1700000100);
  const std::string s3 = w.backup_ok();
  fs::remove(w.src / "doc.txt");
  const std::string s4 = w.backup_ok();
  write_file(w.src / "doc.txt", "v1\n");  // the first version back, as it was
  test::set_mtime(w.src / "doc.txt", 1700000000);
  const std::string s5 = w.backup_ok();

  auto found = find_versions(w.preset, "doc.txt");
  ASSERT_TRUE(found.ok()) << found.error().describe();
  ASSERT_EQ(found->versions.size(), 2u);
  EXPECT_EQ(found->versions[0].snapshots, (std::vector<std::string>{s1, s2, s5}));
  EXPECT_EQ(found->versions[0].size, 3u);
  EXPECT_EQ(found->versions[0].mtime_ns, 1700000000LL * 1000000000LL);
  EXPECT_EQ(found->versions[1].snapshots, (std::vector<std::string>{s3}));
  EXPECT_EQ(found->versions[1].size, 10u);
  EXPECT_NE(found->versions[0].hash, found->versions[1].hash);
  EXPECT_EQ(found->absent, (std::vector<std::string>{s4}));
  EXPECT_TRUE(found->read_from_tree.empty());
}

TEST(HistoryVersions, FoldersAndSnapshotsWithoutManifestAgree) {
  FakeWorld w;
  write_file(w.src / "d" / "x.txt", "x\n");
  write_file(w.src / "d" / "sub" / "y.txt", "y\n");
  write_file(w.src / "d.txt", "not in the folder\n");
  const std::string s1 = w.backup_ok();
  write_file(w.src / "d.txt", "changed, still not in the folder\n");
  const std::string s2 = w.backup_ok();
  write_file(w.src / "d" / "sub" / "y.txt", "y changed\n");
  const std::string s3 = w.backup_ok();
  // s2 loses its manifest: read from its tree, it must still be the same version as s1.
  fs::remove(manifest_path(w.preset_dir() / ".snapkeep", s2));
  auto found = find_versions(w.preset, "d");
  ASSERT_TRUE(found.ok()) << found.error().describe();
  ASSERT_EQ(found->versions.size(), 2u);
  EXPECT_EQ(found->versions[0].type, EntryType::directory);
  EXPECT_EQ(found->versions[0].snapshots, (std::vector<std::string>{s3}));
  EXPECT_EQ(found->versions[1].snapshots, (std::vector<std::string>{s1, s2}));
  EXPECT_EQ(found->versions[1].entries, 3u) << "x.txt, sub, sub/y.txt";
  EXPECT_EQ(found->versions[1].size, 4u);
  ASSERT_EQ(found->read_from_tree.size(), 1u);
  EXPECT_EQ(found->read_from_tree[0].id, s2);
  EXPECT_EQ(found->read_from_tree[0].reason, "no manifest");

  // A file read from the tree is hashed like the manifest's: s2's d.txt is s2's own version.
  auto file = find_versions(w.preset, "d.txt");
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file->versions.size(), 2u);
  EXPECT_EQ(file->versions[0].snapshots, (std::vector<std::string>{s2, s3}));
}

TEST(HistoryVersions, PathsAreTakenInsideTheSnapshots) {
  FakeWorld w;
  EXPECT_EQ(*path_in_snapshots(w.preset, "a/b/"), "a/b");
  EXPECT_EQ(*path_in_snapshots(w.preset, "./a//b"), "a/b");
  EXPECT_EQ(*path_in_snapshots(w.preset, (w.src / "docs" / "x.txt").string()), "docs/x.txt");
  EXPECT_EQ(*path_in_snapshots(w.preset, (w.preset_dir() / "latest" / "docs" / "x.txt").string()), "docs/x.txt");
  EXPECT_EQ(*path_in_snapshots(w.preset, (w.preset_dir() / "2026-01-01_00-00-00" / "x").string()), "x");
  for (const std::string bad : {"", ".", "../etc/passwd", "a/../../b", "/etc/passwd"}) {
    auto r = path_in_snapshots(w.preset, bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r) {
      EXPECT_EQ(r.error().kind, ErrorKind::config) << bad;
    }
  }
}

}  // namespace
}  // namespace snapkeep
