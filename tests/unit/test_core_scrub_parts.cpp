// Unit tests for the parts of scrub in core/integrity: the content index (path groups across
// snapshots, unique contents, verification order), the finding list (typed keys, report order),
// the scrub state read as a sorted stream and compacted from one, and scrub runs over more
// snapshots than are walked at once.

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backends/rsync/rsync_backend.hpp"
#include "core/integrity/content_index.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/integrity/scrub.hpp"
#include "core/integrity/scrub_findings.hpp"
#include "core/integrity/scrub_state.hpp"
#include "core/integrity/snapshot_check.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::TempDir;
using test::write_file;

ManifestEntry file_entry(const std::string& path, const std::string& hash, std::uint64_t size = 10,
                         std::int64_t mtime = 1000) {
  ManifestEntry e;
  e.path = path;
  e.hash = hash;
  e.size = size;
  e.mtime_ns = mtime;
  return e;
}

struct stat live(std::uint64_t ino, std::uint64_t size = 10, std::int64_t mtime_sec = 1) {
  struct stat st {};
  st.st_ino = static_cast<ino_t>(ino);
  st.st_dev = 42;
  st.st_size = static_cast<off_t>(size);
  st.st_mtim.tv_sec = mtime_sec;
  return st;
}

ContentKey key_of(std::uint64_t ino) {
  return content_key(live(ino), ContentSharing::hard_links);
}

std::vector<IndexedContent> contents_of(Result<ContentStream> stream) {
  EXPECT_TRUE(stream.ok());
  std::vector<IndexedContent> out;
  IndexedContent c;
  while (stream.ok() && *stream->next(c)) {
    out.push_back(c);
  }
  return out;
}

std::vector<PathGroup> groups_of(const ContentIndex& index) {
  auto stream = index.groups();
  EXPECT_TRUE(stream.ok());
  std::vector<PathGroup> out;
  PathGroup g;
  while (stream.ok() && *stream->next(g)) {
    out.push_back(g);
  }
  return out;
}

TEST(ContentIndex, AFileUnchangedAcrossSnapshotsIsOneGroupAndOneContent) {
  TempDir tmp;
  auto state = ScrubState::open(tmp.path());
  ASSERT_TRUE(state.ok());
  ContentIndex index(tmp.path());
  // Path by path, snapshots ascending: "a" is inode 1 in snapshots 0-2; "b" is inode 2 in 0 and 2
  // but inode 3 in 1 (changed and changed back); "c" is inode 1 too (a hard link of "a").
  ASSERT_TRUE(index.add(0, file_entry("a", "aa"), ChecksumKind::xxh128, live(1), key_of(1), 11).ok());
  ASSERT_TRUE(index.add(1, file_entry("a", "aa"), ChecksumKind::xxh128, live(1), key_of(1), 12).ok());
  ASSERT_TRUE(index.add(2, file_entry("a", "aa"), ChecksumKind::xxh128, live(1), key_of(1), 13).ok());
  ASSERT_TRUE(index.add(0, file_entry("b", "bb"), ChecksumKind::xxh128, live(2), key_of(2), 21).ok());
  ASSERT_TRUE(index.add(1, file_entry("b", "b3"), ChecksumKind::xxh128, live(3), key_of(3), 31).ok());
  ASSERT_TRUE(index.add(2, file_entry("b", "bb"), ChecksumKind::xxh128, live(2), key_of(2), 22).ok());
  ASSERT_TRUE(index.add(1, file_entry("c", "aa"), ChecksumKind::xxh128, live(1), key_of(1), 14).ok());
  auto totals = index.finish(*state);
  ASSERT_TRUE(totals.ok()) << totals.error().describe();
  EXPECT_EQ(totals->contents, 3u);
  EXPECT_EQ(totals->bytes, 30u);
  EXPECT_EQ(totals->never_verified, 3u);

  auto groups = groups_of(index);
  ASSERT_EQ(groups.size(), 5u) << "a[0-2], c[1], b[0], b[2], b[1]";
  EXPECT_EQ(groups[0].path, "a");
  EXPECT_EQ(groups[0].first_snapshot, 0u);
  EXPECT_EQ(groups[0].last_snapshot, 2u);
  EXPECT_EQ(groups[1].path, "c");

  auto contents = contents_of(index.in_order());
  ASSERT_EQ(contents.size(), 3u);
  EXPECT_EQ(contents[0].key, key_of(1)) << "inode order among the never verified";
  EXPECT_EQ(contents[0].paths, 4u);
  EXPECT_EQ(contents[0].first_path, "a");
  EXPECT_EQ(contents[0].state_key, 11u) << "the state key of its first path";
  EXPECT_EQ(contents[1].paths, 2u);
  EXPECT_EQ(contents[1].expectations.size(), 1u);
}

