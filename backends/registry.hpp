#pragma once
// The one table mapping a backend name to its factory, and `backend = auto`.

#include <memory>
#include <string>
#include <vector>

#include "core/store/backend.hpp"
#include "core/store/subvolume_sender.hpp"

namespace snapkeep {

// The backend name a preset uses: its `backend` value, or for "auto" the destination's filesystem
// (btrfs -> "btrfs", anything else -> "rsync"). Fails when the destination cannot be examined.
Result<std::string> resolve_backend_name(const Preset& preset);

// A new backend by name; an unknown or unavailable name is an error.
Result<std::unique_ptr<Backend>> make_backend(const std::string& name);

// The freezer that gives backups a point-in-time view of btrfs sources.
std::unique_ptr<SourceFreezer> make_source_freezer();

// What sends a source subvolume to another host (push to a btrfs server, serve --source-only).
std::unique_ptr<SubvolumeSender> make_subvolume_sender();

// The backend a preset uses (resolve_backend_name + make_backend).
Result<std::unique_ptr<Backend>> backend_for(const Preset& preset);

// Names in the table.
std::vector<std::string> backend_names();

// What config validation needs from the registry: "auto" and every name in the table.
ConfigSchema config_schema();

}  // namespace snapkeep
