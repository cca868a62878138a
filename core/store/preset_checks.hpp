#pragma once
// Run-time checks of a preset's source and destination (SPEC §4.6), shared by backup and check.

#include <string_view>

#include "core/base/error.hpp"
#include "core/config/config.hpp"

namespace snapkeep {

// The source exists, is a directory, and is not empty unless allow_empty_source. A remote source
// passes here (core/transfer's check_remote_source looks at it).
Status check_source(const Preset& preset);

// The destination root exists and is a directory, and is the drive the preset wants
// (check_destination_drive). snapkeep never creates it: a missing one is usually a backup drive that
// is not mounted. An absent drive is an Error with drive_absent set (if_unmounted = skip skips it).
Status check_destination(const Preset& preset);

// require_mount: the destination is a mount point, or lies on another filesystem than / and the
// source (filesystems compared as mounted, so two subvolumes of one btrfs are one); destination_uuid:
// its filesystem's UUID is one of them. docs/drives.md explains both.
Status check_destination_drive(const Preset& preset);

// The destination's filesystem can hold a snapshot: hard links, symlinks and (as root) owners,
// found by trying each in a dot-named probe folder that is removed again (docs/drives.md). A
// read-only destination is an error saying so; a full one is a full-destination error (Error::full).
Status check_destination_filesystem(const Preset& preset);

// Is the destination mounted read-only (list, du, scrub without --repair and restore still work)?
bool destination_read_only(const Preset& preset);

// Neither of source and destination/<preset> lies inside the other once symlinks are resolved.
Status check_overlap(const Preset& preset);

// The program `tool` runs (`tool --version` exits 0); the error says it is not installed.
Status check_tool(const Preset& preset, std::string_view tool);

// Does this failure only mean "skipped" (if_unmounted = skip and the drive is absent)? The one rule
// the preset loop, the pings and `status` follow.
bool skipped_for_absent_drive(const Preset& preset, const Error& error);

// All of the above but check_tool; messages start with the preset name.
Status check_preset(const Preset& preset);

}  // namespace snapkeep
