#include "core/integrity/scrub.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <map>

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/base/signals.hpp"
#include "core/integrity/content_index.hpp"
#include "core/integrity/content_verify.hpp"
#include "core/integrity/damage_repair.hpp"
#include "core/integrity/damaged_paths.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/integrity/scrub_damage.hpp"
#include "core/integrity/scrub_findings.hpp"
#include "core/integrity/scrub_remake.hpp"
#include "core/integrity/scrub_report.hpp"
#include "core/integrity/scrub_state.hpp"
#include "core/integrity/snapshot_check.hpp"
#include "core/integrity/work_file.hpp"
#include "core/store/catalog.hpp"
#include "core/store/lock.hpp"
#include "core/store/preset_checks.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// What one scrub of one preset works with.
struct ScrubRun {
  const Preset& preset;
  const ScrubOptions& options;
  ContentSharing sharing;
  fs::path state_dir;
  Progress& progress;
  fs::path work_dir;  // the state dir, or a temporary folder when the drive is read-only
};

// Logs how long each phase of a scrub took (debug level, `-v`).
class PhaseClock {
 public:
  explicit PhaseClock(const std::string& preset) : m_preset(preset) {}
  void lap(const std::string& what) {
    auto now = std::chrono::steady_clock::now();
    spdlog::debug("{}: {} in {:.2f} s", m_preset, what, std::chrono::duration<double>(now - m_last).count());
    m_last = now;
  }

 private:
  const std::string& m_preset;
  std::chrono::steady_clock::time_point m_last = std::chrono::steady_clock::now();
};

// scrub --init: makes the manifests that snapshots of `todo` lack (reusing hashes from the snapshot
// made just before, when it has a manifest by now); those snapshots leave `todo`: first seen, not
// verified. Fails when a manifest cannot be made.
Status init_manifests(const ScrubRun& run, std::vector<SnapshotInfo>& todo, const std::vector<SnapshotInfo>& all,
                      ScrubReport& report) {
  SNAPKEEP_TRY(make_dir(manifest_dir(run.state_dir), 0700));
  std::vector<SnapshotInfo> keep;
  for (const auto& snap : todo) {
    fs::path file = manifest_path(run.state_dir, snap.id);
    if (open_manifest(file).state != ManifestState::missing) {
      keep.push_back(snap);
      continue;
    }
    ManifestBuildOptions options;
    options.checksum = run.preset.checksum;
    options.origin = "init";
    options.content_sharing = run.sharing;
    options.work_dir = run.work_dir;
    options.progress = &run.progress;
    auto pos = std::find_if(all.begin(), all.end(), [&](const SnapshotInfo& s) { return s.id == snap.id; });
    if (pos != all.begin() && pos != all.end()) {
      options.previous_snapshot = std::prev(pos)->path;
      options.previous_manifest = manifest_path(run.state_dir, std::prev(pos)->id);
    }
    spdlog::info("{}: making the manifest of {} (first seen: recorded, not verified)", run.preset.name, snap.id);
    auto built = build_manifest(snap.path, snap.id, file, options);
    run.progress.finish();
    SNAPKEEP_TRY(built);
    report.initialized.push_back(snap.id);
  }
  todo = std::move(keep);
  return {};
}

