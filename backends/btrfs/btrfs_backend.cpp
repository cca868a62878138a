#include "backends/btrfs/btrfs_backend.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <future>
#include <optional>
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "backends/btrfs/extents.hpp"
#include "backends/btrfs/fs_scrub.hpp"
#include "backends/btrfs/parent_pins.hpp"
#include "backends/btrfs/remote_receive.hpp"
#include "backends/btrfs/send_stream.hpp"
#include "backends/btrfs/snapshot_remake.hpp"
#include "backends/btrfs/subvolume.hpp"
#include "core/base/fsprobe.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/process.hpp"
#include "core/base/progress.hpp"
#include "core/base/signals.hpp"
#include "core/config/units.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/integrity/manifest_patch.hpp"
#include "core/store/damage.hpp"
#include "core/store/preset_checks.hpp"
#include "core/store/snapshot_id.hpp"
#include "core/transfer/damaged_links.hpp"
#include "core/transfer/native/mirror.hpp"
#include "core/transfer/rsync.hpp"
#include "core/transfer/sparse.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Counts entries and bytes of a tree, for the backup's report.
void count_tree(const fs::path& root, BackupStats& stats) {
  const TreeCount count = snapkeep::count_tree(root);
  stats.files = count.entries;
  stats.bytes_total = count.bytes;
}

// Beyond this much stream the new snapshot takes its id before its manifest is written: hashing
// what changed (read back from the page cache) must not keep a large backup from being complete.
inline constexpr std::uint64_t k_manifest_ahead_max_bytes = 64ULL << 20;

// The manifest of an incremental send, patched from the parent's: the half that needs only the
// stream (and the small changed files' hashes, read from the source snapshot) is prepared on a
// thread of its own as soon as the stream is whole, while btrfs receive still writes the snapshot;
// the rest is written before the snapshot is synced, so that one syncfs
// makes both durable, and the manifest takes its name just before the snapshot takes its own
// (docs/btrfs.md). When any of it fails, the manifest step after the backup writes the manifest as
// ever.
class ManifestAhead {
 public:
  // `source`: the read-only source snapshot being sent.
  ManifestAhead(const BackupJob& job, std::string parent_id, fs::path source)
      : m_job(job), m_parent_id(std::move(parent_id)), m_source(std::move(source)) {}
  ManifestAhead(const ManifestAhead&) = delete;
  ManifestAhead& operator=(const ManifestAhead&) = delete;

  // After each piece of the stream (`bytes` so far): starts the preparation once the stream is
  // whole, unless it is so large that the manifest is patched after the backup anyway.
  void stream_fed(const btrfs::SendStreamChanges& stream, std::uint64_t bytes) {
    if (m_prepared.valid() || !stream.usable() || bytes > k_manifest_ahead_max_bytes) {
      return;
    }
    auto changes = stream.changes(m_parent_id);
    if (!changes) {
      return;
    }
    auto prepare = [base = manifest_path(m_job.state_dir, m_parent_id), changes = std::move(*changes),
                    checksum = m_job.preset->checksum, source = m_source,
                    name = m_job.preset->name]() mutable -> Result<PreparedPatch> {
      try {
        auto prepared = PreparedPatch::prepare(base, std::move(changes), checksum);
        if (prepared) {
          if (auto hashed = prepared->hash_ahead(source); !hashed) {
            spdlog::debug("{}: changed files not hashed ahead: {}", name, hashed.error().describe());
          }
          const auto [files, read] = prepared->hashed_ahead();
          spdlog::debug("{}: {} changed files hashed ahead ({})", name, files, format_bytes(read));
        }
        return prepared;
      } catch (const std::exception& e) {
        return runtime_error(std::string("cannot prepare the manifest patch: ") + e.what());
      }
    };
    try {
      m_prepared = std::async(std::launch::async, std::move(prepare));
    } catch (const std::system_error& e) {
      spdlog::debug("{}: no thread to prepare the manifest patch on: {}", m_job.preset->name, e.what());
    }
  }

