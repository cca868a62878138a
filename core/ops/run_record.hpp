#pragma once
// What the end of each backup and scrub records about a preset in the local state (docs/state.md,
// "Results"), and reading it back for `status` and the metrics file: so an absent drive still answers.

#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/config/config.hpp"

namespace snapkeep {

// How a run of a preset ended, as monitoring sees it.
enum class RunResult {
  ok,       // everything asked for succeeded
  failed,   // exit 1 (or 3): the message says why
  skipped,  // if_unmounted = skip and the drive was absent: neither a failure nor a success
  damaged,  // scrub found damage that is not repaired
};

// "ok", "failed", "skipped", "damaged".
std::string_view run_result_name(RunResult result);

// One backup run.
struct BackupRecord {
  RunResult result = RunResult::ok;
  std::time_t time = 0;  // when it ended
  double seconds = 0;
  std::string snapshot;  // the snapshot it made, "" when none
  std::uint64_t files = 0;
  std::uint64_t bytes_transferred = 0;
  std::size_t warnings = 0;
  std::string error;  // failed: the error's last lines; skipped: why
};

// One scrub run.
struct ScrubRecord {
  RunResult result = RunResult::ok;
  std::time_t time = 0;
  double seconds = 0;
  std::uint64_t files_checked = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t damaged_contents = 0;             // findings not repaired
  std::uint64_t repaired = 0;                     // findings repaired
  std::map<std::string, std::uint64_t> findings;  // finding status -> count
  std::uint64_t contents_unverified = 0;          // never verified by any run yet
  bool budget_reached = false;
  std::string error;
};

// The destination as a run last measured it (only while the drive is there).
struct DestinationRecord {
  std::time_t time = 0;
  std::uint64_t snapshots = 0;
  std::optional<std::uint64_t> free_bytes;
  std::optional<std::uint64_t> size_bytes;
};

// Everything the local state says about a preset's runs.
struct PresetRecord {
  std::optional<BackupRecord> last_backup;
  std::optional<BackupRecord> last_success;  // the newest backup that made its snapshot
  std::optional<ScrubRecord> last_scrub;
  std::optional<DestinationRecord> destination;
};

// Records a backup run (and, when it made its snapshot, the last success) and the destination as
// measured now (nullopt keeps the earlier measurement). Fails when the local state cannot be written.
Status record_backup(const Preset& preset, const BackupRecord& run, bool made_snapshot,
                     const std::optional<DestinationRecord>& destination);

// Records a scrub run and the destination as measured now.
Status record_scrub(const Preset& preset, const ScrubRecord& run, const std::optional<DestinationRecord>& destination);

// What the local state holds for `preset` (empty fields when nothing was recorded yet). A damaged
// state file is an error naming it.
Result<PresetRecord> read_preset_record(const Preset& preset);

// The record as stored (docs/state.md) and back; fields that are missing or of the wrong type are
// left out, never an error.
nlohmann::json to_json(const BackupRecord& r);
nlohmann::json to_json(const ScrubRecord& r);
nlohmann::json to_json(const DestinationRecord& r);
PresetRecord preset_record_from_json(const nlohmann::json& entry);

// The last `max_bytes` of `text`, cut at a line start when one is near: an error's tail.
std::string text_tail(const std::string& text, std::size_t max_bytes);

}  // namespace snapkeep
