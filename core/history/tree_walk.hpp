#pragma once
// Reading a snapshot tree directly, for snapshots without a usable manifest (the old script's,
// or one whose manifest is missing or damaged): its entries in manifest order, as a manifest would
// list them but without content hashes; and opening a path inside it without following symlinks.

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"
#include "core/integrity/manifest_diff.hpp"

namespace snapkeep {

// Opens folder `rel` (relative, "" for the root itself) beneath `root` component by component,
// never following a symlink; an error names the path (ENOENT when it is not there).
Result<Fd> open_folder_beneath(const std::filesystem::path& root, const std::string& rel);

// lstat of `rel` beneath `root` (its folders opened as open_folder_beneath does); the parent folder
// is left open in `parent` for reading the entry. Errors keep errno (ENOENT: not there).
Result<struct stat> stat_beneath(const std::filesystem::path& root, const std::string& rel, Fd& parent);

// The entry of a manifest made from `st` at `path`, without a hash.
ManifestEntry entry_from_stat(std::string path, const struct stat& st);

// The entries below a folder, in manifest order (path bytes), with paths relative to it. Memory
// holds the names of one folder per level of the current path; each level keeps its folder open.
class TreeStream : public EntryStream {
 public:
  // Walks the folder `rel` beneath `root` (see open_folder_beneath).
  static Result<std::unique_ptr<TreeStream>> open(const std::filesystem::path& root, const std::string& rel);
  Result<bool> next(ManifestEntry& entry) override;

 private:
  // One step of a folder's walk: an entry's record, or (folders) its contents, ordered by `key`:
  // the name for the record, the name and "/" for the contents.
  struct Step {
    std::string key;
    bool contents = false;
  };
  struct Level {
    Fd fd;
    std::string prefix;  // the folder's path relative to the walk's root, "" or ending in "/"
    std::vector<Step> steps;
    std::size_t next = 0;
  };
  TreeStream() = default;
  // Lists the open folder `fd` into a new level.
  Status push(Fd fd, std::string prefix);
  std::filesystem::path m_root;
  std::vector<Level> m_levels;
};

}  // namespace snapkeep
