#include "core/backup/check.hpp"

#include "core/store/catalog.hpp"
#include "core/store/preset_checks.hpp"
#include "core/transfer/rsync.hpp"

namespace snapkeep {

Result<CheckReport> check_setup(const Preset& preset, const Backend& backend) {
  CheckReport report;
  SNAPKEEP_TRY(check_preset(preset));
  if (preset.remote_source && !preset.remote.served) {
    SNAPKEEP_TRY(check_remote_source(preset));
  }
  if (destination_read_only(preset)) {
    report.warnings.push_back("destination " + preset.destination.string() +
                              " is mounted read-only: list, du, scrub (without --repair) and restore work; a backup "
                              "needs it mounted read-write");
  } else {
    SNAPKEEP_TRY(check_destination_filesystem(preset));
  }
  SNAPKEEP_TRY(backend.check_preset(preset));
  if (preset.exclude_from) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*preset.exclude_from, ec)) {
      return runtime_error("exclude_from file " + preset.exclude_from->string() + " is not readable").in(preset.name);
    }
  }
  SNAPKEEP_TRY(list_snapshots(preset.preset_dir()));
  return report;
}

}  // namespace snapkeep
