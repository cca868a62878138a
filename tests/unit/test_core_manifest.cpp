// Unit tests for core/manifest (the file format: round trip, hostile names, damage and version
// checks, atomic commit), core/hashing (known vectors, block streaming) and core/manifest_build
// (walking a snapshot, hashes reused across hard links).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/integrity/hashing.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::TempDir;
using test::write_file;

ManifestEntry file_entry(std::string path, std::string hash, std::uint64_t size = 3) {
  ManifestEntry e;
  e.path = std::move(path);
  e.type = EntryType::file;
  e.size = size;
  e.mtime_ns = 1700000000123456789LL;
  e.ino = 4242;
  e.ctime_ns = 1700000001000000001LL;
  e.hash = std::move(hash);
  return e;
}

const std::string k_hash_a = "e6717241a09294e64dbdefd4204ea1ec";
const std::string k_hash_b = "99aa06d3014798d86001c324468d497f";

// Writes a manifest with `entries` (already sorted) and returns its path.
fs::path write_manifest(const TempDir& tmp, const std::vector<ManifestEntry>& entries,
                        ChecksumKind kind = ChecksumKind::xxh128) {
  fs::path path = tmp / "m";
  ManifestHeader header;
  header.checksum = kind;
  header.snapshot_id = "2026-11-26_02-18-39";
  header.created_ns = 1;
  auto writer = ManifestWriter::create(path, header);
  EXPECT_TRUE(writer.ok()) << writer.error().describe();
  for (const auto& e : entries) {
    auto added = writer->add(e);
    EXPECT_TRUE(added.ok()) << added.error().describe();
  }
  auto committed = writer->commit();
  EXPECT_TRUE(committed.ok()) << committed.error().describe();
  return path;
}

std::vector<ManifestEntry> read_all(const fs::path& path) {
  std::vector<ManifestEntry> out;
  auto opened = open_manifest(path);
  EXPECT_EQ(opened.state, ManifestState::ok) << opened.reason;
  if (opened.state != ManifestState::ok) {
    return out;
  }
  ManifestEntry e;
  for (;;) {
    auto more = opened.reader->next(e);
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) {
      break;
    }
    out.push_back(e);
  }
  EXPECT_EQ(out.size(), opened.reader->entry_count());
  return out;
}

