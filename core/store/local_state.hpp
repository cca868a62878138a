#pragma once
// The local state file: what snapkeep must remember on this machine while a backup drive is absent
// (drives seen, btrfs parent pairs per drive, last results for `status`). One JSON document,
// default /var/lib/snapkeep/state.json ($SNAPKEEP_STATE_DIR overrides the folder); docs/state.md
// describes its fields. Updated under an flock and replaced atomically, so concurrent runs of
// different presets never lose each other's updates.

#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/base/error.hpp"

namespace snapkeep {

// The folder of the local state: $SNAPKEEP_STATE_DIR, else /var/lib/snapkeep.
std::filesystem::path local_state_dir();

// The key of a preset folder in the document: the path itself when it is valid UTF-8 without '%';
// otherwise each '%' and each byte that is not part of valid UTF-8 is written %XX (hex), so the
// document stays JSON and every folder keeps a key of its own.
std::string local_state_key(const std::filesystem::path& preset_dir);

// The whole document as it is now ({} when there is none yet). A damaged file is an error naming it.
Result<nlohmann::json> read_local_state();

// Reads the document, lets `change` edit the object of one preset (created empty when missing:
// doc["presets"][PRESET_DIR], keyed by the preset's folder DEST/<name>, which two presets never
// share; local_state_key), and writes it back atomically, all under the state's lock. Creates the folder when missing.
Status update_local_state(const std::filesystem::path& preset_dir,
                          const std::function<void(nlohmann::json& entry)>& change);

// Moves the entry of a preset folder to another key (a renamed preset); nothing when there is none.
Status rename_local_state(const std::filesystem::path& from_dir, const std::filesystem::path& to_dir);

}  // namespace snapkeep
