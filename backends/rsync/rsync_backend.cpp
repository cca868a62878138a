#include "backends/rsync/rsync_backend.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>

#include <spdlog/spdlog.h>

#include "backends/rsync/hardlink_usage.hpp"
#include "backends/rsync/native_manifest.hpp"
#include "backends/rsync/work_dirs.hpp"
#include "core/base/format.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/config/units.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/store/damage.hpp"
#include "core/store/preset_checks.hpp"
#include "core/transfer/damaged_links.hpp"
#include "core/transfer/native/engine.hpp"
#include "core/transfer/rsync.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// rsync accepts at most 20 --link-dest folders: the newest snapshots, then interrupted work.
constexpr std::size_t k_link_snapshots = 3;
constexpr std::size_t k_max_resume_dirs = 20 - k_link_snapshots;
// The native engine links against the newest snapshots and the work of the newest killed runs.
constexpr std::size_t k_native_snapshot_bases = 3;
constexpr std::size_t k_native_resume_dirs = 2;

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

// Whether `snapshot` lies on the device of the preset's state folder, so its files can be linked
// into a new snapshot: not a btrfs subvolume left by a backend switch (hard links across it fail
// with EXDEV).
bool linkable(const fs::path& snapshot, const fs::path& state_dir) {
  struct stat a {};
  struct stat b {};
  return ::stat(snapshot.c_str(), &a) == 0 && ::stat(state_dir.c_str(), &b) == 0 && a.st_dev == b.st_dev;
}

// A full destination: the interrupted work would only hold the space the next run needs.
Error full_destination(const Preset& /*preset*/, Error e, const fs::path& partial,
                       const std::vector<fs::path>& resumes) {
  Status removed = remove_work(partial);
  for (const auto& dir : resumes) {
    if (removed) {
      removed = remove_work(dir);
    }
  }
  if (!removed) {
    e.message += "\n(removing the unfinished copy failed too: " + removed.error().describe() + ")";
  } else {
    e.message += "\n(the unfinished copy was removed)";
  }
  return e;
}

// Data first, then the name: a snapshot id never names data that a power loss could take back.
Status put_in_place(const BackupJob& job, const fs::path& partial, const std::vector<fs::path>& resumes,
                    BackupStats& stats) {
  SNAPKEEP_TRY(rename_path(partial, job.preset_dir / job.id));
  SNAPKEEP_TRY(fsync_dir(job.preset_dir));
  for (const auto& dir : resumes) {
    if (auto removed = remove_work(dir); !removed) {
      stats.warnings.push_back("cannot remove old interrupted work: " + removed.error().describe());
    }
  }
  return {};
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
      out.push_back({partial, "an interrupted backup; the next backup resumes it", ""});
    }
    for (const auto& [n, dir] : resume_dirs(state_dir)) {
      out.push_back({dir, "an earlier interrupted backup; the next backup links unchanged files from it", ""});
    }
    return out;
  }
  Result<BackupStats> create_snapshot(const BackupJob& job) override {
    if (job.preset->remote_source && !job.preset->remote.served && job.preset->pull == PullMethod::btrfs_send) {
      return config_error("pull = btrfs-send needs a btrfs drive, but " + job.preset->destination.string() +
                          " is a hard-link destination (backend " + std::string(name()) +
                          "); use pull = rsync, or a btrfs drive")
          .in(job.preset->name);
    }
    if (job.preset->transfer != TransferEngine::native) {
      return create_with_rsync(job);
    }
    if (job.preset->remote_source && job.preset->remote.served) {
      return create_with_rsync(job);  // serve: the client's source arrives through rsync
    }
    if (job.preset->remote_source) {
      // The native engine walks local trees only; a source on another machine is pulled with rsync
      // (docs/remote.md).
      spdlog::info("{}: the source is on {}: this backup copies with rsync (the native engine is for local sources)",
                   job.preset->name, job.preset->remote_source->host);
      return create_with_rsync(job);
    }
    return create_native(job);
  }
  Status delete_snapshot(const fs::path& snapshot, Progress& progress) override {
    return remove_tree(snapshot, [&](std::uint64_t removed) {
      progress.update("deleting " + snapshot.filename().string() + ": " + std::to_string(removed) + " entries",
                      {removed, 0});
    });
  }
  Result<UsageReport> usage(const std::vector<SnapshotInfo>& snapshots,
                            const std::vector<std::size_t>& deletion_order) override {
    return hardlink_tree_usage(snapshots, deletion_order);
  }

 private:
  Result<BackupStats> create_with_rsync(const BackupJob& job);
  Result<BackupStats> create_native(const BackupJob& job);
};