TEST(Hashing, KnownVectors) {
  // Same digests as `printf snapkeep | xxhsum -H2`, `printf '' | xxhsum -H2`, `printf abc | sha256sum`.
  EXPECT_EQ(hash_bytes(ChecksumKind::xxh128, "snapkeep"), k_hash_a);
  EXPECT_EQ(hash_bytes(ChecksumKind::xxh128, ""), k_hash_b);
  EXPECT_EQ(hash_bytes(ChecksumKind::sha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_bytes(ChecksumKind::none, "abc"), "");
  EXPECT_EQ(checksum_hex_length(ChecksumKind::xxh128), 32u);
  EXPECT_EQ(checksum_hex_length(ChecksumKind::sha256), 64u);
  EXPECT_EQ(parse_checksum_name("sha256"), ChecksumKind::sha256);
  EXPECT_FALSE(parse_checksum_name("md5").has_value());
}

TEST(Hashing, StreamingEqualsOneShotAcrossBlocks) {
  TempDir tmp;
  // Three blocks and a bit: the streaming state must carry across reads.
  test::write_random_file(tmp / "big", 3 * k_hash_block + 12345, 9);
  std::string data = read_file(tmp / "big");
  for (ChecksumKind kind : {ChecksumKind::xxh128, ChecksumKind::sha256}) {
    std::uint64_t bytes = 0;
    std::uint64_t seen = 0;
    HashReadOptions how;
    how.from_disk = true;
    how.on_bytes = [&](std::uint64_t n) { seen += n; };
    auto digest = hash_file(tmp / "big", kind, how, &bytes);
    ASSERT_TRUE(digest.ok()) << digest.error().describe();
    EXPECT_EQ(*digest, hash_bytes(kind, data));
    EXPECT_EQ(bytes, data.size());
    EXPECT_EQ(seen, data.size());
  }
  // A hasher starts over after a digest.
  Hasher h(ChecksumKind::xxh128);
  h.update("snap", 4);
  h.update("keep", 4);
  EXPECT_EQ(h.hex_digest(), k_hash_a);
  EXPECT_EQ(h.hex_digest(), k_hash_b);
}

TEST(Hashing, MissingFileKeepsErrno) {
  TempDir tmp;
  auto digest = hash_file(tmp / "nope", ChecksumKind::xxh128, {});
  ASSERT_FALSE(digest.ok());
  EXPECT_EQ(digest.error().err, ENOENT);
  EXPECT_EQ(digest.error().path, tmp / "nope");
}

TEST(Manifest, RoundTripKeepsEveryField) {
  TempDir tmp;
  std::vector<ManifestEntry> entries;
  ManifestEntry dir;
  dir.path = "a";
  dir.type = EntryType::directory;
  dir.size = 4096;
  dir.mtime_ns = -5;  // before 1970
  dir.ino = 2;
  dir.ctime_ns = 0;
  entries.push_back(dir);
  entries.push_back(file_entry("a/b.txt", k_hash_a, 8));
  ManifestEntry link = file_entry("a/link", k_hash_b, 5);
  link.type = EntryType::symlink;
  entries.push_back(link);
  ManifestEntry fifo = file_entry("a/pipe", "", 0);
  fifo.type = EntryType::other;
  entries.push_back(fifo);
  fs::path path = write_manifest(tmp, entries);

  auto opened = open_manifest(path);
  ASSERT_EQ(opened.state, ManifestState::ok) << opened.reason;
  EXPECT_EQ(opened.reader->header().snapshot_id, "2026-11-26_02-18-39");
  EXPECT_EQ(opened.reader->header().checksum, ChecksumKind::xxh128);
  EXPECT_EQ(opened.reader->header().origin, "backup");
  EXPECT_EQ(opened.reader->header().version, k_manifest_version);
  EXPECT_EQ(read_all(path), entries);
  // Only the manifest is left in the folder: no temporary file.
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
}

TEST(Manifest, OddNamesSurviveByteForByte) {
  TempDir tmp;
  std::vector<std::string> names{
      std::string("\x01\x7f", 2),
      " leading space",
      "-dash",
      "a:b:c 12:34",
      "end 3 abc",        // looks like a trailer
      "f 1 2 3 4 - 5:x",  // looks like a record
      "line\nbreak",
      "line\nbreak\n",
      "percent %s %n",
      "tab\there",
      "trailing space ",
      "\xff\xfe not utf-8 \xc3\x28",
      std::string(3000, 'x') + "/" + std::string(3000, 'y'),  // longer than a record prefix limit
  };
  std::sort(names.begin(), names.end());
  std::vector<ManifestEntry> entries;
  for (const auto& n : names) {
    entries.push_back(file_entry(n, k_hash_a));
  }
  fs::path path = write_manifest(tmp, entries);
  EXPECT_EQ(read_all(path), entries);
}

TEST(Manifest, WriterRefusesUnsortedAndNul) {
  TempDir tmp;
  auto writer = ManifestWriter::create(tmp / "m", ManifestHeader{});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->add(file_entry("b", k_hash_a)).ok());
  EXPECT_FALSE(writer->add(file_entry("a", k_hash_a)).ok());
  EXPECT_FALSE(writer->add(file_entry("b", k_hash_a)).ok()) << "duplicates are refused";
  EXPECT_FALSE(writer->add(file_entry(std::string("c\0d", 3), k_hash_a)).ok());
  EXPECT_FALSE(writer->add(file_entry("", k_hash_a)).ok());
}

TEST(Manifest, UncommittedWriterLeavesNothing) {
  TempDir tmp;
  {
    auto writer = ManifestWriter::create(tmp / "m", ManifestHeader{});
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->add(file_entry("a", k_hash_a)).ok());
  }
  EXPECT_TRUE(fs::is_empty(tmp.path()));
  EXPECT_EQ(open_manifest(tmp / "m").state, ManifestState::missing);
}

