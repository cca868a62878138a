#pragma once
// Known damage never spreads into a hard-link snapshot (rsync engine): a file whose link base is
// content scrub recorded damaged (core/store/damage.hpp) ends up as a fresh copy from the source,
// never as another link to the damaged inode. See docs/scrub.md "Known damage never spreads".

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/base/progress.hpp"
#include "core/store/backend.hpp"
#include "core/store/damage.hpp"

namespace snapkeep {

// What a new hard-link snapshot must not be built on. (Not DamagedContent: that name is
// core/integrity's, and two classes of one name break the one-definition rule: their inline
// destructors were merged, which leaked and overflowed under ASan.)
struct LinkBaseDamage {
  // (device, inode number) of every file the record names in an existing snapshot.
  std::set<std::pair<std::uint64_t, std::uint64_t>> inodes;
  // The newest snapshot is recorded damaged as a whole (its manifest was): no link base at all.
  bool newest_whole = false;
  bool empty() const { return inodes.empty() && !newest_whole; }
};

// The damaged content of a preset's complete snapshots (oldest first) per its damage record.
LinkBaseDamage damaged_content(const DamageRecord& record, const std::vector<SnapshotInfo>& snapshots);

// Replaces every regular file below `target` that is one of damaged.inodes by a fresh copy from the
// same path below `source` (rsync -aHAX --numeric-ids --files-from, no link base, so hard links
// among them are kept and metadata is rsync's). `work_dir` holds the file list. Returns the relative
// paths replaced (none: nothing was run). Fails like run_rsync, or when the tree cannot be walked.
Result<std::vector<std::string>> recopy_damaged_links(const Preset& preset, const std::filesystem::path& source,
                                                      const std::filesystem::path& target,
                                                      const std::filesystem::path& work_dir,
                                                      const LinkBaseDamage& damaged, Progress& progress);

// "a.bin, dir/b.bin and 3 more": paths for a message.
std::string describe_paths(const std::vector<std::string>& paths, std::size_t max_paths = 5);

}  // namespace snapkeep
