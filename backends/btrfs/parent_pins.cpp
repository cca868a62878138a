#include "backends/btrfs/parent_pins.hpp"

#include <algorithm>
#include <utility>

#include "backends/btrfs/subvolume.hpp"
#include "core/store/drives.hpp"
#include "core/store/snapshot_id.hpp"

namespace snapkeep {
namespace {

// "90d", "1d12h", "2s": a duration as it is written in the config.
std::string duration_text(std::uint64_t seconds) {
  std::string out;
  for (auto [unit, size] : {std::pair{'d', 86400ULL}, {'h', 3600ULL}, {'m', 60ULL}, {'s', 1ULL}}) {
    if (seconds >= size) {
      out += std::to_string(seconds / size) + unit;
      seconds %= size;
    }
  }
  return out.empty() ? "0s" : out;
}

}  // namespace

std::string btrfs_backup_drive(const BackupJob& job) {
  if (!job.drive.empty()) {
    return job.drive;
  }
  auto uuid = btrfs::filesystem_uuid(job.preset_dir);
  return uuid ? btrfs::uuid_text(*uuid) : std::string();
}

std::optional<std::set<std::string>> pinned_source_uuids(const Preset& preset, const std::string& drive,
                                                         std::time_t now, std::vector<std::string>& warnings) {
  auto drives = read_drives(preset.preset_dir());
  if (!drives) {
    warnings.push_back("keeping every source snapshot, since the parents of other drives are unknown: " +
                       drives.error().describe());
    return std::nullopt;
  }
  std::set<std::string> pinned;
  for (const DriveRecord& other : *drives) {
    if (other.uuid == drive || !other.parent) {
      continue;
    }
    // Last seen: the latest backup to it (or, without that record, its parent pair's own moment).
    std::time_t seen = other.last_seen;
    if (auto id = parse_snapshot_id(other.parent->snapshot)) {
      seen = std::max(seen, snapshot_id_time(*id));
    }
    if (preset.forget_drive_after && now - seen > static_cast<std::time_t>(*preset.forget_drive_after)) {
      std::string why = "drive " + other.uuid + " was last backed up to on " + format_iso_local(seen) +
                        ", longer ago than forget_drive_after (" + duration_text(*preset.forget_drive_after) +
                        "): releasing the source snapshot " + other.parent->snapshot +
                        " kept as its parent; its next backup will be a full send";
      if (auto released = release_drive_parent(preset.preset_dir(), other.uuid, now); !released) {
        warnings.push_back("cannot record in the local state that " + why + ": " + released.error().describe());
        pinned.insert(other.parent->source_uuid);  // not released after all: keep it
      } else {
        warnings.push_back(why);
      }
      continue;
    }
    pinned.insert(other.parent->source_uuid);
  }
  return pinned;
}

void record_parent_pair(const Preset& preset, const std::string& drive, const std::string& snapshot,
                        const std::string& source_uuid, std::vector<std::string>& warnings) {
  if (drive.empty()) {
    return;
  }
  if (auto recorded = record_drive_parent(preset.preset_dir(), drive, DriveParent{snapshot, source_uuid}); !recorded) {
    warnings.push_back("cannot record the parent pair of drive " + drive +
                       " in the local state (its next backup after another drive's may be a full send): " +
                       recorded.error().describe());
  }
}

}  // namespace snapkeep