// The destination filesystem's own scrub (btrfs), on unbounded runs of all snapshots. Its failure
// is a note in the report, not a failed run.
void run_fs_scrub(const ScrubRun& run, const FilesystemScrub* fs_scrub, ScrubReport& report) {
  if (fs_scrub == nullptr || !run.options.fs_scrub) {
    return;
  }
  if (run.options.max_bytes || run.options.max_seconds || run.options.snapshot) {
    report.fs_scrub_note =
        "skipped: the btrfs scrub covers the whole filesystem and runs only on scrubs without "
        "--snapshot, --max-bytes or --max-time";
    return;
  }
  if (auto why = fs_scrub->unavailable()) {
    report.fs_scrub_note = "skipped: " + *why;
    return;
  }
  const std::string& name = run.preset.name;
  // Once per filesystem per run: presets sharing a drive point at the report that holds the figures.
  std::string fs_id;
  if (FsScrubsDone* done = run.options.fs_scrubs_done; done != nullptr) {
    if (auto id = fs_scrub->filesystem_id(run.preset.preset_dir())) {
      fs_id = *id;
      if (auto it = done->by_filesystem.find(fs_id); it != done->by_filesystem.end()) {
        report.fs_scrub_reported_by = it->second;
        report.fs_scrub_note = "the filesystem " + fs_id + " was scrubbed once in this run; its figures are in " +
                               "the report of preset " + it->second;
        return;
      }
    }
  }
  spdlog::info("{}: running the btrfs filesystem scrub of {}", name, run.preset.preset_dir().string());
  auto counters = fs_scrub->run(run.preset.preset_dir());
  if (!counters) {
    report.fs_scrub_note = "failed: " + counters.error().describe();
    spdlog::warn("{}: the btrfs scrub failed: {}", name, counters.error().describe());
    return;
  }
  report.fs_scrub = *counters;
  if (!fs_id.empty()) {
    run.options.fs_scrubs_done->by_filesystem.emplace(fs_id, name);
  }
  if (counters->uncorrectable_errors > 0 || counters->corrected_errors > 0) {
    spdlog::warn(
        "{}: btrfs scrub: {} data checksum errors, {} metadata errors, {} corrected, {} uncorrectable "
        "(the kernel log, dmesg, names the files)",
        name, counters->data_csum_errors, counters->tree_errors, counters->corrected_errors,
        counters->uncorrectable_errors);
  }
}

// Rewrites the scrub state without the records of contents no snapshot has any more.
void compact_state(const ScrubRun& run, const ContentIndex& index, const ContentTotals& totals, ScrubState& state) {
  auto contents = index.by_state_key();
  if (!contents) {
    spdlog::warn("{}: {}", run.preset.name, contents.error().describe());
    return;
  }
  std::optional<std::uint64_t> last;
  IndexedContent content;
  auto next_live = [&](std::uint64_t& key) -> Result<bool> {
    for (;;) {
      SNAPKEEP_TRY_ASSIGN(bool more, contents->next(content));
      if (!more) {
        return false;
      }
      if (last != content.state_key) {
        last = content.state_key;
        key = content.state_key;
        return true;
      }
    }
  };
  if (auto compacted = state.compact(totals.state_keys, next_live); !compacted) {
    spdlog::warn("{}: {}", run.preset.name, compacted.error().describe());
  }
}

// Verifies `todo` (snapshots of `all`) and repairs what it may: the whole scrub under the lock.
Status scrub_snapshots(const ScrubRun& run, const Backend& backend, std::vector<SnapshotInfo> todo,
                       const std::vector<SnapshotInfo>& all, ScrubState& state, ScrubReport& report) {
  if (run.options.init) {
    SNAPKEEP_TRY(init_manifests(run, todo, all, report));
  }
  run_fs_scrub(run, backend.filesystem_scrub(), report);

  FindingList findings(run.options.repair);
  ContentIndex index(run.work_dir);
  SnapshotCheck check(run.state_dir, run.sharing, findings, index, report, run.progress);
  PhaseClock clock(run.preset.name);
  SNAPKEEP_TRY(check.run(todo, run.preset.name));
  clock.lap("checked " + std::to_string(report.entries_checked) + " manifest entries");
  SNAPKEEP_TRY_ASSIGN(ContentTotals totals, index.finish(state));
  report.contents_total = totals.contents;
  report.bytes_total = totals.bytes;
  clock.lap("ordered " + std::to_string(totals.contents) + " unique contents");

  VerifyBudget budget{run.options.max_bytes, run.options.max_seconds};
  SNAPKEEP_TRY_ASSIGN(VerifyOutcome outcome,
                      verify_contents(index, check.verified(), budget, state, run.progress, report));
  clock.lap("verified " + std::to_string(outcome.verified) + " contents");
  SNAPKEEP_TRY(find_damaged_paths(index, outcome.damaged));
  if (run.options.repair) {
    RepairScope scope{run.preset, check.verified(), run.state_dir, index};
    SNAPKEEP_TRY(repair_contents(scope, outcome.damaged, state, report));
    SNAPKEEP_TRY(relink_missing(scope, check.missing(), outcome.damaged, outcome.verified, findings, report));
  }
  add_content_findings(findings, outcome.damaged, check.verified());
  report.findings = findings.take();
  report.contents_unverified = totals.never_verified - outcome.first_verified;
  if (!run.options.snapshot) {
    compact_state(run, index, totals, state);
  }
  clock.lap("reported");
  return {};
}

