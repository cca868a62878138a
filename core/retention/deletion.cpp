#include "core/retention/deletion.hpp"

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::string_view k_deleting_prefix = ".deleting-";

}  // namespace

Status delete_snapshot(const Preset& preset, Backend& backend, const SnapshotInfo& snapshot) {
  fs::path preset_dir = preset.preset_dir();
  // Renaming within its own folder works for read-only btrfs subvolumes too.
  fs::path hidden = preset_dir / (std::string(k_deleting_prefix) + snapshot.id);
  SNAPKEEP_TRY(rename_path(snapshot.path, hidden));
  SNAPKEEP_TRY(fsync_dir(preset_dir));
  std::error_code ec;
  forget_snapshot_state(preset_dir, snapshot.id);
  // `latest` must never name a snapshot that is gone: it moves back to the newest left.
  if (read_latest(preset_dir) == snapshot.id) {
    SNAPKEEP_TRY_ASSIGN(auto left, list_snapshots(preset_dir));
    if (left.empty()) {
      fs::remove(preset_dir / k_latest_name, ec);
    } else {
      SNAPKEEP_TRY(update_latest(preset_dir, left.back().id));
    }
  }
  spdlog::info("{}: deleting snapshot {}", preset.name, snapshot.id);
  Progress progress(preset.name);
  return backend.delete_snapshot(hidden, progress);
}

Status finish_interrupted_deletions(const Preset& preset, Backend& backend) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(preset.preset_dir(), ec)) {
    if (entry.path().filename().string().rfind(k_deleting_prefix, 0) == 0) {
      spdlog::info("{}: finishing the interrupted deletion of {}", preset.name, entry.path().string());
      Progress progress(preset.name);
      SNAPKEEP_TRY(backend.delete_snapshot(entry.path(), progress));
    }
  }
  return {};
}

}  // namespace snapkeep
