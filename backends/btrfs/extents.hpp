#pragma once
// Which blocks a file uses on its filesystem (FIEMAP), to tell whether two files of one btrfs
// filesystem share data blocks (reflinks, snapshots).

#include <filesystem>

namespace snapkeep::btrfs {

// Do files `a` and `b` (on one filesystem) use any physical block in common? False when either has
// no extents or cannot be examined.
bool shares_blocks(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace snapkeep::btrfs
