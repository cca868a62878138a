#pragma once
// `status`: how a preset's backups and scrubs are doing, from the local state (so an absent drive
// still answers) and, while the drive is there, from the destination itself (docs/usage.md#status).
// Reads only the catalog of snapshots and the state file: its cost never grows with the files.

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "core/ops/run_record.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// One preset's answer.
struct PresetStatus {
  PresetRecord record;                      // what runs on this machine recorded
  bool drive_present = false;               // the destination is there now
  std::string absent_reason;                // why it is not (the check's message)
  std::optional<std::uint64_t> snapshots;   // complete snapshots counted now
  std::string newest_snapshot;              // the newest of them ("" when none or absent)
  std::optional<std::time_t> newest_time;   // when it was made
  std::optional<DestinationSpace> space;    // measured now
  std::optional<std::time_t> last_success;  // the later of the recorded success and the newest snapshot
  std::optional<std::int64_t> age_seconds;  // now - last_success
  bool stale = false;                       // with a max age: no success, or an older one
};

// The destination as seen from elsewhere: a push's destination, listed by `snapkeep serve`
// (core/serve, above this layer). `listed` fails when the server cannot be reached or answer.
struct DestinationView {
  Result<std::vector<SnapshotInfo>> listed = std::vector<SnapshotInfo>{};
  std::optional<DestinationSpace> space;
};

// The status of `preset` at time `now`; `backend` (may be null) measures the room on the drive;
// `max_age` (seconds) decides `stale`. With `remote`, the destination is the one it describes,
// not a folder of this machine. Fails only when the local state is damaged.
Result<PresetStatus> preset_status(const Preset& preset, const Backend* backend, std::optional<std::uint64_t> max_age,
                                   std::time_t now, const DestinationView* remote = nullptr);

}  // namespace snapkeep
