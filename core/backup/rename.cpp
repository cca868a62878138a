#include "core/backup/rename.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "core/base/fsutil.hpp"
#include "core/store/catalog.hpp"
#include "core/store/local_state.hpp"
#include "core/store/lock.hpp"
#include "core/store/preset_checks.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr const char* k_identity_file = "preset";

// The source a preset folder was last backed up from, per its identity file; "" when unknown.
std::string recorded_source(const fs::path& preset_dir) {
  std::ifstream in(preset_dir / k_state_dir_name / k_identity_file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto doc = nlohmann::json::parse(text, nullptr, false);
  return doc.is_object() ? doc.value("source", "") : "";
}

}  // namespace

Status record_preset_identity(const Preset& preset) {
  nlohmann::json doc{{"name", preset.name}, {"source", preset.source.string()}};
  return write_file_atomic(preset.preset_dir() / k_state_dir_name / k_identity_file,
                           doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::optional<std::string> orphaned_folder_of(const Preset& preset,
                                              const std::vector<std::string>& configured_presets) {
  if (holds_recorded_snapshot(preset.preset_dir())) {
    return std::nullopt;
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(preset.destination, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == preset.name || !entry.is_directory(ec) || entry.is_symlink(ec) ||
        std::find(configured_presets.begin(), configured_presets.end(), name) != configured_presets.end()) {
      continue;
    }
    if (recorded_source(entry.path()) == preset.source.string() && holds_recorded_snapshot(entry.path())) {
      return name;
    }
  }
  return std::nullopt;
}

Status rename_preset(const Preset& renamed, const std::string& old_name, const Backend& backend, bool wait_for_lock) {
  SNAPKEEP_TRY(check_destination(renamed));
  const fs::path from = renamed.destination / old_name;
  const fs::path to = renamed.preset_dir();
  if (old_name.empty() || old_name.find('/') != std::string::npos || old_name.front() == '.' || old_name == "latest") {
    return config_error("'" + old_name + "' is not a preset name").in(renamed.name);
  }
  if (!holds_recorded_snapshot(from)) {
    return config_error("there are no snapkeep snapshots in " + from.string() + " to rename").in(renamed.name);
  }
  std::error_code ec;
  if (fs::exists(fs::symlink_status(to, ec))) {
    if (holds_recorded_snapshot(to)) {
      return config_error(to.string() + " already holds snapshots; move one of the two folders aside first")
          .in(renamed.name);
    }
    // A folder a backup under the new name started (nothing complete in it): it goes.
    SNAPKEEP_TRY(remove_tree(to));
  }
  SNAPKEEP_TRY_ASSIGN(PresetLock lock, PresetLock::acquire(from / k_state_dir_name, old_name, wait_for_lock));
  SNAPKEEP_TRY(rename_path(from, to));
  SNAPKEEP_TRY(fsync_dir(renamed.destination));
  if (auto moved = backend.rename_preset_state(renamed, old_name); !moved) {
    spdlog::warn("{}: {}", renamed.name, moved.error().describe());
  }
  if (auto moved = rename_local_state(from, to); !moved) {
    spdlog::warn("{}: {}", renamed.name, moved.error().describe());
  }
  return record_preset_identity(renamed);
}

}  // namespace snapkeep
