#pragma once
// One record of a snapshot's manifest, as data: what the manifest format (core/integrity/manifest)
// reads and writes, and what the native copy engine (core/transfer/native) consumes and produces.
// See docs/scrub.md for the format.

#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>

namespace snapkeep {

// What kind of entry a record describes.
enum class EntryType : char { file = 'f', directory = 'd', symlink = 'l', other = 'o' };

// The entry type of an lstat st_mode.
EntryType entry_type_of(mode_t mode);

// Which source inode an entry was copied from, as it was then: while a source file keeps its inode
// number and ctime, nothing about it (content, mode, owner, xattrs, links) has changed.
struct SourceIdentity {
  std::uint64_t ino = 0;
  std::int64_t ctime_ns = 0;

  auto operator<=>(const SourceIdentity&) const = default;
};

// One entry of a snapshot as it was when the manifest was made.
struct ManifestEntry {
  std::string path;  // relative to the snapshot root, raw bytes (any byte but NUL)
  EntryType type = EntryType::file;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t ino = 0;      // identity in the snapshot: the inode number ...
  std::int64_t ctime_ns = 0;  // ... and the inode change time (no device: it differs per btrfs subvolume)
  // Manifest version 2: the source inode the entry was copied from (native engine); none when
  // unknown (version 1, rsync-made snapshots, scrub --init).
  std::optional<SourceIdentity> source;
  std::string hash;  // lower-case hex of the content (symlinks: of the target); "" when none

  bool operator==(const ManifestEntry&) const = default;
};

// How many entries changed from one snapshot to the next (the rule: compare_entries in
// core/integrity/manifest_diff.hpp).
struct ChangeCounts {
  std::uint64_t added = 0;
  std::uint64_t deleted = 0;
  std::uint64_t content = 0;   // modified content
  std::uint64_t metadata = 0;  // metadata only
};

}  // namespace snapkeep
