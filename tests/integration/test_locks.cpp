// Integration tests of the per-preset lock (SPEC §4.7) through the built CLI, on a loop-mounted ext4
// destination. For every ordered pair of backup, prune and scrub: while the first is held in the
// middle of its work (a backup inside its rsync child, a prune deleting a snapshot, a scrub reading
// a snapshot's file), the second exits 3 naming the first's pid and changes nothing on disk; once
// the first is done, the second succeeds. A holder SIGKILLed with its whole process group never
// blocks the next run. Runs started together in a seeded random order never fail and never copy at
// the same time. Two presets on one destination never block each other.

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backends/registry.hpp"
#include "core/backup/backup.hpp"
#include "core/config/config.hpp"
#include "core/retention/prune.hpp"
#include "tests/support/file_probes.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::size_t k_mib = 1024 * 1024;

enum class Command { backup, prune, scrub };
constexpr std::array<Command, 3> k_commands{Command::backup, Command::prune, Command::scrub};

std::string name_of(Command c) {
  switch (c) {
    case Command::backup: return "backup";
    case Command::prune: return "prune";
    case Command::scrub: return "scrub";
  }
  return "?";
}

// PATH with tests/fakes/hold first: its rsync is the real one, held back or logged on request.
std::string path_with_hold_fake() {
  const char* path = std::getenv("PATH");
  return std::string(SNAPKEEP_SOURCE_DIR) + "/tests/fakes/hold:" + (path != nullptr ? path : "/usr/bin:/bin");
}

// A TempDir with one source folder per preset and the configs, and an ext4 destination shared by
// every preset. backup and scrub read `plain.ini` (no keep); prune reads `keep.ini` (keep = 1).
struct LockWorld {
  explicit LockWorld(std::vector<std::string> names = {"home"}) : presets(std::move(names)), dest("ext4", 512) {
    logs = tmp / "logs";
    fs::create_directories(logs);
    plain = tmp / "plain.ini";
    keep = tmp / "keep.ini";
    // transfer = rsync: the hold fake holds runs back in their rsync child.
    write_configs(plain, "transfer = rsync\n");
    write_configs(keep, "transfer = rsync\nkeep = 1\n");
    for (const auto& p : presets) {
      write_file(src(p) / "a.txt", "alpha of " + p + "\n");
      write_random_file(src(p) / "sub" / "b.bin", 64 * 1024, 7);
    }
  }
  // A config at `path` with every preset, each with `extra` lines.
  void write_configs(const fs::path& path, const std::string& extra) const {
    std::string text;
    for (const auto& p : presets) {
      text +=
          "[" + p + "]\nsource = " + src(p).string() + "\ndestination = " + dest.mount_point().string() + "\n" + extra;
    }
    write_file(path, text);
  }
  fs::path src(const std::string& preset) const { return tmp / ("src-" + preset); }
  fs::path preset_dir(const std::string& preset) const { return dest.mount_point() / preset; }
  fs::path lock(const std::string& preset) const { return preset_dir(preset) / ".snapkeep" / "lock"; }
  // `-c CONFIG --json COMMAND PRESET`: prune with keep.ini, the others with plain.ini unless `config`.
  std::vector<std::string> args(Command c, const std::string& preset, const fs::path& config = {}) const {
    fs::path chosen = !config.empty() ? config : (c == Command::prune ? keep : plain);
    return {"-c", chosen.string(), "--json", name_of(c), preset};
  }
  RunResult run(Command c, const std::string& preset) const { return snapkeep(args(c, preset)); }
  // A backup that must succeed; the new snapshot's id.
  std::string backup_ok(const std::string& preset) const {
    RunResult r = run(Command::backup, preset);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json doc = json::parse(r.out, nullptr, false);
    if (doc.is_discarded() || doc["presets"].size() != 1) {
      ADD_FAILURE() << "unexpected backup output:\n" << r.out << "\n" << r.err;
      return {};
    }
    return doc["presets"][0].value("snapshot", "");
  }