TEST(ContentIndex, OrderIsDamagedBeforeThenNeverVerifiedThenLongestAgo) {
  TempDir tmp;
  {
    auto state = ScrubState::open(tmp.path());
    ASSERT_TRUE(state.ok());
    ASSERT_TRUE(state->record(10, 500, false).ok());  // inode 1: verified at 500
    ASSERT_TRUE(state->record(20, 100, false).ok());  // inode 2: verified at 100, then damaged at 900
    ASSERT_TRUE(state->record(20, 900, true).ok());
    ASSERT_TRUE(state->record(40, 300, false).ok());  // inode 4: verified at 300
  }
  auto state = ScrubState::open(tmp.path());
  ASSERT_TRUE(state.ok());
  ContentIndex index(tmp.path());
  for (std::uint64_t ino = 1; ino <= 4; ++ino) {
    ASSERT_TRUE(index
                    .add(0, file_entry("f" + std::to_string(ino), "h" + std::to_string(ino)), ChecksumKind::xxh128,
                         live(ino), key_of(ino), ino * 10)
                    .ok());
  }
  auto totals = index.finish(*state);
  ASSERT_TRUE(totals.ok());
  EXPECT_EQ(totals->never_verified, 1u);
  EXPECT_EQ(totals->state_keys, 4u);
  std::vector<std::uint64_t> order;
  for (const auto& c : contents_of(index.in_order())) {
    order.push_back(c.key.ino);
  }
  EXPECT_EQ(order, (std::vector<std::uint64_t>{2, 3, 4, 1}));
  auto by_key = contents_of(index.by_state_key());
  ASSERT_EQ(by_key.size(), 4u);
  EXPECT_TRUE(by_key[1].before.has_value() == false) << "by_state_key carries no verification";
}

TEST(FindingList, TypedKeysMergeOneEntryAcrossSnapshotsAndTheReportIsOrdered) {
  FindingList list(false);
  SnapshotInfo s0{"s0", "/d/s0"};
  SnapshotInfo s1{"s1", "/d/s1"};
  ManifestEntry gone = file_entry("gone", "g");
  gone.ino = 5;
  ManifestEntry dir = file_entry("dir", "");
  dir.type = EntryType::directory;
  dir.ino = 5;
  // Snapshot 1's paths come first (a walk goes path by path), yet snapshot 0 leads the report.
  list.add_entry({FindingStatus::missing, 5, "g", EntryType::file}, {1, "/d/s1/gone"}, "s1", gone, "", "");
  std::size_t same =
      list.add_entry({FindingStatus::missing, 5, "g", EntryType::file}, {0, "/d/s0/gone"}, "s0", gone, "", "");
  std::size_t other =
      list.add_entry({FindingStatus::missing, 5, "", EntryType::directory}, {1, "/d/s1/dir"}, "s1", dir, "", "");
  EXPECT_EQ(same, 0u);
  EXPECT_EQ(other, 1u) << "another type is another finding, whatever the inode number";
  EXPECT_EQ(list.path_count(0), 2u);
  ScrubFinding content;
  content.status = FindingStatus::corrupted;
  std::size_t c = list.add_content(content, {0, "/d/s0/a"});
  list.add_path(c, {0, "/d/s0/a"}, "s0");
  list.add_manifest_damaged(2, SnapshotInfo{"s2", "/d/s2"}, "bad");
  auto findings = list.take();
  ASSERT_EQ(findings.size(), 4u);
  EXPECT_EQ(findings[0].paths, (std::vector<fs::path>{"/d/s0/gone", "/d/s1/gone"}));
  EXPECT_EQ(findings[0].snapshots, (std::vector<std::string>{"s0", "s1"}));
  EXPECT_EQ(findings[1].paths, std::vector<fs::path>{"/d/s1/dir"});
  EXPECT_EQ(findings[2].status, FindingStatus::manifest_damaged);
  EXPECT_EQ(findings[3].status, FindingStatus::corrupted) << "content findings come after entry findings";
}

