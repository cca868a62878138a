// Source-side snapshots: where they live, leftovers of killed runs, the point-in-time freezer.

#include <algorithm>

#include <spdlog/spdlog.h>

#include "backends/btrfs/btrfs_backend.hpp"
#include "backends/btrfs/subvolume.hpp"
#include "core/base/fsutil.hpp"
#include "core/store/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::string_view k_freeze_prefix = ".frozen-";

class BtrfsSourceFreezer final : public SourceFreezer {
 public:
  Result<std::optional<fs::path>> freeze(const Preset& preset, const std::string& id) override {
    SNAPKEEP_TRY_ASSIGN(auto subvolume, btrfs::is_subvolume(preset.source));
    if (!subvolume) {
      return std::optional<fs::path>{};
    }
    fs::path root = source_snapshot_root(preset);
    SNAPKEEP_TRY(make_snapshot_container(root.parent_path()));
    SNAPKEEP_TRY(make_dir(root, 0700));
    // Views left by killed runs are of no use to anyone.
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (entry.path().filename().string().rfind(k_freeze_prefix, 0) == 0) {
        SNAPKEEP_TRY(btrfs::delete_subvolume(entry.path()));
      }
    }
    warn_about_nested_subvolumes(preset, root);
    fs::path view = root / (std::string(k_freeze_prefix) + id);
    SNAPKEEP_TRY(btrfs::snapshot(preset.source, view, true));
    spdlog::info("{}: backing up from a read-only snapshot of the source, {}", preset.name, view.string());
    return std::optional<fs::path>{view};
  }

  Status release(const fs::path& frozen) override { return btrfs::delete_subvolume(frozen); }
};

}  // namespace

Status make_snapshot_container(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dir, ec))) {
    return make_dir(dir, 0700);  // accepts an existing folder, refuses anything else
  }
  return btrfs::create_subvolume(dir);
}

void warn_about_nested_subvolumes(const Preset& preset, const fs::path& snapshot_root) {
  auto nested = btrfs::nested_subvolumes(preset.source);
  if (!nested) {
    return;
  }
  for (const auto& sub : *nested) {
    if (!path_is_within(preset.source / sub, snapshot_root)) {
      spdlog::warn("{}: {} is a nested subvolume and is not part of the snapshot; back it up as its own preset",
                   preset.name, (preset.source / sub).string());
    }
  }
}

std::vector<SourceSnapshot> list_source_snapshots(const fs::path& root) {
  std::vector<SourceSnapshot> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::string name = entry.path().filename().string();
    if (!parse_snapshot_id(name)) {
      continue;
    }
    auto info = btrfs::subvolume_info(entry.path());
    if (info && info->read_only) {
      out.push_back({name, entry.path(), *info});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.info.ctransid < b.info.ctransid; });
  return out;
}

fs::path source_snapshot_root(const Preset& preset) {
  if (preset.snapshot_dir) {
    return *preset.snapshot_dir / preset.name;
  }
  // Beside the source when its parent folder is on the same btrfs filesystem (subvolumes have
  // st_dev of their own, so compare filesystem uuids), else inside the source.
  fs::path parent = preset.source.parent_path();
  if (!parent.empty() && parent != preset.source) {
    auto source_fs = btrfs::filesystem_uuid(preset.source);
    auto parent_fs = btrfs::filesystem_uuid(parent);
    if (source_fs && parent_fs && *source_fs == *parent_fs) {
      return parent / ".snapkeep-snapshots" / preset.name;
    }
  }
  return preset.source / ".snapkeep-snapshots" / preset.name;
}

std::unique_ptr<SourceFreezer> make_btrfs_source_freezer() {
  return std::make_unique<BtrfsSourceFreezer>();
}

}  // namespace snapkeep