  std::vector<std::string> presets;
  TempDir tmp;
  LoopFs dest;
  fs::path logs;
  fs::path plain;
  fs::path keep;
};

// One line per entry below preset_dir (and the folder itself): type, mode, size, inode, links, mtime
// in ns; a symlink's target; below .snapkeep (records, manifests, scrub state, lock) also the content.
std::map<std::string, std::string> disk_state(const fs::path& preset_dir) {
  std::map<std::string, std::string> out;
  std::vector<fs::path> entries = tree_entries(preset_dir);
  entries.insert(entries.begin(), fs::path());
  for (const auto& rel : entries) {
    fs::path p = rel.empty() ? preset_dir : preset_dir / rel;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      out[rel.string()] = "gone while read";
      continue;
    }
    std::ostringstream line;
    line << std::oct << st.st_mode << std::dec << " size " << st.st_size << " ino " << st.st_ino << " links "
         << st.st_nlink << " mtime " << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
    if (S_ISLNK(st.st_mode)) {
      line << " -> " << link_target(p);
    } else if (S_ISREG(st.st_mode) && rel.string().rfind(".snapkeep/", 0) == 0) {
      line << " content " << printable(read_file(p));
    }
    out[rel.string()] = line.str();
  }
  return out;
}

// The entries that differ between two disk_state()s, one line each and at most 20 ("" when equal).
std::string state_changes(const std::map<std::string, std::string>& before,
                          const std::map<std::string, std::string>& after) {
  std::vector<std::string> lines;
  for (const auto& [rel, line] : before) {
    auto it = after.find(rel);
    if (it == after.end()) {
      lines.push_back("gone: " + rel);
    } else if (it->second != line) {
      lines.push_back("changed: " + rel + ": " + line.substr(0, 200) + "  ->  " + it->second.substr(0, 200));
    }
  }
  for (const auto& [rel, line] : after) {
    if (before.count(rel) == 0) {
      lines.push_back("new: " + rel);
    }
  }
  std::size_t shown = std::min<std::size_t>(lines.size(), 20);
  std::string out = join_lines({lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(shown)});
  if (shown < lines.size()) {
    out += "  ... and " + std::to_string(lines.size() - shown) + " more\n";
  }
  return out;
}

// The snapshot file (below an id folder, not below .snapkeep) that process pid has open, or "".
std::string snapshot_file_open_by(pid_t pid, const fs::path& preset_dir) {
  std::error_code ec;
  std::string prefix = preset_dir.string() + "/";
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code lec;
    std::string target = fs::read_symlink(fd.path(), lec).string();
    if (!lec && target.rfind(prefix, 0) == 0 && target.compare(prefix.size(), 1, ".") != 0 &&
        target.find('/', prefix.size()) != std::string::npos) {
      return target;
    }
  }
  return {};
}

// A run of one command held in the middle of its work: a backup waits in the hold fake (its rsync
// child) before anything is copied; a prune is stopped (SIGSTOP) while a `.deleting-<id>` tree is
// still there; a scrub is stopped while it has a snapshot's file open.
struct HeldRun {
  Command command = Command::backup;
  std::unique_ptr<BackgroundRun> run;
  fs::path release;  // backup: the file that lets the hold fake go on
  std::string what;  // what it was doing when held
  // Lets it finish its work.
  void let_go() const {
    if (command == Command::backup) {
      write_file(release, "");
    } else {
      run->resume();
    }
  }
};

