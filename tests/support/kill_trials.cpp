#include "tests/support/kill_trials.hpp"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/seeds.hpp"

namespace snapkeep::test {

using namespace std::chrono_literals;

namespace {

void expect_big_files_equal(const fs::path& source, const fs::path& snapshot) {
  for (int i = 0; i < 12; ++i) {
    const std::string name = "big/f" + std::to_string(i);
    EXPECT_EQ(read_file(snapshot / name), read_file(source / name)) << name;
  }
}

}  // namespace

std::uint64_t bytes_arrived(const fs::path& preset_dir) {
  std::uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(preset_dir / ".snapkeep", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().parent_path().filename() == "big" && it->is_regular_file(ec)) {
      bytes += it->file_size(ec);
    }
  }
  return bytes;
}

void expect_whole_and_linked(const fs::path& source, const fs::path& preset_dir, const std::string& older,
                             const std::string& newest) {
  expect_big_files_equal(source, preset_dir / newest);
  EXPECT_EQ(inode_of(preset_dir / older / "docs/a.txt"), inode_of(preset_dir / newest / "docs/a.txt"))
      << "an unchanged file is still linked after the faults";
}

std::unique_ptr<BackgroundRun> background_backup(const fs::path& config, const fs::path& log_dir, int trial) {
  return std::make_unique<BackgroundRun>(std::vector<std::string>{"-c", config.string(), "backup"}, log_dir,
                                         std::vector<std::string>{},
                                         BackgroundOptions{.name = "trial" + std::to_string(trial)});
}

std::vector<std::string> run_kill_trials(const KillTrials& t, std::vector<std::string> whole) {
  const std::uint64_t base = fault::fault_settings().base_seed;
  int interrupted = 0;
  for (int trial = 0; trial < t.trials; ++trial) {
    const std::uint64_t seed =
        fault::mix64(fault::mix64(base ^ fault::label_hash(t.label)) + static_cast<std::uint64_t>(trial));
    // Every victim in turn (from a seeded first one), each at a seeded moment.
    const std::size_t first = fault::mix64(base ^ fault::label_hash(t.label)) % t.victim_names.size();
    const int victim = static_cast<int>((first + static_cast<std::size_t>(trial)) % t.victim_names.size());
    // The first trial kills early (within 300 ms), so that at least one run is surely cut short;
    // the others anywhere in 2.5 s, finished runs included.
    const auto delay = std::chrono::milliseconds((seed >> 8) % (trial == 0 ? 300 : 2500));
    SCOPED_TRACE(t.label + " trial " + std::to_string(trial) + ", seed " + std::to_string(seed) + ": kill " +
                 t.victim_names[victim] + " " + std::to_string(delay.count()) + " ms after it appeared");
    for (int i = 0; i < 12; ++i) {
      write_random_file(t.source / "big" / ("f" + std::to_string(i)), 1 << 20,
                        static_cast<unsigned>(1000 * (trial + 1) + i));
    }
    std::this_thread::sleep_for(1100ms);  // snapshot ids are per second
    auto run = t.start(trial);
    (void)wait_until([&] { return !t.victims(victim).empty() || !run->running(); }, 30s, 5ms);
    std::this_thread::sleep_for(delay);
    for (pid_t pid : t.victims(victim)) {
      ::kill(pid, SIGKILL);
    }
    const int exit_code = run->exit_code();
    std::printf("%s trial %d (seed %llu): killed %s %lld ms after it appeared; the run exited %d\n", t.label.c_str(),
                trial, static_cast<unsigned long long>(seed), t.victim_names[victim].c_str(),
                static_cast<long long>(delay.count()), exit_code);
    if (t.settle) {
      t.settle();
    }
    const auto ids = snapshot_ids(t.preset_dir);
    if (exit_code == 0 && ids.size() == whole.size() + 1) {
      whole.push_back(ids.back());
      expect_big_files_equal(t.source, t.preset_dir / whole.back());
    }
    EXPECT_EQ(ids, whole) << "no half snapshot (exit " << exit_code << "); " << run->stderr_text();
    EXPECT_EQ(fs::read_symlink(t.preset_dir / "latest"), whole.back());
    interrupted += exit_code != 0 ? 1 : 0;
  }
  EXPECT_GE(interrupted, 1) << t.label << ": no kill cut a run short, so these trials showed nothing";
  return whole;
}

}  // namespace snapkeep::test
