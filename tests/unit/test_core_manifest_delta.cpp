// Unit tests for delta manifests (version 4, core/integrity/manifest): a delta reads as its base
// and its records merged, for every reader of open_manifest; any doubt about the pair (a base
// missing, replaced, damaged; a delta damaged or inconsistent) is damage, never a wrong listing; the
// manifest of a deleted snapshot stays while a delta amends it (forget_snapshot_state,
// tidy_manifests).

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/store/catalog.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::TempDir;
using test::write_file;

// The base a manifest's header names ("" for a whole manifest, "unreadable" when it does not read).
std::string base_of(const fs::path& manifest) {
  auto base = manifest_base_of(manifest);
  return !base ? "unreadable" : *base ? (*base)->id : "";
}

const std::string k_base_id = "2026-12-01_10-00-00";
const std::string k_delta_id = "2026-12-01_11-00-00";

ManifestEntry entry(std::string path, EntryType type, std::uint64_t size, std::string hash = "") {
  ManifestEntry e;
  e.path = std::move(path);
  e.type = type;
  e.size = type == EntryType::file ? size : 0;
  e.mtime_ns = 1700000000000000000LL + static_cast<std::int64_t>(size);
  e.ino = 100 + size;
  e.ctime_ns = 1700000001000000000LL;
  if (type == EntryType::file) {
    e.hash = hash.empty() ? std::string(32, 'a') : hash;
  }
  return e;
}

std::vector<ManifestEntry> base_entries() {
  return {entry("a", EntryType::directory, 0),     entry("a/keep", EntryType::file, 10),
          entry("a/old", EntryType::file, 20),     entry("b", EntryType::directory, 0),
          entry("b/changed", EntryType::file, 30), entry("b/linked", EntryType::file, 40),
          entry("c", EntryType::symlink, 5),       entry("z-last", EntryType::file, 50)};
}

// The base: a whole manifest (version 3) under its id in `dir`. Its checksum into `checksum`.
void write_base(const fs::path& dir, const std::vector<ManifestEntry>& entries, std::string& checksum) {
  fs::create_directories(dir);
  ManifestHeader header;
  header.snapshot_id = k_base_id;
  header.created_ns = 1;
  header.links = true;
  auto writer = ManifestWriter::create(dir / k_base_id, header);
  ASSERT_TRUE(writer.ok()) << writer.error().describe();
  for (const auto& e : entries) {
    ASSERT_TRUE(writer->add(e, e.path == "b/linked").ok());
  }
  ASSERT_TRUE(writer->commit().ok());
  auto index = ManifestIndex::open(dir / k_base_id);
  ASSERT_TRUE(index.ok()) << index.error().describe();
  checksum = index->checksum();
}

ManifestHeader delta_header(const std::string& base_checksum) {
  ManifestHeader header;
  header.snapshot_id = k_delta_id;
  header.created_ns = 2;
  header.links = true;
  header.base = k_base_id;
  header.base_checksum = base_checksum;
  return header;
}

struct Expected {
  std::vector<ManifestEntry> entries;
  ManifestDeltaWriter::Totals totals;
};

// The delta the tests write: "a/old" removed, "b/changed" changed, "a/new" and "b/new" (linked)
// added, "aa" before every base path and "zz" after: and what merging it with the base gives.
Expected write_delta(const fs::path& dir, const std::string& base_checksum) {
  ManifestDeltaWriter delta(delta_header(base_checksum));
  const ManifestEntry a_new = entry("a/new", EntryType::file, 7);
  const ManifestEntry aa = entry("aa", EntryType::file, 1);
  ManifestEntry changed = entry("b/changed", EntryType::file, 31, std::string(32, 'c'));
  const ManifestEntry b_new = entry("b/new", EntryType::file, 40);
  const ManifestEntry zz = entry("zz", EntryType::directory, 0);
  EXPECT_TRUE(delta.add(a_new).ok());
  EXPECT_TRUE(delta.remove("a/old").ok());
  EXPECT_TRUE(delta.add(aa).ok());
  EXPECT_TRUE(delta.add(changed).ok());
  EXPECT_TRUE(delta.add(b_new, true).ok());
  EXPECT_TRUE(delta.add(zz).ok());
  Expected out;
  for (const auto& e : base_entries()) {
    if (e.path != "a/old" && e.path != "b/changed") {
      out.entries.push_back(e);
    }
  }
  for (const auto& e : {a_new, aa, changed, b_new, zz}) {
    out.entries.push_back(e);
  }
  std::sort(out.entries.begin(), out.entries.end(),
            [](const ManifestEntry& x, const ManifestEntry& y) { return x.path < y.path; });
  out.totals.entries = out.entries.size();
  for (const auto& e : out.entries) {
    if (e.type == EntryType::file) {
      ++out.totals.files;
      out.totals.bytes += e.size;
    }
  }
  Status committed = delta.commit(dir / k_delta_id, out.totals);
  EXPECT_TRUE(committed.ok()) << committed.error().describe();
  return out;
}