  // Writes the manifest of `received` (the new snapshot, not yet under its id) from `changes`, the
  // changes the stream made to the parent (the ones stream_fed prepared from: the same whole stream). Not yet durable
  // nor in place: commit() after the sync. Fails when the manifest step after the backup must write it.
  Status write(const fs::path& received, const TreeChanges& changes) {
    // No thread could be started: prepare now.
    Result<PreparedPatch> prepared =
        m_prepared.valid()
            ? m_prepared.get()
            : PreparedPatch::prepare(manifest_path(m_job.state_dir, m_parent_id), changes, m_job.preset->checksum);
    if (!prepared) {
      return std::move(prepared).error();
    }
    // The parent is a verified copy in the preset folder, listed or not (a receive a killed run
    // left, completed by reconcile_leftovers after the list was made).
    std::vector<std::string> ids{m_job.id, changes.base};
    for (const auto& s : m_job.snapshots) {
      ids.push_back(s.id);
    }
    SNAPKEEP_TRY(ready_manifest_dir(m_job.state_dir, ids));
    const ManifestBuildOptions options =
        backup_manifest_options(*m_job.preset, m_job.state_dir, ContentSharing::extent_lineage);
    SNAPKEEP_TRY_ASSIGN(PreparedPatch::Written written,
                        prepared->write(received, m_job.id, manifest_path(m_job.state_dir, m_job.id), options));
    m_written.emplace(std::move(written));
    return {};
  }

  // After the sync: puts the written manifest in place and notes it in `stats` (whose changes are
  // the ones written from). False when none was written or it cannot be put in place (logged).
  bool commit(BackupStats& stats) {
    if (!m_written) {
      return false;
    }
    if (auto committed = m_written->commit(ManifestWriter::Durability::synced_by_caller); !committed) {
      spdlog::warn("{}: the manifest cannot be put in place, it is written again after the backup: {}",
                   m_job.preset->name, committed.error().describe());
      return false;
    }
    stats.manifest_written = true;
    note_backup_manifest(*m_job.preset, m_job.id, m_written->stats, true, stats);
    return true;
  }

  // The snapshot did not take its id after all: its manifest goes too.
  void withdraw() {
    if (m_written) {
      std::error_code ec;
      fs::remove(manifest_path(m_job.state_dir, m_job.id), ec);
    }
  }

  // Waits for the preparation, if one started: the source snapshot it reads is about to be deleted.
  void settle() {
    if (m_prepared.valid()) {
      m_prepared.wait();
    }
  }

 private:
  const BackupJob& m_job;
  std::string m_parent_id;
  fs::path m_source;
  std::future<Result<PreparedPatch>> m_prepared;
  std::optional<PreparedPatch::Written> m_written;
};

class BtrfsBackend final : public Backend {
 public:
  std::string_view name() const override { return "btrfs"; }
  BackendCapabilities capabilities() const override {
    return {.snapshots_source = true, .content_sharing = ContentSharing::extent_lineage};
  }
  Status check_preset(const Preset& preset) const override {
    auto type = filesystem_type(preset.destination);
    if (type && *type != "btrfs") {
      return runtime_error("backend = btrfs but the destination " + preset.destination.string() + " is on " + *type +
                           " (use backend = rsync or auto)")
          .in(preset.name);
    }
    SNAPKEEP_TRY(check_tool(preset, "rsync"));
    SNAPKEEP_TRY(check_tool(preset, "btrfs"));
    if (preset.remote_source && !preset.remote.served && preset.pull == PullMethod::btrfs_send) {
      return probe_source(preset);  // the source host would send it
    }
    return {};
  }
  bool made_snapshot(const fs::path& snapshot) const override {
    // A subvolume; one made writable by hand is still one of ours (it is just never a parent).
    auto subvolume = btrfs::is_subvolume(snapshot);
    return subvolume && *subvolume;
  }
  std::vector<InterruptedWork> interrupted_work(const fs::path& preset_dir) const override {
    std::vector<InterruptedWork> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(preset_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(k_incoming_prefix, 0) == 0) {
        out.push_back({entry.path(), "an unfinished receive; the next backup completes or removes it",
                       name.substr(k_incoming_prefix.size())});
      } else if (name.rfind(k_remake_prefix, 0) == 0) {
        out.push_back({entry.path(), "an unfinished repair copy (scrub --repair); the next backup removes it", ""});
      }
    }
    return out;
  }
  const FilesystemScrub* filesystem_scrub() const override { return &btrfs_filesystem_scrub(); }
  // The source snapshots (the parents of future incremental sends) move with the preset's name.
  Status rename_preset_state(const Preset& renamed, const std::string& old_name) const override {
    Preset old = renamed;
    old.name = old_name;
    const fs::path from = source_snapshot_root(old);
    const fs::path to = source_snapshot_root(renamed);
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(from, ec)) || fs::exists(fs::symlink_status(to, ec))) {
      return {};
    }
    return rename_path(from, to);
  }
  const SnapshotRemaker* snapshot_remaker() const override { return &btrfs_snapshot_remaker(); }
  Result<BackupStats> create_snapshot(const BackupJob& job) override;
  Status delete_snapshot(const fs::path& snapshot, Progress& /*progress*/) override {
    return btrfs::delete_subvolume(snapshot);  // one ioctl; the filesystem frees the space in the background
  }
  Result<UsageReport> usage(const std::vector<SnapshotInfo>& snapshots,
                            const std::vector<std::size_t>& deletion_order) override;

 private:
  Result<BackupStats> send_receive(const BackupJob& job);
  Result<BackupStats> sync_and_snapshot(const BackupJob& job);
};

