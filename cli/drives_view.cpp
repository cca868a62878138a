#include "cli/drives_view.hpp"

#include <algorithm>
#include <cstdio>

#include "core/store/snapshot_id.hpp"

namespace snapkeep::cli {

nlohmann::json drives_json(const PresetDrives& drives) {
  nlohmann::json out = nlohmann::json::array();
  for (const DriveRecord& d : drives.drives) {
    nlohmann::json drive{{"uuid", d.uuid},
                         {"first_seen", format_iso_local(d.first_seen)},
                         {"last_seen", format_iso_local(d.last_seen)},
                         {"last_snapshot", d.last_snapshot},
                         {"mounted", d.uuid == drives.mounted}};
    if (d.parent) {
      drive["parent"] = {{"snapshot", d.parent->snapshot}, {"source_uuid", d.parent->source_uuid}};
    }
    if (d.parent_released != 0) {
      drive["parent_released"] = format_iso_local(d.parent_released);
    }
    out.push_back(std::move(drive));
  }
  return out;
}

void print_drives(const PresetDrives& drives) {
  for (const DriveRecord& d : drives.drives) {
    std::string line = "  drive " + d.uuid + ": first seen " + format_iso_local(d.first_seen) + ", last seen " +
                       format_iso_local(d.last_seen) + " (snapshot " + d.last_snapshot + ")";
    if (d.uuid == drives.mounted) {
      line += ", mounted now";
    }
    if (d.parent_released != 0) {
      line += "; its btrfs parent was released on " + format_iso_local(d.parent_released) +
              " (its next backup is a full send)";
    }
    std::printf("%s\n", line.c_str());
  }
  if (!drives.mounted.empty() && std::none_of(drives.drives.begin(), drives.drives.end(),
                                              [&](const DriveRecord& d) { return d.uuid == drives.mounted; })) {
    std::printf("  drive %s: mounted now, not backed up to yet\n", drives.mounted.c_str());
  }
}

}  // namespace snapkeep::cli