std::vector<ManifestEntry> read_all(const fs::path& path, std::vector<ManifestEntry>* visited = nullptr) {
  std::vector<ManifestEntry> out;
  auto opened = open_manifest(path, [&](const ManifestEntry& e) {
    if (visited != nullptr) {
      visited->push_back(e);
    }
  });
  EXPECT_EQ(opened.state, ManifestState::ok) << opened.reason;
  if (opened.state != ManifestState::ok) {
    return out;
  }
  ManifestEntry e;
  for (;;) {
    auto more = opened.reader->next(e);
    EXPECT_TRUE(more.ok()) << more.error().describe();
    if (!more.ok() || !*more) {
      break;
    }
    out.push_back(e);
  }
  EXPECT_EQ(out.size(), opened.reader->entry_count());
  return out;
}

ManifestOpen open_delta_manifest(const fs::path& dir) {
  return open_manifest(dir / k_delta_id);
}

TEST(ManifestDelta, ReadsAsItsBaseWithItsRecordsMerged) {
  TempDir tmp;
  const fs::path dir = tmp / "manifests";
  std::string base_checksum;
  write_base(dir, base_entries(), base_checksum);
  const Expected expected = write_delta(dir, base_checksum);

  std::vector<ManifestEntry> visited;
  EXPECT_EQ(read_all(dir / k_delta_id, &visited), expected.entries);
  EXPECT_EQ(visited, expected.entries);
  auto opened = open_delta_manifest(dir);
  ASSERT_EQ(opened.state, ManifestState::ok) << opened.reason;
  const ManifestHeader& header = opened.reader->header();
  EXPECT_TRUE(header.delta());
  EXPECT_EQ(header.version, k_manifest_delta_version);
  EXPECT_EQ(header.snapshot_id, k_delta_id);
  EXPECT_EQ(header.base, k_base_id);
  EXPECT_EQ(header.total_entries, expected.totals.entries);
  EXPECT_EQ(header.total_files, expected.totals.files);
  EXPECT_EQ(header.total_bytes, expected.totals.bytes);
  EXPECT_EQ(opened.reader->checksum().size(), 32u);
  EXPECT_NE(opened.reader->checksum(), base_checksum);
  // The base is untouched and still reads as itself.
  EXPECT_EQ(read_all(dir / k_base_id), base_entries());
  // A patch needs pages: a delta has none, and says so.
  auto index = ManifestIndex::open(dir / k_delta_id);
  ASSERT_FALSE(index.ok());
  EXPECT_NE(index.error().describe().find("delta"), std::string::npos) << index.error().describe();
  EXPECT_EQ(base_of(dir / k_delta_id), k_base_id);
  EXPECT_EQ(base_of(dir / k_base_id), "");
  // Nothing is left beside the two.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  // The file is small: the records, not the base's.
  EXPECT_LT(fs::file_size(dir / k_delta_id), 1024u);
}

