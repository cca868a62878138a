#include "core/backup/check.hpp"

#include "core/store/catalog.hpp"
#include "core/store/preset_checks.hpp"

namespace snapkeep {

Status check_setup(const Preset& preset, const Backend& backend) {
  SNAPKEEP_TRY(check_preset(preset));
  SNAPKEEP_TRY(backend.check_preset(preset));
  if (preset.exclude_from) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*preset.exclude_from, ec)) {
      return runtime_error("exclude_from file " + preset.exclude_from->string() + " is not readable").in(preset.name);
    }
  }
  SNAPKEEP_TRY(list_snapshots(preset.preset_dir()));
  return {};
}

}  // namespace snapkeep
