#pragma once
// The changing source tree of the fault trials: a few hundred files changed by seeded operations.
// Every write gets an mtime second of its own, so a change is never hidden by rsync's size+mtime
// quick check; contents depend only on the seeds, so a seed replays the same history.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/file_probes.hpp"

namespace snapkeep::test::fault {

inline constexpr std::size_t k_kib = 1024;
inline constexpr std::int64_t k_first_mtime = 1'600'000'000;

// A source tree under root, populated and then changed by seeded operations.
class SourceTree {
 public:
  explicit SourceTree(std::filesystem::path root) : m_root(std::move(root)) {}

  // A few hundred files (mostly small, some of 16-128 KiB, a few of up to 1 MiB) in nested folders,
  // symlinks, other owners and modes, an empty folder.
  void populate(std::mt19937_64& rng);

  // Changes a seeded subset: rewrites, in-place edits, appends, deletions, new files, renames,
  // mode changes, new and removed folders, symlink changes, reverts to an earlier version (with
  // its old mtime, as a restore from a backup does), and always one write of 0.5-1.5 MiB.
  // Returns a log of what it did.
  std::string mutate(std::mt19937_64& rng);

 private:
  // One whole-file version: its content is write_random_file(size, seed).
  struct Version {
    std::uint64_t seed = 0;
    std::size_t size = 0;
    std::int64_t mtime = 0;
  };

  std::int64_t next_mtime() { return ++m_clock; }
  // Sorted relative paths of regular files (files = true) or of folders ("" = root; not "empty",
  // kept empty on purpose, nor "big").
  std::vector<std::string> list(bool files) const;
  // Writes a whole new version of rel with its own mtime, remembering the one before.
  void write_whole(const std::string& rel, std::size_t size, std::uint64_t seed);
  // Forgets the versions of rel (its content is no longer a whole version).
  void forget(const std::string& rel);
  void move_versions(const std::string& from, const std::string& to);
  void edit_in_place(const std::string& rel, std::mt19937_64& rng);
  void append(const std::string& rel, std::mt19937_64& rng);
  void remove_a_folder(std::mt19937_64& rng, std::ostringstream& log);
  // Puts back the version before the current one, with its old mtime.
  void revert(std::mt19937_64& rng, std::ostringstream& log);
  // One larger write per mutation, so that a backup has data to copy while it is killed; at
  // most four big files.
  void big_write(std::mt19937_64& rng, std::ostringstream& log);

  std::filesystem::path m_root;
  std::int64_t m_clock = k_first_mtime;
  unsigned m_names = 0;
  std::map<std::string, Version> m_versions;  // current version of whole-written files
  std::map<std::string, Version> m_previous;  // the version before it
};

}  // namespace snapkeep::test::fault
