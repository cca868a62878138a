#pragma once
// Seeded kills at random moments of a remote backup (tests/integration/test_remote_*.cpp): each
// trial gives the source 12 MiB of new data in big/, starts a backup and SIGKILLs one of the
// processes the caller names (an ssh, serve, an rsync; each in turn) a random delay after it appeared (the
// first trial within 300 ms, and at least one run must have been cut short). The moment is random,
// not the outcome: a run that finished first made a whole snapshot. After every trial no
// half snapshot is in place, every snapshot in place is whole, and `latest` is the newest of them.
// SNAPKEEP_FAULT_SEED sets the base seed (tests/support/seeds.hpp); a failing trial names its seed.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "tests/support/processes.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {

struct KillTrials {
  std::string label;                                               // mixed into the seeds
  fs::path source;                                                 // the source folder (big/ is written here)
  fs::path preset_dir;                                             // where the snapshots are
  std::vector<std::string> victim_names;                           // what each victim number kills
  std::function<std::vector<pid_t>(int victim)> victims;           // the processes of a victim now
  std::function<std::unique_ptr<BackgroundRun>(int trial)> start;  // starts one backup
  std::function<void()> settle;  // after a trial: waits until the far end has stopped (may be empty)
  int trials = 3;
};

// Bytes of the big/ files in the preset's work folder (.snapkeep): what a run has received so far.
std::uint64_t bytes_arrived(const fs::path& preset_dir);

// The snapshot `newest` holds the source's big/ files, and docs/a.txt in it is the inode it is in
// `older`: the backup after the faults is whole and still incremental.
void expect_whole_and_linked(const fs::path& source, const fs::path& preset_dir, const std::string& older,
                             const std::string& newest);

// `snapkeep -c CONFIG backup` in the background, its output in LOG_DIR/trialN.out and .err.
std::unique_ptr<BackgroundRun> background_backup(const fs::path& config, const fs::path& log_dir, int trial);

// Runs the trials; `whole` holds the snapshots in place before them. Returns those in place after.
std::vector<std::string> run_kill_trials(const KillTrials& trials, std::vector<std::string> whole);

}  // namespace snapkeep::test
