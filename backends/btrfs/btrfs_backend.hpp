#pragma once
// The btrfs backend: read-only snapshot subvolumes, moved with btrfs send/receive (SPEC §5).

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backends/btrfs/subvolume.hpp"
#include "core/store/backend.hpp"
#include "core/store/subvolume_sender.hpp"

namespace snapkeep {

// The backend for the registry.
std::unique_ptr<Backend> make_btrfs_backend();

// Sends a source subvolume to another host (a push to a btrfs server, serve --source-only).
std::unique_ptr<SubvolumeSender> make_btrfs_subvolume_sender();

// A receive lands under this dot-name beside the snapshots (a read-only subvolume cannot be moved
// into another folder, only renamed in its own) and is renamed to its id once verified. Source
// snapshots wait under the same dot-name until their copy is verified.
inline constexpr std::string_view k_incoming_prefix = ".incoming-";

inline std::string incoming_name(const std::string& id) {
  return std::string(k_incoming_prefix) + id;
}

// Source snapshots of this many newest verified pairs are kept as possible parents.
inline constexpr std::size_t k_kept_source_pairs = 3;

// A read-only source snapshot under its id.
struct SourceSnapshot {
  std::string id;
  std::filesystem::path path;
  btrfs::SubvolumeInfo info;
};

// Read-only id-named subvolumes in the source snapshot folder, oldest first (ids sort by time here).
std::vector<SourceSnapshot> list_source_snapshots(const std::filesystem::path& root);

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
