#pragma once
// `snapkeep diff`: what changed between two snapshots of a preset, from their manifests (one
// streaming merge), with moved files found by content hash through a partitioned hash join over
// temporary files: memory stays bounded whatever the number of files or changes. A snapshot without
// a usable manifest is read from its tree (sizes and mtimes only, no moves), and said so.
// docs/history.md describes the rules.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/integrity/manifest_diff.hpp"

namespace snapkeep {

// Move candidates held in memory at once (about 64 bytes each); more are split by hash into up to
// 64 partitions on temporary files, each matched on its own.
inline constexpr std::size_t k_move_memory_records = std::size_t{1} << 18;

// Which snapshots to compare.
struct DiffRequest {
  std::string from;  // an id or "latest"; "" for the second newest (the newest when `to` is given)
  std::string to;    // an id or "latest"; "" for the newest
  ContentSharing sharing = ContentSharing::hard_links;  // the backend's: what an unchanged file is
  std::size_t move_memory_records = k_move_memory_records;
};

// One side of a diff.
struct DiffSide {
  std::string id;
  std::string tree_reason;  // why it was read from its tree ("no manifest", ...); "" when from its manifest
};

// The groups of changes, in the order they are handed out.
enum class DiffGroup { added, deleted, modified, moved };

// One change.
struct DiffChange {
  PathChange kind = PathChange::added;  // added, deleted, content or metadata (a move: added)
  bool moved = false;                   // a file moved here from `from` (same content, new path)
  std::string path;                     // the path (deleted: the old path)
  std::string from;                     // a move's old path
  EntryType type = EntryType::file;
  std::uint64_t size = 0;         // the size in the newer snapshot (deleted: in the older)
  std::uint64_t size_before = 0;  // content and metadata changes: the size in the older snapshot
};

// What a diff found, in numbers.
struct DiffSummary {
  DiffSide from;
  DiffSide to;
  bool moves_detected = false;  // both sides have content hashes, so moves are told apart
  std::uint64_t added = 0;      // entries (not counting moves)
  std::uint64_t deleted = 0;
  std::uint64_t content = 0;
  std::uint64_t metadata = 0;
  std::uint64_t moved = 0;
  std::uint64_t bytes_added = 0;    // sizes of the files added (not moved)
  std::uint64_t bytes_deleted = 0;  // sizes of the files deleted (not moved)
};

// Receives a diff as it is read: begin(), then each group (always all four, in DiffGroup order)
// followed by its changes in path order (moves: by new path).
class DiffSink {
 public:
  virtual ~DiffSink() = default;
  virtual void begin(const DiffSide& from, const DiffSide& to, bool moves_detected) = 0;
  virtual void group(DiffGroup group) = 0;
  virtual void change(const DiffChange& change) = 0;
};

// Compares two snapshots of `preset`. Fails when a snapshot named is not there or fewer than two
// exist, and when a manifest, tree or temporary file cannot be read or written.
Result<DiffSummary> run_diff(const Preset& preset, const DiffRequest& request, DiffSink& sink);

}  // namespace snapkeep