TEST(ManifestDelta, ABaseMovedAsideForItsDeletedSnapshotStillServes) {
  TempDir tmp;
  const fs::path dir = tmp / "manifests";
  std::string base_checksum;
  write_base(dir, base_entries(), base_checksum);
  const Expected expected = write_delta(dir, base_checksum);
  fs::rename(dir / k_base_id, dir / (std::string(k_gone_manifest_prefix) + k_base_id));
  EXPECT_EQ(read_all(dir / k_delta_id), expected.entries);

  // A snapshot made again under the base's id has another manifest there: the delta passes it by.
  std::vector<ManifestEntry> other = base_entries();
  other.pop_back();
  std::string other_checksum;
  write_base(dir, other, other_checksum);
  ASSERT_NE(other_checksum, base_checksum);
  EXPECT_EQ(read_all(dir / k_delta_id), expected.entries);
}

TEST(ManifestDelta, AnyDoubtAboutThePairIsDamage) {
  TempDir tmp;
  const fs::path dir = tmp / "manifests";
  std::string base_checksum;
  write_base(dir, base_entries(), base_checksum);
  write_delta(dir, base_checksum);
  const std::string delta_bytes = read_file(dir / k_delta_id);
  const std::string base_bytes = read_file(dir / k_base_id);
  auto damaged_because = [&](const std::string& words) {
    auto opened = open_delta_manifest(dir);
    EXPECT_EQ(opened.state, ManifestState::damaged);
    EXPECT_EQ(opened.reader, nullptr);
    EXPECT_NE(opened.reason.find(words), std::string::npos) << opened.reason;
  };

  // The base is gone.
  fs::remove(dir / k_base_id);
  damaged_because("its base manifest " + k_base_id + " is missing");
  // Another manifest under the base's id (another snapshot made under it).
  std::vector<ManifestEntry> other = base_entries();
  other.pop_back();
  std::string other_checksum;
  write_base(dir, other, other_checksum);
  damaged_because("is not the one it was written against");
  // The base, damaged: one flipped byte in a page.
  std::string rotten = base_bytes;
  rotten[k_manifest_page + 5] ^= 0x01;
  write_file(dir / k_base_id, rotten);
  damaged_because("is damaged");
  write_file(dir / k_base_id, base_bytes);
  EXPECT_EQ(open_delta_manifest(dir).state, ManifestState::ok);

  // Any flipped byte of the delta.
  for (std::size_t i = 0; i < delta_bytes.size(); i += 7) {
    std::string bad = delta_bytes;
    bad[i] ^= 0x20;
    write_file(dir / k_delta_id, bad);
    auto opened = open_delta_manifest(dir);
    EXPECT_NE(opened.state, ManifestState::ok) << "byte " << i << " flipped";
  }
  // Cut off.
  write_file(dir / k_delta_id, delta_bytes.substr(0, delta_bytes.size() - 3));
  EXPECT_EQ(open_delta_manifest(dir).state, ManifestState::damaged);
  write_file(dir / k_delta_id, delta_bytes);

  // Written consistently (checksummed) but wrong: totals that do not add up, a removal of a path
  // the base lacks, a base that is the delta itself.
  auto write_wrong = [&](const std::function<void(ManifestDeltaWriter&, ManifestDeltaWriter::Totals&)>& fill,
                         ManifestHeader header) {
    ManifestDeltaWriter delta(header);
    ManifestDeltaWriter::Totals totals{8, 5, 150};
    fill(delta, totals);
    ASSERT_TRUE(delta.commit(dir / k_delta_id, totals).ok());
  };
  const ManifestHeader good = delta_header(base_checksum);
  write_wrong([](ManifestDeltaWriter&, ManifestDeltaWriter::Totals&) {}, good);
  EXPECT_EQ(open_delta_manifest(dir).state, ManifestState::ok) << "an empty delta is its base";
  write_wrong([](ManifestDeltaWriter&, ManifestDeltaWriter::Totals& t) { t.bytes += 1; }, good);
  damaged_because("totals do not match");
  write_wrong([](ManifestDeltaWriter& d, ManifestDeltaWriter::Totals&) { ASSERT_TRUE(d.remove("a/nothing").ok()); },
              good);
  damaged_because("removes a path its base does not hold");
  ManifestHeader itself = good;
  itself.base = k_delta_id;
  write_wrong([](ManifestDeltaWriter&, ManifestDeltaWriter::Totals&) {}, itself);
  damaged_because("without a valid base");
  ManifestHeader climbing = good;
  climbing.base = "../" + k_base_id;
  write_wrong([](ManifestDeltaWriter&, ManifestDeltaWriter::Totals&) {}, climbing);
  damaged_because("without a valid base");
}

