#pragma once
// The receiving end of btrfs streams that come from another host (docs/remote.md): a push from a
// client whose source is a subvolume (serve's side), and `pull = btrfs-send` (the pulling side).
// Either way the received subvolume is kept only when btrfs receive completed it (read-only, with
// a received uuid), and the other end learns which of our snapshots may be parents from the
// received uuids of our complete snapshots.

#include <optional>
#include <string>

#include "backends/btrfs/send_stream.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// What an incremental receive changed relative to the copy of its parent (the snapshot
// `parent_id` of the preset folder), when the stream was read whole and the new snapshot really is a
// snapshot of that copy (btrfs receive picks the parent by its received uuid); nullopt makes the
// manifest step walk the new snapshot instead. parent_id "" (a full send): nullopt.
std::optional<TreeChanges> changes_from_parent(const Preset& preset,
                                               const std::optional<btrfs::SendStreamChanges>& stream,
                                               const std::filesystem::path& received, const std::string& parent_id);

// serve's side of a push from a client whose source is a btrfs subvolume: its relay carries the
// client's `btrfs send` into `btrfs receive` here.
Result<BackupStats> receive_from_client(const BackupJob& job);

// `pull = btrfs-send`: asks the source host whether it would send preset.source (reachable, a
// subvolume inside the folder its key allows); makes nothing. For `check` and dry runs.
Status probe_source(const Preset& preset);

// `pull = btrfs-send`: `snapkeep serve --source-only` on the source host snapshots the source and
// sends it; `btrfs receive` here.
Result<BackupStats> pull_from_source(const BackupJob& job);

}  // namespace snapkeep
