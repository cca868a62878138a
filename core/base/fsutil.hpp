#pragma once
// Small filesystem operations with errors that keep errno and path.

#include <time.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "core/base/error.hpp"

namespace snapkeep {

// A timespec (an mtime, a ctime, a clock reading) as nanoseconds since the epoch.
inline std::int64_t timespec_ns(const struct timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// mkdir that accepts an existing directory (but not a symlink or file in its place).
Status make_dir(const std::filesystem::path& dir, unsigned mode = 0755);

// make_dir(dir, 0700), and an existing dir that group or others may enter made 0700 too; true when
// an existing dir was tightened.
Result<bool> make_private_dir(const std::filesystem::path& dir);

// fsync(2) of a directory, so renames inside it are durable.
Status fsync_dir(const std::filesystem::path& dir);

// syncfs(2) of the filesystem holding `path`: everything written there so far is durable.
Status sync_filesystem(const std::filesystem::path& path);

// How many extents (separate runs of blocks on the drive) the open file `fd` is stored in, as FIEMAP
// reports them; 0 when the filesystem cannot tell. `path` is for the error.
Result<std::uint64_t> count_extents(int fd, const std::filesystem::path& path);

// Writes `content` to a temporary sibling, fsyncs it and renames it over `path`.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content);

// rename(2) with an error naming both paths.
Status rename_path(const std::filesystem::path& from, const std::filesystem::path& to);

// Deletes a tree in-process (openat/unlinkat): never follows symlinks, never leaves the
// filesystem of `root`, makes read-only folders writable as it goes. A missing root is success.
// `on_progress(entries_removed)` is called now and then.
Status remove_tree(const std::filesystem::path& root, const std::function<void(std::uint64_t)>& on_progress = {});

// Does the filesystem of `dir` keep nanosecond mtimes? Probed with a temporary file in `dir`;
// false when the probe cannot be made.
bool keeps_nanosecond_mtimes(const std::filesystem::path& dir);

// Entries below `root` plus root itself, and the sizes of its regular files: a backup's counts when
// nothing better lists them. Unreadable parts are skipped.
struct TreeCount {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};
TreeCount count_tree(const std::filesystem::path& root);

// Is `dir` a directory with no entries? Errors name the path.
Result<bool> dir_is_empty(const std::filesystem::path& dir);

// Is `inner` the same as or below `outer`, after resolving symlinks of the existing parts?
bool path_is_within(const std::filesystem::path& inner, const std::filesystem::path& outer);

// Reads a file once, in a thread of its own, so that a later read finds it in the page cache: a
// file needed after a long step that keeps the process waiting (the parent's manifest, which the
// manifest patch reads after btrfs send | receive). Nothing is reported: a file that cannot be read
// is read later by its user, who reports why. Destroying it stops the reading.
class BackgroundRead {
 public:
  explicit BackgroundRead(const std::filesystem::path& path);
  ~BackgroundRead();
  BackgroundRead(const BackgroundRead&) = delete;
  BackgroundRead& operator=(const BackgroundRead&) = delete;
  // Waits for the end of the file: the bytes read.
  std::uint64_t finish();

 private:
  std::atomic<bool> m_stop{false};
  std::uint64_t m_bytes = 0;
  std::thread m_thread;
};

}  // namespace snapkeep
