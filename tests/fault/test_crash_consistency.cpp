// Crash consistency (SPEC §4, issue 6): seeded, reproducible trials per backend (and per engine of
// the hard-link backend) that back up a changing tree and SIGKILL snapkeep's whole process group
// (or only its rsync / btrfs send / btrfs receive child; the native engine has none, so SIGTERM to
// snapkeep instead) at a random moment, then check every snapshot id folder against the
// source state that made it, `latest`, `list`, that the next run succeeds and is still
// incremental, and that no process, mount or loop device is left. Power loss: the image is copied
// without syncing right after a backup returns, then checked, mounted and backed up to.
//
// Replay: every failure names its trial as SNAPKEEP_FAULT_SEED=BASE:I; setting that variable runs
// the same source history and the same kill moment (as a fraction of a backup's duration) for
// trial I only. SNAPKEEP_FAULT_TRIALS changes the number of trials per backend (default 30),
// SNAPKEEP_FAULT_POWER_TRIALS the number of power cuts (default 3).

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/mounts.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/seeds.hpp"
#include "tests/support/source_tree.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"
#include "tests/support/tree_state.hpp"

namespace snapkeep::test::fault {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* k_preset = "home";
constexpr unsigned k_image_mib = 256;

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The ctime (ns) of every regular file under root, by relative path.
std::map<std::string, std::int64_t> ctimes_of(const fs::path& root) {
  std::map<std::string, std::int64_t> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      out[it->path().lexically_relative(root).string()] =
          static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// One backend under test.

enum class Kind { rsync, native, btrfs_send, btrfs_plain };

// The config lines of a backend under test (the hard-link backend with each of its engines).
std::string config_lines(Kind kind) {
  switch (kind) {
    case Kind::rsync: return "backend = rsync\ntransfer = rsync\n";
    case Kind::native: return "backend = rsync\ntransfer = native\n";
    default: return "backend = btrfs\n";
  }
}

// Hard-link trees on ext4 (both engines of the hard-link backend).
bool hard_links(Kind kind) {
  return kind == Kind::rsync || kind == Kind::native;
}

// What a suite run counts; printed as the FAULT line that docs/reliability.md quotes.
struct Counters {
  int trials = 0;
  int kills = 0;                    // whole process group SIGKILLed while the backup ran
  int child_kills = 0;              // only rsync / btrfs send / btrfs receive SIGKILLed, and snapkeep failed
  int missed = 0;                   // the backup ended before the planned kill
  int killed_run_snapshots = 0;     // complete snapshots a killed run left under an id
  int latest_behind = 0;            // after a kill, latest still named the previous snapshot
  long snapshots_checked = 0;       // snapshot trees compared with their source state
  int data_lost = 0;                // snapshot folders missing, changed or incomplete (must stay 0)
  int root_mtime_from_receive = 0;  // btrfs send: received root folders with the receive's mtime
  int power_cuts = 0;
  int power_last_present = 0;
  int power_last_absent = 0;
};

// Adds the seconds of its lifetime to a total.
class Stopwatch {
 public:
  explicit Stopwatch(double& total) : m_total(total), m_start(Clock::now()) {}
  ~Stopwatch() { m_total += std::chrono::duration<double>(Clock::now() - m_start).count(); }
  Stopwatch(const Stopwatch&) = delete;
  Stopwatch& operator=(const Stopwatch&) = delete;

 private:
  double& m_total;
  Clock::time_point m_start;
};

// How a planned kill went.
struct KillOutcome {
  bool landed = false;  // the signal hit a running process
  std::string what;     // for messages
  double observed = 0;  // seconds the target was seen running
};

// The parsed result of one `snapkeep --json backup`.
struct BackupRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::string status;
  std::string id;
  std::uint64_t bytes_transferred = 0;
  double wall_seconds = 0;
};

BackupRun parse_backup(int exit_code, std::string out, std::string err, double seconds) {
  BackupRun b;
  b.exit_code = exit_code;
  b.out = std::move(out);
  b.err = std::move(err);
  b.wall_seconds = seconds;
  json doc = json::parse(b.out, nullptr, false);
  if (!doc.is_discarded() && doc.contains("presets") && !doc["presets"].empty()) {
    const json& p = doc["presets"][0];
    b.status = p.value("status", "");
    b.id = p.value("snapshot", "");
    b.bytes_transferred = p.value("bytes_transferred", std::uint64_t{0});
  }
  return b;
}

// The parent a btrfs backup names in "incremental send from parent ID" ("" for a full send).
std::string send_parent(const std::string& err) {
  static const std::string key = "incremental send from parent ";
  auto pos = err.find(key);
  if (pos == std::string::npos) {
    return {};
  }
  pos += key.size();
  auto end = err.find_first_of(" \n\r", pos);
  return err.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

class FaultWorld {
 public:
  FaultWorld(Kind kind, std::string label, FaultSettings settings)
      : m_kind(kind), m_label(std::move(label)), m_settings(settings) {
    m_fs = std::make_unique<LoopFs>(hard_links(kind) ? "ext4" : "btrfs", k_image_mib);
    if (!m_fs->ok()) {
      return;
    }
    if (kind == Kind::btrfs_send) {
      m_src = m_fs->mount_point() / "src";
      m_dest = m_fs->mount_point() / "backup";
      if (run_ok({"btrfs", "subvolume", "create", "--", m_src.string()}).exit_code != 0) {
        return;
      }
      fs::create_directories(m_dest);
    } else {
      m_src = m_tmp / "src";
      m_dest = m_fs->mount_point();
      fs::create_directories(m_src);
    }
    m_preset_dir = m_dest / k_preset;
    m_config = m_tmp / "snapkeep.ini";
    m_logs = m_tmp / "logs";
    fs::create_directories(m_logs);
    write_preset_config(m_config, k_preset, m_src, m_dest, config_lines(kind));
    m_tree = std::make_unique<SourceTree>(m_src);
    m_ready = true;
  }

  bool ready() const { return m_ready; }
  const Counters& counters() const { return m_counters; }
  fs::path image() const { return m_fs->image(); }
  fs::path mount_point() const { return m_fs->mount_point(); }

  // Markers of processes that belong to this world.
  std::vector<std::string> markers() const { return {m_tmp.path().string(), m_fs->image().parent_path().string()}; }

  // The source tree, the first (full) backup, then three incremental backups that measure how long
  // a backup and its child take.
  void setup() {
    std::mt19937_64 rng(mix64(m_settings.base_seed ^ label_hash(m_label)));
    m_tree->populate(rng);
    ::sync();
    BackupRun full = backup_ok("the first backup");
    m_full_bytes = std::max<std::uint64_t>(full.bytes_transferred, total_file_bytes(m_expected[full.id]));
    // Kill moments are drawn from the median duration of three incremental backups, and child
    // kills from the median time the child (rsync, or btrfs send/receive) lives.
    std::vector<double> runs;
    std::vector<double> children;
    for (int i = 0; i < 3; ++i) {
      m_tree->mutate(rng);
      double child = 0;
      BackupRun b = backup_ok("a calibration backup", &child);
      runs.push_back(b.wall_seconds);
      children.push_back(child);
    }
    std::sort(runs.begin(), runs.end());
    std::sort(children.begin(), children.end());
    m_duration = std::max(0.01, runs[1]);
    m_child_duration = std::max(0.005, children[1]);
    check_destination("after setup", false);
    std::printf("[ fault    ] %s: %zu files, %.1f MiB; full backup %.2f s, incremental %.3f s (child %.3f s)\n",
                m_label.c_str(), m_expected[full.id].size(),
                static_cast<double>(total_file_bytes(m_expected[full.id])) / 1048576.0, full.wall_seconds, m_duration,
                m_child_duration);
  }

  // One seeded trial: change the tree, run a backup and kill it (or one of its children), check,
  // run a normal backup, check again.
  void trial(int index) {
    std::uint64_t seed = trial_seed(index);
    std::string replay = m_label + " trial " + std::to_string(index) + " seed " + hex(seed) +
                         " (replay: SNAPKEEP_FAULT_SEED=" + std::to_string(m_settings.base_seed) + ":" +
                         std::to_string(index) + ")";
    SCOPED_TRACE(replay);
    std::mt19937_64 rng(seed);
    std::string ops = m_tree->mutate(rng);
    if (m_settings.replay_trial && index < *m_settings.replay_trial) {
      backup_ok("rebuilding the history before the replayed trial");
      return;
    }
    ++m_counters.trials;
    bool child_kill = index % 4 == 1;
    double window = child_kill && m_kind != Kind::native ? m_child_duration : m_duration;
    // A run that ends before its kill is checked like any backup and the trial tries again (at
    // most twice, on the same source, so the source history does not depend on timing) with the
    // window shrunk to what the missed run took.
    for (int attempt = 0; attempt < 3; ++attempt) {
      TreeState state = describe_tree(m_src, m_cache);
      double fraction = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      bool kill_send = rng() % 2 == 0;
      std::set<std::string> before = ids();
      KillOutcome outcome;
      {
        Stopwatch timer(m_seconds_killing);
        GroupRun run({"-c", m_config.string(), "-v", "--json", "backup"}, m_logs / "killed.out", m_logs / "killed.err");
        ASSERT_TRUE(run.ok());
        outcome = child_kill ? kill_one_child(run, fraction * window, kill_send) : kill_group(run, fraction * window);
        wait_for_no_leftovers(run.pid(), "after the killed run");
      }
      SCOPED_TRACE("attempt " + std::to_string(attempt) + ": " + outcome.what + "; changes:" + ops.substr(0, 300));

      // What the killed run left: at most one new id folder, equal to the source it saw.
      std::vector<std::string> made;
      for (const auto& id : ids()) {
        if (before.count(id) == 0) {
          made.push_back(id);
        }
      }
      EXPECT_LE(made.size(), 1u) << "the killed run left more than one new snapshot";
      for (const auto& id : made) {
        remember(id, state, "the killed run of trial " + std::to_string(index) + " (" + outcome.what + ")");
        if (outcome.landed) {
          ++m_counters.killed_run_snapshots;
        }
      }
      check_destination(outcome.landed ? "after the killed run" : "after a run the kill missed",
                        outcome.landed && !made.empty());
      if (outcome.landed) {
        break;
      }
      window = std::max(0.002, std::min(window, outcome.observed) * 0.9);
    }

    // The next run succeeds, is still incremental, and leaves a consistent destination.
    BackupRun next = backup_ok("the run after the kill in trial " + std::to_string(index));
    if (next.exit_code != 0 || next.id.empty()) {
      return;
    }
    check_destination("after the run after the kill", false);
    check_incremental(next);
    expect_no_work_left();
    wait_for_no_leftovers(0, "after the run after the kill");
  }

  // Power loss: a backup returns, and the image is copied at once without syncing the host (what
  // the loop device has been given is what a power cut keeps). The copy is fsck'ed, mounted, its
  // snapshots checked (the last complete or absent, never half), and backed up to once more.
  void power_cut(int index) {
    std::uint64_t seed = mix64(m_settings.base_seed ^ label_hash(m_label + "/power") ^ mix64(index + 1));
    SCOPED_TRACE(m_label + " power cut " + std::to_string(index) + " seed " + hex(seed));
    Stopwatch timer(m_seconds_power);
    std::mt19937_64 rng(seed);
    m_tree->mutate(rng);
    ::sync();  // the source is not under test; the destination is
    std::set<std::string> before = ids();
    ScratchDir scratch(m_tmp.path());
    fs::path copy = scratch.path() / "power.img";
    BackupRun b = backup_and_copy(copy);
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ++m_counters.power_cuts;
    check_destination("after the backup before the power cut", false);

    if (hard_links(m_kind)) {
      RunResult fsck = run({"e2fsck", "-fy", copy.string()});
      EXPECT_LE(fsck.exit_code, 1) << "e2fsck of the power-cut image:\n" << fsck.out << fsck.err;
    } else {
      RunResult check = run({"btrfs", "check", "--readonly", copy.string()});
      EXPECT_EQ(check.exit_code, 0) << "btrfs check of the power-cut image:\n" << check.out << check.err;
    }
    MountedCopy mounted(copy, scratch.path() / "mnt");
    ASSERT_TRUE(mounted.ok());
    fs::path preset = mounted.mount_point() / m_preset_dir.lexically_relative(m_fs->mount_point());
    std::vector<std::string> copy_ids = snapshot_ids(preset);
    std::set<std::string> copy_set(copy_ids.begin(), copy_ids.end());
    for (const auto& id : before) {
      if (copy_set.count(id) == 0) {
        ++m_counters.data_lost;
        ADD_FAILURE() << "snapshot " << id << ", made before the last backup, is gone after the power cut";
      }
    }
    for (const auto& id : copy_ids) {
      if (m_expected.count(id) == 0) {
        ADD_FAILURE() << "unknown snapshot folder " << id << " after the power cut";
        continue;
      }
      expect_snapshot_equal(preset / id, m_expected[id], "power-cut copy");
    }
    if (copy_set.count(b.id) != 0) {
      ++m_counters.power_last_present;
    } else {
      ++m_counters.power_last_absent;
    }
    expect_valid_latest(preset, copy_ids, m_order, /*allow_behind=*/true, "power-cut copy");

    // The next run on the copy succeeds and is still incremental.
    fs::path copy_src = m_kind == Kind::btrfs_send ? mounted.mount_point() / "src" : m_src;
    fs::path copy_dest = m_kind == Kind::btrfs_send ? mounted.mount_point() / "backup" : mounted.mount_point();
    fs::path copy_config =
        write_preset_config(m_tmp / "power.ini", k_preset, copy_src, copy_dest, config_lines(m_kind));
    std::string prev = copy_ids.empty() ? "" : newest_of(copy_ids);
    BackupRun next = run_backup(copy_config, nullptr);
    ASSERT_EQ(next.exit_code, 0) << "backup to the power-cut copy failed:\n" << next.err;
    ASSERT_FALSE(next.id.empty());
    TreeState copy_source = describe_tree(copy_src, m_cache);
    expect_snapshot_equal(preset / next.id, copy_source, "backup to the power-cut copy");
    if (!prev.empty()) {
      TreeState prev_state = describe_tree(preset / prev, m_cache);
      expect_incremental(preset / prev, prev_state, preset / next.id, copy_source, prev, next, ctimes_of(copy_src));
    }
    wait_for_no_leftovers(0, "after the backup to the power-cut copy");
  }

  void finish() {
    // Every manifest the runs wrote, patched ones included, whatever run was killed around them, is
    // whole and true to its snapshot: scrub --init makes the ones killed runs left unwritten, and
    // scrub then finds nothing.
    RunResult init = snapkeep({"-c", m_config.string(), "--json", "scrub", "--init"});
    EXPECT_EQ(init.exit_code, 0) << init.out << init.err;
    RunResult scrub = snapkeep({"-c", m_config.string(), "--json", "scrub"});
    EXPECT_EQ(scrub.exit_code, 0) << scrub.out << scrub.err;
    auto doc = nlohmann::json::parse(scrub.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << scrub.out;
    const auto& preset = doc["presets"][0];
    EXPECT_TRUE(preset["findings"].empty()) << scrub.out;
    EXPECT_TRUE(preset["without_manifest"].empty()) << scrub.out;
    EXPECT_EQ(preset["snapshots_checked"], m_order.size()) << scrub.out;
    std::printf("[ fault    ] %s: scrub checked %d snapshots, %s initialized first\n", m_label.c_str(),
                preset.value("snapshots_checked", 0),
                nlohmann::json::parse(init.out, nullptr, false)["presets"][0]["initialized"].dump().c_str());
    const Counters& c = m_counters;
    std::printf(
        "FAULT %s: trials=%d kills=%d child_kills=%d missed=%d killed_run_snapshots=%d latest_behind=%d "
        "snapshots_checked=%ld power_cuts=%d (last present %d, absent %d) data_lost=%d\n",
        m_label.c_str(), c.trials, c.kills, c.child_kills, c.missed, c.killed_run_snapshots, c.latest_behind,
        c.snapshots_checked, c.power_cuts, c.power_last_present, c.power_last_absent, c.data_lost);
    if (c.root_mtime_from_receive > 0) {
      std::printf("[ fault    ] %s: %d received snapshot roots kept the receive's mtime (btrfs send limit)\n",
                  m_label.c_str(), c.root_mtime_from_receive);
    }
    std::printf(
        "[ fault    ] %s: %.1f s in killed runs, %.1f s in other backups, %.1f s checking, %.1f s waiting "
        "for processes to go, %.1f s in power cuts\n",
        m_label.c_str(), m_seconds_killing, m_seconds_running, m_seconds_checking, m_seconds_waiting, m_seconds_power);
    std::fflush(stdout);
    testing::Test::RecordProperty("trials", c.trials);
    testing::Test::RecordProperty("kills", c.kills);
    testing::Test::RecordProperty("child_kills", c.child_kills);
    testing::Test::RecordProperty("snapshots_checked", static_cast<int>(c.snapshots_checked));
    testing::Test::RecordProperty("power_cuts", c.power_cuts);
    testing::Test::RecordProperty("data_lost", c.data_lost);
    EXPECT_EQ(c.data_lost, 0);
  }

 private:
  std::uint64_t trial_seed(int index) const {
    return mix64(m_settings.base_seed ^ label_hash(m_label) ^ mix64(static_cast<std::uint64_t>(index) + 1));
  }

  std::set<std::string> ids() const {
    auto v = snapshot_ids(m_preset_dir);
    return {v.begin(), v.end()};
  }

  void remember(const std::string& id, const TreeState& state, const std::string& origin) {
    m_expected[id] = state;
    m_ctimes[id] = ctimes_of(m_src);
    m_origin[id] = origin;
    m_order.push_back(id);
  }

  // The newest of `present` in creation order.
  std::string newest_of(const std::vector<std::string>& present) const {
    for (auto it = m_order.rbegin(); it != m_order.rend(); ++it) {
      if (std::find(present.begin(), present.end(), *it) != present.end()) {
        return *it;
      }
    }
    return {};
  }

  // SIGKILLs the whole process group `delay` seconds after the start, if it still runs.
  KillOutcome kill_group(GroupRun& run, double delay) {
    auto moment = run.started() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
    while (Clock::now() < moment && run.running()) {
      std::this_thread::sleep_for(100us);
    }
    if (run.running()) {
      run.kill_group();
    }
    int status = run.wait();
    KillOutcome out;
    out.observed = run.seconds();
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++m_counters.kills;
      out.landed = true;
      out.what = "process group killed at " + std::to_string(delay) + " s";
      return out;
    }
    ++m_counters.missed;
    out.what = "backup ended (after " + std::to_string(run.seconds()) + " s) before the kill planned at " +
               std::to_string(delay) + " s";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "an undisturbed backup failed (" << describe_status(status) << "):\n"
        << run.err_text();
    return out;
  }

  // SIGKILLs only the rsync child (btrfs send or receive for send/receive) `delay` seconds after it
  // is first seen, if it still runs; snapkeep must then fail cleanly (exit 1, naming the signal).
  KillOutcome kill_one_child(GroupRun& run, double delay, bool kill_send) {
    if (m_kind == Kind::native) {
      return terminate(run, delay);
    }
    auto wanted = [&](const ProcInfo& p) {
      return p.comm == child_comm() &&
             (m_kind != Kind::btrfs_send ||
              p.cmdline.find(kill_send ? "btrfs send" : "btrfs receive") != std::string::npos);
    };
    std::optional<ProcInfo> child;
    while (!child && run.running()) {
      for (auto& p : children_of(run.pid())) {
        if (wanted(p)) {
          child = p;
        }
      }
      if (!child) {
        std::this_thread::sleep_for(200us);
      }
    }
    KillOutcome out;
    std::string name = m_kind == Kind::btrfs_send ? (kill_send ? "btrfs send" : "btrfs receive") : "rsync";
    if (!child) {
      run.wait();
      ++m_counters.missed;
      out.what = name + " never seen";
      out.observed = 0.002;
      return out;
    }
    auto seen = Clock::now();
    auto moment = seen + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
    auto child_alive = [&] {
      auto now = read_proc(child->pid);
      return now && now->ppid == run.pid() && now->state != 'Z' && now->state != 'X';
    };
    while (Clock::now() < moment && child_alive()) {
      std::this_thread::sleep_for(100us);
    }
    out.observed = std::chrono::duration<double>(Clock::now() - seen).count();
    if (child_alive()) {
      ::kill(child->pid, SIGKILL);
    }
    int status = run.wait();
    std::string err = run.err_text();
    EXPECT_TRUE(WIFEXITED(status)) << "snapkeep itself died (" << describe_status(status) << ") when only its " << name
                                   << " child was killed:\n"
                                   << err;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
      EXPECT_NE(err.find("signal 9"), std::string::npos)
          << "snapkeep failed without naming the killed " << name << ":\n"
          << err;
      ++m_counters.child_kills;
      out.landed = true;
      out.what = name + " killed " + std::to_string(delay) + " s after it was seen";
      return out;
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "unexpected status " << describe_status(status) << " after killing " << name << ":\n"
        << err;
    ++m_counters.missed;
    out.what = name + " ended before the kill planned " + std::to_string(delay) + " s after it was seen";
    return out;
  }

  // The native engine has no child: SIGTERM to snapkeep `delay` seconds after the start, which
  // must then stop cleanly between entries (exit 1, naming the signal) and leave its work to resume.
  KillOutcome terminate(GroupRun& run, double delay) {
    // From the moment its work folder exists (its signal handlers are in place by then).
    fs::path partial = m_preset_dir / ".snapkeep" / "partial";
    struct stat st {};
    while (run.running() && ::lstat(partial.c_str(), &st) != 0) {
      std::this_thread::sleep_for(100us);
    }
    auto moment = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
    while (Clock::now() < moment && run.running()) {
      std::this_thread::sleep_for(100us);
    }
    if (run.running()) {
      ::kill(run.pid(), SIGTERM);
    }
    int status = run.wait();
    std::string err = run.err_text();
    KillOutcome out;
    out.observed = run.seconds();
    EXPECT_TRUE(WIFEXITED(status)) << "snapkeep died of SIGTERM instead of stopping (" << describe_status(status)
                                   << "):\n"
                                   << err;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
      EXPECT_NE(err.find("signal 15"), std::string::npos) << "snapkeep stopped without naming SIGTERM:\n" << err;
      ++m_counters.child_kills;
      out.landed = true;
      out.what = "SIGTERM at " + std::to_string(delay) + " s";
      return out;
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "unexpected status " << describe_status(status) << " after SIGTERM:\n"
        << err;
    ++m_counters.missed;
    out.what = "backup ended before the SIGTERM planned at " + std::to_string(delay) + " s";
    return out;
  }

  // Waits until no process of this world (or of process group pgrp) is left; kills stragglers.
  void wait_for_no_leftovers(pid_t pgrp, const std::string& when) {
    Stopwatch timer(m_seconds_waiting);
    auto left = [&] { return leftover_processes(markers(), pgrp); };
    bool gone = wait_until_true([&] { return left().empty(); }, 20s);
    if (!gone) {
      std::string list;
      for (const auto& p : left()) {
        list += "  " + std::to_string(p.pid) + " " + p.cmdline + "\n";
        ::kill(p.pid, SIGKILL);
      }
      ADD_FAILURE() << "processes left " << when << ":\n" << list;
    }
  }

  static bool wait_until_true(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (!cond()) {
      if (Clock::now() > deadline) {
        return cond();
      }
      std::this_thread::sleep_for(2ms);
    }
    return true;
  }

  // The program name of the child that child kills aim at.
  std::string child_comm() const { return m_kind == Kind::btrfs_send ? "btrfs" : "rsync"; }

  // Runs a backup to its end in its own process group, as the killed runs are; with
  // child_seconds, also measures how long its rsync or btrfs children were seen.
  BackupRun run_backup(const fs::path& config, double* child_seconds) {
    Stopwatch timer(m_seconds_running);
    GroupRun run({"-c", config.string(), "-v", "--json", "backup"}, m_logs / "run.out", m_logs / "run.err");
    std::optional<Clock::time_point> first;
    std::optional<Clock::time_point> last;
    while (child_seconds != nullptr && run.running()) {
      for (const auto& p : children_of(run.pid())) {
        if (p.comm == child_comm()) {
          first = first.value_or(Clock::now());
          last = Clock::now();
        }
      }
      std::this_thread::sleep_for(200us);
    }
    int status = run.wait();
    if (child_seconds != nullptr) {
      *child_seconds = first ? std::chrono::duration<double>(*last - *first).count() : 0.0;
    }
    return parse_backup(WIFEXITED(status) ? WEXITSTATUS(status) : -1, run.out_text(), run.err_text(), run.seconds());
  }

  // A normal backup that must succeed and add the snapshot it names (a btrfs run may also complete
  // a verified receive a killed run left); records what the new folders must hold.
  BackupRun backup_ok(const std::string& what, double* child_seconds = nullptr) {
    TreeState state = describe_tree(m_src, m_cache);
    std::set<std::string> before = ids();
    BackupRun b = run_backup(m_config, child_seconds);
    EXPECT_EQ(b.exit_code, 0) << what << " failed:\n" << b.out << b.err;
    EXPECT_EQ(b.status, "ok") << what << ": " << b.out;
    record_new(before, b, state, what);
    return b;
  }

  // Runs a backup and copies the image the moment it returns.
  BackupRun backup_and_copy(const fs::path& copy) {
    TreeState state = describe_tree(m_src, m_cache);
    std::set<std::string> before = ids();
    BackupRun b = run_backup(m_config, nullptr);
    RunResult cp = run({"cp", "--sparse=always", "--", m_fs->image().string(), copy.string()});
    EXPECT_EQ(cp.exit_code, 0) << cp.err;
    record_new(before, b, state, "the backup before the power cut");
    return b;
  }

  void record_new(const std::set<std::string>& before, const BackupRun& b, const TreeState& state,
                  const std::string& what) {
    if (b.exit_code != 0) {
      return;
    }
    std::vector<std::string> made;
    for (const auto& id : ids()) {
      if (before.count(id) == 0) {
        made.push_back(id);
      }
    }
    EXPECT_TRUE(std::find(made.begin(), made.end(), b.id) != made.end())
        << what << " reported snapshot '" << b.id << "' but made no such folder";
    EXPECT_LE(made.size(), m_kind == Kind::btrfs_send ? 2u : 1u) << what << " made too many snapshot folders";
    // A completed receive of a killed run saw the same source (nothing changes between the two).
    for (const auto& id : made) {
      if (id != b.id) {
        remember(id, state, "the killed run completed by " + what);
        ++m_counters.killed_run_snapshots;
      }
    }
    if (!b.id.empty()) {
      remember(b.id, state, what);
    }
  }

  void expect_snapshot_equal(const fs::path& dir, const TreeState& expected, const std::string& where) {
    ++m_counters.snapshots_checked;
    if (!hard_links(m_kind) && !is_read_only_subvolume(dir)) {
      ++m_counters.data_lost;
      ADD_FAILURE() << where << ": " << dir << " is not a read-only subvolume, so it may be unfinished";
    }
    TreeState actual = describe_tree(dir, m_cache);
    // btrfs send creates new entries under orphan names in the subvolume's root and renames them
    // into place, and sends the root's times only when the root itself changed: a received root
    // keeps the time of the receive (btrfs-progs 6.2, kernel 6.18). Not snapkeep's doing; counted.
    if (m_kind == Kind::btrfs_send && actual.count(".") != 0 && expected.count(".") != 0 &&
        actual["."].mtime != expected.at(".").mtime) {
      ++m_counters.root_mtime_from_receive;
      actual["."].mtime = expected.at(".").mtime;
    }
    auto diffs = state_differences(expected, actual);
    if (!diffs.empty()) {
      ++m_counters.data_lost;
      ADD_FAILURE() << where << ": snapshot " << dir << " is not the source state that made it:\n" << join_lines(diffs);
    }
  }

  // `latest` is a relative symlink to the newest id (or, allow_behind, to an older complete one).
  void expect_valid_latest(const fs::path& preset, const std::vector<std::string>& present,
                           const std::vector<std::string>& order, bool allow_behind, const std::string& where) {
    if (present.empty()) {
      return;
    }
    fs::path link = preset / "latest";
    struct stat st {};
    if (::lstat(link.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) {
      ADD_FAILURE() << where << ": " << link << " is not a symlink";
      return;
    }
    std::string target = fs::read_symlink(link).string();
    EXPECT_EQ(target.find('/'), std::string::npos)
        << where << ": latest is not a relative link to a sibling: " << target;
    EXPECT_TRUE(std::find(present.begin(), present.end(), target) != present.end())
        << where << ": latest names " << target << ", which is not a snapshot folder";
    std::string newest;
    for (auto it = order.rbegin(); it != order.rend() && newest.empty(); ++it) {
      if (std::find(present.begin(), present.end(), *it) != present.end()) {
        newest = *it;
      }
    }
    if (target != newest && !allow_behind && first_report("latest " + target + " " + newest)) {
      ADD_FAILURE() << where << ": latest names " << target << ", not the newest snapshot " << newest;
    }
  }

  // Every id folder equals its source state, none is lost, latest and list agree.
  void check_destination(const std::string& when, bool killed_run_made_newest) {
    SCOPED_TRACE(when);
    Stopwatch timer(m_seconds_checking);
    std::vector<std::string> present = snapshot_ids(m_preset_dir);
    std::set<std::string> present_set(present.begin(), present.end());
    for (const auto& id : m_order) {
      if (present_set.count(id) == 0) {
        ++m_counters.data_lost;
        ADD_FAILURE() << "snapshot " << id << " is gone";
      }
    }
    for (const auto& id : present) {
      if (m_expected.count(id) == 0) {
        ADD_FAILURE() << "snapshot folder " << id << " appeared without a backup making it";
        continue;
      }
      expect_snapshot_equal(m_preset_dir / id, m_expected[id], "snapshot " + id + " made by " + m_origin[id]);
    }
    // latest: after a kill between the rename of a new snapshot and the move of latest, latest
    // still names the snapshot before (the next run moves it); any other answer is an error.
    if (!present.empty()) {
      std::string target;
      std::error_code ec;
      target = fs::read_symlink(m_preset_dir / "latest", ec).string();
      bool behind = killed_run_made_newest && m_order.size() >= 2 && target == m_order[m_order.size() - 2];
      if (behind) {
        ++m_counters.latest_behind;
      }
      expect_valid_latest(m_preset_dir, present, m_order, behind, "destination");
    }
    // list works and shows exactly these snapshots, oldest first.
    RunResult list = snapkeep({"-c", m_config.string(), "--json", "list"});
    EXPECT_EQ(list.exit_code, 0) << "snapkeep list failed:\n" << list.err;
    json doc = json::parse(list.out, nullptr, false);
    std::vector<std::string> listed;
    if (!doc.is_discarded() && doc.contains("presets") && !doc["presets"].empty()) {
      for (const auto& s : doc["presets"][0]["snapshots"]) {
        listed.push_back(s.value("id", ""));
      }
    }
    std::vector<std::string> expected_order;
    for (const auto& id : m_order) {
      if (present_set.count(id) != 0) {
        expected_order.push_back(id);
      }
    }
    if (listed != expected_order) {
      std::size_t first = 0;
      std::string key;
      while (first < listed.size() && first < expected_order.size() && listed[first] == expected_order[first]) {
        ++first;
      }
      std::string text;
      for (std::size_t i = first; i < first + 4 && i < std::max(listed.size(), expected_order.size()); ++i) {
        std::string id = i < listed.size() ? listed[i] : "-";
        std::ifstream in(m_preset_dir / ".snapkeep" / "snapshots" / id);
        std::string record((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::replace(record.begin(), record.end(), '\n', ' ');
        text += "  listed " + id + " (record: " + record + "), made " +
                (i < expected_order.size() ? expected_order[i] : "-") + "\n";
        if (i < first + 2) {
          key += id + " ";
        }
      }
      if (first_report("order " + key)) {
        ADD_FAILURE() << "snapkeep list does not show the snapshots in the order they were made (see "
                         "SnapshotOrder.BackupStartingAtASecondBoundarySortsAfterTheOneBeforeIt); from position "
                      << first << ":\n"
                      << text;
      }
    }
  }

  // True the first time `key` is reported: one misordered pair is reported once, not at every
  // later check.
  bool first_report(const std::string& key) { return m_reported.insert(key).second; }

  // After a successful run no interrupted work is left: rsync's partial/ and resume-N/ are gone,
  // and so is every btrfs .incoming-* receive and source snapshot.
  void expect_no_work_left() {
    std::vector<fs::path> dirs{m_preset_dir, m_preset_dir / ".snapkeep"};
    if (m_kind == Kind::btrfs_send) {
      dirs.push_back(m_fs->mount_point() / ".snapkeep-snapshots" / k_preset);
    }
    for (const auto& dir : dirs) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::string name = entry.path().filename().string();
        EXPECT_FALSE(name == "partial" || name.rfind("resume-", 0) == 0 || name.rfind(".incoming-", 0) == 0)
            << "interrupted work left after a successful run: " << entry.path();
      }
    }
  }

  // The run after a kill is still incremental against the snapshot before it.
  void check_incremental(const BackupRun& next) {
    auto pos = std::find(m_order.begin(), m_order.end(), next.id);
    if (pos == m_order.begin() || pos == m_order.end()) {
      return;
    }
    const std::string& prev = *(pos - 1);
    expect_incremental(m_preset_dir / prev, m_expected[prev], m_preset_dir / next.id, m_expected[next.id], prev, next,
                       m_ctimes[next.id]);
  }

  // rsync: unchanged files are hard links to the previous snapshot. btrfs send: an incremental
  // stream from the previous snapshot, no bigger than the changed data. btrfs plain source:
  // unchanged files share the previous snapshot's extents.
  // The native engine's stricter rule: a source file whose ctime moved since the previous backup
  // (a chmod to the same mode, a revert with the old mtime) is copied, not linked; `now_ctimes`
  // (the source's ctimes when `next` ran) says which files that concerns.
  void expect_incremental(const fs::path& prev_dir, const TreeState& prev, const fs::path& new_dir,
                          const TreeState& now, const std::string& prev_id, const BackupRun& next,
                          const std::map<std::string, std::int64_t>& now_ctimes) {
    const auto& prev_ctimes = m_ctimes[prev_id];
    std::vector<std::string> unshared;
    std::size_t compared = 0;
    for (const auto& [path, e] : now) {
      auto it = prev.find(path);
      if (e.type != 'f' || it == prev.end() || !(it->second == e)) {
        continue;
      }
      if (m_kind == Kind::native) {
        auto a = prev_ctimes.find(path);
        auto b = now_ctimes.find(path);
        if (a == prev_ctimes.end() || b == now_ctimes.end() || a->second != b->second) {
          continue;
        }
      }
      if (hard_links(m_kind)) {
        ++compared;
        if (inode_of(prev_dir / path) != inode_of(new_dir / path)) {
          unshared.push_back(path);
        }
      } else if (m_kind == Kind::btrfs_plain && e.size >= 16 * k_kib) {
        ++compared;
        if (extents_of(prev_dir / path) != extents_of(new_dir / path)) {
          unshared.push_back(path);
        }
      }
    }
    EXPECT_TRUE(unshared.empty()) << unshared.size() << " of " << compared
                                  << " unchanged files do not share storage with snapshot " << prev_id << ", e.g. "
                                  << (unshared.empty() ? "" : unshared.front());
    if (m_kind == Kind::btrfs_send) {
      EXPECT_EQ(send_parent(next.err), prev_id) << "the run is not an incremental send from the previous snapshot:\n"
                                                << next.err;
      std::uint64_t changed = changed_file_bytes(prev, now);
      EXPECT_LE(next.bytes_transferred, changed + 256 * k_kib)
          << "the send carried more than the changed data (" << changed << " bytes)";
      EXPECT_LT(next.bytes_transferred, m_full_bytes) << "the send is as big as a full one";
    }
  }

  Kind m_kind;
  std::string m_label;
  FaultSettings m_settings;
  TempDir m_tmp;
  std::unique_ptr<LoopFs> m_fs;
  fs::path m_src;
  fs::path m_dest;
  fs::path m_preset_dir;
  fs::path m_config;
  fs::path m_logs;
  std::unique_ptr<SourceTree> m_tree;
  bool m_ready = false;
  HashCache m_cache;
  std::map<std::string, TreeState> m_expected;                          // id -> the source state that made it
  std::map<std::string, std::string> m_origin;                          // id -> which run made it, for messages
  std::map<std::string, std::map<std::string, std::int64_t>> m_ctimes;  // id -> the source's ctimes then
  std::vector<std::string> m_order;                                     // ids in the order they were made
  std::set<std::string> m_reported;                                     // failures already reported
  std::uint64_t m_full_bytes = 0;
  double m_seconds_checking = 0;  // where the suite's time goes, printed at the end
  double m_seconds_running = 0;
  double m_seconds_killing = 0;
  double m_seconds_waiting = 0;
  double m_seconds_power = 0;
  double m_duration = 0.1;         // seconds of one incremental backup
  double m_child_duration = 0.05;  // seconds its rsync or btrfs children live
  Counters m_counters;
};

// Runs the whole suite for one backend, then checks that nothing is left mounted or attached.
void run_suite(Kind kind, const std::string& label) {
  FaultSettings settings = fault_settings();
  std::string image;
  std::string mount;
  std::vector<std::string> markers;
  auto started = Clock::now();
  auto trials_started = started;
  {
    FaultWorld world(kind, label, settings);
    ASSERT_TRUE(world.ready());
    image = world.image().string();
    mount = world.mount_point().string();
    markers = world.markers();
    world.setup();
    std::printf("[ fault    ] %s: set up in %.1f s\n", label.c_str(),
                std::chrono::duration<double>(Clock::now() - started).count());
    trials_started = Clock::now();
    for (int i = 0; i < settings.trials && !testing::Test::HasFatalFailure(); ++i) {
      world.trial(i);
    }
    std::printf("[ fault    ] %s: trials in %.1f s\n", label.c_str(),
                std::chrono::duration<double>(Clock::now() - trials_started).count());
    for (int i = 0; i < settings.power_trials && !testing::Test::HasFatalFailure(); ++i) {
      world.power_cut(i);
    }
    world.finish();
    trials_started = Clock::now();
  }
  std::printf("[ fault    ] %s: torn down in %.1f s\n", label.c_str(),
              std::chrono::duration<double>(Clock::now() - trials_started).count());
  EXPECT_FALSE(mounted_anywhere(mount)) << mount << " is still mounted";
  RunResult loops = run({"losetup", "-a"});
  EXPECT_EQ(loops.out.find(image), std::string::npos) << "a loop device still uses " << image << ":\n" << loops.out;
  auto left = leftover_processes(markers);
  EXPECT_TRUE(left.empty()) << "process left: " << (left.empty() ? "" : left.front().cmdline);
  std::printf("[ fault    ] %s: %.1f s\n", label.c_str(),
              std::chrono::duration<double>(Clock::now() - started).count());
}

TEST(CrashConsistency, RsyncOnExt4) {
  SNAPKEEP_REQUIRE_ROOT();
  run_suite(Kind::rsync, "rsync");
}

TEST(CrashConsistency, NativeOnExt4) {
  SNAPKEEP_REQUIRE_ROOT();
  run_suite(Kind::native, "native");
}

TEST(CrashConsistency, BtrfsSendReceiveFromSubvolume) {
  SNAPKEEP_REQUIRE_ROOT();
  run_suite(Kind::btrfs_send, "btrfs-send");
}

TEST(CrashConsistency, BtrfsRsyncFromPlainFolder) {
  SNAPKEEP_REQUIRE_ROOT();
  run_suite(Kind::btrfs_plain, "btrfs-plain");
}

}  // namespace
}  // namespace snapkeep::test::fault