TEST(ScrubState, RecordsStreamTheLastRecordPerKeyInKeyOrderAndCompactFromAStream) {
  TempDir tmp;
  auto st = ScrubState::open(tmp.path());
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(st->record(0x30, 1, false).ok());
  ASSERT_TRUE(st->record(0x10, 2, true).ok());
  ASSERT_TRUE(st->record(0x30, 3, true).ok());
  ASSERT_TRUE(st->record(0x20, 4, false).ok());
  auto records = st->records();
  ASSERT_TRUE(records.ok());
  std::vector<std::pair<std::uint64_t, std::int64_t>> got;
  std::uint64_t key = 0;
  ContentRecord record;
  while (*records->next(key, record)) {
    got.emplace_back(key, record.verified_ns);
  }
  EXPECT_EQ(got, (std::vector<std::pair<std::uint64_t, std::int64_t>>{{0x10, 2}, {0x20, 4}, {0x30, 3}}));
  EXPECT_EQ(st->lines(), 4u);

  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(st->record(static_cast<std::uint64_t>(0x100 + i), i, false).ok());
  }
  std::vector<std::uint64_t> live = {0x20, 0x30, 0x105};
  std::size_t next = 0;
  ASSERT_TRUE(st->compact(live.size(), [&](std::uint64_t& k) -> Result<bool> {
                  if (next == live.size()) {
                    return false;
                  }
                  k = live[next++];
                  return true;
                }).ok());
  EXPECT_EQ(st->lines(), 3u);
  EXPECT_EQ(read_file(tmp / "scrub-state"), "0000000000000020 4 o\n0000000000000030 3 d\n0000000000000105 5 o\n");
  EXPECT_FALSE(fs::exists(tmp / "scrub-state.tmp"));
}

// Hand-made hard-link snapshots with manifests, as in test_core_scrub.cpp.
struct ManySnapshots {
  explicit ManySnapshots(int count) {
    preset.name = "home";
    preset.source = tmp / "src";
    preset.destination = tmp / "dst";
    fs::path dir = preset.preset_dir();
    fs::create_directories(manifest_dir(dir / ".snapkeep"));
    fs::create_directories(preset.source);
    for (int i = 0; i < count; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "2026-01-01_00-%02d-%02d", i / 60, i % 60);
      fs::path snap = dir / id;
      fs::create_directories(snap);
      if (i == 0) {
        test::write_random_file(snap / "shared.bin", 5000, 1);
      } else {
        fs::create_hard_link(dir / ids.back() / "shared.bin", snap / "shared.bin");
      }
      test::write_random_file(snap / "own.bin", 100, static_cast<unsigned>(i + 2));
      ManifestBuildOptions options;
      if (!ids.empty()) {
        options.previous_snapshot = dir / ids.back();
        options.previous_manifest = manifest_path(dir / ".snapkeep", ids.back());
      }
      EXPECT_TRUE(build_manifest(snap, id, manifest_path(dir / ".snapkeep", id), options).ok());
      ids.push_back(id);
    }
  }
  TempDir tmp;
  Preset preset;
  std::vector<std::string> ids;
  std::unique_ptr<Backend> backend = make_rsync_backend();
};

TEST(Scrub, MoreSnapshotsThanAreWalkedAtOnceReadEachContentOnce) {
  const int count = static_cast<int>(k_open_manifests) + 8;
  ManySnapshots world(count);
  auto report = run_scrub(world.preset, *world.backend, ScrubOptions{});
  ASSERT_TRUE(report.ok()) << report.error().describe();
  EXPECT_EQ(report->snapshots_checked, static_cast<std::uint64_t>(count));
  EXPECT_EQ(report->contents_total, static_cast<std::uint64_t>(count) + 1);
  EXPECT_EQ(report->bytes_read, 5000u + 100u * static_cast<unsigned>(count)) << "the shared file is read once";
  EXPECT_EQ(report->files_checked, 2u * static_cast<unsigned>(count));
  EXPECT_TRUE(report->findings.empty());

  // Damage found in the shared file lists its path in every snapshot, in snapshot order.
  fs::path first = world.preset.preset_dir() / world.ids.front() / "shared.bin";
  struct stat before = test::stat_of(first);
  std::string data = read_file(first);
  data[100] = static_cast<char>(data[100] ^ 1);
  write_file(first, data);
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, first.c_str(), times, 0), 0);
  auto damaged = run_scrub(world.preset, *world.backend, ScrubOptions{});
  ASSERT_TRUE(damaged.ok());
  ASSERT_EQ(damaged->findings.size(), 1u);
  const ScrubFinding& f = damaged->findings[0];
  EXPECT_EQ(f.status, FindingStatus::corrupted);
  ASSERT_EQ(f.paths.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(f.paths[static_cast<std::size_t>(i)],
              world.preset.preset_dir() / world.ids[static_cast<std::size_t>(i)] / "shared.bin");
  }
  EXPECT_EQ(f.snapshots, world.ids);
}

TEST(Scrub, NoWorkFileIsLeftBehind) {
  ManySnapshots world(3);
  ASSERT_TRUE(run_scrub(world.preset, *world.backend, ScrubOptions{}).ok());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(world.preset.preset_dir() / ".snapkeep")) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"lock", "manifests", "scrub-state"}));
}

}  // namespace
}  // namespace snapkeep
