#pragma once
// The content index of one scrub: every snapshot path of a hashed regular file, grouped into unique
// contents (the rule is core/integrity/content_identity.hpp), then ordered the way scrub verifies
// them. The walk feeds it path by path across snapshots, so a file unchanged along N snapshots is
// one path group; groups and contents live in sorted work files (core/integrity/external_sort.hpp),
// never whole in memory.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.hpp"
#include "core/integrity/content_identity.hpp"
#include "core/integrity/external_sort.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/scrub_state.hpp"

namespace snapkeep {

// What a manifest says one content must hash to.
struct Expectation {
  ChecksumKind kind = ChecksumKind::xxh128;
  std::string hash;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;

  bool operator==(const Expectation&) const = default;
};

// Consecutive snapshots (places in the run's list of verified snapshots) in which one path is one
// content with one expectation.
struct PathGroup {
  ContentKey key;
  std::uint32_t first_snapshot = 0;
  std::uint32_t last_snapshot = 0;
  std::string path;  // relative to the snapshot
  Expectation expectation;
  // The file as lstat saw it in first_snapshot, and the scrub state key of its record there.
  std::uint64_t live_size = 0;
  std::int64_t live_mtime_ns = 0;
  std::uint64_t state_key = 0;

  std::uint64_t paths() const { return std::uint64_t{last_snapshot} - first_snapshot + 1; }
};

// One unique content: where to read it and what its manifests expect of it.
struct IndexedContent {
  ContentKey key;
  std::uint64_t state_key = 0;       // the scrub state key of its first path's manifest record
  std::uint32_t first_snapshot = 0;  // its first path, where it is read from
  std::string first_path;
  std::uint64_t live_size = 0;  // as lstat saw the first path
  std::int64_t live_mtime_ns = 0;
  std::uint64_t paths = 0;                // snapshot paths sharing it
  std::vector<Expectation> expectations;  // distinct, in the order of its paths
  std::optional<ContentRecord> before;    // its last verification before this run
};

// Counts over all contents of the index.
struct ContentTotals {
  std::uint64_t contents = 0;
  std::uint64_t bytes = 0;           // their live sizes
  std::uint64_t never_verified = 0;  // contents the scrub state has no record of
  std::uint64_t state_keys = 0;      // distinct state keys
};

// Contents one by one (see ContentIndex).
class ContentStream {
 public:
  explicit ContentStream(SortedRecords records, bool ranked) : m_records(std::move(records)), m_ranked(ranked) {}
  // The next content; false after the last. Fails on a read error of a work file.
  Result<bool> next(IndexedContent& content);

 private:
  SortedRecords m_records;
  bool m_ranked;  // records start with the verification rank
};

// Path groups, by content then first path.
class GroupStream {
 public:
  explicit GroupStream(SortedRecords records) : m_records(std::move(records)) {}
  // The next group; false after the last. Fails on a read error of a work file.
  Result<bool> next(PathGroup& group);

 private:
  SortedRecords m_records;
};

class ContentIndex {
 public:
  // Work files go to `work_dir` (on the destination).
  explicit ContentIndex(const std::filesystem::path& work_dir);

  // Adds the path `entry.path` of place `snapshot`, a file whose manifest record is `entry` (of a
  // manifest with checksum `kind`), lstat `live`, content `key` and state key `state_key`. Paths come
  // one by one, each in ascending snapshot places. Fails when a work file cannot be written.
  Status add(std::uint32_t snapshot, const ManifestEntry& entry, ChecksumKind kind, const struct stat& live,
             const ContentKey& key, std::uint64_t state_key);
  // Groups the paths into contents and looks each up in `state`; then the streams below may be
  // read, any number of times.
  Result<ContentTotals> finish(const ScrubState& state);

  // The contents in verification order: damaged at their last verification first, then never
  // verified, then verified longest ago; inode order within each.
  Result<ContentStream> in_order() const;
  // The contents by state key, ascending.
  Result<ContentStream> by_state_key() const;
  // Every path group, by content.
  Result<GroupStream> groups() const;

 private:
  Status flush_group();
  Status group_contents(ContentTotals& totals);
  Status rank_contents(const ScrubState& state, ContentTotals& totals);

  std::unique_ptr<ExternalSorter> m_groups;
  std::unique_ptr<ExternalSorter> m_by_state_key;
  std::unique_ptr<ExternalSorter> m_ranked;
  std::optional<PathGroup> m_open;  // the group being extended
};

}  // namespace snapkeep
