// Unit tests of the native copy engine (core/transfer/native/engine) through its ports, without
// root: records come in manifest order (path bytes: "a" < "a b" < "a.txt" < "a/x"), unchanged files
// are linked to a base by its manifest, a rewrite with size and mtime put back is copied, a
// vanished-looking base file is never linked.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/transfer/native/engine.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::inode_of;
using test::read_file;
using test::TempDir;
using test::write_file;

// FNV-1a in hex: enough to tell the test's small files apart.
class FnvHasher final : public ContentHasher {
 public:
  void update(const void* data, std::size_t size) override {
    for (std::size_t i = 0; i < size; ++i) {
      m_hash = (m_hash ^ static_cast<const unsigned char*>(data)[i]) * 1099511628211ULL;
    }
  }
  std::string hex_digest() override {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(m_hash));
    m_hash = 14695981039346656037ULL;
    return text;
  }

 private:
  std::uint64_t m_hash = 14695981039346656037ULL;
};

// Collects the records the engine writes, checking their order; with_hashes: records content
// hashes (what move detection needs).
class CollectingSink final : public ManifestSink {
 public:
  explicit CollectingSink(bool with_hashes = false) : m_hashes(with_hashes) {}
  bool hashes() const override { return m_hashes; }
  std::unique_ptr<ContentHasher> hasher() const override { return m_hashes ? std::make_unique<FnvHasher>() : nullptr; }
  Status add(const ManifestEntry& entry) override {
    EXPECT_TRUE(records.empty() || records.back().path < entry.path)
        << "out of manifest order: " << (records.empty() ? "" : records.back().path) << " then " << entry.path;
    records.push_back(entry);
    return {};
  }
  Status checkpoint() override { return {}; }
  void drop() override { records.clear(); }
  std::vector<ManifestEntry> records;

 private:
  bool m_hashes = false;
};

// An earlier manifest held in memory.
class MemoryManifest final : public PreviousManifest {
 public:
  explicit MemoryManifest(std::vector<ManifestEntry> entries) : m_entries(std::move(entries)) {}
  bool same_checksum() const override { return true; }
  Result<bool> next(ManifestEntry& entry) override {
    if (m_next >= m_entries.size()) {
      return false;
    }
    m_last = m_next;
    entry = m_entries[m_next++];
    return true;
  }
  Result<std::unique_ptr<PreviousManifest>> reopen() const override {
    return std::unique_ptr<PreviousManifest>(std::make_unique<MemoryManifest>(m_entries));
  }
  std::uint64_t last_position() const override { return m_last; }
  Result<ManifestEntry> at(std::uint64_t position) override { return m_entries.at(position); }

 private:
  std::vector<ManifestEntry> m_entries;
  std::size_t m_next = 0;
  std::size_t m_last = 0;
};

struct Rig {
  Rig() {
    preset.name = "home";
    src = tmp / "src";
    for (const char* f : {"a.txt", "a/x", "a b", "a-b/y", "b", "a/x.d/z"}) {
      write_file(src / f, std::string("content of ") + f);
    }
  }
  NativeCopyStats copy(const fs::path& target, std::vector<LinkBase> bases, CollectingSink& sink,
                       std::size_t move_index_limit = k_move_index_limit) {
    fs::create_directories(target);
    NativeCopyJob job;
    job.move_index_limit = move_index_limit;
    job.preset = &preset;
    job.source = src;
    job.target = target;
    job.bases = std::move(bases);
    job.manifest = &sink;
    auto stats = run_native_copy(job);
    EXPECT_TRUE(stats.ok()) << (stats.ok() ? "" : stats.error().describe());
    return stats.ok() ? *stats : NativeCopyStats{};
  }
  TempDir tmp;
  Preset preset;
  fs::path src;
};

