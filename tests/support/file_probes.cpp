#include "tests/support/file_probes.hpp"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include "core/base/fd.hpp"

namespace snapkeep::test {

void set_mtime(const fs::path& path, time_t sec, long nsec) {
  struct timespec times[2];
  times[0].tv_sec = sec;
  times[0].tv_nsec = nsec;
  times[1].tv_sec = sec;
  times[1].tv_nsec = nsec;
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    ADD_FAILURE() << "utimensat " << path << ": " << std::strerror(errno);
  }
}

bool exists_nofollow(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    out.insert(entry.path().filename().string());
  }
  return out;
}

bool is_read_only_subvolume(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    return false;
  }
  std::uint64_t flags = 0;
  return ::ioctl(fd.get(), BTRFS_IOC_SUBVOL_GETFLAGS, &flags) == 0 && (flags & BTRFS_SUBVOL_RDONLY) != 0;
}

std::vector<Extent> extents_of(const fs::path& file) {
  std::vector<Extent> out;
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    ADD_FAILURE() << "open " << file << ": " << std::strerror(errno);
    return out;
  }
  constexpr unsigned k_batch = 256;
  std::vector<std::uint64_t> storage((sizeof(struct fiemap) + k_batch * sizeof(struct fiemap_extent)) / 8 + 1);
  std::uint64_t start = 0;
  for (bool last = false; !last;) {
    std::fill(storage.begin(), storage.end(), 0);
    auto* map = reinterpret_cast<struct fiemap*>(storage.data());
    map->fm_start = start;
    map->fm_length = FIEMAP_MAX_OFFSET - start;
    map->fm_flags = FIEMAP_FLAG_SYNC;
    map->fm_extent_count = k_batch;
    if (::ioctl(fd.get(), FS_IOC_FIEMAP, map) != 0) {
      ADD_FAILURE() << "FS_IOC_FIEMAP " << file << ": " << std::strerror(errno);
      break;
    }
    if (map->fm_mapped_extents == 0) {
      break;
    }
    for (unsigned i = 0; i < map->fm_mapped_extents; ++i) {
      const auto& e = map->fm_extents[i];
      out.push_back({e.fe_logical, e.fe_physical, e.fe_length});
      start = e.fe_logical + e.fe_length;
      last = last || (e.fe_flags & FIEMAP_EXTENT_LAST) != 0;
    }
  }
  return out;
}

bool lock_is_free(const fs::path& lock) {
  Fd fd(::open(lock.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    return true;
  }
  return ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0;  // closing fd releases it again
}

namespace fault {

void set_time(const fs::path& path, std::int64_t sec) {
  set_mtime(path, static_cast<time_t>(sec));
}

Room room_of(const fs::path& path) {
  ::sync();
  struct statvfs sv {};
  EXPECT_EQ(::statvfs(path.c_str(), &sv), 0) << "statvfs " << path << ": " << std::strerror(errno);
  return {static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize, static_cast<std::uint64_t>(sv.f_favail)};
}

std::uint64_t allocated_bytes(const fs::path& file) {
  struct stat st {};
  return ::lstat(file.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
}

}  // namespace fault
}  // namespace snapkeep::test
