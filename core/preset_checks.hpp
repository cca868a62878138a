#pragma once
// Run-time checks of a preset's source and destination (SPEC §4.6), shared by backup and check.

#include "core/config.hpp"
#include "core/error.hpp"

namespace snapkeep {

// The source exists, is a directory, and is not empty unless allow_empty_source.
Status check_source(const Preset& preset);

// The destination root exists and is a directory. snapkeep never creates it: a missing one is
// usually a backup drive that is not mounted.
Status check_destination(const Preset& preset);

// Neither of source and destination/<preset> lies inside the other once symlinks are resolved.
Status check_overlap(const Preset& preset);

// All of the above; messages start with the preset name.
Status check_preset(const Preset& preset);

}  // namespace snapkeep