// A verified receive a killed run left, `received` (.incoming-<id>), about to take its id without
// its manifest (the run was killed before the manifest took its name): the manifest is written
// now, by a walk, as a full send's is, so that the snapshot does not wait for `scrub --init` and
// the new snapshot's manifest can be patched from it. It takes its name before the snapshot takes
// its id, as ever. `leftovers`: the ids of every receive left, whose manifests stay. Fails only on a
// stop signal (the receive is then still a leftover); any other failure is a warning.
Status write_completed_manifest(const BackupJob& job, const fs::path& received, const std::string& id,
                                const std::vector<std::string>& leftovers) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(manifest_path(job.state_dir, id), ec))) {
    return {};  // killed after the manifest took its name
  }
  std::vector<std::string> ids = leftovers;
  for (const auto& s : job.snapshots) {
    ids.push_back(s.id);
  }
  // The newest snapshot before it: the hashes of the files the two share need no read.
  auto previous =
      std::find_if(job.snapshots.rbegin(), job.snapshots.rend(), [&](const SnapshotInfo& s) { return s.id < id; });
  ManifestBuildOptions options = backup_manifest_options(*job.preset, job.state_dir, ContentSharing::extent_lineage,
                                                         previous == job.snapshots.rend() ? nullptr : &*previous);
  Progress progress(job.preset->name);
  options.progress = &progress;
  Status ready = ready_manifest_dir(job.state_dir, ids);
  Result<ManifestBuildStats> built = ready ? build_manifest(received, id, manifest_path(job.state_dir, id), options)
                                           : Result<ManifestBuildStats>(std::move(ready).error());
  progress.finish();
  if (stop_signal() != 0) {
    return runtime_error("interrupted by signal " + std::to_string(stop_signal()) + " while writing the manifest of " +
                         id)
        .in(job.preset->name);
  }
  if (!built) {
    spdlog::warn(
        "{}: the manifest of the completed snapshot {} was not written (`snapkeep scrub --init {}` makes it): {}",
        job.preset->name, id, job.preset->name, built.error().describe());
    return {};
  }
  spdlog::info("{}: manifest of {}: {} entries, {} hashed in {} files", job.preset->name, id, built->entries,
               format_bytes(built->bytes_hashed), built->files_hashed);
  return {};
}