// Starts `command` of `preset` in a process group of its own and holds it mid-work. A prune or a
// scrub that ends before the stop lands (its work was too quick to catch) is tried again with twice
// the work, up to four times (a prune of 2 000 to 16 000 files, a scrub of 8 to 64 MiB), so the stop
// is certain; what it did meanwhile is ordinary work.
HeldRun hold_mid_work(LockWorld& w, Command command, const std::string& preset) {
  static int serial = 0;
  HeldRun held;
  held.command = command;
  fs::path dir = w.preset_dir(preset);
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::string name = name_of(command) + "-" + preset + "-" + std::to_string(++serial);
    BackgroundOptions options;
    options.name = name;
    options.own_group = true;
    if (command == Command::backup) {
      fs::path started = w.logs / (name + ".started");
      held.release = w.logs / (name + ".release");
      held.run = std::make_unique<BackgroundRun>(
          w.args(command, preset), w.logs,
          std::vector<std::string>{"PATH=" + path_with_hold_fake(), "FAKE_HOLD_STARTED=" + started.string(),
                                   "FAKE_HOLD_RELEASE=" + held.release.string()},
          options);
      if (!wait_until([&] { return exists_nofollow(started) || !held.run->running(); }, 60s, 1ms) ||
          !held.run->running()) {
        ADD_FAILURE() << "the backup never reached its rsync: " << held.run->stderr_text();
        held.run.reset();
        return held;
      }
      EXPECT_EQ(read_file(started), std::to_string(held.run->pid()) + "\n") << "the held rsync is not the run's child";
      // Mid-work indeed: the new snapshot's time is recorded, and no folder of that id exists yet.
      auto records = std::distance(fs::directory_iterator(dir / ".snapkeep" / "snapshots"), fs::directory_iterator());
      EXPECT_EQ(static_cast<std::size_t>(records), snapshot_ids(dir).size() + 1)
          << "the held backup has not recorded its snapshot";
      held.what = "waiting in its rsync child";
      return held;
    }
    std::vector<std::string> victims;
    if (command == Command::prune) {
      // Snapshots of a bigger tree each time; keep = 1 deletes all but the newest.
      int files = 2000 << attempt;
      for (int i = 0; i < files; ++i) {
        if (i % 200 == 0) {
          fs::create_directories(w.src(preset) / ("bulk" + std::to_string(attempt)) / std::to_string(i / 200));
        }
        write_file(w.src(preset) / ("bulk" + std::to_string(attempt)) / std::to_string(i / 200) / std::to_string(i),
                   std::to_string(i));
      }
      w.backup_ok(preset);
      w.backup_ok(preset);
      victims = snapshot_ids(dir);
      victims.pop_back();  // ids sort as made here: the newest stays
    } else {
      // More data to read each time.
      for (int i = 0; i < 4; ++i) {
        write_random_file(w.src(preset) / ("big" + std::to_string(attempt)) / std::to_string(i),
                          (2u << attempt) * k_mib, static_cast<unsigned>(100 * attempt + i));
      }
      w.backup_ok(preset);
    }
    held.run = std::make_unique<BackgroundRun>(w.args(command, preset), w.logs, std::vector<std::string>{}, options);
    BackgroundRun& run = *held.run;
    auto mid_work = [&] {
      if (command == Command::prune) {
        for (const auto& id : victims) {
          if (exists_nofollow(dir / (".deleting-" + id))) {
            held.what = "deleting " + id;
            return true;
          }
        }
        return false;
      }
      std::string file = snapshot_file_open_by(run.pid(), dir);
      held.what = "reading " + file;
      return !file.empty();
    };
    if (stop_when(run, mid_work)) {
      return held;
    }
    EXPECT_EQ(run.exit_code(), 0) << "the " << name_of(command) << " failed: " << run.stderr_text();
    std::printf("[ locks    ] %s ended before it was stopped (attempt %d); again with more work\n",
                name_of(command).c_str(), attempt + 1);
  }
  ADD_FAILURE() << name_of(command) << " always ended before it could be stopped mid-work";
  held.run.reset();
  return held;
}

