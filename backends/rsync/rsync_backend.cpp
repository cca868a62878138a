#include "backends/rsync/rsync_backend.hpp"

#include <algorithm>
#include <string>

#include <spdlog/spdlog.h>

#include "backends/rsync/hardlink_usage.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/config/units.hpp"
#include "core/store/damage.hpp"
#include "core/store/preset_checks.hpp"
#include "core/transfer/damaged_links.hpp"
#include "core/transfer/rsync.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Interrupted work is moved aside as resume-N and offered to rsync as extra link bases.
constexpr std::string_view k_partial_name = "partial";
constexpr std::string_view k_resume_prefix = "resume-";
// rsync accepts at most 20 --link-dest folders; keep one for the previous snapshot.
constexpr std::size_t k_max_resume_dirs = 19;

// resume-N folders under state_dir, newest (highest N) first.
std::vector<std::pair<unsigned long, fs::path>> resume_dirs(const fs::path& state_dir) {
  std::vector<std::pair<unsigned long, fs::path>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(k_resume_prefix, 0) != 0 || !entry.is_directory(ec) || entry.is_symlink(ec)) {
      continue;
    }
    try {
      out.emplace_back(std::stoul(name.substr(k_resume_prefix.size())), entry.path());
    } catch (const std::exception&) {
      continue;
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

class RsyncBackend final : public Backend {
 public:
  std::string_view name() const override { return "rsync"; }
  BackendCapabilities capabilities() const override { return {}; }
  Status check_preset(const Preset& preset) const override { return check_tool(preset, "rsync"); }
  std::vector<InterruptedWork> interrupted_work(const fs::path& preset_dir) const override {
    std::error_code ec;
    fs::path partial = preset_dir / k_state_dir_name / k_partial_name;
    if (fs::exists(fs::symlink_status(partial, ec))) {
      return {{partial, "an interrupted backup; the next backup resumes it"}};
    }
    return {};
  }
  Result<BackupStats> create_snapshot(const BackupJob& job) override;
  Status delete_snapshot(const fs::path& snapshot, Progress& progress) override {
    return remove_tree(snapshot, [&](std::uint64_t removed) {
      progress.update("deleting " + snapshot.filename().string() + ": " + std::to_string(removed) + " entries");
    });
  }
  Result<UsageReport> usage(const std::vector<SnapshotInfo>& snapshots,
                            const std::vector<std::size_t>& deletion_order) override {
    return hardlink_tree_usage(snapshots, deletion_order);
  }
};

Result<BackupStats> RsyncBackend::create_snapshot(const BackupJob& job) {
  const Preset& preset = *job.preset;
  RsyncTransfer transfer;
  transfer.source = job.source;
  transfer.exact_mtimes = keeps_nanosecond_mtimes(job.state_dir);
  if (job.dry_run) {
    // rsync -n against the newest snapshot itself lists exactly what a backup would copy.
    transfer.dry_run = true;
    transfer.target = job.snapshots.empty() ? job.state_dir / "dry-run" : job.snapshots.back().path;
    return run_rsync(preset, transfer, *job.progress);
  }
  // Known damage never spreads: no link base that scrub recorded damaged as a whole, and links to
  // damaged files are replaced by fresh copies once rsync is done (core/transfer/damaged_links).
  SNAPKEEP_TRY_ASSIGN(DamageRecord damage, read_damage_record(job.state_dir));
  const DamagedContent damaged = damaged_content(damage, job.snapshots);
  std::vector<std::string> warnings;
  if (!job.snapshots.empty() && damaged.newest_whole) {
    warnings.push_back("copied everything afresh: scrub recorded the snapshot " + job.snapshots.back().id +
                       " damaged as a whole, so it is no link base");
  } else if (!job.snapshots.empty()) {
    transfer.link_dests.push_back(job.snapshots.back().path);
  }

  // Interrupted work from a killed run is kept as a link base, never as a snapshot.
  fs::path partial = job.state_dir / k_partial_name;
  auto resumes = resume_dirs(job.state_dir);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(partial, ec))) {
    unsigned long next = resumes.empty() ? 1 : resumes.front().first + 1;
    fs::path resume = job.state_dir / (std::string(k_resume_prefix) + std::to_string(next));
    spdlog::info("{}: resuming the interrupted backup left in {}", preset.name, partial.string());
    SNAPKEEP_TRY(rename_path(partial, resume));
    resumes.insert(resumes.begin(), {next, resume});
  }
  while (resumes.size() > k_max_resume_dirs) {
    SNAPKEEP_TRY(remove_tree(resumes.back().second));
    resumes.pop_back();
  }
  for (const auto& [n, dir] : resumes) {
    transfer.link_dests.push_back(dir);
  }
  SNAPKEEP_TRY(make_dir(partial, 0700));
  transfer.target = partial;

  auto stats = run_rsync(preset, transfer, *job.progress);
  if (!stats) {
    Error e = std::move(stats).error();
    // A full destination: the interrupted work would only hold the space the next run needs.
    if (e.full_filesystem()) {
      Status removed = remove_tree(partial);
      for (const auto& [n, dir] : resumes) {
        if (removed) {
          removed = remove_tree(dir);
        }
      }
      if (!removed) {
        e.message += "\n(removing the unfinished copy failed too: " + removed.error().describe() + ")";
      } else {
        e.message += "\n(the unfinished copy was removed)";
      }
    }
    return e;
  }
  SNAPKEEP_TRY_ASSIGN(auto recopied,
                      recopy_damaged_links(preset, job.source, partial, job.state_dir, damaged, *job.progress));
  if (!recopied.empty()) {
    warnings.push_back("copied " + std::to_string(recopied.size()) +
                       " files afresh from the source instead of linking them to content scrub recorded damaged: " +
                       describe_paths(recopied));
  }
  stats->warnings.insert(stats->warnings.end(), warnings.begin(), warnings.end());
  // Data first, then the name: a snapshot id never names data that a power loss could take back.
  SNAPKEEP_TRY(sync_filesystem(partial));
  SNAPKEEP_TRY(rename_path(partial, job.preset_dir / job.id));
  SNAPKEEP_TRY(fsync_dir(job.preset_dir));
  for (const auto& [n, dir] : resumes) {
    if (auto removed = remove_tree(dir); !removed) {
      stats->warnings.push_back("cannot remove old interrupted work: " + removed.error().describe());
    }
  }
  return stats;
}

}  // namespace

std::unique_ptr<Backend> make_rsync_backend() {
  return std::make_unique<RsyncBackend>();
}

}  // namespace snapkeep
