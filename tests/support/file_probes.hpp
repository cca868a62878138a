#pragma once
// What tests look at on a filesystem beyond contents: existence without following links, folder
// names, mtimes, btrfs read-only flags, FIEMAP extents, flock state, free room and allocated bytes.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace snapkeep::test {

namespace fs = std::filesystem;

// Sets the mtime (and atime) of path, not following a symlink; a test failure when it cannot.
void set_mtime(const fs::path& path, time_t sec, long nsec = 0);

// True when path exists (lstat, a dangling symlink counts).
bool exists_nofollow(const fs::path& path);

// Names in a folder (not recursive), sorted; empty when it cannot be read.
std::set<std::string> names_in(const fs::path& dir);

// True when path is a read-only btrfs subvolume (BTRFS_IOC_SUBVOL_GETFLAGS; no child process, so
// it can be polled quickly).
bool is_read_only_subvolume(const fs::path& path);

// One file extent as FIEMAP reports it (two files share storage where their extents are equal).
struct Extent {
  std::uint64_t logical = 0;
  std::uint64_t physical = 0;
  std::uint64_t length = 0;
  bool operator==(const Extent&) const = default;
};

// The extents of a file (FS_IOC_FIEMAP, data synced first); a test failure when it cannot be read.
std::vector<Extent> extents_of(const fs::path& file);

// True when nobody holds the flock on `lock` (a preset's .snapkeep/lock) at this moment.
bool lock_is_free(const fs::path& lock);

namespace fault {

// Sets the mtime and atime of path to `sec` (not following a symlink).
void set_time(const fs::path& path, std::int64_t sec);

// Free room of the filesystem holding `path`, after flushing everything: bytes a run may still
// allocate (f_bavail; the suite makes ext4 with -m 0, so root has no reserve beyond it) and inodes.
struct Room {
  std::uint64_t bytes = 0;
  std::uint64_t inodes = 0;
};

// room_of: sync(2), then statvfs of `path`; a test failure when statvfs fails.
Room room_of(const fs::path& path);

// Allocated bytes of one file (st_blocks), 0 when it is gone.
std::uint64_t allocated_bytes(const fs::path& file);

}  // namespace fault
}  // namespace snapkeep::test