// Settles what a killed run left: a verified receive is renamed into place, anything else deleted.
Status reconcile_leftovers(const BackupJob& job, const fs::path& source_root) {
  std::error_code ec;
  std::vector<fs::path> leftovers;
  for (const auto& entry : fs::directory_iterator(job.preset_dir, ec)) {
    if (entry.path().filename().string().rfind(k_incoming_prefix, 0) == 0) {
      leftovers.push_back(entry.path());
    }
  }
  std::vector<std::string> leftover_ids;
  for (const auto& dest : leftovers) {
    leftover_ids.push_back(dest.filename().string().substr(k_incoming_prefix.size()));
  }
  for (const auto& dest : leftovers) {
    std::string id = dest.filename().string().substr(k_incoming_prefix.size());
    fs::path source = source_root / dest.filename();
    auto source_info = btrfs::subvolume_info(source);
    if (source_info && btrfs::is_verified_copy(dest, source_info->uuid) && parse_snapshot_id(id) &&
        !fs::exists(job.preset_dir / id, ec)) {
      spdlog::info("{}: completing the verified receive {} left by an interrupted run", job.preset->name, id);
      SNAPKEEP_TRY(write_completed_manifest(job, dest, id, leftover_ids));
      SNAPKEEP_TRY(rename_path(dest, job.preset_dir / id));
      SNAPKEEP_TRY(fsync_dir(job.preset_dir));
      continue;
    }
    spdlog::info("{}: removing the unfinished receive {}", job.preset->name, dest.string());
    SNAPKEEP_TRY(btrfs::delete_subvolume(dest));
  }
  // Source snapshots still under their dot-name: keep the ones whose copy made it, drop the rest.
  // What an interrupted scrub --repair left (its copies under .remake-) goes at both ends.
  for (const auto& dir : {job.preset_dir, source_root}) {
    std::vector<fs::path> remakes;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().filename().string().rfind(k_remake_prefix, 0) == 0) {
        remakes.push_back(entry.path());
      }
    }
    for (const auto& path : remakes) {
      spdlog::info("{}: removing {}, left by an interrupted scrub --repair", job.preset->name, path.string());
      SNAPKEEP_TRY(btrfs::delete_subvolume(path));
    }
  }
  for (const auto& entry : fs::directory_iterator(source_root, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(k_incoming_prefix, 0) != 0) {
      continue;
    }
    std::string id = name.substr(k_incoming_prefix.size());
    auto info = btrfs::subvolume_info(entry.path());
    if (info && parse_snapshot_id(id) && btrfs::is_verified_copy(job.preset_dir / id, info->uuid)) {
      if (fs::exists(fs::symlink_status(source_root / id, ec))) {
        SNAPKEEP_TRY(btrfs::delete_subvolume(source_root / id));  // stale: its copy is gone
      }
      SNAPKEEP_TRY(rename_path(entry.path(), source_root / id));
    } else {
      SNAPKEEP_TRY(btrfs::delete_subvolume(entry.path()));
    }
  }
  return {};
}

Result<BackupStats> BtrfsBackend::create_snapshot(const BackupJob& job) {
  auto type = filesystem_type(job.preset_dir.empty() ? job.preset->destination : job.preset_dir);
  if (type && *type != "btrfs") {
    return runtime_error("backend = btrfs but the destination " + job.preset->destination.string() + " is on " + *type +
                         " (use backend = rsync or auto)")
        .in(job.preset->name);
  }
  if (job.preset->remote_source && job.preset->remote.served && job.preset->remote.served_subvolume) {
    return receive_from_client(job);  // the client's btrfs send, through serve's relay
  }
  if (job.preset->remote_source && !job.preset->remote.served && job.preset->pull == PullMethod::btrfs_send) {
    return pull_from_source(job);
  }
  if (job.preset->remote_source) {
    // A source on another machine (a pull, or a push's source behind snapkeep serve) is synced
    // with rsync over ssh into the working subvolume, like a plain local folder (docs/remote.md).
    if (!job.preset->remote.served) {
      spdlog::info("{}: the source is on {}: rsync copies the changes into the btrfs working copy", job.preset->name,
                   job.preset->remote_source->host);
    }
    return sync_and_snapshot(job);
  }
  SNAPKEEP_TRY_ASSIGN(auto subvolume, btrfs::is_subvolume(job.source));
  return subvolume ? send_receive(job) : sync_and_snapshot(job);
}

