#pragma once
// The one rule for "these two snapshot files are one content", used by manifest building (may a
// recorded hash be reused?) and by scrub (which files to read once). How a backend's snapshots
// share content is its ContentSharing (core/store/backend.hpp); docs/scrub.md explains the rule.

#include <sys/stat.h>

#include <compare>
#include <cstddef>
#include <cstdint>

#include "core/store/backend.hpp"

namespace snapkeep {

struct ManifestEntry;

// What makes a snapshot file one content. hard_links: one inode, (dev, ino), the other fields 0.
// extent_lineage: the same (ino, ctime, size, mtime), which a file keeps while its extents are
// shared along a lineage of snapshots; dev is 0 (it differs per subvolume).
struct ContentKey {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;

  auto operator<=>(const ContentKey&) const = default;
  bool operator==(const ContentKey&) const = default;
};

// Hashes a ContentKey for unordered containers.
struct ContentKeyHash {
  std::size_t operator()(const ContentKey& key) const;
};

// The content key of a file as lstat/fstat sees it now. Never fails.
ContentKey content_key(const struct stat& st, ContentSharing sharing);

// Whether a hash that a manifest recorded for `recorded` still vouches for the live file `live`:
// the same content (per `sharing`; for hard_links the manifest's inode number, its device being the
// snapshot's) that has not changed since (same size and mtime). Never fails.
bool may_reuse_hash(const ManifestEntry& recorded, const struct stat& live, ContentSharing sharing);

}  // namespace snapkeep
