#pragma once
// How `list` and `check` show the drives a preset has been backed up to (rotating drives).

#include <string>

#include <nlohmann/json.hpp>

#include "core/store/drives.hpp"

namespace snapkeep::cli {

// [{"uuid", "first_seen", "last_seen", "last_snapshot", "mounted", "parent"?, "parent_released"?}, ...]
nlohmann::json drives_json(const PresetDrives& drives);

// One line per drive, indented: "  drive UUID: first seen ..., last seen ... (snapshot ID)[, mounted now]".
void print_drives(const PresetDrives& drives);

}  // namespace snapkeep::cli