// A btrfs backup seals the manifest, syncs the filesystem with the snapshot, then commits without
// an fsync of its own: the manifest takes its name only then, whole.
TEST(Manifest, ASealedManifestTakesItsNameOnlyWhenCommitted) {
  TempDir tmp;
  {
    auto dropped = ManifestWriter::create(tmp / "dropped", ManifestHeader{});
    ASSERT_TRUE(dropped.ok());
    ASSERT_TRUE(dropped->add(file_entry("a", k_hash_a)).ok());
    ASSERT_TRUE(dropped->seal().ok());
  }
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "a sealed manifest never committed leaves nothing";

  auto writer = ManifestWriter::create(tmp / "m", ManifestHeader{});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->add(file_entry("a", k_hash_a)).ok());
  ASSERT_TRUE(writer->add(file_entry("b", k_hash_a)).ok());
  ASSERT_TRUE(writer->seal().ok());
  EXPECT_TRUE(writer->seal().ok()) << "sealing twice is sealing once";
  EXPECT_FALSE(writer->add(file_entry("c", k_hash_a)).ok()) << "nothing is added to a sealed manifest";
  EXPECT_EQ(open_manifest(tmp / "m").state, ManifestState::missing) << "not in place before commit";
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(tmp.path())) {
    EXPECT_EQ(entry.path().filename().string().rfind(".m.tmp-", 0), 0u) << entry.path();
    ++files;
  }
  EXPECT_EQ(files, 1u);
  ASSERT_TRUE(writer->commit(ManifestWriter::Durability::synced_by_caller).ok());
  EXPECT_EQ(read_all(tmp / "m"), (std::vector<ManifestEntry>{file_entry("a", k_hash_a), file_entry("b", k_hash_a)}));
}

TEST(Manifest, AnyFlippedByteIsDamage) {
  TempDir tmp;
  fs::path path = write_manifest(tmp, {file_entry("a", k_hash_a), file_entry("b", k_hash_b)});
  std::string original = read_file(path);
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  // Every single-bit flip anywhere in the file (header, records, trailer) is caught.
  for (std::size_t offset = 0; offset < original.size(); ++offset) {
    char flipped = static_cast<char>(original[offset] ^ 0x01);
    ASSERT_EQ(::pwrite(fd, &flipped, 1, static_cast<off_t>(offset)), 1);
    auto opened = open_manifest(path);
    EXPECT_NE(opened.state, ManifestState::ok) << "flipped byte " << offset << " went unnoticed";
    EXPECT_EQ(opened.reader, nullptr);
    ASSERT_EQ(::pwrite(fd, &original[offset], 1, static_cast<off_t>(offset)), 1);
  }
  ::close(fd);
  EXPECT_EQ(open_manifest(path).state, ManifestState::ok);
}

TEST(Manifest, FlippedHashDigitIsAChecksumMismatch) {
  TempDir tmp;
  fs::path path = write_manifest(tmp, {file_entry("a", k_hash_a)});
  std::string text = read_file(path);
  std::size_t at = text.find(k_hash_a);
  ASSERT_NE(at, std::string::npos);
  text[at] = text[at] == '0' ? '1' : '0';  // still a well-formed hash
  write_file(path, text);
  auto opened = open_manifest(path);
  EXPECT_EQ(opened.state, ManifestState::damaged);
  EXPECT_NE(opened.reason.find("checksum mismatch"), std::string::npos) << opened.reason;
}

TEST(Manifest, TruncatedExtendedAndMiscountedAreDamage) {
  TempDir tmp;
  fs::path path = write_manifest(tmp, {file_entry("a", k_hash_a), file_entry("b", k_hash_b)});
  std::string original = read_file(path);
  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, original.size() / 2, original.size() - 1}) {
    write_file(path, original.substr(0, cut));
    EXPECT_EQ(open_manifest(path).state, ManifestState::damaged) << "cut at " << cut;
  }
  write_file(path, original + "x");
  EXPECT_EQ(open_manifest(path).state, ManifestState::damaged);
  // A record removed together with a recomputed trailer is caught by the count... and the checksum.
  std::string dropped = original;
  std::size_t second = dropped.find("f 3 ", dropped.find("f 3 ") + 1);
  std::size_t end = dropped.find("end ");
  dropped.erase(second, end - second);
  write_file(path, dropped);
  EXPECT_EQ(open_manifest(path).state, ManifestState::damaged);
}

TEST(Manifest, VersionCheck) {
  TempDir tmp;
  fs::path path = write_manifest(tmp, {file_entry("a", k_hash_a)});
  std::string text = read_file(path);
  ASSERT_EQ(text.rfind("snapkeep-manifest 3\n", 0), 0u);
  write_file(path, "snapkeep-manifest 5\n" + text.substr(20));  // 4 is a delta (test_core_manifest_delta.cpp)
  auto newer = open_manifest(path);
  EXPECT_EQ(newer.state, ManifestState::unsupported);
  EXPECT_NE(newer.reason.find("newer"), std::string::npos) << newer.reason;
  write_file(path, "snapkeep-manifest one\n" + text.substr(20));
  EXPECT_EQ(open_manifest(path).state, ManifestState::damaged);
  write_file(path, "something else entirely\n");
  EXPECT_EQ(open_manifest(path).state, ManifestState::damaged);
}

