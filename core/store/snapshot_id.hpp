#pragma once
// Snapshot ids: local time "YYYY-MM-DD_HH-MM-SS", and the old script's date-only "YYYY-MM-DD".

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace snapkeep {

// A parsed snapshot id.
struct SnapshotId {
  std::string text;
  bool legacy = false;  // date-only id made by the old script
  std::tm fields{};     // broken-down local time it names (00:00:00 for legacy ids)
};

// Parses a folder name; nullopt when it is not a snapshot id (or names an impossible date).
std::optional<SnapshotId> parse_snapshot_id(std::string_view name);

// The id for a moment, in local time.
std::string format_snapshot_id(std::time_t when);

// The moment an id names, read as local time. In the repeated hour of a DST fall-back the earlier
// of the two moments is returned; recorded creation times (catalog) settle such cases.
std::time_t snapshot_id_time(const SnapshotId& id);

// "2026-11-26T02:18:39+01:00": ISO 8601 local time with its UTC offset.
std::string format_iso_local(std::time_t when);

}  // namespace snapkeep
