#include "core/backup/adopt.hpp"

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/store/catalog.hpp"
#include "core/store/lock.hpp"
#include "core/store/preset_checks.hpp"

namespace fs = std::filesystem;

namespace snapkeep {

Result<std::vector<AdoptedSnapshot>> adopt_snapshots(const Preset& preset, const Backend& backend, bool dry_run,
                                                     bool wait_for_lock) {
  SNAPKEEP_TRY(check_destination(preset));
  const fs::path preset_dir = preset.preset_dir();
  const fs::path state_dir = preset_dir / k_state_dir_name;
  std::optional<PresetLock> lock;
  if (!dry_run) {
    SNAPKEEP_TRY(make_dir(state_dir, 0700));
    SNAPKEEP_TRY_ASSIGN(PresetLock held, PresetLock::acquire(state_dir, preset.name, wait_for_lock));
    lock.emplace(std::move(held));
  }
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset_dir));
  std::vector<AdoptedSnapshot> out;
  const SnapshotInfo* previous = nullptr;
  for (const SnapshotInfo& s : snapshots) {
    if (s.time_recorded) {
      previous = &s;
      continue;
    }
    AdoptedSnapshot adopted{s.id, s.time, false};
    if (!dry_run) {
      SNAPKEEP_TRY(record_adopted_snapshot(preset_dir, s.id, s.time));
      SNAPKEEP_TRY(make_dir(manifest_dir(state_dir), 0700));
      const fs::path file = manifest_path(state_dir, s.id);
      if (open_manifest(file).state == ManifestState::missing) {
        ManifestBuildOptions options;
        options.checksum = preset.checksum;
        options.origin = "init";
        options.content_sharing = backend.capabilities().content_sharing;
        if (previous != nullptr) {
          options.previous_snapshot = previous->path;
          options.previous_manifest = manifest_path(state_dir, previous->id);
        }
        Progress progress(preset.name);
        options.progress = &progress;
        spdlog::info("{}: adopting {}: making its manifest (first seen, not verified)", preset.name, s.id);
        SNAPKEEP_TRY(build_manifest(s.path, s.id, file, options));
        adopted.manifest_made = true;
      }
    }
    previous = &s;
    out.push_back(std::move(adopted));
  }
  return out;
}

}  // namespace snapkeep