// Version 1 (no source identity) is still read; version 2 keeps the source identity or "- -".
TEST(Manifest, Version1IsReadAndVersion2KeepsTheSourceIdentity) {
  TempDir tmp;
  ManifestEntry with = file_entry("a", k_hash_a);
  with.source = SourceIdentity{77, 1234567890123};
  ManifestEntry without = file_entry("b", k_hash_b);
  fs::path path = write_manifest(tmp, {with, without});
  EXPECT_NE(read_file(path).find(" 77 1234567890123 " + std::string(k_hash_a) + " 1:a\n"), std::string::npos)
      << read_file(path);
  EXPECT_EQ(read_all(path), (std::vector<ManifestEntry>{with, without}));

  // A version 1 file as the previous release wrote it: 7 fields, its own checksum.
  std::string body =
      "snapkeep-manifest 1\nchecksum xxh128\nsnapshot s\norigin backup\ncreated 5\nentries\n"
      "f 3 10 20 30 " +
      std::string(k_hash_a) + " 1:a\n";
  std::string digest = hash_bytes(ChecksumKind::xxh128, body);
  fs::path v1 = tmp / "v1";
  write_file(v1, body + "end 1 " + digest + "\n");
  auto entries = read_all(v1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].ino, 20u);
  EXPECT_EQ(entries[0].ctime_ns, 30);
  EXPECT_FALSE(entries[0].source.has_value());
  EXPECT_EQ(entries[0].hash, k_hash_a);

  // A version 2 file as snapkeep 0.2 wrote it: no pages, one checksum over everything.
  std::string body2 =
      "snapkeep-manifest 2\nchecksum xxh128\nsnapshot s\norigin backup\ncreated 5\nentries\n"
      "f 3 10 20 30 77 88 " +
      std::string(k_hash_a) + " 1:a\nd 0 11 21 31 - - - 1:b\n";
  fs::path v2 = tmp / "v2";
  write_file(v2, body2 + "end 2 " + hash_bytes(ChecksumKind::xxh128, body2) + "\n");
  auto entries2 = read_all(v2);
  ASSERT_EQ(entries2.size(), 2u);
  EXPECT_EQ(entries2[0].source, (SourceIdentity{77, 88}));
  EXPECT_EQ(entries2[1].type, EntryType::directory);
  write_file(v2, body2 + "end 2 " + std::string(32, '0') + "\n");
  EXPECT_EQ(open_manifest(v2).state, ManifestState::damaged);
}

// Version 3 entries for page tests: names of every length up to past a page, some files linked.
std::vector<ManifestEntry> paged_entries(std::size_t n) {
  std::vector<ManifestEntry> out;
  for (std::size_t i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "d%03zu/f%06zu", i / 100, i);
    std::string path = name;
    if (i % 997 == 5) {
      path += std::string(5000 + i % 3000, 'L');  // a record longer than a page
    } else {
      path += std::string(i % 61, 'x');
    }
    ManifestEntry e = file_entry(path, i % 2 ? k_hash_a : k_hash_b, i);
    e.ino = 1000 + i;
    if (i % 7 == 0) {
      e.type = EntryType::directory;
      e.hash.clear();
    }
    out.push_back(e);
  }
  return out;
}