// Case 1: the source is a subvolume. Snapshot it read-only, send (incrementally from the newest
// verified pair) into the destination, verify, then give both their id names.
Result<BackupStats> BtrfsBackend::send_receive(const BackupJob& job) {
  const Preset& preset = *job.preset;
  fs::path source_root = source_snapshot_root(preset);
  warn_about_nested_subvolumes(preset, source_root);
  if (!preset.exclude.empty() || preset.exclude_from || preset.one_file_system) {
    spdlog::warn(
        "{}: exclude, exclude_from and one_file_system do not apply to a btrfs subvolume source: the "
        "whole subvolume is sent (use backend = rsync to filter)",
        preset.name);
  }
  if (job.dry_run) {
    BackupStats stats;
    count_tree(job.source, stats);
    return stats;
  }
  SNAPKEEP_TRY(make_snapshot_container(source_root.parent_path()));
  SNAPKEEP_TRY(make_dir(source_root, 0700));
  SNAPKEEP_TRY(reconcile_leftovers(job, source_root));

  std::vector<std::string> warnings;
  const std::string drive = btrfs_backup_drive(job);
  // Source snapshots other drives keep as their parents (rotating drives); unknown: delete none.
  const auto pinned = pinned_source_uuids(preset, drive, std::time(nullptr), warnings);
  auto is_pinned = [&](const SourceSnapshot& s) { return !pinned || pinned->count(btrfs::uuid_text(s.info.uuid)) > 0; };

  // Parent: the newest source snapshot whose verified copy is still at the destination.
  auto sources = list_source_snapshots(source_root);
  const SourceSnapshot* parent = nullptr;
  for (auto it = sources.rbegin(); it != sources.rend(); ++it) {
    if (btrfs::is_verified_copy(job.preset_dir / it->id, it->info.uuid)) {
      parent = &*it;
      break;
    }
  }
  // Known damage never spreads: an incremental receive shares every unchanged extent of its parent.
  SNAPKEEP_TRY_ASSIGN(DamageRecord damage, read_damage_record(job.state_dir));
  if (parent != nullptr && damage.snapshot_damaged(parent->id)) {
    warnings.push_back("full send instead of an incremental one: scrub recorded damage in the parent snapshot " +
                       parent->id + " (" + describe_damage(damage, parent->id) +
                       "), and the new snapshot would share its damaged data");
    parent = nullptr;
  }

  // A source snapshot under the new id has lost its copy (deleted at the destination): stale.
  std::error_code ec;
  if (fs::exists(fs::symlink_status(source_root / job.id, ec))) {
    auto stale = std::find_if(sources.begin(), sources.end(), [&](const SourceSnapshot& s) { return s.id == job.id; });
    if (stale != sources.end() && is_pinned(*stale)) {
      return runtime_error("the source snapshot " + (source_root / job.id).string() +
                           " has the new snapshot's id and is still the parent another drive needs; run the backup "
                           "again in a second")
          .in(preset.name);
    }
    SNAPKEEP_TRY(btrfs::delete_subvolume(source_root / job.id));
  }
  fs::path new_source = source_root / incoming_name(job.id);
  fs::path new_dest = job.preset_dir / incoming_name(job.id);
  SNAPKEEP_TRY(btrfs::snapshot(job.source, new_source, true));
  auto cleanup = [&] {
    if (fs::exists(new_dest, ec)) {
      (void)btrfs::delete_subvolume(new_dest);
    }
    (void)btrfs::delete_subvolume(new_source);
  };

  std::vector<std::string> send{"btrfs", "send", "-q"};
  if (parent != nullptr) {
    send.emplace_back("-p");
    send.push_back(parent->path.string());
    spdlog::info("{}: incremental send from parent {}", preset.name, parent->id);
  } else {
    spdlog::info("{}: full send (no verified snapshot pair yet)", preset.name);
  }
  send.emplace_back("--");
  send.push_back(new_source.string());
  std::vector<std::string> receive{"btrfs", "receive", "--", job.preset_dir.string()};
  // An incremental stream names every path it changes: the manifest is then patched from the
  // parent's instead of walking the new snapshot (docs/btrfs.md).
  std::optional<btrfs::SendStreamChanges> stream;
  // The manifest patch reads the parent's manifest once the stream is in: read it meanwhile, so the
  // patch finds it in the page cache instead of waiting for the drive.
  std::optional<BackgroundRead> parent_manifest;
  std::optional<ManifestAhead> manifest;
  if (parent != nullptr) {
    stream.emplace();
    // A delta is small: the whole manifest it amends is what the patch reads.
    fs::path warm = manifest_path(job.state_dir, parent->id);
    if (auto base = manifest_base_of(warm); base && *base) {
      warm = manifest_path(job.state_dir, (*base)->id);
    }
    parent_manifest.emplace(warm);
    manifest.emplace(job, parent->id, new_source);
  }
  auto piped = run_pipeline(
      send, receive,
      [&](std::uint64_t bytes) {
        job.progress->update(format_bytes(bytes) + " sent", {0, bytes});
      },
      [&, streamed = std::uint64_t{0}](std::string_view bytes) mutable {
        if (stream) {
          streamed += bytes.size();
          stream->feed(bytes);
          manifest->stream_fed(*stream, streamed);
        }
      });
  job.progress->finish();
  if (!piped || !piped->succeeded()) {
    if (manifest) {
      manifest->settle();
    }
    cleanup();
    if (!piped) {
      return std::move(piped).error();
    }
    std::string why;
    if (!piped->first.succeeded()) {
      why += describe_failure("btrfs send", piped->first);
    }
    if (!piped->second.succeeded()) {
      why += (why.empty() ? "" : "; ") + describe_failure("btrfs receive", piped->second);
    }
    Error e = runtime_error("backup failed: " + why).in(preset.name);
    e.full = reports_full_filesystem(piped->second.stderr_tail) || reports_full_filesystem(piped->first.stderr_tail);
    return e;
  }
  auto source_info = btrfs::subvolume_info(new_source);
  if (!source_info || !btrfs::is_verified_copy(new_dest, source_info->uuid)) {
    if (manifest) {
      manifest->settle();
    }
    cleanup();
    return runtime_error("btrfs receive finished but " + new_dest.string() + " is not a read-only copy of " +
                         new_source.string() + "; nothing was kept")
        .in(preset.name);
  }
  BackupStats stats;
  stats.bytes_transferred = piped->bytes;
  stats.counts_from_manifest = true;
  stats.changes = changes_from_parent(preset, stream, new_dest, parent != nullptr ? parent->id : "");
  if (stats.changes && piped->bytes > k_manifest_ahead_max_bytes) {
    spdlog::info("{}: the stream carried {}: the manifest is patched once the snapshot has its id", preset.name,
                 format_bytes(piped->bytes));
  } else if (stats.changes) {
    // The manifest goes to the drive with the snapshot, in the same sync.
    if (auto written = manifest->write(new_dest, *stats.changes); !written && stop_signal() == 0) {
      spdlog::info("{}: writing the manifest of {} in full: {}", preset.name, job.id, written.error().describe());
      stats.changes.reset();
    }
  }
  if (manifest) {
    manifest->settle();  // a preparation nothing wrote from: done before the source snapshot moves
  }
  SNAPKEEP_TRY(sync_filesystem(new_dest));
  // The manifest first: a snapshot id never names a snapshot without its manifest.
  if (manifest) {
    manifest->commit(stats);
  }
  if (auto renamed = rename_path(new_dest, job.preset_dir / job.id); !renamed) {
    if (manifest) {
      manifest->withdraw();
    }
    return std::move(renamed).error();
  }
  SNAPKEEP_TRY(fsync_dir(job.preset_dir));
  SNAPKEEP_TRY(rename_path(new_source, source_root / job.id));
  record_parent_pair(preset, drive, job.id, btrfs::uuid_text(source_info->uuid), warnings);

  // Keep the source snapshots of the newest verified pairs as future parents, and those other
  // drives keep as theirs; delete the rest.
  sources = list_source_snapshots(source_root);
  std::size_t kept = 0;
  for (auto it = sources.rbegin(); it != sources.rend(); ++it) {
    if (kept < k_kept_source_pairs && btrfs::is_verified_copy(job.preset_dir / it->id, it->info.uuid)) {
      ++kept;
      continue;
    }
    if (is_pinned(*it)) {
      continue;
    }
    if (auto removed = btrfs::delete_subvolume(it->path); !removed) {
      warnings.push_back("cannot delete old source snapshot: " + removed.error().describe());
    }
  }
  stats.warnings = std::move(warnings);
  if (parent_manifest) {
    parent_manifest->finish();
  }
  return stats;
}

