// Unit tests for core/integrity/external_sort, work_file and record_bytes: records come back in
// byte order whether they fit in memory or were spilled to work files (many runs, merged in more
// than one level), as often as asked; work files never show up as names; records built with
// RecordBuilder sort by their fields.

#include <algorithm>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/integrity/external_sort.hpp"
#include "core/integrity/record_bytes.hpp"
#include "core/integrity/work_file.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::vector<std::string> drain(const ExternalSorter& sorter) {
  auto stream = sorter.stream();
  EXPECT_TRUE(stream.ok()) << stream.error().describe();
  std::vector<std::string> out;
  std::string_view record;
  for (;;) {
    auto more = stream->next(record);
    EXPECT_TRUE(more.ok()) << more.error().describe();
    if (!more.ok() || !*more) {
      return out;
    }
    out.emplace_back(record);
  }
}

std::vector<std::string> random_records(std::size_t count, std::size_t max_size, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::string r(rng() % (max_size + 1), '\0');
    for (char& c : r) {
      c = static_cast<char>(rng() % 4 == 0 ? 0xff : rng() % 256);  // high bytes compare as unsigned
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::size_t names_in(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

TEST(ExternalSort, InMemoryUnsignedByteOrderWithDuplicatesAndEmptyRecords) {
  TempDir tmp;
  ExternalSorter sorter(tmp.path());
  std::vector<std::string> in = {"b", "", "\x80", "a\x7f", "a", "b", "", "\xff\x01"};
  for (const auto& r : in) {
    ASSERT_TRUE(sorter.add(r).ok());
  }
  ASSERT_TRUE(sorter.finish().ok());
  EXPECT_FALSE(sorter.spilled());
  EXPECT_EQ(sorter.records(), in.size());
  std::vector<std::string> want = {"", "", "a", "a\x7f", "b", "b", "\x80", "\xff\x01"};
  EXPECT_EQ(drain(sorter), want);
  EXPECT_EQ(drain(sorter), want) << "a sorter can be read again";
  EXPECT_EQ(names_in(tmp.path()), 0u);
}

TEST(ExternalSort, SpilledRunsMergeInSeveralLevelsToTheSameOrder) {
  TempDir tmp;
  // 4 KiB of memory and records of up to 60 bytes: hundreds of runs, more than are merged at once.
  ExternalSorter sorter(tmp.path(), 4096);
  auto in = random_records(20000, 60, 1);
  for (const auto& r : in) {
    ASSERT_TRUE(sorter.add(r).ok());
  }
  EXPECT_TRUE(sorter.spilled());
  EXPECT_EQ(names_in(tmp.path()), 0u) << "work files have no name";
  ASSERT_TRUE(sorter.finish().ok());
  std::sort(in.begin(), in.end());
  EXPECT_EQ(drain(sorter), in);
  EXPECT_EQ(drain(sorter), in);
}

TEST(ExternalSort, RecordsLargerThanAReadBufferSurviveASpill) {
  TempDir tmp;
  ExternalSorter sorter(tmp.path(), 4096);
  std::vector<std::string> in = {std::string(200000, 'z'), "m", std::string(70000, 'a'), std::string(5000, 'q')};
  for (const auto& r : in) {
    ASSERT_TRUE(sorter.add(r).ok());
  }
  ASSERT_TRUE(sorter.finish().ok());
  EXPECT_TRUE(sorter.spilled());
  std::sort(in.begin(), in.end());
  EXPECT_EQ(drain(sorter), in);
}

TEST(ExternalSort, NothingAddedStreamsNothing) {
  TempDir tmp;
  ExternalSorter sorter(tmp.path());
  EXPECT_FALSE(sorter.stream().ok()) << "reading before finish() is an error";
  ASSERT_TRUE(sorter.finish().ok());
  EXPECT_TRUE(drain(sorter).empty());
}

TEST(ExternalSort, AMissingWorkFolderFailsWithItsErrno) {
  TempDir tmp;
  ExternalSorter sorter(tmp / "gone", 4096);
  Status added;
  for (int i = 0; i < 1000 && added.ok(); ++i) {
    added = sorter.add(std::string(100, 'x'));
  }
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().err, ENOENT);
}

TEST(WorkFile, AppendsReadsBackAndLeavesNoName) {
  TempDir tmp;
  auto file = WorkFile::create(tmp.path());
  ASSERT_TRUE(file.ok()) << file.error().describe();
  ASSERT_TRUE(file->append("hello ", 6).ok());
  ASSERT_TRUE(file->append("world", 5).ok());
  EXPECT_EQ(file->size(), 11u);
  char buf[16] = {};
  auto got = file->read_at(6, buf, sizeof buf);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string(buf, *got), "world");
  EXPECT_EQ(names_in(tmp.path()), 0u);
}

TEST(WorkFile, StaleNamedWorkFilesAreRemovedAndNothingElse) {
  TempDir tmp;
  test::write_file(tmp / ".work-AbC123", "left by a kill");
  test::write_file(tmp / "scrub-state", "kept");
  test::write_file(tmp / ".other", "kept");
  remove_stale_work_files(tmp.path());
  EXPECT_FALSE(fs::exists(tmp / ".work-AbC123"));
  EXPECT_TRUE(fs::exists(tmp / "scrub-state"));
  EXPECT_TRUE(fs::exists(tmp / ".other"));
}

TEST(RecordBytes, FieldsSortInTheOrderWrittenAndReadBack) {
  auto record = [](std::int64_t a, std::string_view text, std::uint64_t b) {
    RecordBuilder r;
    r.i64(a);
    r.ordered_text(text);
    r.u64(b);
    return std::string(r.view());
  };
  EXPECT_LT(record(-5, "z", 0), record(3, "a", 0)) << "negative before positive";
  EXPECT_LT(record(-5, "z", 0), record(-4, "a", 0));
  EXPECT_LT(record(1, "a", 9), record(1, "a/b", 0)) << "a shorter path first, as in a manifest";
  EXPECT_LT(record(1, "a.b", 0), record(1, "a/b", 0));
  EXPECT_LT(record(1, "a", 1), record(1, "a", 2));

  auto number = [](std::uint64_t v) {
    RecordBuilder r;
    r.var(v);
    return std::string(r.view());
  };
  EXPECT_LT(number(0), number(1));
  EXPECT_LT(number(255), number(256)) << "compact numbers keep the order of unsigned values";
  EXPECT_LT(number(65535), number(1ull << 40));
  EXPECT_EQ(number(0).size(), 1u);
  EXPECT_EQ(number(1000000).size(), 4u);

  RecordBuilder r;
  r.var(0);
  r.var(~0ull);
  r.zigzag(-1);
  r.zigzag(std::numeric_limits<std::int64_t>::min());
  r.zigzag(1795667375197928468);
  r.u8(7);
  r.u32(0xdeadbeef);
  r.i64(-123456789012345);
  r.ordered_text("dir/name");
  r.bytes(std::string("raw\0bytes", 9));
  r.hex("00ff7a");
  r.hex("not-hex");
  r.hex("");
  RecordParser p(r.view());
  EXPECT_EQ(p.var(), 0u);
  EXPECT_EQ(p.var(), ~0ull);
  EXPECT_EQ(p.zigzag(), -1);
  EXPECT_EQ(p.zigzag(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(p.zigzag(), 1795667375197928468);
  EXPECT_EQ(p.u8(), 7u);
  EXPECT_EQ(p.u32(), 0xdeadbeefu);
  EXPECT_EQ(p.i64(), -123456789012345);
  EXPECT_EQ(p.ordered_text(), "dir/name");
  EXPECT_EQ(p.bytes(), std::string_view("raw\0bytes", 9));
  EXPECT_EQ(p.hex(), "00ff7a");
  EXPECT_EQ(p.hex(), "not-hex");
  EXPECT_EQ(p.hex(), "");
  EXPECT_FALSE(p.bad());
  p.u8();
  EXPECT_TRUE(p.bad()) << "reading past the end is noticed";
}

}  // namespace
}  // namespace snapkeep
