#include "backends/rsync/rsync_backend.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include <spdlog/spdlog.h>

#include "backends/rsync/hardlink_usage.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/config/units.hpp"
#include "core/store/preset_checks.hpp"
#include "core/transfer/rsync.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Interrupted work is moved aside as resume-N and offered to rsync as extra link bases.
constexpr std::string_view k_partial_name = "partial";
constexpr std::string_view k_resume_prefix = "resume-";
// rsync accepts at most 20 --link-dest folders: the newest snapshots, then interrupted work.
constexpr std::size_t k_link_snapshots = 3;
constexpr std::size_t k_max_resume_dirs = 20 - k_link_snapshots;

// Unlinks the files in `tree` whose inode cannot take the links the source still needs: more links
// than the filesystem allows per inode (LINK_MAX, 65000 on ext4) with those of the same file in
// `source`. The next rsync run without link bases copies them once more and links the rest of the
// group to the new copy. Returns how many files were unlinked.
Result<std::uint64_t> unlink_overlinked(const fs::path& source, const fs::path& tree) {
  const long link_max = ::pathconf(tree.c_str(), _PC_LINK_MAX);
  std::uint64_t unlinked = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(tree, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink < 2) {
      continue;
    }
    struct stat src {};
    const fs::path rel = it->path().lexically_relative(tree);
    const auto wanted = ::lstat((source / rel).c_str(), &src) == 0 ? src.st_nlink : 1;
    if (link_max > 0 && st.st_nlink + wanted > static_cast<unsigned long>(link_max)) {
      if (::unlink(it->path().c_str()) != 0) {
        return sys_error("cannot unlink a file with too many hard links", it->path());
      }
      ++unlinked;
    }
  }
  if (ec) {
    return sys_error("cannot walk", tree, ec.value());
  }
  return unlinked;
}

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
  bool made_snapshot(const fs::path& snapshot) const override {
    // A plain folder of the preset folder's own filesystem (a subvolume has a device of its own).
    struct stat st {};
    struct stat parent {};
    return ::lstat(snapshot.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
           ::stat(snapshot.parent_path().c_str(), &parent) == 0 && st.st_dev == parent.st_dev;
  }
  // The interrupted copy (partial) and the older ones moved aside as link bases (resume-N): a run
  // killed after moving partial aside leaves only resume-N.
  std::vector<InterruptedWork> interrupted_work(const fs::path& preset_dir) const override {
    std::vector<InterruptedWork> out;
    fs::path state_dir = preset_dir / k_state_dir_name;
    std::error_code ec;
    fs::path partial = state_dir / k_partial_name;
    if (fs::exists(fs::symlink_status(partial, ec))) {
      out.push_back({partial, "an interrupted backup; the next backup resumes it"});
    }
    for (const auto& [n, dir] : resume_dirs(state_dir)) {
      out.push_back({dir, "an earlier interrupted backup; the next backup links unchanged files from it"});
    }
    return out;
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
  // Link against several recent snapshots, newest first: a file missing from the newest one (a
  // snapshot of a half-mounted source, a file deleted and restored) is still found in an older one.
  for (auto it = job.snapshots.rbegin(); it != job.snapshots.rend() && transfer.link_dests.size() < k_link_snapshots;
       ++it) {
    transfer.link_dests.push_back(it->path);
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
  if (!stats && stats.error().err == EMLINK) {
    // Some content already has as many hard links as the filesystem allows (a file with many links
    // in the source, times the snapshots): copy it once more and link the rest to the new copy.
    SNAPKEEP_TRY_ASSIGN(std::uint64_t unlinked, unlink_overlinked(job.source, partial));
    spdlog::info("{}: {} files reached the filesystem's limit of hard links; copying them once more", preset.name,
                 unlinked);
    RsyncTransfer again = transfer;
    again.link_dests.clear();
    stats = run_rsync(preset, again, *job.progress);
    if (stats) {
      stats->warnings.push_back(std::to_string(unlinked) +
                                " files had as many hard links as the destination allows; their content was copied "
                                "once more and later links go to the new copy");
    }
  }
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
