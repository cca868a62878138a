#pragma once
// Keeping sparse files sparse after an in-place copy: a copy that rewrites a file in place writes
// the zeros of its source's holes as data; this punches them out again, whole blocks only, so the
// blocks it keeps are never rewritten (and stay shared with earlier btrfs snapshots).
// See docs/btrfs.md ("Sparse files").

#include <cstdint>
#include <filesystem>

#include "core/base/error.hpp"

namespace snapkeep {

// What punch_holes_like did.
struct SparseStats {
  std::uint64_t files = 0;          // target files that got holes punched
  std::uint64_t bytes_punched = 0;  // bytes of allocated zeros given back
};

// For every regular file below `source` that has holes, punches the same holes into the file at the
// same relative path below `target` where that file holds allocated blocks that read as zeros (whole
// filesystem blocks only; data that is not zero is never touched), then puts its atime and mtime
// back. Target files that are missing, of another type or of another size are left alone. Never
// follows symlinks. Fails (naming the path, errno kept) when a folder cannot be walked or a file
// cannot be read or punched.
Result<SparseStats> punch_holes_like(const std::filesystem::path& source, const std::filesystem::path& target);

}  // namespace snapkeep