// Version 3 keeps records in pages with a table of their checksums: a flipped byte in one page names
// that page, and ManifestIndex reads any page alone, checked.
TEST(Manifest, PagesAreCheckedOneByOneAndReadAlone) {
  TempDir tmp;
  auto entries = paged_entries(3000);
  fs::path path = tmp / "m";
  ManifestHeader header;
  header.links = true;
  {
    auto writer = ManifestWriter::create(path, header);
    ASSERT_TRUE(writer.ok());
    for (const auto& e : entries) {
      ASSERT_TRUE(writer->add(e, e.ino % 5 == 0).ok());
    }
    ASSERT_TRUE(writer->commit().ok());
  }
  EXPECT_EQ(read_all(path), entries);
  auto index = ManifestIndex::open(path);
  ASSERT_TRUE(index.ok()) << index.error().describe();
  EXPECT_TRUE(index->header().links);
  EXPECT_EQ(index->entry_count(), entries.size());
  ASSERT_GT(index->pages().size(), 20u);
  std::vector<ManifestEntry> again;
  std::uint64_t files = 0;
  for (std::size_t i = 0; i < index->pages().size(); ++i) {
    const auto& page = index->pages()[i];
    EXPECT_EQ(page.offset % k_manifest_page, 0u);
    EXPECT_EQ(page.length % k_manifest_page, 0u);
    auto records = index->read_page(i);
    ASSERT_TRUE(records.ok()) << records.error().describe();
    EXPECT_EQ(records->front().path, page.first);
    EXPECT_EQ(index->page_of(page.first), i);
    EXPECT_EQ(index->page_of(records->back().path), i);
    files += page.files;
    again.insert(again.end(), records->begin(), records->end());
  }
  EXPECT_EQ(again, entries);
  EXPECT_EQ(files, static_cast<std::uint64_t>(std::count_if(entries.begin(), entries.end(),
                                                            [](const auto& e) { return e.type == EntryType::file; })));
  EXPECT_EQ(index->page_of(""), 0u);
  EXPECT_EQ(index->page_of("zzz"), index->pages().size() - 1);
  // The link table: the linked files only (a folder is never linked), sorted by path.
  std::vector<ManifestLink> expected;
  for (const auto& e : entries) {
    if (e.ino % 5 == 0 && e.type == EntryType::file) {
      expected.push_back(ManifestLink{e.path, e.ino});
    }
  }
  ASSERT_EQ(index->links().size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(index->links()[i].path, expected[i].path);
    EXPECT_EQ(index->links()[i].ino, expected[i].ino);
  }

  // One flipped byte in page 7: the whole-file check names the page, the index still opens, and
  // only that page fails to read.
  const ManifestPage page = index->pages()[7];
  std::string original = read_file(path);
  std::string damaged = original;
  damaged[page.offset + 30] ^= 0x01;
  write_file(path, damaged);
  auto opened = open_manifest(path);
  EXPECT_EQ(opened.state, ManifestState::damaged);
  EXPECT_NE(opened.reason.find("page 7"), std::string::npos) << opened.reason;
  auto damaged_index = ManifestIndex::open(path);
  ASSERT_TRUE(damaged_index.ok());
  EXPECT_TRUE(damaged_index->read_page(6).ok());
  EXPECT_FALSE(damaged_index->read_page(7).ok());
  // A byte of the page table: neither opens.
  damaged = original;
  const ManifestPage& last = index->pages().back();
  ASSERT_EQ(original.compare(last.offset + last.length, 7, "header "), 0);
  damaged[last.offset + last.length + 200] ^= 0x01;
  write_file(path, damaged);
  EXPECT_EQ(open_manifest(path).state, ManifestState::damaged);
  EXPECT_FALSE(ManifestIndex::open(path).ok());
  // A header without `links yes` lists no links, whatever the writer is told.
  auto plain = write_manifest(tmp, entries);
  auto plain_index = ManifestIndex::open(plain);
  ASSERT_TRUE(plain_index.ok());
  EXPECT_FALSE(plain_index->header().links);
  EXPECT_TRUE(plain_index->links().empty());
}

// check_pages_ahead checks every page but the ones it is told to skip; a page it skipped is still
// checked when check_pages takes it later, and a damaged page it checked fails it at once.
TEST(Manifest, PagesCheckedAheadAreCheckedOnceAndSkippedOnesLater) {
  TempDir tmp;
  const fs::path path = write_manifest(tmp, paged_entries(3000));
  auto index = ManifestIndex::open(path);
  ASSERT_TRUE(index.ok());
  const std::size_t pages = index->pages().size();
  ASSERT_GT(pages, 20u);
  std::string damaged = read_file(path);
  damaged[index->pages()[7].offset + 30] ^= 0x01;
  write_file(path, damaged);

  std::vector<bool> skip(pages, false);
  EXPECT_FALSE(ManifestIndex::open(path)->check_pages_ahead(skip).ok()) << "page 7 was checked ahead";
  skip[7] = true;
  auto ahead = ManifestIndex::open(path);
  ASSERT_TRUE(ahead.ok());
  ASSERT_TRUE(ahead->check_pages_ahead(skip).ok());
  EXPECT_TRUE(ahead->check_pages(0, 7).ok());
  EXPECT_TRUE(ahead->check_pages(8, pages).ok());
  auto taken = ahead->check_pages(5, 9);
  ASSERT_FALSE(taken.ok()) << "page 7, skipped ahead, passed unchecked";
  EXPECT_NE(taken.error().describe().find("page 7"), std::string::npos) << taken.error().describe();
  // Page 3 rots after the check ahead: taken by a clone (no bytes wanted) it is not read again, but
  // bytes handed out to be written into a new manifest are always checked.
  std::string rotten = damaged;
  rotten[index->pages()[3].offset + 30] ^= 0x01;
  write_file(path, rotten);
  EXPECT_TRUE(ahead->check_pages(0, 5).ok()) << "a page checked ahead was checked again";
  auto copied = ahead->check_pages(0, 5, [](std::string_view) -> Status { return {}; });
  ASSERT_FALSE(copied.ok()) << "bytes of a page checked ahead were handed out unchecked";
  EXPECT_NE(copied.error().describe().find("page 3"), std::string::npos) << copied.error().describe();
  std::string bytes;
  ASSERT_TRUE(ahead
                  ->check_pages(0, 3,
                                [&](std::string_view b) -> Status {
                                  bytes.append(b);
                                  return {};
                                })
                  .ok());
  const auto& first3 = index->pages();
  EXPECT_TRUE(bytes == rotten.substr(first3[0].offset, first3[2].offset + first3[2].length - first3[0].offset))
      << bytes.size() << " bytes handed out";
}

