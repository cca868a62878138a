#include "core/store/drives.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/base/mounts.hpp"
#include "core/store/local_state.hpp"
#include "core/store/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// "2026-11-26T02:18:39+01:00" (format_iso_local) back to a moment; 0 when it is not one.
std::time_t parse_iso(const std::string& text) {
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  char sign = 0;
  int off_h = 0;
  int off_m = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c%2d:%2d", &year, &month, &day, &hour, &minute, &second, &sign,
                  &off_h, &off_m) != 9 ||
      (sign != '+' && sign != '-')) {
    return 0;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::time_t offset = static_cast<std::time_t>(off_h) * 3600 + static_cast<std::time_t>(off_m) * 60;
  return ::timegm(&tm) - (sign == '+' ? offset : -offset);
}

std::string text_of(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The drives object of a preset's state entry (made when missing).
nlohmann::json& drives_of(nlohmann::json& entry) {
  nlohmann::json& drives = entry["drives"];
  if (!drives.is_object()) {
    drives = nlohmann::json::object();
  }
  return drives;
}

// The record of one drive (made when missing).
nlohmann::json& drive_of(nlohmann::json& entry, const std::string& uuid) {
  nlohmann::json& drive = drives_of(entry)[uuid];
  if (!drive.is_object()) {
    drive = nlohmann::json::object();
  }
  return drive;
}

}  // namespace

Result<std::vector<DriveRecord>> read_drives(const fs::path& preset_dir) {
  SNAPKEEP_TRY_ASSIGN(nlohmann::json doc, read_local_state());
  std::vector<DriveRecord> out;
  auto presets = doc.find("presets");
  if (presets == doc.end() || !presets->is_object()) {
    return out;
  }
  auto entry = presets->find(local_state_key(preset_dir));
  if (entry == presets->end() || !entry->is_object()) {
    return out;
  }
  auto drives = entry->find("drives");
  if (drives == entry->end() || !drives->is_object()) {
    return out;
  }
  for (const auto& [uuid, drive] : drives->items()) {
    if (!drive.is_object()) {
      continue;
    }
    DriveRecord record;
    record.uuid = uuid;
    record.first_seen = parse_iso(text_of(drive, "first_seen"));
    record.last_seen = parse_iso(text_of(drive, "last_seen"));
    record.last_snapshot = text_of(drive, "last_snapshot");
    if (auto ids = drive.find("snapshots"); ids != drive.end() && ids->is_array()) {
      for (const auto& id : *ids) {
        if (id.is_string()) {
          record.snapshots.push_back(id.get<std::string>());
        }
      }
    }
    record.parent_released = parse_iso(text_of(drive, "parent_released"));
    if (auto parent = drive.find("parent"); parent != drive.end() && parent->is_object()) {
      DriveParent pair{text_of(*parent, "snapshot"), text_of(*parent, "source_uuid")};
      if (!pair.snapshot.empty() && !pair.source_uuid.empty()) {
        record.parent = pair;
      }
    }
    out.push_back(std::move(record));
  }
  std::sort(out.begin(), out.end(), [](const DriveRecord& a, const DriveRecord& b) {
    return a.first_seen != b.first_seen ? a.first_seen < b.first_seen : a.uuid < b.uuid;
  });
  return out;
}

Result<PresetDrives> preset_drives(const fs::path& preset_dir, const fs::path& destination) {
  PresetDrives out;
  SNAPKEEP_TRY_ASSIGN(out.drives, read_drives(preset_dir));
  if (auto uuid = filesystem_uuid(destination)) {
    out.mounted = *uuid;
  }
  return out;
}

Status record_drive_backup(const fs::path& preset_dir, const std::string& name, const std::string& uuid,
                           const std::string& snapshot, std::time_t when, const std::vector<std::string>& on_drive) {
  return update_local_state(preset_dir, [&](nlohmann::json& entry) {
    entry["name"] = name;
    nlohmann::json& drive = drive_of(entry, uuid);
    if (text_of(drive, "first_seen").empty()) {
      drive["first_seen"] = format_iso_local(when);
    }
    drive["last_seen"] = format_iso_local(when);
    drive["last_snapshot"] = snapshot;
    drive["snapshots"] = on_drive;
  });
}

Status record_drive_parent(const fs::path& preset_dir, const std::string& uuid, const DriveParent& parent) {
  return update_local_state(preset_dir, [&](nlohmann::json& entry) {
    nlohmann::json& drive = drive_of(entry, uuid);
    drive["parent"] = {{"snapshot", parent.snapshot}, {"source_uuid", parent.source_uuid}};
    drive.erase("parent_released");
  });
}

Status release_drive_parent(const fs::path& preset_dir, const std::string& uuid, std::time_t when) {
  return update_local_state(preset_dir, [&](nlohmann::json& entry) {
    nlohmann::json& drive = drive_of(entry, uuid);
    drive.erase("parent");
    drive["parent_released"] = format_iso_local(when);
  });
}

std::vector<std::string> ids_held_by_drives(const std::vector<DriveRecord>& drives) {
  std::vector<std::string> out;
  for (const auto& drive : drives) {
    if (!drive.last_snapshot.empty()) {
      out.push_back(drive.last_snapshot);
    }
    out.insert(out.end(), drive.snapshots.begin(), drive.snapshots.end());
    if (drive.parent && !drive.parent->snapshot.empty()) {
      out.push_back(drive.parent->snapshot);
    }
  }
  return out;
}

}  // namespace snapkeep