// The preset's catalog is whole: every id folder has its record and manifest and is listed, every
// record has its folder, names sort as `list` orders them, `latest` names the newest, no work is left
// over, a scrub verifies every snapshot against its manifest, and the newest equals the source.
void expect_consistent(const LockWorld& w, const std::string& preset) {
  SCOPED_TRACE("consistency of " + preset);
  fs::path dir = w.preset_dir(preset);
  auto ids = snapshot_ids(dir);
  std::sort(ids.begin(), ids.end());  // compared by name below
  ASSERT_FALSE(ids.empty());
  RunResult list = snapkeep({"-c", w.plain.string(), "--json", "list", preset});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  json doc = json::parse(list.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << list.out;
  std::vector<std::string> listed;
  for (const auto& s : doc["presets"][0]["snapshots"]) {
    listed.push_back(s.value("id", ""));
  }
  std::vector<std::string> sorted = listed;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, ids) << "listed and on disk differ";
  EXPECT_EQ(link_target(dir / "latest"), listed.empty() ? "" : listed.back()) << "latest is not the newest";
  std::vector<std::string> records;
  for (const auto& e : fs::directory_iterator(dir / ".snapkeep" / "snapshots")) {
    records.push_back(e.path().filename().string());
  }
  std::sort(records.begin(), records.end());
  EXPECT_EQ(records, ids) << "time records and snapshot folders differ";
  for (const auto& id : ids) {
    EXPECT_TRUE(exists_nofollow(dir / ".snapkeep" / "manifests" / id)) << "no manifest for " << id;
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    EXPECT_TRUE(name[0] != '.' || name == ".snapkeep") << "left over: " << name;
  }
  for (const auto& e : fs::directory_iterator(dir / ".snapkeep")) {
    std::string name = e.path().filename().string();
    EXPECT_TRUE(name != "partial" && name.rfind("resume-", 0) != 0 && name.find(".new") == std::string::npos &&
                name.find(".tmp") == std::string::npos)
        << "work left over: " << e.path();
  }
  RunResult scrub = snapkeep({"-c", w.plain.string(), "--json", "scrub", preset});
  EXPECT_EQ(scrub.exit_code, 0) << scrub.out << scrub.err;
  json sdoc = json::parse(scrub.out, nullptr, false);
  ASSERT_FALSE(sdoc.is_discarded()) << scrub.out;
  EXPECT_EQ(sdoc["presets"][0].value("status", ""), "ok") << scrub.out;
  EXPECT_EQ(sdoc["presets"][0].value("snapshots_checked", 0u), ids.size()) << scrub.out;
  // Names keep the order of completion, even after a burst of backups within one second and a
  // prune in between (docs/usage.md, "Snapshot ids and order"); the newest is the one completed last.
  EXPECT_EQ(listed, sorted) << "names are not in the order the snapshots were made";
  ASSERT_FALSE(listed.empty());
  auto diffs = tree_differences(w.src(preset), dir / listed.back(), whole_second_mtimes());
  EXPECT_TRUE(diffs.empty()) << "the newest snapshot (" << listed.back() << ") is not the source:\n"
                             << join_lines(diffs);
}

// A run that found the lock taken: exit 3, the holder's pid in the message, and in the JSON.
void expect_locked_out(const RunResult& r, pid_t holder, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("(pid " + std::to_string(holder) + ") holds the lock"), std::string::npos) << r.err;
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  EXPECT_EQ(doc["presets"][0].value("status", ""), "failed") << r.out;
  EXPECT_EQ(doc["presets"][0].value("locked", false), true) << r.out;
}

// gtest names and prints a Command by its name.
struct CommandName {
  std::string operator()(const ::testing::TestParamInfo<Command>& info) const { return name_of(info.param); }
};
void PrintTo(Command c, std::ostream* os) {
  *os << name_of(c);
}

// ---------------------------------------------------------------------------------------------
// The first command (the parameter) held mid-work

