#pragma once
// The history log of a preset: DEST/<preset>/.snapkeep/history.jsonl, one JSON object per line, one
// line per backup and per scrub, appended as each finishes. It lives on the backup drive, so it
// travels with it (rotating drives each keep their own). docs/history.md lists the fields.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/base/error.hpp"

namespace snapkeep {

// The log's name in the preset's state folder.
inline constexpr std::string_view k_history_file_name = "history.jsonl";

// DEST/<preset>/.snapkeep/history.jsonl.
std::filesystem::path history_log_path(const std::filesystem::path& preset_dir);

// Appends `record` as one line with one write(2) in append mode, so lines of concurrent writers
// never mix. Never creates the state folder (a destination without one may be an unplugged
// drive's empty mount point): its absence is an error, like any failed write (errno and path kept).
Status append_history(const std::filesystem::path& preset_dir, const nlohmann::json& record);

// What reading the log found.
struct HistoryReadStats {
  std::uint64_t records = 0;  // lines handed to the callback
  std::uint64_t skipped = 0;  // lines that are not a JSON object (a line torn by a power cut)
};

// Calls `each` with every record of the log, oldest first, reading it line by line (memory holds one
// line). A missing log has no records; a log that cannot be read is an error naming it.
Result<HistoryReadStats> read_history(const std::filesystem::path& preset_dir,
                                      const std::function<void(const nlohmann::json& record)>& each);

}  // namespace snapkeep