// The snapshots a run verifies: all, or the one asked for.
Result<std::vector<SnapshotInfo>> snapshots_asked(const fs::path& preset_dir, const ScrubOptions& options,
                                                  const std::vector<SnapshotInfo>& all) {
  if (!options.snapshot) {
    return all;
  }
  SNAPKEEP_TRY_ASSIGN(SnapshotInfo found, find_snapshot(preset_dir, *options.snapshot));
  return std::vector<SnapshotInfo>{found};
}

// Names the damaged inodes of unrepaired findings also have in snapshots scrub could not verify (no
// manifest: the old script's snapshots before `adopt`), so the user knows those copies are damaged
// too. Walks those trees only when there is such damage; hard-link trees only.
void name_unverified_links(const std::vector<SnapshotInfo>& snapshots, ContentSharing sharing, ScrubReport& report) {
  if (sharing != ContentSharing::hard_links || report.without_manifest.empty()) {
    return;
  }
  std::map<std::pair<dev_t, ino_t>, std::vector<std::size_t>> damaged;  // inode -> findings
  for (std::size_t i = 0; i < report.findings.size(); ++i) {
    const ScrubFinding& f = report.findings[i];
    if (f.repaired || f.status == FindingStatus::manifest_damaged || f.status == FindingStatus::missing) {
      continue;
    }
    for (const auto& path : f.paths) {
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        damaged[{st.st_dev, st.st_ino}].push_back(i);
        break;  // the paths of one finding are one inode
      }
    }
  }
  if (damaged.empty()) {
    return;
  }
  for (const auto& snap : snapshots) {
    if (std::find(report.without_manifest.begin(), report.without_manifest.end(), snap.id) ==
        report.without_manifest.end()) {
      continue;
    }
    std::error_code ec;
    for (fs::recursive_directory_iterator it(snap.path, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink < 2) {
        continue;
      }
      if (auto found = damaged.find({st.st_dev, st.st_ino}); found != damaged.end()) {
        for (std::size_t i : found->second) {
          report.findings[i].unverified_paths.push_back(it->path());
        }
      }
    }
  }
}