// Known damage never spreads (case 2): `current` shares its blocks with the snapshots made from it,
// so a file that still shares blocks with a file scrub recorded damaged is removed from it before
// rsync, which then copies it afresh; a newest snapshot damaged as a whole (its manifest) makes
// `current` start over.
Status drop_damaged_content(const BackupJob& job, const fs::path& current, RsyncTransfer& transfer,
                            std::vector<std::string>& warnings) {
  SNAPKEEP_TRY_ASSIGN(DamageRecord damage, read_damage_record(job.state_dir));
  if (damage.empty()) {
    return {};
  }
  if (!job.snapshots.empty() && damage.entries.count({job.snapshots.back().id, ""}) > 0) {
    warnings.push_back("copied everything afresh: scrub recorded the snapshot " + job.snapshots.back().id +
                       " damaged as a whole, and the copy it was made from shares its blocks");
    SNAPKEEP_TRY(btrfs::delete_subvolume(current));
    SNAPKEEP_TRY(btrfs::create_subvolume(current));
    transfer.fresh_target = true;
    return {};
  }
  std::set<std::string> dropped_set;
  for (const auto& snapshot : job.snapshots) {
    for (auto it = damage.entries.lower_bound({snapshot.id, ""});
         it != damage.entries.end() && it->first == snapshot.id; ++it) {
      struct stat st {};
      const fs::path path = current / it->second;
      if (it->second.empty() || dropped_set.count(it->second) > 0 || ::lstat(path.c_str(), &st) != 0 ||
          !S_ISREG(st.st_mode) || !btrfs::shares_blocks(path, snapshot.path / it->second)) {
        continue;  // copied afresh by an earlier run, changed since, or gone
      }
      if (::unlink(path.c_str()) != 0) {
        return sys_error("cannot remove the copy of damaged content", path);
      }
      dropped_set.insert(it->second);
    }
  }
  std::vector<std::string> dropped(dropped_set.begin(), dropped_set.end());
  if (!dropped.empty()) {
    warnings.push_back(
        "copied " + std::to_string(dropped.size()) +
        " files afresh from the source instead of keeping blocks scrub recorded damaged: " + describe_paths(dropped));
  }
  return {};
}

