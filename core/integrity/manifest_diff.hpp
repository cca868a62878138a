#pragma once
// Comparing two snapshots path by path: manifests are sorted by path bytes, so one pass over each,
// side by side, pairs every path with its record on either side; memory holds two records whatever
// the number of entries. What counts as a change is decided here once (docs/history.md).

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "core/base/error.hpp"
#include "core/store/backend.hpp"
#include "core/store/manifest_entry.hpp"

namespace snapkeep {

class ManifestReader;

// "file", "folder", "symlink", "other": an entry type as reports name it.
std::string_view entry_type_name(EntryType type);

// What happened to one path between two snapshots.
enum class PathChange {
  unchanged,
  added,     // only in the newer snapshot
  deleted,   // only in the older snapshot
  content,   // in both, with another type, size or content
  metadata,  // in both, same content, but its mtime or the file itself changed (mode, owner, xattrs)
};

// What `after` is to `before` (one path in both snapshots). Content: another type, size or content
// hash; without two hashes of one algorithm, another size or mtime. Metadata only: the same content
// with another mtime, or held by another file (another inode in hard-link trees, where an
// unchanged file is the same inode; also another ctime across subvolume snapshots). Folders are
// never modified (their mtime moves whenever an entry comes or goes).
PathChange compare_entries(const ManifestEntry& before, const ManifestEntry& after, ContentSharing sharing);

// Entries of one snapshot in manifest order (path bytes): a checked manifest, or a tree walked in
// the same order.
class EntryStream {
 public:
  virtual ~EntryStream() = default;
  // The next entry into `entry`; false after the last. Fails when the source cannot be read.
  virtual Result<bool> next(ManifestEntry& entry) = 0;
};

// The entries of a manifest that open_manifest checked.
class ManifestStream : public EntryStream {
 public:
  explicit ManifestStream(ManifestReader& reader) : m_reader(reader) {}
  Result<bool> next(ManifestEntry& entry) override;

 private:
  ManifestReader& m_reader;
};

// Walks two entry streams side by side, one path at a time.
class EntryMerge {
 public:
  EntryMerge(EntryStream& before, EntryStream& after) : m_before(before), m_after(after) {}
  // The next path of either snapshot: `before` and `after` point at its entries, null where the
  // path is absent (valid until the next call). False after the last. Fails when a stream fails.
  Result<bool> next(const ManifestEntry*& before, const ManifestEntry*& after);

 private:
  // Reads the next entry of one side into `slot`; `ready` is false at its end.
  static Status advance(EntryStream& stream, ManifestEntry& slot, bool& ready);
  EntryStream& m_before;
  EntryStream& m_after;
  ManifestEntry m_b;
  ManifestEntry m_a;
  bool m_b_ready = false;
  bool m_a_ready = false;
  bool m_started = false;
  bool m_took_b = false;  // the entries handed out last, to be replaced by the next call
  bool m_took_a = false;
};

// Adds one path's change to `counts` (ChangeCounts: core/store/manifest_entry.hpp).
void count_change(PathChange change, ChangeCounts& counts);

// Counts the changes from the manifest `before` to the manifest `after` (both checked first).
// Fails, naming the file, when either is missing, damaged or unreadable.
Result<ChangeCounts> count_manifest_changes(const std::filesystem::path& before, const std::filesystem::path& after,
                                            ContentSharing sharing);

}  // namespace snapkeep
