#include "core/backup/restore.hpp"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/config/units.hpp"
#include "core/store/catalog.hpp"
#include "core/store/preset_checks.hpp"
#include "core/transfer/rsync.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// The path inside the snapshot, relative, checked not to leave it or pass through a symlink.
Result<fs::path> checked_inside(const Preset& preset, const fs::path& snapshot, const fs::path& inside) {
  fs::path rel;
  for (const auto& part : inside) {
    std::string s = part.string();
    if (s.empty() || s == "/" || s == ".") {
      continue;
    }
    if (s == "..") {
      return config_error("restore path " + inside.string() + " must not contain '..'").in(preset.name);
    }
    rel /= part;
  }
  fs::path walk = snapshot;
  for (auto it = rel.begin(); it != rel.end(); ++it) {
    walk /= *it;
    struct stat st {};
    if (::lstat(walk.c_str(), &st) != 0) {
      return sys_error(rel.string() + " is not in snapshot " + snapshot.filename().string(), walk).in(preset.name);
    }
    if (S_ISLNK(st.st_mode) && std::next(it) != rel.end()) {
      return config_error("restore path " + rel.string() + " passes through the symlink " + walk.string() +
                          "; name the path the symlink points to instead")
          .in(preset.name);
    }
  }
  return rel;
}

}  // namespace

Result<fs::path> prepare_restore_target(const Preset& preset, const fs::path& requested, bool force) {
  fs::path target = fs::absolute(requested).lexically_normal();
  if (!preset.remote_destination && path_is_within(target, preset.preset_dir())) {
    return config_error("restore target " + target.string() +
                        " is inside the backups; choose a "
                        "folder outside " +
                        preset.preset_dir().string())
        .in(preset.name);
  }
  // Nor into any other preset's folder (a folder holding snapkeep's .snapkeep state): a restore
  // there would mix with snapshots.
  for (fs::path up = target; !up.empty(); up = up.parent_path()) {
    std::error_code ec;
    if (fs::is_directory(up / std::string(k_state_dir_name), ec)) {
      return config_error("restore target " + target.string() + " is inside " + up.string() +
                          ", where snapkeep keeps a preset's snapshots; choose a folder outside the backups")
          .in(preset.name);
    }
    if (up == up.root_path()) {
      break;
    }
  }
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return config_error("restore target " + target.string() + " is not a directory").in(preset.name);
    }
    SNAPKEEP_TRY_ASSIGN(auto empty, dir_is_empty(target));
    if (!empty && !force) {
      return config_error("restore target " + target.string() +
                          " is not empty; use --force to restore into it (files of the same name are replaced)")
          .in(preset.name);
    }
  } else {
    std::error_code ec;
    fs::create_directories(target, ec);
    if (ec) {
      return sys_error("cannot create restore target", target, ec.value()).in(preset.name);
    }
  }
  return target;
}

Result<RestoreOutcome> restore_snapshot(const Preset& preset, const RestoreRequest& request) {
  SNAPKEEP_TRY(check_destination(preset));
  auto snapshot = find_snapshot(preset.preset_dir(), request.snapshot);
  if (!snapshot) {
    Error e = std::move(snapshot).error();
    e.preset = preset.name;
    return e;
  }
  SNAPKEEP_TRY_ASSIGN(auto rel, checked_inside(preset, snapshot->path, request.inside));
  fs::path target = "/";
  if (!request.remote_target) {
    SNAPKEEP_TRY_ASSIGN(target, prepare_restore_target(preset, request.target, request.force));
  }

  RestoreOutcome outcome;
  outcome.snapshot_id = snapshot->id;
  std::string from = rel.empty() ? snapshot->path.string() + "/" : (snapshot->path / rel).string();
  outcome.copied_from = from;
  Progress progress(preset.name);
  RsyncTransfer transfer;
  transfer.source = rel.empty() ? snapshot->path : snapshot->path / rel;
  transfer.contents = rel.empty();
  transfer.target = target;
  transfer.exact_mtimes = request.remote_target ? request.exact_mtimes : keeps_nanosecond_mtimes(target);
  transfer.mirror = false;
  transfer.operation = "restore";
  transfer.strict = true;
  transfer.remote_target = request.remote_target;
  spdlog::info("{}: restoring {} to {}", preset.name, from,
               request.remote_target ? std::string("the client") : target.string());
  SNAPKEEP_TRY_ASSIGN(auto stats, run_rsync(preset, transfer, progress));
  outcome.files = stats.files;
  outcome.bytes = stats.bytes_total;
  return outcome;
}

}  // namespace snapkeep
