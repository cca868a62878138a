#include "backends/registry.hpp"

#include <array>

#include "backends/btrfs/btrfs_backend.hpp"
#include "backends/rsync/rsync_backend.hpp"
#include "core/base/fsprobe.hpp"
#include "core/store/preset_checks.hpp"

namespace snapkeep {
namespace {

struct BackendEntry {
  std::string_view name;
  std::unique_ptr<Backend> (*factory)();
};

// Every backend snapkeep has. Explicit, so no backend can be dropped by the linker.
const std::array k_backends{
    BackendEntry{"rsync", &make_rsync_backend},
    BackendEntry{"btrfs", &make_btrfs_backend},
};

}  // namespace

Result<std::string> resolve_backend_name(const Preset& preset) {
  SNAPKEEP_TRY(check_destination(preset));
  if (preset.backend != "auto") {
    return preset.backend;
  }
  auto type = filesystem_type(preset.destination);
  if (!type) {
    Error e = std::move(type).error();
    e.message = "cannot tell the destination's filesystem (is the drive mounted?): " + e.message;
    return std::move(e).in(preset.name);
  }
  return std::string(*type == "btrfs" ? "btrfs" : "rsync");
}

Result<std::unique_ptr<Backend>> make_backend(const std::string& name) {
  for (const auto& entry : k_backends) {
    if (entry.name == name) {
      return entry.factory();
    }
  }
  return runtime_error("backend '" + name + "' is not available in this build of snapkeep");
}

Result<std::unique_ptr<Backend>> backend_for(const Preset& preset) {
  SNAPKEEP_TRY_ASSIGN(auto name, resolve_backend_name(preset));
  auto backend = make_backend(name);
  if (!backend) {
    Error e = std::move(backend).error();
    e.preset = preset.name;
    return e;
  }
  return backend;
}

std::unique_ptr<SourceFreezer> make_source_freezer() {
  return make_btrfs_source_freezer();
}

std::unique_ptr<SubvolumeSender> make_subvolume_sender() {
  return make_btrfs_subvolume_sender();
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto& entry : k_backends) {
    names.emplace_back(entry.name);
  }
  return names;
}

ConfigSchema config_schema() {
  ConfigSchema schema;
  schema.backend_values.emplace_back("auto");
  for (auto& name : backend_names()) {
    schema.backend_values.push_back(std::move(name));
  }
  return schema;
}

}  // namespace snapkeep