TEST(ManifestDelta, ADeltaOfADeltaIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "manifests";
  std::string base_checksum;
  write_base(dir, base_entries(), base_checksum);
  write_delta(dir, base_checksum);
  auto opened = open_delta_manifest(dir);
  ASSERT_EQ(opened.state, ManifestState::ok);
  ManifestHeader header = delta_header(opened.reader->checksum());
  header.snapshot_id = "2026-12-01_12-00-00";
  header.base = k_delta_id;
  ManifestDeltaWriter second(header);
  ASSERT_TRUE(second.commit(dir / header.snapshot_id, {9, 6, 160}).ok());
  auto chained = open_manifest(dir / header.snapshot_id);
  EXPECT_EQ(chained.state, ManifestState::damaged);
  EXPECT_NE(chained.reason.find("delta"), std::string::npos) << chained.reason;
}

TEST(ManifestDelta, WriterRefusesUnsortedRecordsAndANewerVersionIsUnsupported) {
  ManifestDeltaWriter delta(delta_header(std::string(32, '0')));
  EXPECT_TRUE(delta.add(entry("b", EntryType::directory, 0)).ok());
  EXPECT_FALSE(delta.remove("a").ok());
  EXPECT_FALSE(delta.remove("b").ok());
  EXPECT_FALSE(delta.add(entry(std::string("c\0d", 3), EntryType::file, 1)).ok());
  EXPECT_EQ(delta.records(), 1u);

  TempDir tmp;
  write_file(tmp / "m", "snapkeep-manifest 5\nchecksum xxh128\nentries\n");
  auto opened = open_manifest(tmp / "m");
  EXPECT_EQ(opened.state, ManifestState::unsupported);
  EXPECT_NE(opened.reason.find("newer"), std::string::npos) << opened.reason;
}

// A repair that swaps in a clean copy of the base's snapshot gives it a manifest of its own (the
// copy's inodes): the one the deltas amend is kept aside, found by its checksum, and goes once no
// delta names the id.
TEST(ManifestDelta, ABaseReplacedByARepairStaysForItsDeltas) {
  TempDir tmp;
  const fs::path preset_dir = tmp / "preset";
  const fs::path state_dir = preset_dir / k_state_dir_name;
  const fs::path dir = manifest_dir(state_dir);
  std::string base_checksum;
  write_base(dir, base_entries(), base_checksum);
  const Expected expected = write_delta(dir, base_checksum);
  fs::create_directories(preset_dir / k_base_id);
  fs::create_directories(preset_dir / k_delta_id);

  ASSERT_TRUE(set_manifest_aside(dir / k_base_id).ok());
  const fs::path aside = dir / (std::string(k_gone_manifest_prefix) + k_base_id + "." + base_checksum);
  EXPECT_TRUE(fs::exists(aside));
  std::vector<ManifestEntry> copy = base_entries();
  copy[1].ino += 1000;  // the copy's own inode
  std::string copy_checksum;
  write_base(dir, copy, copy_checksum);
  ASSERT_NE(copy_checksum, base_checksum);
  EXPECT_EQ(read_all(dir / k_delta_id), expected.entries);
  EXPECT_EQ(read_all(dir / k_base_id), copy);
  ASSERT_TRUE(set_manifest_aside(dir / k_delta_id).ok()) << "a delta is no base: nothing to keep";
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 3);

  tidy_manifests(state_dir, {k_base_id, k_delta_id});
  EXPECT_TRUE(fs::exists(aside));
  forget_snapshot_state(preset_dir, k_delta_id);
  fs::remove(preset_dir / k_delta_id);
  tidy_manifests(state_dir, {k_base_id});
  EXPECT_FALSE(fs::exists(aside));
  EXPECT_EQ(read_all(dir / k_base_id), copy);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

