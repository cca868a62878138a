#include "core/transfer/rsync.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/config/units.hpp"
#include "core/transfer/rsync_stats.hpp"
#include "core/transfer/rsync_status.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

std::string with_slash(const fs::path& p) {
  std::string s = p.string();
  if (s.empty() || s.back() != '/') {
    s += '/';
  }
  return s;
}

}  // namespace

std::vector<std::string> rsync_argv(const Preset& preset, const RsyncTransfer& transfer, bool show_progress) {
  std::vector<std::string> argv{"rsync", "-aHAX", "--numeric-ids"};
  if (transfer.mirror) {
    argv.emplace_back("--delete");
  }
  argv.emplace_back("--stats");
  argv.emplace_back("--no-human-readable");
  // --sparse with --inplace punches partial blocks at rsync's chunk edges, rewriting (unsharing)
  // blocks of unchanged data: only for fresh copies.
  if (!transfer.in_place || transfer.fresh_target) {
    argv.emplace_back("--sparse");
  }
  if (transfer.exact_mtimes) {
    argv.emplace_back("--modify-window=-1");
  }
  if (show_progress) {
    argv.emplace_back("--info=progress2");
  }
  if (transfer.dry_run) {
    argv.emplace_back("--dry-run");
  }
  if (transfer.in_place) {
    argv.emplace_back("--inplace");
    argv.emplace_back("--no-whole-file");
  }
  // Which xattrs: with -X, rsync as root also reads XFS's own trusted.SGI_ACL_* (the ACLs -A copies
  // already), and links or copies by them wrongly. Any x-rule replaces rsync's default name filter,
  // so the default is restated: never system.* (ACLs travel by -A), and only user.* for others.
  argv.emplace_back("--filter=-x system.*");
  argv.emplace_back("--filter=-x trusted.SGI_*");
  argv.emplace_back("--filter=-x xfsroot.*");
  if (::geteuid() != 0) {
    argv.emplace_back("--filter=-x! user.*");
  }
  if (transfer.mirror) {
    // The source's top-level lost+found holds fsck's orphans, not the user's files (the old script
    // excluded it too); anchored, so a lost+found deeper in the tree is copied.
    argv.emplace_back("--exclude=/lost+found");
    if (preset.one_file_system) {
      argv.emplace_back("--one-file-system");
    }
    for (const auto& pattern : preset.exclude) {
      argv.push_back("--exclude=" + pattern);
    }
    if (preset.exclude_from) {
      argv.push_back("--exclude-from=" + preset.exclude_from->string());
    }
  }
  if (transfer.files_from) {
    argv.push_back("--files-from=" + transfer.files_from->string());
    argv.emplace_back("--from0");
  }
  for (const auto& dir : transfer.link_dests) {
    argv.push_back("--link-dest=" + dir.string());
  }
  argv.emplace_back("--");
  argv.push_back(transfer.contents ? with_slash(transfer.source) : transfer.source.string());
  argv.push_back(with_slash(transfer.target));
  return argv;
}

Result<BackupStats> run_rsync(const Preset& preset, const RsyncTransfer& transfer, Progress& progress) {
  if (transfer.mirror && !preset.exclude_if_present.empty()) {
    return runtime_error(preset.name +
                         ": exclude_if_present needs the native engine; this backup copies with rsync "
                         "(a btrfs destination with a plain source folder), which has no such option");
  }
  RsyncStats stats;
  ProcessOptions options;
  options.on_stdout_line = [&](std::string_view line) {
    if (auto p = parse_rsync_progress_line(line)) {
      progress.update(format_bytes(p->bytes) + " copied, " + std::to_string(p->files_checked) + "/" +
                      std::to_string(p->files_total) + " files checked, " + std::to_string(p->files_transferred) +
                      " copied");
      return;
    }
    parse_rsync_stats_line(line, stats);
  };
  auto result = run_process(rsync_argv(preset, transfer, progress.enabled()), options);
  progress.finish();
  if (!result) {
    Error e = std::move(result).error();
    e.preset = preset.name;
    return e;
  }
  BackupStats out;
  out.files = stats.files;
  out.files_transferred = stats.files_transferred;
  out.bytes_total = stats.bytes_total;
  out.bytes_transferred = stats.bytes_transferred;
  std::string meaning = result->term_signal == 0 ? rsync_exit_meaning(result->exit_code) : "";
  RsyncOutcome outcome = classify_rsync_exit(*result, preset.allow_partial);
  if (transfer.strict && !result->succeeded()) {
    outcome = RsyncOutcome::failed;
  }
  switch (outcome) {
    case RsyncOutcome::ok: break;
    case RsyncOutcome::ok_vanished:
      out.warnings.push_back("some source files vanished while rsync ran; they are not in this snapshot");
      break;
    case RsyncOutcome::ok_partial:
      out.warnings.push_back("rsync could not copy some files (allow_partial = yes keeps the snapshot): " +
                             describe_failure("rsync", *result, meaning));
      break;
    case RsyncOutcome::failed: {
      Error e =
          runtime_error(transfer.operation + " failed: " + describe_failure("rsync", *result, meaning)).in(preset.name);
      e.full = reports_full_filesystem(result->stderr_tail);
      // A hard link the destination could not make (ext4 allows 65000 per inode): the caller can
      // copy that content once more (backends/rsync/rsync_backend.cpp). rsync reports it as a partial
      // transfer (23), or, when a link of its own -H group fails, aborts with a protocol error (2).
      if (!e.full && result->term_signal == 0 && (result->exit_code == 23 || result->exit_code == 2) &&
          result->stderr_tail.find(std::strerror(EMLINK)) != std::string::npos) {
        e.err = EMLINK;
      }
      return e;
    }
  }
  return out;
}

}  // namespace snapkeep
