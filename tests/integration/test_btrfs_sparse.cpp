// A plain (non-subvolume) source backed up to btrfs keeps its sparse files sparse, on the first run
// and after changes (in place, a new hole, a new sparse file), while the blocks of unchanged data
// stay shared with earlier snapshots (FIEMAP).

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/integration_util.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

constexpr std::uint64_t k_kib = 1024;
constexpr std::uint64_t k_mib = 1024 * 1024;

// Bytes allocated to a file (st_blocks).
std::uint64_t allocated(const fs::path& file) {
  return static_cast<std::uint64_t>(stat_of(file).st_blocks) * 512;
}

// Writes `data` at `offset` of an existing file (created empty when missing), size grown as needed.
void write_at(const fs::path& file, std::uint64_t offset, const std::string& data) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << file << ": " << std::strerror(errno);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(data.size()));
  ::close(fd);
}

// A sparse file of `size` bytes holding one byte `c` at `offset`.
void make_sparse(const fs::path& file, std::uint64_t size, std::uint64_t offset, char c) {
  write_at(file, offset, std::string(1, c));
  ASSERT_EQ(::truncate(file.c_str(), static_cast<off_t>(size)), 0);
}

// Punches [offset, offset + length) out of a file (it then reads as zeros).
void punch(const fs::path& file, std::uint64_t offset, std::uint64_t length) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                        static_cast<off_t>(length)),
            0)
      << std::strerror(errno);
  ::close(fd);
}

// The physical address of the extent holding byte `offset` of a file (0 when none: a hole).
std::uint64_t physical_at(const fs::path& file, std::uint64_t offset) {
  for (const auto& e : extents_of(file)) {
    if (offset >= e.logical && offset < e.logical + e.length) {
      return e.physical + (offset - e.logical);
    }
  }
  return 0;
}

// Bytes of `file`'s extents at physical places that `base`'s extents do not use.
std::uint64_t unshared_bytes(const fs::path& file, const fs::path& base) {
  auto mine = extents_of(file);
  auto theirs = extents_of(base);
  std::uint64_t total = 0;
  for (const auto& e : mine) {
    for (std::uint64_t block = 0; block < e.length; block += 4096) {
      std::uint64_t at = e.physical + block;
      bool shared = std::any_of(theirs.begin(), theirs.end(),
                                [&](const Extent& t) { return at >= t.physical && at < t.physical + t.length; });
      total += shared ? 0 : std::min<std::uint64_t>(4096, e.length - block);
    }
  }
  return total;
}

void expect_same_file(const fs::path& a, const fs::path& b) {
  EXPECT_EQ(run({"cmp", "--", a.string(), b.string()}).exit_code, 0) << a << " and " << b << " differ";
  EXPECT_EQ(stat_of(a).st_mtim.tv_sec, stat_of(b).st_mtim.tv_sec) << b << ": mtime not kept";
}

TEST(BtrfsSparse, PlainSourceStaysSparseAndUnchangedDataStaysShared) {
  SNAPKEEP_REQUIRE_ROOT();
  TempDir tmp;
  LoopFs source("ext4", 128);
  LoopFs dest("btrfs", 256);
  ASSERT_TRUE(source.ok() && dest.ok());
  fs::path src = source.mount_point() / "src";
  fs::create_directories(src);
  make_sparse(src / "disk.img", 200 * k_mib, 100000000, 'x');
  write_random_file(src / "data.bin", 8 * k_mib, 1);
  write_random_file(src / "holey.bin", 2 * k_mib, 2);
  ASSERT_LE(allocated(src / "disk.img"), 8 * k_kib) << "the source filesystem keeps no holes";
  fs::path config = write_preset_config(tmp / "snapkeep.ini", "home", src, dest.mount_point());
  fs::path preset_dir = dest.mount_point() / "home";
  auto backup = [&] {
    RunResult r = snapkeep({"-c", config.string(), "--json", "backup"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r.out;
    EXPECT_EQ(doc["presets"][0].value("backend", ""), "btrfs");
    return doc.is_discarded() ? std::string() : doc["presets"][0].value("snapshot", "");
  };

  // First run: a 200 MB file with one byte of data takes about one block.
  std::string s1 = backup();
  ASSERT_FALSE(s1.empty());
  ::sync();
  EXPECT_LE(allocated(preset_dir / s1 / "disk.img"), 8 * k_kib);
  expect_same_file(src / "disk.img", preset_dir / s1 / "disk.img");
  expect_same_file(src / "data.bin", preset_dir / s1 / "data.bin");

  // Changes in place: one more byte in the sparse file, 4 KiB in the dense one, a hole punched
  // into another, and a new sparse file.
  write_at(src / "disk.img", 150000000, "y");
  write_at(src / "data.bin", 4 * k_mib, std::string(4096, 'z'));
  punch(src / "holey.bin", 512 * k_kib, 1 * k_mib);
  make_sparse(src / "new.img", 64 * k_mib, 10 * k_mib, 'n');
  std::string s2 = backup();
  ASSERT_FALSE(s2.empty());
  ::sync();
  fs::path snap = preset_dir / s2;
  EXPECT_LE(allocated(snap / "disk.img"), 16 * k_kib) << "two bytes of data";
  EXPECT_LE(allocated(snap / "new.img"), 8 * k_kib) << "a new sparse file is written sparse";
  EXPECT_LE(allocated(snap / "holey.bin"), 1 * k_mib + 8 * k_kib) << "the hole punched in the source is a hole";
  for (const char* name : {"disk.img", "data.bin", "holey.bin", "new.img"}) {
    expect_same_file(src / name, snap / name);
  }
  // Unchanged data is not rewritten: the first byte's block and all of data.bin but the change
  // are the very blocks of the first snapshot.
  std::uint64_t first = physical_at(preset_dir / s1 / "disk.img", 100000000);
  EXPECT_NE(first, 0u);
  EXPECT_EQ(physical_at(snap / "disk.img", 100000000), first) << "the unchanged block was rewritten";
  std::uint64_t fresh = unshared_bytes(snap / "data.bin", preset_dir / s1 / "data.bin");
  EXPECT_GT(fresh, 0u);
  EXPECT_LE(fresh, 64 * k_kib) << "a 4 KiB change rewrote " << fresh << " bytes of data.bin";
  // rsync rewrites the blocks its chunks straddle at the edges of the new hole; nothing more.
  EXPECT_LE(unshared_bytes(snap / "holey.bin", preset_dir / s1 / "holey.bin"), 16 * k_kib)
      << "punching the new hole rewrote the data around it";

  // Nothing changed: the next snapshot shares everything.
  std::string s3 = backup();
  ASSERT_FALSE(s3.empty());
  ::sync();
  for (const char* name : {"disk.img", "data.bin", "holey.bin", "new.img"}) {
    EXPECT_EQ(unshared_bytes(preset_dir / s3 / name, snap / name), 0u) << name;
  }
}

}  // namespace
}  // namespace snapkeep::test
