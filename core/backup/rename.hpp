#pragma once
// Renaming a preset: its snapshots live in DEST/<name>, so a new name in the config would start a
// new folder with a full copy and orphan the old one. `snapkeep rename OLD NEW` moves them along;
// a backup that would start afresh beside an orphaned folder of the same source refuses and says so
// (docs/usage.md).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/store/backend.hpp"

namespace snapkeep {

// Moves DEST/<old_name> to DEST/<renamed.name> (renamed: the preset as the config names it now),
// with the backend's source-side state and this machine's local state, under the old folder's lock.
// Refuses when the old folder holds no snapkeep snapshots or the new one already holds snapshots.
Status rename_preset(const Preset& renamed, const std::string& old_name, const Backend& backend, bool wait_for_lock);

// Writes DEST/<preset>/.snapkeep/preset, what the folder was last backed up as (name and source),
// so a later rename can be recognised. Errors are for the caller to warn about.
Status record_preset_identity(const Preset& preset);

// A sibling preset folder in the destination that holds snapshots of this preset's source under
// another name (a renamed preset), when the preset's own folder has none yet; nullopt otherwise.
// Folders named in `configured_presets` belong to presets still in the config and are never orphans.
std::optional<std::string> orphaned_folder_of(const Preset& preset, const std::vector<std::string>& configured_presets);

}  // namespace snapkeep