// A deleted snapshot's manifest is moved aside, not removed; tidy_manifests keeps it while a delta
// amends it and removes it after.
TEST(ManifestDelta, TheManifestOfADeletedBaseStaysWhileADeltaAmendsIt) {
  TempDir tmp;
  const fs::path preset_dir = tmp / "preset";
  const fs::path state_dir = preset_dir / k_state_dir_name;
  const fs::path dir = manifest_dir(state_dir);
  std::string base_checksum;
  write_base(dir, base_entries(), base_checksum);
  const Expected expected = write_delta(dir, base_checksum);
  fs::create_directories(preset_dir / k_delta_id);
  const fs::path gone = dir / (std::string(k_gone_manifest_prefix) + k_base_id);

  forget_snapshot_state(preset_dir, k_base_id);  // as retention deletes the base's snapshot
  EXPECT_FALSE(fs::exists(dir / k_base_id));
  EXPECT_TRUE(fs::exists(gone));
  tidy_manifests(state_dir, {k_delta_id});
  EXPECT_TRUE(fs::exists(gone));
  EXPECT_EQ(read_all(dir / k_delta_id), expected.entries);

  // A base whose snapshot went another way (deleted by hand): tidy moves it aside (under its
  // checksum) and keeps it.
  fs::rename(gone, dir / k_base_id);
  tidy_manifests(state_dir, {k_delta_id});
  EXPECT_FALSE(fs::exists(dir / k_base_id));
  EXPECT_TRUE(fs::exists(gone.string() + "." + base_checksum));
  EXPECT_EQ(read_all(dir / k_delta_id), expected.entries);

  // The delta's snapshot goes too: both manifests go.
  forget_snapshot_state(preset_dir, k_delta_id);
  fs::remove(preset_dir / k_delta_id);
  tidy_manifests(state_dir, {});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0);

  // With no delta, a deleted snapshot's manifest goes at the next tidy.
  write_base(dir, base_entries(), base_checksum);
  forget_snapshot_state(preset_dir, k_base_id);
  EXPECT_TRUE(fs::exists(gone));
  tidy_manifests(state_dir, {});
  EXPECT_FALSE(fs::exists(gone));
}

// A snapshot id used again and deleted again: each deleted manifest keeps a name of its own, so the
// one a delta amends is never replaced by the other; tidy keeps the one named and removes the other.
// A kept manifest whose header does not read (here a newer version's) may be a delta: nothing that
// could be a base goes then.
TEST(ManifestDelta, AnIdDeletedTwiceKeepsBothManifestsUntilTidied) {
  TempDir tmp;
  const fs::path preset_dir = tmp / "preset";
  const fs::path state_dir = preset_dir / k_state_dir_name;
  const fs::path dir = manifest_dir(state_dir);
  std::string base_checksum;
  write_base(dir, base_entries(), base_checksum);
  const Expected expected = write_delta(dir, base_checksum);
  fs::create_directories(preset_dir / k_delta_id);
  forget_snapshot_state(preset_dir, k_base_id);
  std::vector<ManifestEntry> again = base_entries();
  again.pop_back();
  std::string again_checksum;
  write_base(dir, again, again_checksum);  // the id made again, then deleted again
  forget_snapshot_state(preset_dir, k_base_id);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 3);
  EXPECT_EQ(read_all(dir / k_delta_id), expected.entries);

  write_file(dir / "2026-12-01_12-00-00", "snapkeep-manifest 5\nchecksum xxh128\nentries\n");
  fs::create_directories(preset_dir / "2026-12-01_12-00-00");
  tidy_manifests(state_dir, {k_delta_id, "2026-12-01_12-00-00"});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 4) << "removed with a header unread";
  fs::remove(dir / "2026-12-01_12-00-00");
  tidy_manifests(state_dir, {k_delta_id});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  EXPECT_TRUE(fs::exists(dir / (std::string(k_gone_manifest_prefix) + k_base_id)));
  EXPECT_EQ(read_all(dir / k_delta_id), expected.entries);
}

}  // namespace
}  // namespace snapkeep