// `.snapkeep/current.snapshot`: the id of the snapshot `current` equals, written right after that
// snapshot is taken and removed before `current` is touched again (a killed run leaves none).
fs::path clean_mark_path(const BackupJob& job) {
  return job.state_dir / "current.snapshot";
}

// The id of the newest snapshot when `current` still equals it ("" otherwise); the mark is removed
// (durably) either way, since `current` is about to change.
Result<std::string> take_clean_mark(const BackupJob& job) {
  const fs::path mark = clean_mark_path(job);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(mark, ec))) {
    return std::string();
  }
  std::ifstream in(mark);
  std::string id;
  std::getline(in, id);
  if (::unlink(mark.c_str()) != 0 && errno != ENOENT) {
    return sys_error("cannot remove", mark);
  }
  SNAPKEEP_TRY(fsync_dir(job.state_dir));
  return !job.snapshots.empty() && job.snapshots.back().id == id ? id : std::string();
}

// The native engine's in-place mode: `target` made equal to the source, only differing blocks
// written. With `clean_base` (the snapshot `target` equalled), what it changed patches the manifest.
Result<BackupStats> mirror_into(const BackupJob& job, const fs::path& target, const std::string& clean_base) {
  MirrorJob mirror;
  mirror.preset = job.preset;
  mirror.source = job.source;
  mirror.target = target;
  mirror.dry_run = job.dry_run;
  mirror.progress = job.progress;
  auto ran = run_mirror(mirror);
  job.progress->finish();
  if (!ran) {
    return std::move(ran).error().in(job.preset->name);
  }
  BackupStats stats;
  stats.files = ran->files;
  stats.files_transferred = ran->files_transferred;
  stats.bytes_total = ran->bytes_total;
  stats.bytes_transferred = ran->bytes_transferred;
  stats.warnings = std::move(ran->warnings);
  if (!clean_base.empty() && ran->changed) {
    stats.changes = TreeChanges{clean_base, std::move(ran->changed->entries), std::move(ran->changed->subtrees)};
  }
  return stats;
}

