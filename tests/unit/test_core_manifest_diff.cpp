// Unit tests for core/integrity/manifest_diff: what counts as a content or a metadata change, the
// side-by-side walk of two manifests, and the counts a backup prints.

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_diff.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const std::string k_hash_a = "e6717241a09294e64dbdefd4204ea1ec";
const std::string k_hash_b = "99aa06d3014798d86001c324468d497f";

ManifestEntry entry(std::string path, EntryType type = EntryType::file, std::string hash = k_hash_a,
                    std::uint64_t size = 10) {
  ManifestEntry e;
  e.path = std::move(path);
  e.type = type;
  e.size = size;
  e.mtime_ns = 1700000000000000000LL;
  e.ino = 100;
  e.ctime_ns = 1700000001000000000LL;
  e.hash = type == EntryType::directory ? "" : std::move(hash);
  return e;
}

fs::path write_manifest(const fs::path& path, const std::vector<ManifestEntry>& entries) {
  ManifestHeader header;
  header.snapshot_id = path.filename().string();
  auto writer = ManifestWriter::create(path, header);
  EXPECT_TRUE(writer.ok()) << writer.error().describe();
  for (const auto& e : entries) {
    EXPECT_TRUE(writer->add(e).ok());
  }
  EXPECT_TRUE(writer->commit().ok());
  return path;
}

// A stream over a vector, for the merge.
class VectorStream : public EntryStream {
 public:
  explicit VectorStream(std::vector<ManifestEntry> entries) : m_entries(std::move(entries)) {}
  Result<bool> next(ManifestEntry& e) override {
    if (m_next == m_entries.size()) {
      return false;
    }
    e = m_entries[m_next++];
    return true;
  }

 private:
  std::vector<ManifestEntry> m_entries;
  std::size_t m_next = 0;
};

TEST(ManifestDiff, ContentChangesAreTypeSizeOrHash) {
  const ManifestEntry before = entry("a");
  for (const auto sharing : {ContentSharing::hard_links, ContentSharing::extent_lineage}) {
    EXPECT_EQ(compare_entries(before, before, sharing), PathChange::unchanged);
    ManifestEntry after = before;
    after.hash = k_hash_b;
    EXPECT_EQ(compare_entries(before, after, sharing), PathChange::content);
    after = before;
    after.size = 11;
    EXPECT_EQ(compare_entries(before, after, sharing), PathChange::content);
    after = before;
    after.type = EntryType::symlink;
    EXPECT_EQ(compare_entries(before, after, sharing), PathChange::content);
  }
}

TEST(ManifestDiff, SameContentWithNewMtimeOrInodeIsMetadataOnly) {
  const ManifestEntry before = entry("a");
  ManifestEntry after = before;
  after.mtime_ns += 1;
  EXPECT_EQ(compare_entries(before, after, ContentSharing::hard_links), PathChange::metadata);
  // Hard-link trees: an unchanged file is the same inode; a new copy of the same content is a
  // metadata change (mode, owner, xattrs). Every new link moves the ctime, so it does not count.
  after = before;
  after.ino = 101;
  EXPECT_EQ(compare_entries(before, after, ContentSharing::hard_links), PathChange::metadata);
  after = before;
  after.ctime_ns += 5;
  EXPECT_EQ(compare_entries(before, after, ContentSharing::hard_links), PathChange::unchanged);
  // Subvolume snapshots keep inode and ctime for an unchanged file.
  EXPECT_EQ(compare_entries(before, after, ContentSharing::extent_lineage), PathChange::metadata);
}

TEST(ManifestDiff, WithoutComparableHashesAnMtimeChangeIsContent) {
  ManifestEntry before = entry("a");
  before.hash = "";
  ManifestEntry after = before;
  after.mtime_ns += 1;
  EXPECT_EQ(compare_entries(before, after, ContentSharing::hard_links), PathChange::content);
  // Hashes of two algorithms (another `checksum`) cannot be compared either.
  before.hash = k_hash_a;
  after.hash = std::string(64, 'f');
  EXPECT_EQ(compare_entries(before, after, ContentSharing::hard_links), PathChange::content);
  after.mtime_ns = before.mtime_ns;
  EXPECT_EQ(compare_entries(before, after, ContentSharing::hard_links), PathChange::unchanged);
}

TEST(ManifestDiff, FoldersAreNeverModified) {
  const ManifestEntry before = entry("d", EntryType::directory);
  ManifestEntry after = before;
  after.mtime_ns += 1000;
  after.size = 8192;
  after.ino = 7;
  EXPECT_EQ(compare_entries(before, after, ContentSharing::hard_links), PathChange::unchanged);
}

TEST(ManifestDiff, MergePairsPathsInByteOrder) {
  // "a" < "a.txt" < "a/x" < "b" < "\xc3\xa9" (bytes compare unsigned).
  VectorStream before({entry("a", EntryType::directory), entry("a/x"), entry("b"), entry("\xc3\xa9")});
  VectorStream after({entry("a", EntryType::directory), entry("a.txt"), entry("a/x"), entry("\xc3\xa9")});
  EntryMerge merge(before, after);
  std::vector<std::string> seen;
  const ManifestEntry* b = nullptr;
  const ManifestEntry* a = nullptr;
  for (;;) {
    auto more = merge.next(b, a);
    ASSERT_TRUE(more.ok());
    if (!*more) {
      break;
    }
    ASSERT_TRUE(b != nullptr || a != nullptr);
    const std::string path = b != nullptr ? b->path : a->path;
    if (b != nullptr && a != nullptr) {
      EXPECT_EQ(b->path, a->path);
    }
    seen.push_back((b == nullptr ? "+" : (a == nullptr ? "-" : "=")) + path);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"=a", "+a.txt", "=a/x", "-b", "=\xc3\xa9"}));
}

TEST(ManifestDiff, CountsChangesBetweenTwoManifests) {
  TempDir tmp;
  ManifestEntry changed = entry("changed");
  ManifestEntry touched = entry("touched");
  fs::path before = write_manifest(tmp / "before", {entry("changed"), entry("gone"), entry("same"), entry("touched")});
  changed.hash = k_hash_b;
  touched.mtime_ns += 1;
  fs::path after = write_manifest(tmp / "after", {changed, entry("new1"), entry("new2"), entry("same"), touched});
  auto counts = count_manifest_changes(before, after, ContentSharing::hard_links);
  ASSERT_TRUE(counts.ok()) << counts.error().describe();
  EXPECT_EQ(counts->added, 2u);
  EXPECT_EQ(counts->deleted, 1u);
  EXPECT_EQ(counts->content, 1u);
  EXPECT_EQ(counts->metadata, 1u);

  // A missing manifest is an error naming it, never a count of zero.
  auto missing = count_manifest_changes(tmp / "absent", after, ContentSharing::hard_links);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().describe().find("absent"), std::string::npos) << missing.error().describe();
}

}  // namespace
}  // namespace snapkeep
