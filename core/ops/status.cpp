#include "core/ops/status.hpp"

#include "core/store/catalog.hpp"
#include "core/store/preset_checks.hpp"

namespace snapkeep {

namespace {

void count_snapshots(const std::vector<SnapshotInfo>& snapshots, PresetStatus& status) {
  status.snapshots = snapshots.size();
  if (!snapshots.empty()) {
    status.newest_snapshot = snapshots.back().id;
    status.newest_time = snapshots.back().time;
  }
}

}  // namespace

Result<PresetStatus> preset_status(const Preset& preset, const Backend* backend, std::optional<std::uint64_t> max_age,
                                   std::time_t now, const DestinationView* remote) {
  PresetStatus status;
  SNAPKEEP_TRY_ASSIGN(status.record, read_preset_record(preset));
  if (remote != nullptr) {
    if (!remote->listed) {
      status.absent_reason = remote->listed.error().describe();
    } else {
      status.drive_present = true;
      count_snapshots(*remote->listed, status);
      status.space = remote->space;
    }
  } else if (auto present = check_destination(preset); !present) {
    status.absent_reason = present.error().describe();
  } else {
    status.drive_present = true;
    if (auto snapshots = list_snapshots(preset.preset_dir()); snapshots) {
      count_snapshots(*snapshots, status);
    }
    if (backend != nullptr) {
      if (auto space = backend->space(preset.destination); space) {
        status.space = *space;
      }
    }
  }
  if (status.record.last_success) {
    status.last_success = status.record.last_success->time;
  }
  if (status.newest_time && (!status.last_success || *status.newest_time > *status.last_success)) {
    status.last_success = status.newest_time;
  }
  if (status.last_success) {
    status.age_seconds = static_cast<std::int64_t>(now) - static_cast<std::int64_t>(*status.last_success);
  }
  if (max_age) {
    status.stale = !status.age_seconds || *status.age_seconds > static_cast<std::int64_t>(*max_age);
  }
  return status;
}

}  // namespace snapkeep
