#pragma once
// A Backend over plain folders, for testing backup, prune and free-space flows without root in
// milliseconds. It copies the job's source into a dot-named work folder beside the snapshots
// (hard-linking files unchanged since the previous snapshot, like rsync --link-dest) and renames
// it to the id once complete; it measures usage by brute force; and it has knobs for tests: a
// fault at a chosen step (fail, or SIGKILL itself), a quota that fills up (ENOSPC, Error::full),
// and a count of its calls.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/store/backend.hpp"

namespace snapkeep::test {

// The moments of the fake's create_snapshot and delete_snapshot where a fault can strike.
enum class FakeStep {
  copy_started,    // the work folder PRESET_DIR/.fake-work-<id> exists, nothing copied yet
  copy_midway,     // FakeFaults::midway_entries entries copied
  copy_done,       // everything copied, not renamed yet
  renamed,         // the snapshot is complete under its id; create_snapshot has not returned (a `fail` here
                   // breaks the Backend contract on purpose: a failure that leaves a complete snapshot)
  delete_started,  // delete_snapshot has removed nothing yet
  delete_midway,   // delete_snapshot has removed FakeFaults::midway_entries entries
};

// "copy_started", "copy_midway", ...
std::string_view step_name(FakeStep step);

// What a fault does at its step.
enum class FakeAction {
  fail,  // the call returns an error; what was done so far stays (as after a crash)
  kill,  // the process SIGKILLs itself: arm it only in a forked child (tests/support/forked.hpp)
};

// The fake's knobs. Each fault in `at` fires once and is then disarmed.
struct FakeFaults {
  std::map<FakeStep, FakeAction> at;
  std::size_t midway_entries = 2;            // when copy_midway and delete_midway come
  std::optional<std::string> check_error;    // check_preset fails with this message
  std::optional<std::uint64_t> quota_bytes;  // the destination's capacity (see FakeBackend::space)
};

// What the fake was asked to do.
struct FakeCalls {
  int check_preset = 0;
  int create_snapshot = 0;
  int delete_snapshot = 0;
  int usage = 0;
  int interrupted_work = 0;
  int space = 0;
  std::vector<std::string> created;  // ids of the snapshots made, in order
  std::vector<std::string> deleted;  // file names of the folders deleted (".deleting-<id>"), in order
  std::vector<std::string> log;      // "create ID", "created ID", "delete NAME", "deleted NAME", in order
};

// Called at every step before a fault there strikes, with the work folder, the snapshot or the
// folder being deleted: lets a test look at the world in the middle of an operation.
using FakeObserver = std::function<void(FakeStep step, const std::filesystem::path& path)>;

// The fake backend. Snapshots are plain folders; an unchanged regular file (same size, mtime, mode
// and owner at the same path) is a hard link to the previous snapshot's, so content_sharing is
// hard_links; hard-link groups of the source are kept. Folders, regular files and symlinks only.
class FakeBackend final : public Backend {
 public:
  FakeFaults& faults() { return m_faults; }
  const FakeCalls& calls() const { return m_calls; }
  void observe(FakeObserver observer) { m_observer = std::move(observer); }

  // "fake".
  std::string_view name() const override { return "fake"; }
  // No source snapshots of its own; hard links share content.
  BackendCapabilities capabilities() const override;
  // Needs no tool: fails only with FakeFaults::check_error.
  Status check_preset(const Preset& preset) const override;
  // Removes leftover work of killed runs, copies job.source into .fake-work-<id>, renames it to the
  // id. Fails at an armed fault (work left behind), or when the quota is exceeded (ENOSPC,
  // Error::full; the work is removed).
  Result<BackupStats> create_snapshot(const BackupJob& job) override;
  // Deletes the folder entry by entry (children first), failing at an armed fault.
  Status delete_snapshot(const std::filesystem::path& snapshot, Progress& progress) override;
  // Brute force: every inode of every snapshot with the snapshots that hold its links; an inode is
  // freed once every one of its links is in deleted snapshots. Allocated bytes (st_blocks), exact.
  Result<UsageReport> usage(const std::vector<SnapshotInfo>& snapshots,
                            const std::vector<std::size_t>& deletion_order) override;
  // The .fake-work-* folders in preset_dir.
  // A plain folder (what create_snapshot makes).
  bool made_snapshot(const std::filesystem::path& snapshot) const override;
  std::vector<InterruptedWork> interrupted_work(const std::filesystem::path& preset_dir) const override;
  // With a quota: its size, and what is left of it after used_bytes(destination); else statvfs.
  Result<DestinationSpace> space(const std::filesystem::path& destination) const override;

  // Allocated bytes (st_blocks) under root, each inode once: what the quota counts.
  static std::uint64_t used_bytes(const std::filesystem::path& root);

 private:
  // Calls the observer, then fires the fault armed at `step`, if any.
  Status reach(FakeStep step, const std::filesystem::path& path);

  FakeFaults m_faults;
  mutable FakeCalls m_calls;
  FakeObserver m_observer;
};

// The dot-name of the fake's work for snapshot `id`: ".fake-work-<id>".
std::string fake_work_name(const std::string& id);

}  // namespace snapkeep::test
