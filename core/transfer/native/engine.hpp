#pragma once
// The native copy engine of the hard-link backend (docs/engine.md): walks the source once in
// manifest order, hard-links what is unchanged since an earlier snapshot's manifest, copies the
// rest with the metadata `rsync -aHAX --numeric-ids` keeps, and writes the new manifest in the
// same pass. Memory does not grow with the number of files (a listing per open folder, a table of
// multiply-linked inodes, and the move index of 16 bytes per file of the newest manifest, at most
// k_move_index_limit files: 32 MiB).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/progress.hpp"
#include "core/config/config.hpp"
#include "core/transfer/native/manifest_port.hpp"

namespace snapkeep {

// Files of the newest manifest the move index holds at most (16 bytes each): moves of files beyond
// them are copied, not linked (docs/engine.md).
inline constexpr std::size_t k_move_index_limit = 2'000'000;

// A tree unchanged files may be linked to: a complete snapshot, or the work of a killed run.
struct LinkBase {
  std::filesystem::path root;
  // Its manifest (or a killed run's journal), or null when it has none: then a file is linked
  // when the base's file at the same path has the source's size, mtime, mode, owner and xattrs,
  // as rsync --link-dest decides.
  std::unique_ptr<PreviousManifest> manifest;
  bool resumed = false;  // a killed run's work: linked from, but not a source of the move index
};

// One run of the engine.
struct NativeCopyJob {
  const Preset* preset = nullptr;    // exclude, exclude_from, exclude_if_present, one_file_system, allow_partial
  std::filesystem::path source;      // its contents are copied
  std::filesystem::path target;      // an empty folder to fill (unused in a dry run)
  std::vector<LinkBase> bases;       // best first; the first with a manifest also feeds the move index
  ManifestSink* manifest = nullptr;  // the new manifest, or null
  bool dry_run = false;              // decide and count, change nothing
  Progress* progress = nullptr;      // may be null
  // (device, inode) of base files scrub recorded damaged: never linked to, copied afresh instead
  // (known damage never spreads, docs/scrub.md). May be null.
  const std::set<std::pair<std::uint64_t, std::uint64_t>>* avoid = nullptr;
  std::size_t move_index_limit = k_move_index_limit;
};

// What a run did.
struct NativeCopyStats {
  std::uint64_t files = 0;              // entries of the new snapshot, its root included (as rsync counts)
  std::uint64_t files_transferred = 0;  // regular files whose data was copied
  std::uint64_t files_linked = 0;       // regular files hard-linked to a base
  std::uint64_t files_moved = 0;        // ... of them found at another path (moved or renamed), hash verified
  std::uint64_t bytes_total = 0;        // size of the snapshot's regular files
  std::uint64_t bytes_transferred = 0;  // size of the files copied
  std::uint64_t bytes_hashed = 0;       // bytes read only to hash (linked files whose hash was unknown, moves)
  // The manifest could not be written (the sink failed); the copy went on without it.
  std::optional<Error> manifest_error;
  std::vector<std::string> warnings;
  // Paths copied afresh because their link base was content scrub recorded damaged (the first 1000).
  std::vector<std::string> avoided_damage;
};

// Fills job.target with a copy of job.source. Fails on a stop signal, on any destination error
// (ENOSPC sets Error::full), and on unreadable source entries unless allow_partial (then a
// warning). Source entries that vanish during the walk are left out with a warning, as rsync does.
Result<NativeCopyStats> run_native_copy(const NativeCopyJob& job);

}  // namespace snapkeep