Result<BackupStats> RsyncBackend::create_with_rsync(const BackupJob& job) {
  const Preset& preset = *job.preset;
  RsyncTransfer transfer;
  transfer.source = job.source;
  transfer.exact_mtimes = keeps_nanosecond_mtimes(job.state_dir);
  if (preset.remote_source) {
    transfer.remote_source = rsync_remote_end(preset, *preset.remote_source);
  }
  if (job.dry_run) {
    // rsync -n against the newest snapshot itself lists exactly what a backup would copy.
    transfer.dry_run = true;
    transfer.target = job.snapshots.empty() ? job.state_dir / "dry-run" : job.snapshots.back().path;
    return run_rsync(preset, transfer, *job.progress);
  }
  // Known damage never spreads: no link base that scrub recorded damaged as a whole, and links to
  // damaged files are replaced by fresh copies once rsync is done (core/transfer/damaged_links).
  SNAPKEEP_TRY_ASSIGN(DamageRecord damage, read_damage_record(job.state_dir));
  const LinkBaseDamage damaged = damaged_content(damage, job.snapshots);
  std::vector<std::string> warnings;
  // Link against several recent snapshots, newest first: a file missing from the newest one (a
  // snapshot of a half-mounted source, a file deleted and restored) is still found in an older one.
  for (auto it = job.snapshots.rbegin(); it != job.snapshots.rend() && transfer.link_dests.size() < k_link_snapshots;
       ++it) {
    if (damage.entries.count({it->id, ""}) != 0) {
      warnings.push_back("scrub recorded the snapshot " + it->id + " damaged as a whole, so it is no link base");
      continue;
    }
    if (!linkable(it->path, job.state_dir)) {
      continue;
    }
    transfer.link_dests.push_back(it->path);
  }
  // Interrupted work from a killed run is kept as a link base, never as a snapshot.
  fs::path partial = job.state_dir / k_partial_name;
  SNAPKEEP_TRY_ASSIGN(std::vector<fs::path> resumes,
                      take_interrupted_work(job.state_dir, preset.name, k_max_resume_dirs));
  for (const auto& dir : resumes) {
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
    return e.full_filesystem() ? full_destination(preset, std::move(e), partial, resumes) : e;
  }
  SNAPKEEP_TRY_ASSIGN(auto recopied,
                      recopy_damaged_links(preset, job.source, partial, job.state_dir, damaged, *job.progress));
  if (!recopied.empty()) {
    warnings.push_back("copied " + std::to_string(recopied.size()) +
                       " files afresh from the source instead of linking them to content scrub recorded damaged: " +
                       describe_paths(recopied));
  }
  stats->warnings.insert(stats->warnings.end(), warnings.begin(), warnings.end());
  SNAPKEEP_TRY(sync_filesystem(partial));
  SNAPKEEP_TRY(put_in_place(job, partial, resumes, *stats));
  return stats;
}