// A manifest made of another's pages (add_pages) and new records reads back as the merge, with the
// links of the pages taken; entries that would sort before taken pages are refused.
TEST(Manifest, PagesOfAnEarlierManifestAreTakenWhole) {
  TempDir tmp;
  auto entries = paged_entries(2000);
  fs::path base_path = tmp / "base";
  ManifestHeader header;
  header.links = true;
  {
    auto writer = ManifestWriter::create(base_path, header);
    ASSERT_TRUE(writer.ok());
    for (const auto& e : entries) {
      ASSERT_TRUE(writer->add(e, e.type == EntryType::file).ok());
    }
    ASSERT_TRUE(writer->commit().ok());
  }
  auto base = ManifestIndex::open(base_path);
  ASSERT_TRUE(base.ok());
  const auto& pages = base->pages();
  ASSERT_GT(pages.size(), 12u);
  // Taken as clones (a copy where the filesystem cannot clone), then copied in file order: the same
  // file either way.
  for (bool copy : {false, true}) {
    SCOPED_TRACE(copy ? "copied" : "cloned");
    // New: a changed first entry, pages 3..9 as they are, new records in page 10's range, pages 11.. as they are.
    std::vector<ManifestEntry> expected;
    fs::path next_path = tmp / (copy ? "next-copied" : "next");
    auto writer = ManifestWriter::create(next_path, header);
    ASSERT_TRUE(writer.ok());
    if (copy) {
      writer->copy_taken_pages();
    }
    ManifestEntry changed = entries[0];
    changed.hash = k_hash_a == changed.hash ? k_hash_b : k_hash_a;
    ASSERT_TRUE(writer->add(changed, true).ok());
    expected.push_back(changed);
    std::vector<ManifestLink> taken_links;
    auto links_between = [&](std::string_view from, std::string_view to) {
      std::vector<ManifestLink> out;
      for (const auto& link : base->links()) {
        if (link.path >= from && (to.empty() || link.path < to)) {
          out.push_back(link);
        }
      }
      return out;
    };
    ASSERT_TRUE(writer->add_pages(*base, 3, 10, links_between(pages[3].first, pages[10].first)).ok());
    for (std::size_t i = 3; i < 10; ++i) {
      auto records = base->read_page(i);
      ASSERT_TRUE(records.ok());
      expected.insert(expected.end(), records->begin(), records->end());
    }
    EXPECT_FALSE(writer->add(entries[0]).ok()) << "an entry before taken pages is refused";
    ManifestEntry fresh = file_entry(pages[10].first + "-new", k_hash_a);
    ASSERT_TRUE(writer->add(fresh, false).ok());
    expected.push_back(fresh);
    ASSERT_TRUE(writer->add_pages(*base, 11, pages.size(), links_between(pages[11].first, "")).ok());
    for (std::size_t i = 11; i < pages.size(); ++i) {
      auto records = base->read_page(i);
      ASSERT_TRUE(records.ok());
      expected.insert(expected.end(), records->begin(), records->end());
    }
    ASSERT_TRUE(writer->commit().ok());
    EXPECT_EQ(read_all(next_path), expected);
    auto next = ManifestIndex::open(next_path);
    ASSERT_TRUE(next.ok()) << next.error().describe();
    EXPECT_EQ(next->entry_count(), expected.size());
    std::size_t linked = 0;
    for (const auto& e : expected) {
      linked +=
          e.type == EntryType::file && (e.path == changed.path || e.path >= pages[3].first) && e.path != fresh.path;
    }
    EXPECT_EQ(next->links().size(), linked);
  }
  EXPECT_EQ(read_file(tmp / "next"), read_file(tmp / "next-copied"));
}

