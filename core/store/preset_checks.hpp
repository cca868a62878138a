#pragma once
// Run-time checks of a preset's source and destination (SPEC §4.6), shared by backup and check.

#include <string_view>

#include "core/base/error.hpp"
#include "core/config/config.hpp"

namespace snapkeep {

// The source exists, is a directory, and is not empty unless allow_empty_source.
Status check_source(const Preset& preset);

// The destination root exists and is a directory. snapkeep never creates it: a missing one is
// usually a backup drive that is not mounted.
Status check_destination(const Preset& preset);

// Neither of source and destination/<preset> lies inside the other once symlinks are resolved.
Status check_overlap(const Preset& preset);

// The program `tool` runs (`tool --version` exits 0); the error says it is not installed.
Status check_tool(const Preset& preset, std::string_view tool);

// All of the above but check_tool; messages start with the preset name.
Status check_preset(const Preset& preset);

}  // namespace snapkeep