class FirstHeld : public ::testing::TestWithParam<Command> {
 protected:
  // A world with preset "home" and one snapshot, then GetParam() held mid-work in it; false (and a
  // test failure) when that cannot be done.
  bool hold() {
    m_world.emplace();
    if (!m_world->dest.ok()) {
      return false;
    }
    m_world->backup_ok("home");
    m_held = hold_mid_work(*m_world, GetParam(), "home");
    if (!m_held.run) {
      return false;
    }
    std::printf("[ locks    ] %s (pid %d) held: %s\n", name_of(GetParam()).c_str(), m_held.run->pid(),
                m_held.what.c_str());
    return true;
  }
  LockWorld& world() { return *m_world; }
  HeldRun& held() { return m_held; }

 private:
  std::optional<LockWorld> m_world;  // made in hold(): only a root test may make loop filesystems
  HeldRun m_held;                    // declared after the world, so it ends before it is torn down
};

// Each of the three as the second run.
TEST_P(FirstHeld, SecondRunExitsThreeAndChangesNothingUntilTheFirstIsDone) {
  SNAPKEEP_REQUIRE_ROOT();
  ASSERT_TRUE(hold());
  LockWorld& w = world();
  Command first = GetParam();
  pid_t holder = held().run->pid();
  auto before = disk_state(w.preset_dir("home"));
  for (Command second : k_commands) {
    RunResult r = w.run(second, "home");
    expect_locked_out(r, holder, name_of(second) + " while " + name_of(first) + " is " + held().what);
    std::string changes = state_changes(before, disk_state(w.preset_dir("home")));
    EXPECT_TRUE(changes.empty()) << name_of(second) << " changed the preset while locked out:\n" << changes;
  }
  ASSERT_TRUE(held().run->running()) << "the first run ended while held";

  held().let_go();
  EXPECT_EQ(held().run->exit_code(), 0) << held().run->stderr_text();
  json doc = json::parse(held().run->stdout_text(), nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << held().run->stdout_text();
  EXPECT_EQ(doc["presets"][0].value("status", ""), "ok") << doc.dump();
  for (Command second : k_commands) {
    RunResult r = w.run(second, "home");
    EXPECT_EQ(r.exit_code, 0) << name_of(second) << " after the " << name_of(first) << " ended:\n" << r.err;
  }
  expect_consistent(w, "home");
}

// Killed with its whole process group, it never blocks the next run of any of the three.
TEST_P(FirstHeld, KilledWithItsGroupItNeverBlocksTheNextRun) {
  SNAPKEEP_REQUIRE_ROOT();
  ASSERT_TRUE(hold());
  LockWorld& w = world();
  Command first = GetParam();
  pid_t holder = held().run->pid();
  held().run->kill_group(SIGKILL);
  int status = held().run->wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  ASSERT_TRUE(wait_until([&] { return live_processes_in_group(holder).empty(); }, 20s, 1ms))
      << "processes of the killed run's group are still alive";
  // What the dead holder left: its pid in the lock file, and for a prune its half-deleted tree.
  EXPECT_EQ(read_file(w.lock("home")), std::to_string(holder) + "\n");
  if (first == Command::prune) {
    std::string hidden = held().what.substr(held().what.find(' ') + 1);
    EXPECT_TRUE(exists_nofollow(w.preset_dir("home") / (".deleting-" + hidden))) << held().what;
  }

  for (Command next : k_commands) {
    RunResult r = w.run(next, "home");
    EXPECT_EQ(r.exit_code, 0) << name_of(next) << " after the " << name_of(first) << " (" << held().what
                              << ") was killed:\n"
                              << r.err;
  }
  expect_consistent(w, "home");
}

INSTANTIATE_TEST_SUITE_P(Locks, FirstHeld, ::testing::ValuesIn(k_commands), CommandName());

// ---------------------------------------------------------------------------------------------
// The holder's pid

// A run that finds the lock taken in the moment between the new holder's flock and its writing its
// pid must not name the previous holder, which has finished.
TEST(Locks, AFinishedRunIsNeverNamedAsTheHolder) {
  SNAPKEEP_REQUIRE_ROOT();
  LockWorld w;
  ASSERT_TRUE(w.dest.ok());
  BackgroundRun finished(w.args(Command::backup, "home"), w.logs);
  ASSERT_EQ(finished.exit_code(), 0) << finished.stderr_text();
  EXPECT_EQ(read_file(w.lock("home")), "") << "the pid of a finished run outlived its lock";

  int fd = ::open(w.lock("home").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // taken; no pid written yet
  for (Command c : k_commands) {
    RunResult r = w.run(c, "home");
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("holds the lock"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("pid " + std::to_string(finished.pid())), std::string::npos)
        << name_of(c) << " names a run that has finished:\n"
        << r.err;
  }
  ::close(fd);
  EXPECT_EQ(w.run(Command::backup, "home").exit_code, 0);
}

// ---------------------------------------------------------------------------------------------
// A backup and its own prune are one locked unit

// With `keep`, a backup is followed by a prune. The backup hands its lock to that prune instead of
// releasing it and taking it again, so no other run (a scrub, a prune) slips in between: run_backup
// returns with the lock still held, and run_prune under that lock neither waits for it nor exits 3.
TEST(Locks, BackupKeepsItsLockThroughItsOwnPrune) {
  TempDir tmp;
  fs::create_directories(tmp / "src");
  fs::create_directories(tmp / "dest");
  write_file(tmp / "src" / "a.txt", "a\n");
  write_file(tmp / "p.conf", "[home]\nsource = " + (tmp / "src").string() + "\ndestination = " +
                                 (tmp / "dest").string() + "\nbackend = rsync\nkeep = 1\nrequire_mount = no\n");
  auto config = load_config({tmp / "p.conf"}, config_schema());
  ASSERT_TRUE(config.ok()) << config.error().describe();
  const Preset& preset = config->presets.at(0);
  auto backend = backend_for(preset);
  ASSERT_TRUE(backend.ok()) << backend.error().describe();
  const fs::path state_dir = preset.preset_dir() / ".snapkeep";

  std::vector<std::string> made;
  for (int round = 0; round < 2; ++round) {
    write_file(tmp / "src" / "a.txt", "round " + std::to_string(round) + "\n");
    auto outcome = run_backup(preset, **backend, BackupOptions{}, nullptr);
    ASSERT_TRUE(outcome.ok()) << outcome.error().describe();
    made.push_back(outcome->snapshot_id);
    ASSERT_TRUE(outcome->lock.has_value()) << "run_backup let go of the lock";
    auto other = PresetLock::acquire(state_dir, preset.name, false);
    ASSERT_FALSE(other.ok()) << "another run could take the lock between the backup and its prune";
    EXPECT_EQ(other.error().kind, ErrorKind::locked) << other.error().describe();

    PruneOptions prune;
    prune.held_lock = &*outcome->lock;
    auto pruned = run_prune(preset, **backend, prune);
    ASSERT_TRUE(pruned.ok()) << pruned.error().describe();
    outcome->lock.reset();
    EXPECT_TRUE(PresetLock::acquire(state_dir, preset.name, false).ok()) << "the lock outlived the backup";
  }
  EXPECT_FALSE(fs::exists(preset.preset_dir() / made[0])) << "keep = 1 kept the older snapshot";
  EXPECT_EQ(read_file(preset.preset_dir() / made[1] / "a.txt"), "round 1\n");
}

// ---------------------------------------------------------------------------------------------
// Two presets on one destination

TEST(Locks, TwoPresetsOnOneDestinationNeverBlockEachOther) {
  SNAPKEEP_REQUIRE_ROOT();
  LockWorld w({"home", "other"});
  ASSERT_TRUE(w.dest.ok());
  w.backup_ok("home");
  w.backup_ok("other");

  // home's backup is held inside its rsync: other's backup, prune and scrub all go ahead.
  HeldRun home = hold_mid_work(w, Command::backup, "home");
  ASSERT_TRUE(home.run);
  for (Command c : k_commands) {
    RunResult r = w.run(c, "other");
    EXPECT_EQ(r.exit_code, 0) << name_of(c) << " of other while home's backup runs:\n" << r.err;
  }
  EXPECT_EQ(snapshot_ids(w.preset_dir("other")).size(), 1u) << "other's prune (keep = 1) did not delete";

  // other's prune is stopped mid-deletion: home's backup finishes, and home's prune and scrub run.
  HeldRun other = hold_mid_work(w, Command::prune, "other");
  ASSERT_TRUE(other.run);
  ASSERT_TRUE(home.run->running());
  home.let_go();
  EXPECT_EQ(home.run->exit_code(), 0) << "home's backup while other's prune is " << other.what << ":\n"
                                      << home.run->stderr_text();
  for (Command c : {Command::prune, Command::scrub}) {
    RunResult r = w.run(c, "home");
    EXPECT_EQ(r.exit_code, 0) << name_of(c) << " of home while other's prune is " << other.what << ":\n" << r.err;
  }
  ASSERT_TRUE(other.run->running());
  other.let_go();
  EXPECT_EQ(other.run->exit_code(), 0) << other.run->stderr_text();
  expect_consistent(w, "home");
  expect_consistent(w, "other");
}

// ---------------------------------------------------------------------------------------------
// Started together

// Seed from SNAPKEEP_LOCK_SEED, else a fresh one; printed so a failure can be replayed.
std::uint64_t stress_seed() {
  const char* env = std::getenv("SNAPKEEP_LOCK_SEED");
  if (env != nullptr && *env != '\0') {
    return std::stoull(env);
  }
  return (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

TEST(Locks, BackupPruneAndScrubStartedTogetherNeverFailOrInterleave) {
  SNAPKEEP_REQUIRE_ROOT();
  const std::uint64_t seed = stress_seed();
  std::printf("[ locks    ] stress seed %llu (replay with SNAPKEEP_LOCK_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  SCOPED_TRACE("SNAPKEEP_LOCK_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  LockWorld w;
  ASSERT_TRUE(w.dest.ok());
  // Every command with keep = 2, so each successful backup also prunes (waiting for the lock).
  fs::path config = w.tmp / "stress.ini";
  w.write_configs(config, "transfer = rsync\nkeep = 2\n");  // the hold fake logs rsync runs
  fs::path hold_log = w.logs / "rsync.log";
  const std::vector<std::string> env{"PATH=" + path_with_hold_fake(), "FAKE_HOLD_LOG=" + hold_log.string()};
  fs::path dir = w.preset_dir("home");
  const int k_rounds = 12;
  std::map<std::string, int> outcomes;
  std::set<pid_t> copied;  // backups whose rsync ran

  for (int round = 0; round < k_rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    write_file(w.src("home") / "round.txt", "round " + std::to_string(round) + "\n");
    write_random_file(w.src("home") / ("data" + std::to_string(round % 3)), 256 * 1024, static_cast<unsigned>(round));
    std::vector<Command> commands{Command::backup, Command::backup, Command::prune, Command::scrub,
                                  k_commands[rng() % 3]};
    std::shuffle(commands.begin(), commands.end(), rng);
    struct Started {
      Command command;
      bool wait;
      std::unique_ptr<BackgroundRun> run;
    };
    std::vector<Started> runs;
    std::string order;
    for (std::size_t i = 0; i < commands.size(); ++i) {
      bool wait = rng() % 3 == 0;
      auto args = w.args(commands[i], "home", config);
      if (wait) {
        args.push_back("--wait");
      }
      BackgroundOptions options;
      options.name = "r" + std::to_string(round) + "-" + std::to_string(i);
      runs.push_back({commands[i], wait, std::make_unique<BackgroundRun>(args, w.logs, env, options)});
      order += name_of(commands[i]) + (wait ? "(wait) " : " ");
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));  // variety, not a condition
    }
    std::set<pid_t> pids;
    for (const auto& s : runs) {
      pids.insert(s.run->pid());
    }
    std::vector<std::string> made;
    std::string results;
    for (auto& s : runs) {
      int code = s.run->exit_code();
      std::string what = name_of(s.command) + (s.wait ? " --wait" : "") + " (pid " + std::to_string(s.run->pid()) + ")";
      results += what + ": " + std::to_string(code) + "; ";
      ++outcomes[name_of(s.command) + " exit " + std::to_string(code)];
      std::string err = s.run->stderr_text();
      EXPECT_TRUE(code == 0 || (code == 3 && !s.wait)) << what << " exited " << code << " in " << order << "\n" << err;
      if (code == 3) {
        EXPECT_NE(err.find("holds the lock"), std::string::npos) << what << ":\n" << err;
        std::smatch m;
        static const std::regex named(R"(\(pid (\d+)\) holds the lock)");
        if (std::regex_search(err, m, named)) {
          pid_t named_pid = static_cast<pid_t>(std::stol(m[1].str()));
          EXPECT_TRUE(pids.count(named_pid) == 1 && named_pid != s.run->pid())
              << what << " names pid " << named_pid << ", not another run of this round:\n"
              << err;
        }
      }
      json doc = json::parse(s.run->stdout_text(), nullptr, false);
      if (code == 0 && s.command == Command::backup && !doc.is_discarded()) {
        made.push_back(doc["presets"][0].value("snapshot", ""));
        copied.insert(s.run->pid());
      }
    }
    std::printf("[ locks    ] round %d: %s\n", round, results.c_str());
    // Each new snapshot still there is this round's source.
    for (const auto& id : made) {
      if (exists_nofollow(dir / id)) {
        auto diffs = tree_differences(w.src("home"), dir / id, whole_second_mtimes());
        EXPECT_TRUE(diffs.empty()) << id << " is not the source of round " << round << ":\n" << join_lines(diffs);
      }
    }
    EXPECT_LE(snapshot_ids(dir).size(), 2u) << "keep = 2 was not applied";
  }

  // From the lock's side: rsync runs never overlapped (each start is followed by its own end), and
  // exactly the backups that succeeded copied, once each.
  std::istringstream log(read_file(hold_log));
  std::string line;
  pid_t open_run = 0;
  std::map<pid_t, int> rsync_runs;
  while (std::getline(log, line)) {
    std::istringstream fields(line);
    std::string kind;
    pid_t pid = 0;
    int code = -1;
    fields >> kind >> pid >> code;
    if (kind == "start") {
      EXPECT_EQ(open_run, 0) << "rsync of run " << pid << " started while run " << open_run << " was copying";
      open_run = pid;
      ++rsync_runs[pid];
    } else {
      EXPECT_EQ(pid, open_run) << "unexpected line: " << line;
      EXPECT_EQ(code, 0) << line;
      open_run = 0;
    }
  }
  std::set<pid_t> logged;
  for (const auto& [pid, n] : rsync_runs) {
    EXPECT_EQ(n, 1) << "run " << pid << " ran rsync " << n << " times";
    logged.insert(pid);
  }
  EXPECT_EQ(logged, copied) << "the backups that ran rsync are not the ones that succeeded";
  // The last round may have made no snapshot of its source: one more backup, which must succeed.
  RunResult last = snapkeep(w.args(Command::backup, "home", config));
  EXPECT_EQ(last.exit_code, 0) << last.err;
  expect_consistent(w, "home");
  std::string summary;
  for (const auto& [what, n] : outcomes) {
    summary += what + ": " + std::to_string(n) + ", ";
  }
  std::printf("[ locks    ] stress: %d rounds, %zu rsync runs, %s\n", k_rounds, copied.size(), summary.c_str());
}

}  // namespace
}  // namespace snapkeep::test