// A journal keeps what was checkpointed when its writer dies without commit; records can be read
// back at their positions.
TEST(Manifest, JournalOfAnUnfinishedManifestAndReadAtPosition) {
  TempDir tmp;
  fs::path journal = tmp / "partial.manifest";
  {
    auto writer = ManifestWriter::create_journal(tmp / "final", journal, ManifestHeader{});
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->add(file_entry("a", k_hash_a)).ok());
    ASSERT_TRUE(writer->add(file_entry("b", k_hash_b)).ok());
    ASSERT_TRUE(writer->checkpoint().ok());
    ASSERT_TRUE(writer->add(file_entry("c", k_hash_a)).ok());  // never flushed: lost with the writer
  }
  EXPECT_FALSE(fs::exists(tmp / "final"));
  std::string text = read_file(journal);
  write_file(journal, text + "f 3 1 2");  // a torn record at the end
  auto opened = open_manifest_journal(journal);
  ASSERT_EQ(opened.state, ManifestState::ok) << opened.reason;
  ManifestEntry e;
  std::vector<std::string> paths;
  std::vector<std::uint64_t> positions;
  for (;;) {
    std::uint64_t at = opened.reader->position();
    auto more = opened.reader->next(e);
    ASSERT_TRUE(more.ok());
    if (!*more) {
      break;
    }
    paths.push_back(e.path);
    positions.push_back(at);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"a", "b"}));
  auto again = open_manifest_journal(journal);
  ASSERT_EQ(again.state, ManifestState::ok);
  auto b = again.reader->read_at(positions.at(1));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->path, "b");
  EXPECT_EQ(b->hash, k_hash_b);
  auto a = again.reader->read_at(positions.at(0));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->path, "a");
}

TEST(Manifest, HashLengthMustMatchTheChecksum) {
  TempDir tmp;
  std::string sha(64, 'a');
  fs::path path = write_manifest(tmp, {file_entry("a", sha)}, ChecksumKind::sha256);
  EXPECT_EQ(read_all(path).at(0).hash, sha);
  // An xxh128-sized hash in a sha256 manifest is malformed.
  fs::path bad = write_manifest(tmp, {file_entry("a", k_hash_a)}, ChecksumKind::sha256);
  EXPECT_EQ(open_manifest(bad).state, ManifestState::damaged);
}

// ---------------------------------------------------------------------------------------------
// Building manifests of snapshot trees

TEST(ManifestBuild, HashesEverythingOnceThenOnlyWhatChanged) {
  TempDir tmp;
  fs::path s1 = tmp / "s1";
  write_file(s1 / "same.bin", std::string(100000, 's'));
  write_file(s1 / "changes.txt", "version 1");
  write_file(s1 / "odd\nname", "x");
  fs::create_directories(s1 / "empty");
  fs::create_symlink("same.bin", s1 / "link");
  auto first = build_manifest(s1, "s1", tmp / "m1", ManifestBuildOptions{});
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_EQ(first->bytes_hashed, 100000u + 9u + 1u);
  EXPECT_EQ(first->files, 3u);
  EXPECT_EQ(first->entries, 5u);

  // s2 as the rsync backend makes it: unchanged files hard-linked, changed ones new.
  fs::path s2 = tmp / "s2";
  fs::create_directories(s2 / "empty");
  fs::create_hard_link(s1 / "same.bin", s2 / "same.bin");
  fs::create_hard_link(s1 / "odd\nname", s2 / "odd\nname");
  write_file(s2 / "changes.txt", "version 2, longer");
  write_file(s2 / "new.txt", "new");
  ManifestBuildOptions options;
  options.previous_snapshot = s1;
  options.previous_manifest = tmp / "m1";
  auto second = build_manifest(s2, "s2", tmp / "m2", options);
  ASSERT_TRUE(second.ok()) << second.error().describe();
  EXPECT_EQ(second->bytes_hashed, 17u + 3u) << "only the changed and new files are read";
  EXPECT_EQ(second->files_reused, 2u);

  auto entries = read_all(tmp / "m2");
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[0].path, "changes.txt");
  EXPECT_EQ(entries[0].hash, hash_bytes(ChecksumKind::xxh128, "version 2, longer"));
  EXPECT_EQ(entries[2].path, "new.txt");
  EXPECT_EQ(entries[3].path, "odd\nname");
  EXPECT_EQ(entries[4].path, "same.bin");
  EXPECT_EQ(entries[4].hash, hash_bytes(ChecksumKind::xxh128, std::string(100000, 's')));
  EXPECT_EQ(entries[4].ino, test::inode_of(s2 / "same.bin"));
}