// A drive mounted read-only (an off-site copy checked where it is kept): everything is verified, and
// nothing is written to it, which is said once. No lock (nothing can change there), no scrub state
// (contents are verified as if never verified before), no damage record, no repair; work files go
// to a temporary folder of this machine.
Result<ScrubReport> scrub_read_only(const Preset& preset, const Backend& backend, const ScrubOptions& options,
                                    const fs::path& state_dir, std::chrono::steady_clock::time_point started) {
  if (options.repair || options.init) {
    return runtime_error("destination " + preset.destination.string() + " is mounted read-only: scrub " +
                         (options.repair ? "--repair" : "--init") + " writes to it; mount it read-write first")
        .in(preset.name);
  }
  spdlog::warn(
      "{}: {} is mounted read-only: scrub verifies every snapshot but records nothing there (no scrub "
      "state, so every content counts as never verified before; no damage record)",
      preset.name, preset.destination.string());
  std::string pattern = (fs::temp_directory_path() / "snapkeep-scrub-XXXXXX").string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  if (::mkdtemp(name.data()) == nullptr) {
    return sys_error("cannot make a work folder", pattern).in(preset.name);
  }
  const fs::path work_dir(name.data());
  struct RemoveAfter {
    fs::path dir;
    ~RemoveAfter() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } remove_after{work_dir};
  ScrubReport report;
  const fs::path preset_dir = preset.preset_dir();
  Progress progress(preset.name);
  ScrubOptions verify_only = options;
  verify_only.fs_scrub = false;  // a read-only btrfs cannot be scrubbed with repair either
  ScrubRun run{preset, verify_only, backend.capabilities().content_sharing, state_dir, progress, work_dir};
  Status scrubbed = [&]() -> Status {
    SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset_dir));
    SNAPKEEP_TRY_ASSIGN(ScrubState state, ScrubState::open_read_only(state_dir, work_dir));
    SNAPKEEP_TRY_ASSIGN(auto todo, snapshots_asked(preset_dir, options, snapshots));
    return scrub_snapshots(run, backend, std::move(todo), snapshots, state, report);
  }();
  if (!scrubbed) {
    return std::move(scrubbed).error().in(preset.name);
  }
  if (auto snapshots = list_snapshots(preset_dir)) {
    name_unverified_links(*snapshots, run.sharing, report);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace

Result<ScrubReport> run_scrub(const Preset& preset, const Backend& backend, const ScrubOptions& options) {
  auto started = std::chrono::steady_clock::now();
  ScrubReport report;
  fs::path preset_dir = preset.preset_dir();
  std::error_code ec;
  if (!fs::is_directory(preset_dir, ec)) {
    return report;  // nothing backed up yet
  }
  fs::path state_dir = preset_dir / k_state_dir_name;
  if (destination_read_only(preset)) {
    return scrub_read_only(preset, backend, options, state_dir, started);
  }
  SNAPKEEP_TRY(make_dir(state_dir, 0700));
  SNAPKEEP_TRY_ASSIGN(auto lock, PresetLock::acquire(state_dir, preset.name, options.wait_for_lock));
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset_dir));
  SNAPKEEP_TRY_ASSIGN(ScrubState state, ScrubState::open(state_dir));
  Progress progress(preset.name);
  ScrubRun run{preset, options, backend.capabilities().content_sharing, state_dir, progress, state_dir};
  Status scrubbed = [&]() -> Status {
    SNAPKEEP_TRY_ASSIGN(auto todo, snapshots_asked(preset_dir, options, snapshots));
    std::vector<std::string> ids;
    for (const auto& s : snapshots) {
      ids.push_back(s.id);
    }
    // A verified receive a killed run left keeps its manifest for the backup that completes it.
    for (const auto& work : backend.interrupted_work(preset_dir)) {
      if (!work.snapshot_id.empty()) {
        ids.push_back(work.snapshot_id);
      }
    }
    tidy_manifests(state_dir, ids);
    remove_stale_work_files(state_dir);
    return scrub_snapshots(run, backend, std::move(todo), snapshots, state, report);
  }();
  if (!scrubbed) {
    return std::move(scrubbed).error().in(preset.name);
  }
  name_unverified_links(snapshots, run.sharing, report);
  // Known damage: snapshots remade as a whole where the backend can (scrub_remake.cpp), then the
  // damage record that backups consult (scrub_damage.cpp).
  if (options.repair && backend.snapshot_remaker() != nullptr) {
    remake_damaged_snapshots(preset, *backend.snapshot_remaker(), snapshots, report);
  }
  if (auto recorded = record_scrub_damage(preset_dir, snapshots, options.snapshot, report); !recorded) {
    spdlog::warn("{}: the damage record was not updated: {}", preset.name, recorded.error().describe());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace snapkeep
