#pragma once
// The findings of one scrub, gathered as they are found and put in report order at the end:
// manifest and entry findings first (by the first snapshot and path they concern), then content
// findings (by the first path of the content, then status); within a finding, paths by snapshot
// then path. Memory grows with the damage found, never with the files checked.

#include <compare>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/integrity/manifest.hpp"
#include "core/integrity/scrub.hpp"

namespace snapkeep {

// What makes manifest entries one finding: the same status, inode number, hash and type (the same
// file missing from several snapshots is one finding listing every path).
struct EntryFindingKey {
  FindingStatus status = FindingStatus::missing;
  std::uint64_t ino = 0;
  std::string hash;
  EntryType type = EntryType::file;

  auto operator<=>(const EntryFindingKey&) const = default;
  bool operator==(const EntryFindingKey&) const = default;
};

// Where a path comes in the report: the snapshot's place in the run, then the path.
struct PathPosition {
  std::uint32_t snapshot = 0;
  std::filesystem::path path;

  auto operator<=>(const PathPosition&) const = default;
  bool operator==(const PathPosition&) const = default;
};

class FindingList {
 public:
  // `repair`: the run repairs (entry findings then say why they are not repaired).
  explicit FindingList(bool repair) : m_repair(repair) {}

  // Adds the path `at` of snapshot `snapshot_id` to the finding for `key`, made from `entry`,
  // `actual` and `detail` when it is new. Returns the finding's index.
  std::size_t add_entry(const EntryFindingKey& key, const PathPosition& at, const std::string& snapshot_id,
                        const ManifestEntry& entry, std::string actual, std::string detail);
  // Adds a finding about a whole snapshot whose manifest cannot be trusted.
  void add_manifest_damaged(std::uint32_t snapshot, const SnapshotInfo& info, std::string detail);
  // Adds a content finding whose paths follow by add_path(), placed in the report by the content's
  // first path `first` (findings of one content in the order added); returns its index.
  std::size_t add_content(ScrubFinding finding, const PathPosition& first);
  // Adds a path of snapshot `snapshot_id` to finding `index`.
  void add_path(std::size_t index, const PathPosition& at, const std::string& snapshot_id);

  ScrubFinding& at(std::size_t index) { return m_findings[index].finding; }
  // Paths added to finding `index` so far.
  std::size_t path_count(std::size_t index) const { return m_findings[index].paths.size(); }
  std::size_t size() const { return m_findings.size(); }
  // The findings in report order, each with its paths and snapshots in order.
  std::vector<ScrubFinding> take();

 private:
  struct Pending {
    ScrubFinding finding;
    int phase = 0;                                            // 0: manifests and entries, 1: contents
    std::optional<PathPosition> place;                        // where it goes in the report, when not by its first path
    std::vector<std::pair<PathPosition, std::string>> paths;  // each with its snapshot id
  };
  bool m_repair;
  std::vector<Pending> m_findings;
  std::map<EntryFindingKey, std::size_t> m_entries;  // entry findings by key
};

}  // namespace snapkeep
