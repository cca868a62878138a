#pragma once
// The btrfs backend: read-only snapshot subvolumes, moved with btrfs send/receive (SPEC §5).

#include <filesystem>
#include <memory>

#include "core/store/backend.hpp"

namespace snapkeep {

// The backend for the registry.
std::unique_ptr<Backend> make_btrfs_backend();

// Read-only btrfs snapshots of a source subvolume as a point-in-time view (for the rsync backend).
std::unique_ptr<SourceFreezer> make_btrfs_source_freezer();

// Where source snapshots of `preset` live: snapshot_dir/<preset>, where snapshot_dir defaults to
// .snapkeep-snapshots beside the source (when that folder is on the source's filesystem) or inside it.
std::filesystem::path source_snapshot_root(const Preset& preset);

// Makes the folder holding source snapshots (snapshot_dir) when missing, as a subvolume so that it
// never appears inside a snapshot of the source or of its parent.
Status make_snapshot_container(const std::filesystem::path& dir);

// Warns by name about subvolumes nested in the source (other than snapkeep's own snapshots below
// snapshot_root): a btrfs snapshot does not include them.
void warn_about_nested_subvolumes(const Preset& preset, const std::filesystem::path& snapshot_root);

}  // namespace snapkeep
