#include "backends/btrfs/extents.hpp"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/base/fd.hpp"

namespace snapkeep::btrfs {
namespace {

// Physical [start, end) ranges of a file's extents; empty when none or on error.
std::vector<std::pair<std::uint64_t, std::uint64_t>> physical_ranges(const std::filesystem::path& file) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  Fd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
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
    map->fm_extent_count = k_batch;
    if (::ioctl(fd.get(), FS_IOC_FIEMAP, map) != 0 || map->fm_mapped_extents == 0) {
      break;
    }
    for (unsigned i = 0; i < map->fm_mapped_extents; ++i) {
      const struct fiemap_extent& e = map->fm_extents[i];
      if ((e.fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DATA_INLINE)) == 0) {
        out.emplace_back(e.fe_physical, e.fe_physical + e.fe_length);
      }
      start = e.fe_logical + e.fe_length;
      last = last || (e.fe_flags & FIEMAP_EXTENT_LAST) != 0;
    }
  }
  return out;
}

}  // namespace

bool shares_blocks(const std::filesystem::path& a, const std::filesystem::path& b) {
  auto ours = physical_ranges(a);
  auto theirs = physical_ranges(b);
  for (const auto& [lo, hi] : ours) {
    for (const auto& [other_lo, other_hi] : theirs) {
      if (lo < other_hi && other_lo < hi) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace snapkeep::btrfs
