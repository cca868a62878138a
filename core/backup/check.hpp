#pragma once
// `check`: everything a backup of a preset would need, verified without changing anything.

#include "core/store/backend.hpp"

namespace snapkeep {

// Checks a preset's source and destination, what its backend needs (tools, destination
// filesystem), its exclude_from file and its snapshot folder. Changes nothing on disk.
Status check_setup(const Preset& preset, const Backend& backend);

}  // namespace snapkeep