Result<BackupStats> RsyncBackend::create_native(const BackupJob& job) {
  const Preset& preset = *job.preset;
  NativeCopyJob copy;
  copy.preset = &preset;
  copy.source = job.source;
  copy.dry_run = job.dry_run;
  copy.progress = job.progress;
  fs::path partial = job.state_dir / k_partial_name;
  std::vector<fs::path> resumes;
  if (!job.dry_run) {
    SNAPKEEP_TRY_ASSIGN(resumes, take_interrupted_work(job.state_dir, preset.name, k_native_resume_dirs));
    for (const auto& dir : resumes) {
      copy.bases.push_back(LinkBase{dir, open_previous_manifest(journal_of(dir), true, preset.checksum), true});
    }
  }
  std::vector<std::string> ids{job.id};
  for (std::size_t i = 0; i < job.snapshots.size(); ++i) {
    const SnapshotInfo& snap = job.snapshots[job.snapshots.size() - 1 - i];
    ids.push_back(snap.id);
    if (i < k_native_snapshot_bases && linkable(snap.path, job.state_dir)) {
      copy.bases.push_back(
          LinkBase{snap.path, open_previous_manifest(manifest_path(job.state_dir, snap.id), false, preset.checksum)});
    }
  }
  std::unique_ptr<ManifestJournal> manifest;
  if (!job.dry_run) {
    SNAPKEEP_TRY(make_dir(partial, 0700));
    copy.target = partial;
    tidy_manifests(job.state_dir, ids);
    ManifestHeader header;
    header.checksum = preset.checksum;
    header.snapshot_id = job.id;
    header.origin = "backup";
    header.created_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    Status dir_made = make_dir(manifest_dir(job.state_dir), 0700);
    auto made = dir_made ? ManifestJournal::create(manifest_path(job.state_dir, job.id), journal_of(partial), header)
                         : Result<std::unique_ptr<ManifestJournal>>(std::move(dir_made).error());
    if (made) {
      manifest = std::move(*made);
      copy.manifest = manifest.get();
    } else {
      spdlog::warn("{}: the manifest cannot be started, the copy goes on without it: {}", preset.name,
                   made.error().describe());
    }
  }

  // Known damage never spreads: the engine copies afresh what scrub recorded damaged.
  SNAPKEEP_TRY_ASSIGN(DamageRecord damage, read_damage_record(job.state_dir));
  const LinkBaseDamage damaged = damaged_content(damage, job.snapshots);
  copy.avoid = &damaged.inodes;
  auto copied = run_native_copy(copy);
  if (!copied) {
    Error e = std::move(copied).error();
    e.message = "backup failed: " + e.message;
    e.preset = preset.name;
    if (e.full_filesystem()) {
      if (manifest) {
        manifest->abandon();
      }
      return full_destination(preset, std::move(e), partial, resumes);
    }
    if (manifest) {
      (void)manifest->checkpoint();  // what the journal holds spares the next run work
    }
    return e;
  }
  BackupStats stats;
  stats.files = copied->files;
  stats.files_transferred = copied->files_transferred;
  stats.bytes_total = copied->bytes_total;
  stats.bytes_transferred = copied->bytes_transferred;
  stats.warnings = std::move(copied->warnings);
  if (!copied->avoided_damage.empty()) {
    stats.warnings.push_back("copied " + std::to_string(copied->avoided_damage.size()) +
                             " files afresh from the source instead of linking them to content scrub recorded "
                             "damaged: " +
                             describe_paths(copied->avoided_damage));
  }
  spdlog::info("{}: {} files linked ({} found moved), {} copied ({})", preset.name, copied->files_linked,
               copied->files_moved, copied->files_transferred, format_bytes(copied->bytes_transferred));
  if (job.dry_run) {
    return stats;
  }
  SNAPKEEP_TRY(sync_filesystem(partial));
  if (manifest && !copied->manifest_error) {
    // The manifest first: a snapshot id never names a snapshot without its manifest.
    if (auto committed = manifest->commit(); committed) {
      stats.manifest_written = true;
      stats.manifest_ok = true;
      stats.bytes_hashed = manifest->hashes() ? copied->bytes_hashed + copied->bytes_transferred : 0;
    } else {
      spdlog::warn("{}: the manifest cannot be written: {}", preset.name, committed.error().describe());
    }
  } else if (manifest) {
    manifest->abandon();
  }
  SNAPKEEP_TRY(put_in_place(job, partial, resumes, stats));
  return stats;
}

}  // namespace

std::unique_ptr<Backend> make_rsync_backend() {
  return std::make_unique<RsyncBackend>();
}

}  // namespace snapkeep
