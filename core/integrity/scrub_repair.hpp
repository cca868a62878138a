#pragma once
// Repairing one damaged content found by scrub: find a copy whose hash matches the manifest, stage
// it in a verified temporary file, rewrite the damaged inode(s) in place, verify the result.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config/config.hpp"

namespace snapkeep {

// One damaged content and where good copies may be.
struct RepairTarget {
  // Every snapshot path of the content; on hard-link trees they are links to one inode, and each
  // distinct inode among them is rewritten.
  std::vector<std::filesystem::path> paths;
  // Source files at the same relative paths: used only when size and mtime equal the manifest's
  // and the data hashes to the manifest's hash.
  std::vector<std::filesystem::path> source_candidates;
  // Other files on the destination whose manifest hash and size are the same.
  std::vector<std::filesystem::path> copy_candidates;
  ChecksumKind kind = ChecksumKind::xxh128;
  std::string expected_hash;       // from the manifest
  std::uint64_t size = 0;          // from the manifest
  std::int64_t mtime_ns = 0;       // from the manifest; the repaired inode gets it back
  std::filesystem::path work_dir;  // for the staged copy: under .snapkeep/, on the same filesystem
};

// What a repair did.
struct RepairResult {
  bool repaired = false;   // every inode now holds data that hashes to the manifest's hash
  bool good_copy = false;  // a verified good copy was found
  std::string from;        // that copy
  std::string note;        // why not repaired, or what would be done on read-only snapshots
  std::uint64_t bytes_read = 0;
};

// Repairs one content. Never writes data that was not verified against the manifest's hash twice
// (while copying into the staged file, and read back from the disk after fsync). Mode, owner,
// xattrs and hard links stay (the inode is rewritten, not replaced); the mtime is set back to the
// manifest's. On a read-only snapshot (btrfs) nothing is written; the note says what would be done.
RepairResult repair_content(const RepairTarget& target);

// Brings back a file missing from a snapshot at `path` from target.source_candidates, when one is
// still what the manifest recorded (size, mtime, and the hash, verified twice as above): created
// (never over an existing name) with the source file's mode, owner and xattrs (ACLs among them) and
// the manifest's mtime. target.paths is not used.
RepairResult restore_missing(const RepairTarget& target, const std::filesystem::path& path);

}  // namespace snapkeep