TEST(NativeCopy, RecordsComeInManifestOrderAndUnchangedFilesAreLinked) {
  Rig rig;
  CollectingSink first;
  NativeCopyStats one = rig.copy(rig.tmp / "s1", {}, first);
  std::vector<std::string> paths;
  for (const auto& r : first.records) {
    paths.push_back(r.path);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"a", "a b", "a-b", "a-b/y", "a.txt", "a/x", "a/x.d", "a/x.d/z", "b"}));
  EXPECT_EQ(one.files_transferred, 6u);
  EXPECT_EQ(one.files, 10u);  // nine entries and the root
  EXPECT_EQ(read_file(rig.tmp / "s1" / "a" / "x.d" / "z"), "content of a/x.d/z");

  // The same source against the first copy and its manifest: every file linked.
  CollectingSink second;
  std::vector<LinkBase> bases;
  bases.push_back(LinkBase{rig.tmp / "s1", std::make_unique<MemoryManifest>(first.records)});
  NativeCopyStats two = rig.copy(rig.tmp / "s2", std::move(bases), second);
  EXPECT_EQ(two.files_linked, 6u);
  EXPECT_EQ(two.files_transferred, 0u);
  EXPECT_EQ(inode_of(rig.tmp / "s2" / "a-b" / "y"), inode_of(rig.tmp / "s1" / "a-b" / "y"));
  EXPECT_EQ(second.records.size(), first.records.size());
}

TEST(NativeCopy, SizeAndMtimePutBackIsCopiedAndChangedBaseIsNeverLinked) {
  Rig rig;
  CollectingSink first;
  rig.copy(rig.tmp / "s1", {}, first);
  // Same size, mtime put back: only the source's ctime tells.
  struct stat before = test::stat_of(rig.src / "b");
  ::usleep(20000);
  write_file(rig.src / "b", "CONTENT OF b");
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (rig.src / "b").c_str(), times, 0), 0);
  // Changed on the backup (another mtime): must not be linked.
  write_file(rig.tmp / "s1" / "a.txt", "CONTENT OF A.TXT");  // same size, another mtime
  CollectingSink second;
  std::vector<LinkBase> bases;
  bases.push_back(LinkBase{rig.tmp / "s1", std::make_unique<MemoryManifest>(first.records)});
  NativeCopyStats two = rig.copy(rig.tmp / "s2", std::move(bases), second);
  EXPECT_EQ(read_file(rig.tmp / "s2" / "b"), "CONTENT OF b");
  EXPECT_NE(inode_of(rig.tmp / "s2" / "b"), inode_of(rig.tmp / "s1" / "b"));
  EXPECT_EQ(read_file(rig.tmp / "s2" / "a.txt"), "content of a.txt");
  EXPECT_EQ(two.files_transferred, 2u);
  EXPECT_EQ(two.files_linked, 4u);
}

// Moves are found through an index of the newest manifest's files, which holds at most
// move_index_limit of them (memory stays bounded): a move of a file beyond them is copied.
TEST(NativeCopy, MovesAreFoundAmongTheFilesTheMoveIndexHolds) {
  for (std::size_t limit : {k_move_index_limit, std::size_t{1}}) {
    SCOPED_TRACE("move index of at most " + std::to_string(limit) + " files");
    Rig rig;
    CollectingSink first(true);
    rig.copy(rig.tmp / "s1", {}, first);
    // In manifest order the files are "a b", "a-b/y", "a.txt", "a/x", "a/x.d/z", "b": an index of
    // one holds "a b" only.
    fs::rename(rig.src / "a.txt", rig.src / "moved.txt");
    fs::rename(rig.src / "b", rig.src / "a-b" / "b-moved");
    CollectingSink second(true);
    std::vector<LinkBase> bases;
    bases.push_back(LinkBase{rig.tmp / "s1", std::make_unique<MemoryManifest>(first.records)});
    NativeCopyStats two = rig.copy(rig.tmp / "s2", std::move(bases), second, limit);
    EXPECT_EQ(read_file(rig.tmp / "s2" / "moved.txt"), "content of a.txt");
    EXPECT_EQ(read_file(rig.tmp / "s2" / "a-b" / "b-moved"), "content of b");
    if (limit == 1) {
      EXPECT_EQ(two.files_moved, 0u);
      EXPECT_EQ(two.files_transferred, 2u);
      EXPECT_NE(inode_of(rig.tmp / "s2" / "moved.txt"), inode_of(rig.tmp / "s1" / "a.txt"));
    } else {
      EXPECT_EQ(two.files_moved, 2u);
      EXPECT_EQ(two.files_transferred, 0u);
      EXPECT_EQ(inode_of(rig.tmp / "s2" / "moved.txt"), inode_of(rig.tmp / "s1" / "a.txt"));
      EXPECT_EQ(inode_of(rig.tmp / "s2" / "a-b" / "b-moved"), inode_of(rig.tmp / "s1" / "b"));
    }
  }
}

}  // namespace
}  // namespace snapkeep