// Case 2: the source is a plain folder, here or on another machine. rsync --inplace into a writable
// subvolume, then snapshot it read-only: unchanged data shares extents with every earlier snapshot.
Result<BackupStats> BtrfsBackend::sync_and_snapshot(const BackupJob& job) {
  fs::path current = job.state_dir / "current";
  RsyncTransfer transfer;
  transfer.source = job.source;
  if (job.preset->remote_source) {
    transfer.remote_source = rsync_remote_end(*job.preset, *job.preset->remote_source);
  }
  transfer.target = current;
  transfer.in_place = true;
  transfer.exact_mtimes = keeps_nanosecond_mtimes(job.state_dir);
  transfer.dry_run = job.dry_run;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(current, ec))) {
    if (job.dry_run) {
      transfer.target = job.state_dir / "dry-run";
    } else {
      SNAPKEEP_TRY(btrfs::create_subvolume(current));
      transfer.fresh_target = true;
    }
  } else {
    SNAPKEEP_TRY_ASSIGN(auto subvolume, btrfs::is_subvolume(current));
    if (!subvolume) {
      return runtime_error(current.string() + " is not a btrfs subvolume; move it away and run again")
          .in(job.preset->name);
    }
  }
  // The snapshot `current` still equals, if it equals the newest one: then what the in-place mode
  // changes is all that differs from it, and the new manifest is patched from its manifest.
  std::string clean_base;
  if (!job.dry_run) {
    SNAPKEEP_TRY_ASSIGN(clean_base, take_clean_mark(job));
  }
  std::vector<std::string> warnings;
  if (!job.dry_run && !transfer.fresh_target) {
    SNAPKEEP_TRY(drop_damaged_content(job, current, transfer, warnings));
    if (!warnings.empty()) {
      clean_base.clear();  // files were dropped from `current` outside the in-place mode
    }
  }
  // A local source: the native engine's in-place mode (docs/engine.md); else rsync --inplace.
  const bool with_rsync = job.preset->remote_source || job.preset->transfer != TransferEngine::native;
  std::optional<BackgroundRead> base_manifest;  // read meanwhile for the patch, as for btrfs send
  if (!with_rsync && !clean_base.empty()) {
    base_manifest.emplace(manifest_path(job.state_dir, clean_base));
  }
  auto stats =
      with_rsync ? run_rsync(*job.preset, transfer, *job.progress) : mirror_into(job, transfer.target, clean_base);
  if (!stats || job.dry_run) {
    return stats;
  }
  stats->warnings.insert(stats->warnings.end(), warnings.begin(), warnings.end());
  // rsync --inplace writes the zeros of the source's holes as data: punch them out again (the
  // in-place mode punches them itself). A remote source cannot be compared with; its files are
  // sparse when first copied (docs/remote.md).
  if (with_rsync && !job.preset->remote_source) {
    if (auto sparse = punch_holes_like(job.source, current); !sparse) {
      stats->warnings.push_back("cannot keep sparse files sparse: " + sparse.error().describe());
    } else if (sparse->files > 0) {
      spdlog::info("{}: punched {} of zeros out of {} sparse files", job.preset->name,
                   format_bytes(sparse->bytes_punched), sparse->files);
    }
  }
  SNAPKEEP_TRY(sync_filesystem(current));
  SNAPKEEP_TRY(btrfs::snapshot(current, job.preset_dir / job.id, true));
  SNAPKEEP_TRY(fsync_dir(job.preset_dir));
  if (auto marked = write_file_atomic(clean_mark_path(job), job.id); !marked) {
    spdlog::warn("{}: {}; the next backup writes its manifest in full", job.preset->name, marked.error().describe());
  }
  if (base_manifest) {
    base_manifest->finish();
  }
  return stats;
}

// Extent sharing as `btrfs filesystem du` reports it: exclusive bytes are exact; what deleting
// several snapshots frees together can exceed the sum of their exclusives, so cumulative_bytes is a
// lower bound (exact = false).
Result<UsageReport> BtrfsBackend::usage(const std::vector<SnapshotInfo>& snapshots,
                                        const std::vector<std::size_t>& deletion_order) {
  UsageReport report;
  report.exact = false;
  std::uint64_t running = 0;
  for (const auto& snapshot : snapshots) {
    ProcessOptions options;
    options.capture_stdout = true;
    SNAPKEEP_TRY_ASSIGN(
        auto result, run_process({"btrfs", "filesystem", "du", "-s", "--raw", "--", snapshot.path.string()}, options));
    if (!result.succeeded()) {
      return runtime_error("cannot measure " + snapshot.path.string() + ": " +
                           describe_failure("btrfs filesystem du", result));
    }
    // Second line: "TOTAL EXCLUSIVE SET_SHARED PATH".
    std::uint64_t total = 0;
    std::uint64_t exclusive = 0;
    std::size_t line = result.stdout_text.find('\n');
    if (line == std::string::npos ||
        std::sscanf(result.stdout_text.c_str() + line + 1, "%lu %lu", &total, &exclusive) != 2) {
      return runtime_error("cannot read the output of btrfs filesystem du for " + snapshot.path.string());
    }
    running += exclusive;
    report.total_bytes += exclusive;
    report.snapshots.push_back({snapshot.id, exclusive, running});
  }
  std::uint64_t freed = 0;
  for (std::size_t index : deletion_order) {
    freed += report.snapshots.at(index).exclusive_bytes;
    report.freed_after.push_back(freed);
  }
  return report;
}

}  // namespace

std::unique_ptr<Backend> make_btrfs_backend() {
  return std::make_unique<BtrfsBackend>();
}

}  // namespace snapkeep
