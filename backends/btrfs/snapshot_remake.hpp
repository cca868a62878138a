#pragma once
// `scrub --repair` on btrfs: a damaged read-only snapshot is remade as a whole by receiving a clean
// full copy of the source snapshot it was received from, verifying it, and swapping it into the
// snapshot's place (docs/scrub.md "btrfs").

#include "core/store/backend.hpp"

namespace snapkeep {

// Leftovers of an interrupted remake carry this prefix (DEST/<preset>/.remake-ID and
// SOURCE_SNAPS/<preset>/.remake-ID); the next backup or remake deletes them.
inline constexpr std::string_view k_remake_prefix = ".remake-";

// The SnapshotRemaker the btrfs backend offers.
const SnapshotRemaker& btrfs_snapshot_remaker();

}  // namespace snapkeep
