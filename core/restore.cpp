#include "core/restore.hpp"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include "core/catalog.hpp"
#include "core/fsutil.hpp"
#include "core/process.hpp"
#include "core/progress.hpp"
#include "core/rsync_stats.hpp"
#include "core/units.hpp"

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
      return config_error(preset.name + ": restore path " + inside.string() + " must not contain '..'");
    }
    rel /= part;
  }
  fs::path walk = snapshot;
  for (auto it = rel.begin(); it != rel.end(); ++it) {
    walk /= *it;
    struct stat st {};
    if (::lstat(walk.c_str(), &st) != 0) {
      return sys_error(preset.name + ": " + rel.string() + " is not in snapshot " + snapshot.filename().string(), walk);
    }
    if (S_ISLNK(st.st_mode) && std::next(it) != rel.end()) {
      return config_error(preset.name + ": restore path " + rel.string() + " passes through the symlink " +
                          walk.string() + "; name the path the symlink points to instead");
    }
  }
  return rel;
}

}  // namespace

Result<RestoreOutcome> restore_snapshot(const Preset& preset, const RestoreRequest& request) {
  auto snapshot = find_snapshot(preset.preset_dir(), request.snapshot);
  if (!snapshot) {
    Error e = std::move(snapshot).error();
    e.message = preset.name + ": " + e.message;
    return e;
  }
  auto rel = checked_inside(preset, snapshot->path, request.inside);
  if (!rel) {
    return std::move(rel).error();
  }
  fs::path target = fs::absolute(request.target).lexically_normal();
  if (path_is_within(target, preset.preset_dir()) || path_is_within(target, snapshot->path)) {
    return config_error(preset.name + ": restore target " + target.string() +
                        " is inside the backups; choose a "
                        "folder outside " +
                        preset.preset_dir().string());
  }
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return config_error(preset.name + ": restore target " + target.string() + " is not a directory");
    }
    auto empty = dir_is_empty(target);
    if (!empty) {
      return std::move(empty).error();
    }
    if (!*empty && !request.force) {
      return config_error(preset.name + ": restore target " + target.string() +
                          " is not empty; use --force to restore into it (files of the same name are replaced)");
    }
  } else {
    std::error_code ec;
    fs::create_directories(target, ec);
    if (ec) {
      return sys_error(preset.name + ": cannot create restore target", target, ec.value());
    }
  }

  RestoreOutcome outcome;
  outcome.snapshot_id = snapshot->id;
  std::string from = rel->empty() ? snapshot->path.string() + "/" : (snapshot->path / *rel).string();
  outcome.copied_from = from;
  Progress progress(preset.name);
  std::vector<std::string> argv{"rsync", "-aHAX", "--numeric-ids", "--sparse", "--stats", "--no-human-readable"};
  if (keeps_nanosecond_mtimes(target)) {
    argv.emplace_back("--modify-window=-1");
  }
  if (progress.enabled()) {
    argv.emplace_back("--info=progress2");
  }
  argv.emplace_back("--");
  argv.push_back(from);
  argv.push_back(target.string() + "/");
  ProcessOptions options;
  RsyncStats stats;
  options.on_stdout_line = [&](std::string_view line) {
    if (auto p = parse_rsync_progress_line(line)) {
      progress.update(format_bytes(p->bytes) + ", " + std::to_string(p->files_checked) + "/" +
                      std::to_string(p->files_total) + " files");
      return;
    }
    parse_rsync_stats_line(line, stats);
  };
  spdlog::info("{}: restoring {} to {}", preset.name, from, target.string());
  auto result = run_process(argv, options);
  progress.finish();
  if (!result) {
    return std::move(result).error();
  }
  if (!result->succeeded()) {
    return runtime_error(preset.name + ": restore failed: " + describe_failure("rsync", *result));
  }
  outcome.files = stats.files;
  outcome.bytes = stats.bytes_total;
  return outcome;
}

}  // namespace snapkeep
