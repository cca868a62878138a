#pragma once
// Descriptions of whole trees (what a snapshot must equal): every entry's type, mode, owner, size,
// mtime in whole seconds and content hash, with a cache that hashes each unchanged file once.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace snapkeep::test::fault {

// One entry of a tree as a snapshot must reproduce it. Folder sizes are not compared; mtimes are
// compared in whole seconds (rsync's default comparison; the suite gives every write its own second).
struct Entry {
  char type = '?';  // f regular file, d folder, l symlink, o other
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::uint64_t size = 0;
  std::int64_t mtime = 0;
  std::uint64_t hash = 0;  // contents of a file
  std::string target;      // of a symlink
  bool operator==(const Entry&) const = default;
};

// Relative path ("." for the root) -> entry.
using TreeState = std::map<std::string, Entry>;

// One line for messages: type, mode, owner, size, mtime, hash (and a symlink's target).
std::string describe_entry(const Entry& e);

// Content hashes, keyed by what changes whenever a file's content can have changed (ctime cannot
// be set back), so a snapshot verified once is re-verified by lstat alone.
class HashCache {
 public:
  // The hash of `path` (whose lstat is `st`); a test failure when it cannot be read.
  std::uint64_t hash_of(const std::filesystem::path& path, const struct stat& st);
  // Bytes read so far.
  std::uint64_t bytes_hashed() const { return m_bytes; }

 private:
  using Key = std::tuple<dev_t, ino_t, std::uint64_t, std::int64_t, long, std::int64_t, long>;
  std::uint64_t hash_file(const std::filesystem::path& path);
  std::map<Key, std::uint64_t> m_hashes;
  std::uint64_t m_bytes = 0;
};

// Every entry below root (not following symlinks), root itself as "."; a test failure when root is
// not a folder or an entry cannot be read.
TreeState describe_tree(const std::filesystem::path& root, HashCache& cache);

// Differences between the expected and the actual tree, at most `limit` lines.
std::vector<std::string> state_differences(const TreeState& expected, const TreeState& actual, std::size_t limit = 12);

// Bytes of all regular files in a tree.
std::uint64_t total_file_bytes(const TreeState& state);

// Bytes of the files in `to` that are new or different from `from`.
std::uint64_t changed_file_bytes(const TreeState& from, const TreeState& to);

}  // namespace snapkeep::test::fault