TEST(ManifestBuild, DamagedPreviousManifestIsNotReused) {
  TempDir tmp;
  fs::path s1 = tmp / "s1";
  write_file(s1 / "a", std::string(5000, 'a'));
  ASSERT_TRUE(build_manifest(s1, "s1", tmp / "m1", ManifestBuildOptions{}).ok());
  std::string text = read_file(tmp / "m1");
  std::size_t at = text.find(hash_bytes(ChecksumKind::xxh128, std::string(5000, 'a')));
  text[at] = text[at] == '0' ? '1' : '0';
  write_file(tmp / "m1", text);
  fs::path s2 = tmp / "s2";
  fs::create_directories(s2);
  fs::create_hard_link(s1 / "a", s2 / "a");
  ManifestBuildOptions options;
  options.previous_snapshot = s1;
  options.previous_manifest = tmp / "m1";
  auto second = build_manifest(s2, "s2", tmp / "m2", options);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->bytes_hashed, 5000u) << "a damaged manifest is never trusted, not even for reuse";
  EXPECT_EQ(read_all(tmp / "m2").at(0).hash, hash_bytes(ChecksumKind::xxh128, std::string(5000, 'a')));
}

TEST(ManifestBuild, ChecksumNoneReadsNothing) {
  TempDir tmp;
  write_file(tmp / "s" / "a", std::string(5000, 'a'));
  ManifestBuildOptions options;
  options.checksum = ChecksumKind::none;
  auto built = build_manifest(tmp / "s", "s", tmp / "m", options);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(built->bytes_hashed, 0u);
  auto entries = read_all(tmp / "m");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].hash, "");
  EXPECT_EQ(entries[0].size, 5000u);
}

TEST(ManifestBuild, HardLinksWithinOneSnapshotAreReadOnce) {
  TempDir tmp;
  write_file(tmp / "s" / "a", std::string(7000, 'a'));
  fs::create_hard_link(tmp / "s" / "a", tmp / "s" / "b");
  auto built = build_manifest(tmp / "s", "s", tmp / "m", ManifestBuildOptions{});
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(built->bytes_hashed, 7000u);
  auto entries = read_all(tmp / "m");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].hash, entries[1].hash);
}

TEST(ManifestBuild, TidyRemovesTemporaryAndOrphanManifestsOnly) {
  TempDir tmp;
  fs::path dir = manifest_dir(tmp.path());
  write_file(dir / "2026-01-01_00-00-00", "kept");
  write_file(dir / "2026-01-02_00-00-00", "snapshot deleted by prune");
  write_file(dir / ".2026-01-03_00-00-00.tmp-AbC123", "left by a killed backup");
  tidy_manifests(tmp.path(), {"2026-01-01_00-00-00", "2026-01-03_00-00-00"});
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) {
    left.push_back(e.path().filename().string());
  }
  EXPECT_EQ(left, std::vector<std::string>{"2026-01-01_00-00-00"});
}

// A snapshot folder the caller's list missed keeps its manifest: a btrfs backup killed after the
// manifest took its name and before the snapshot took its id leaves a verified receive that the
// next run completes after it listed the snapshots.
TEST(ManifestBuild, TidyKeepsTheManifestOfASnapshotFolderTheListMissed) {
  TempDir tmp;
  const fs::path state_dir = tmp / "home" / ".snapkeep";
  const fs::path dir = manifest_dir(state_dir);
  write_file(dir / "2026-01-01_00-00-00", "listed");
  write_file(dir / "2026-01-02_00-00-00", "completed since the list was made");
  write_file(dir / "2026-01-03_00-00-00", "snapshot deleted by prune");
  fs::create_directories(tmp / "home" / "2026-01-02_00-00-00");
  tidy_manifests(state_dir, {"2026-01-01_00-00-00"});
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) {
    left.push_back(e.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"2026-01-01_00-00-00", "2026-01-02_00-00-00"}));
}

}  // namespace
}  // namespace snapkeep
