#pragma once
// What scrub verified and when, per content: DEST/<preset>/.snapkeep/scrub-state, an append-only log
// of lines "KEY TIME_NS STATUS" (KEY 16 hex digits, STATUS o = intact, d = damaged); the last line
// for a key wins. Each verification is written (write(2)) as soon as it is done, so a killed scrub
// loses nothing it recorded; a torn last line is cut off when the log is opened again. Scrub reads
// the log as a stream sorted by key (an external sort), so memory does not grow with it.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"
#include "core/integrity/external_sort.hpp"
#include "core/integrity/manifest.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// The stable key under which a content's verifications are recorded: taken from a manifest record
// (what the content should be), not from the live file: a hash of its inode number, size, mtime,
// checksum and hash, and with extent_lineage sharing its ctime. Never fails.
std::uint64_t state_key_of(const ManifestEntry& entry, ChecksumKind kind, ContentSharing sharing);

// The last verification of one content.
struct ContentRecord {
  std::int64_t verified_ns = 0;  // wall-clock time of the verification
  bool damaged = false;          // the content did not match its manifest then
};

// The last record of every key of a scrub state log, in ascending key order.
class ScrubStateRecords {
 public:
  // The next key and its last record; false after the last. Fails on a read error.
  Result<bool> next(std::uint64_t& key, ContentRecord& record);

 private:
  friend class ScrubState;
  std::unique_ptr<ExternalSorter> m_sorter;
  std::unique_ptr<SortedRecords> m_records;
  // The first record of the next key, read ahead.
  bool m_has_pending = false;
  std::uint64_t m_pending_key = 0;
  ContentRecord m_pending;
};

// The next live key for ScrubState::compact (ascending, each once); false after the last.
using NextKey = std::function<Result<bool>(std::uint64_t& key)>;

class ScrubState {
 public:
  // Opens (or starts) the log in state_dir, which must exist and be locked by us; cuts a torn last
  // line. Reads the log once, without keeping it.
  static Result<ScrubState> open(const std::filesystem::path& state_dir);
  // Opens the log of a read-only drive: nothing is written (a missing log reads as empty, records
  // are dropped, compact does nothing); records() sorts in work_dir, which must be writable.
  static Result<ScrubState> open_read_only(const std::filesystem::path& state_dir,
                                           const std::filesystem::path& work_dir);
  ScrubState(ScrubState&& other) noexcept;
  ScrubState& operator=(ScrubState&&) = delete;
  ScrubState(const ScrubState&) = delete;
  ScrubState& operator=(const ScrubState&) = delete;
  ~ScrubState();

  // Streams the last record of every key as the log is now, sorted in work files in the state dir
  // (or the work dir of a read-only log).
  Result<ScrubStateRecords> records() const;
  // Appends a record now (one write; fsync happens in sync()).
  Status record(std::uint64_t key, std::int64_t verified_ns, bool damaged);
  // Flushes the log to the disk.
  Status sync();
  // Rewrites the log atomically with the last record of each live key (`live_keys` of them, from
  // `next_live`), when it has grown to more than twice their number (contents of deleted
  // snapshots, repeated verifications).
  Status compact(std::uint64_t live_keys, const NextKey& next_live);
  // The same for a set of keys held in memory.
  Status compact(const std::unordered_set<std::uint64_t>& live);

  // Lookups in the whole log loaded into memory (memory grows with the log: for small logs and
  // inspection; scrub streams records() instead).
  // The last record of a content, null when it was never verified.
  const ContentRecord* find(std::uint64_t key) const;
  // Distinct keys in the log.
  std::size_t size() const;

  // Lines in the log (records, including repeated keys).
  std::uint64_t lines() const { return m_lines; }
  const std::filesystem::path& path() const { return m_path; }

 private:
  ScrubState() = default;
  Status open_for_append();
  const std::unordered_map<std::uint64_t, ContentRecord>& loaded() const;
  std::filesystem::path m_path;
  std::filesystem::path m_work_dir;
  bool m_read_only = false;
  Fd m_fd;
  std::uint64_t m_lines = 0;
  // The whole log, loaded by the first find() or size().
  mutable std::unique_ptr<std::unordered_map<std::uint64_t, ContentRecord>> m_loaded;
};

}  // namespace snapkeep
