#pragma once
// What scrub verified and when, per content: DEST/<preset>/.snapkeep/scrub-state, an append-only log
// of lines "KEY TIME_NS STATUS" (KEY 16 hex digits, STATUS o = intact, d = damaged); the last line
// for a key wins. Each verification is written (write(2)) as soon as it is done, so a killed scrub
// loses nothing it recorded; a torn last line is cut off when the log is opened again.

#include <cstdint>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include "core/base/error.hpp"

namespace snapkeep {

// The last verification of one content.
struct ContentRecord {
  std::int64_t verified_ns = 0;  // wall-clock time of the verification
  bool damaged = false;          // the content did not match its manifest then
};

class ScrubState {
 public:
  // Loads (or starts) the log in state_dir, which must exist and be locked by us.
  static Result<ScrubState> open(const std::filesystem::path& state_dir);
  ScrubState(ScrubState&& other) noexcept;
  ScrubState& operator=(ScrubState&&) = delete;
  ScrubState(const ScrubState&) = delete;
  ScrubState& operator=(const ScrubState&) = delete;
  ~ScrubState();

  // The last record of a content, null when it was never verified.
  const ContentRecord* find(std::uint64_t key) const;
  // Appends a record now (one write; fsync happens in sync()).
  Status record(std::uint64_t key, std::int64_t verified_ns, bool damaged);
  // Flushes the log to the disk.
  Status sync();
  // Rewrites the log atomically with the last record of each `live` key, when it has grown to more
  // than twice their number (contents of deleted snapshots, repeated verifications).
  Status compact(const std::unordered_set<std::uint64_t>& live);

  std::size_t size() const { return m_records.size(); }
  const std::filesystem::path& path() const { return m_path; }

 private:
  ScrubState() = default;
  Status open_for_append();
  std::filesystem::path m_path;
  int m_fd = -1;
  std::unordered_map<std::uint64_t, ContentRecord> m_records;
  std::uint64_t m_lines = 0;
};

}  // namespace snapkeep
