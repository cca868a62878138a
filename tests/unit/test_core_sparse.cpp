// Unit tests for core/transfer/sparse: holes of the source punched into an in-place copy, whole zero
// blocks only, data never touched, times kept. Runs in $TMPDIR, which must keep holes (ext4, xfs,
// btrfs and tmpfs do).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "core/transfer/sparse.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

using test::TempDir;

constexpr std::uint64_t k_mib = 1024 * 1024;

std::uint64_t allocated(const std::filesystem::path& file) {
  return static_cast<std::uint64_t>(test::stat_of(file).st_blocks) * 512;
}

void write_at(const std::filesystem::path& file, std::uint64_t offset, const std::string& data) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(data.size()));
  ::close(fd);
}

// A file of `size` bytes holding `data` at `offset`: sparse, or with every zero written as data.
void make_file(const std::filesystem::path& file, std::uint64_t size, std::uint64_t offset, const std::string& data,
               bool dense) {
  std::filesystem::create_directories(file.parent_path());
  if (dense) {
    std::string zeros(size, '\0');
    zeros.replace(offset, data.size(), data);
    test::write_file(file, zeros);
  } else {
    write_at(file, offset, data);
    ASSERT_EQ(::truncate(file.c_str(), static_cast<off_t>(size)), 0);
  }
}

TEST(CoreSparse, HolesOfTheSourceArePunchedIntoTheCopy) {
  TempDir tmp;
  make_file(tmp / "src" / "d" / "disk.img", 8 * k_mib, 3 * k_mib + 5, "data", false);
  ASSERT_LT(allocated(tmp / "src" / "d" / "disk.img"), 64 * 1024) << "TMPDIR keeps no holes";
  make_file(tmp / "dst" / "d" / "disk.img", 8 * k_mib, 3 * k_mib + 5, "data", true);
  struct timespec times[2] = {{1000, 5}, {2000, 7}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (tmp / "dst" / "d" / "disk.img").c_str(), times, 0), 0);
  ASSERT_GE(allocated(tmp / "dst" / "d" / "disk.img"), 8 * k_mib);

  auto stats = punch_holes_like(tmp / "src", tmp / "dst");
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_EQ(stats->files, 1u);
  EXPECT_GE(stats->bytes_punched, 8 * k_mib - 8192);
  EXPECT_LE(allocated(tmp / "dst" / "d" / "disk.img"), 8192u);
  EXPECT_EQ(test::read_file(tmp / "dst" / "d" / "disk.img"), test::read_file(tmp / "src" / "d" / "disk.img"));
  struct stat st = test::stat_of(tmp / "dst" / "d" / "disk.img");
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 7);
  // A second pass has nothing left to do.
  stats = punch_holes_like(tmp / "src", tmp / "dst");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->files, 0u);
}

TEST(CoreSparse, DataIsNeverPunchedAndOtherFilesAreLeftAlone) {
  TempDir tmp;
  make_file(tmp / "src" / "a.img", 4 * k_mib, 0, "x", false);
  // The copy holds data where the source has a hole (the source changed since): kept.
  make_file(tmp / "dst" / "a.img", 4 * k_mib, 2 * k_mib, "not zero", true);
  // Another size, or not a regular file: left alone.
  make_file(tmp / "src" / "b.img", 4 * k_mib, 0, "x", false);
  make_file(tmp / "dst" / "b.img", 3 * k_mib, 0, "x", true);
  make_file(tmp / "src" / "c.img", 4 * k_mib, 0, "x", false);
  std::filesystem::create_directories(tmp / "dst");
  std::filesystem::create_symlink("a.img", tmp / "dst" / "c.img");
  auto stats = punch_holes_like(tmp / "src", tmp / "dst");
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  std::string a = test::read_file(tmp / "dst" / "a.img");
  EXPECT_EQ(a.substr(2 * k_mib, 8), "not zero");
  EXPECT_LT(allocated(tmp / "dst" / "a.img"), 64 * 1024u) << "the zero blocks around the data are punched";
  EXPECT_GE(allocated(tmp / "dst" / "b.img"), 3 * k_mib);
  EXPECT_TRUE(std::filesystem::is_symlink(tmp / "dst" / "c.img"));
}

}  // namespace
}  // namespace snapkeep
