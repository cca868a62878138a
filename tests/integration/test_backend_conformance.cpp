// One conformance suite for every Backend (the model is restic's internal/backend/test): the fake
// backend over plain folders (no root) and the real backends on loop-mounted filesystems (root):
// rsync on ext4, btrfs with a plain source and btrfs with a subvolume source. Each property is a
// TEST_P named for what it checks; docs/reliability.md lists them with what each checks per backend.
//
// The backends are called directly (no lock, no `latest`, no records: those are core/backup's).
// Killed runs are create_snapshot calls in a forked child of their own process group, SIGKILLed
// (with the programs they started) at a moment drawn from a fixed seed, or with only their child
// program killed; timings only spread the kill moments, they never decide a test.

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backends/registry.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/store/backend.hpp"
#include "core/store/catalog.hpp"
#include "core/store/snapshot_id.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/file_probes.hpp"
#include "tests/support/forked.hpp"
#include "tests/support/preset_world.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"
#include "tests/support/tree_state.hpp"

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::size_t k_kib = 1024;
constexpr std::time_t k_first_moment = 1'700'000'000;  // of the first snapshot id and source mtimes

enum class Kind { fake, rsync, btrfs_plain, btrfs_subvolume };

std::string kind_name(Kind kind) {
  switch (kind) {
    case Kind::fake: return "Fake";
    case Kind::rsync: return "RsyncOnExt4";
    case Kind::btrfs_plain: return "BtrfsPlainSource";
    case Kind::btrfs_subvolume: return "BtrfsSubvolumeSource";
  }
  return "?";
}

// Version `round` of the source tree: stable files (one a hard-linked pair, one only in round 0, a
// symlink, an empty folder), a file added in round 2, and 2.4 MiB rewritten every round (a big file
// and 100 small ones), so that each snapshot has data to copy while it is killed. Every file is at
// least 4 KiB (no inline btrfs extents); each write has an mtime of its own.
void write_source(const fs::path& src, int round) {
  auto stamp = [&](const fs::path& path, int second) { set_mtime(path, k_first_moment + second); };
  if (round == 0) {
    write_random_file(src / "docs" / "a.txt", 8 * k_kib, 1);
    write_random_file(src / "docs" / "b.bin", 64 * k_kib, 2);
    write_random_file(src / "pair1", 16 * k_kib, 3);
    fs::create_directories(src / "sub");
    fs::create_hard_link(src / "pair1", src / "sub" / "pair2");
    write_random_file(src / "only_in_0.bin", 40 * k_kib, 4);
    fs::create_symlink("docs/a.txt", src / "link");
    fs::create_directories(src / "empty");
    for (const char* rel : {"docs/a.txt", "docs/b.bin", "pair1", "only_in_0.bin"}) {
      stamp(src / rel, 0);
    }
  }
  if (round == 1) {
    fs::remove(src / "only_in_0.bin");
  }
  if (round == 2) {
    write_random_file(src / "new" / "n.bin", 24 * k_kib, 5);
    stamp(src / "new" / "n.bin", 2);
  }
  auto seed = [&](unsigned i) { return 1000u * static_cast<unsigned>(round + 1) + i; };
  write_random_file(src / "changing.bin", 32 * k_kib, seed(0));
  write_random_file(src / "big.bin", 2048 * k_kib, seed(1));
  stamp(src / "changing.bin", 10 + round);
  stamp(src / "big.bin", 10 + round);
  for (unsigned i = 0; i < 100; ++i) {
    fs::path file = src / "many" / ("f" + std::to_string(i));
    write_random_file(file, 4 * k_kib, seed(10 + i));
    stamp(file, 10 + round);
  }
}

// One backend under test and its world: a source, a destination, the preset, the backend.
class Target {
 public:
  explicit Target(Kind kind) : m_kind(kind) {}

  // Makes the filesystems and folders; false (after a test failure) when it cannot.
  bool make() {
    fs::path dest;
    switch (m_kind) {
      case Kind::fake:
        m_source = m_tmp / "src";
        dest = m_tmp / "dest";
        fs::create_directories(dest);
        m_fake = new FakeBackend;
        m_backend.reset(m_fake);
        // A quota far above what the suite writes: space() then counts blocks by brute force.
        m_fake->faults().quota_bytes = 1ULL << 30;
        break;
      case Kind::rsync:
        m_dest_fs = std::make_unique<LoopFs>("ext4", 128);
        m_source = m_tmp / "src";
        break;
      case Kind::btrfs_plain:
        m_dest_fs = std::make_unique<LoopFs>("btrfs", 256);
        m_source = m_tmp / "src";
        break;
      case Kind::btrfs_subvolume:
        m_src_fs = std::make_unique<LoopFs>("btrfs", 256);
        m_dest_fs = std::make_unique<LoopFs>("btrfs", 256);
        if (!m_src_fs->ok()) {
          return false;
        }
        // No atime updates at the source: the suite reads the source to compare, and btrfs send
        // carries an atime change as utimes, which gives the received file a new ctime
        // (docs/reliability.md); the capability is about what the backend does to unchanged inodes.
        if (run_ok({"mount", "-o", "remount,noatime", "--", m_src_fs->mount_point().string()}).exit_code != 0) {
          return false;
        }
        m_source = m_src_fs->mount_point() / "src";
        if (run_ok({"btrfs", "subvolume", "create", "--", m_source.string()}).exit_code != 0) {
          return false;
        }
        break;
    }
    if (m_dest_fs) {
      if (!m_dest_fs->ok()) {
        return false;
      }
      dest = m_dest_fs->mount_point();
      auto made = make_backend(m_kind == Kind::rsync ? "rsync" : "btrfs");
      if (!made) {
        ADD_FAILURE() << made.error().describe();
        return false;
      }
      m_backend = std::move(*made);
    }
    fs::create_directories(m_source);
    m_preset.name = "home";
    m_preset.source = m_source;
    m_preset.destination = dest;
    m_preset.backend = std::string(m_backend->name());
    m_preset.origin = "conformance:1";
    for (const auto& dir : {preset_dir(), state_dir()}) {
      if (auto made = make_dir(dir, 0700); !made) {
        ADD_FAILURE() << made.error().describe();
        return false;
      }
    }
    return true;
  }

  Kind kind() const { return m_kind; }
  Backend& backend() { return *m_backend; }
  FakeBackend* fake() { return m_fake; }
  const Preset& preset() const { return m_preset; }
  const fs::path& source() const { return m_source; }
  fs::path preset_dir() const { return m_preset.preset_dir(); }
  fs::path state_dir() const { return preset_dir() / ".snapkeep"; }
  fs::path snap(const std::string& id) const { return preset_dir() / id; }
  bool is_btrfs() const { return m_kind == Kind::btrfs_plain || m_kind == Kind::btrfs_subvolume; }
  // Where the btrfs backend keeps read-only snapshots of a subvolume source.
  fs::path source_snapshot_root() const { return m_source.parent_path() / ".snapkeep-snapshots" / "home"; }

  // A new id, later than every one before.
  std::string next_id() { return id_for(k_first_moment + 60 * ++m_ids); }

  // A job for snapshot `id` with the complete snapshots there are now.
  BackupJob job(const std::string& id) {
    BackupJob job;
    job.preset = &m_preset;
    job.source = m_source;
    job.preset_dir = preset_dir();
    job.state_dir = state_dir();
    job.id = id;
    auto snapshots = list_snapshots(preset_dir());
    EXPECT_TRUE(snapshots.ok()) << snapshots.error().describe();
    if (snapshots) {
      job.snapshots = *snapshots;
    }
    job.progress = &m_progress;
    return job;
  }

  // create_snapshot of the source as it is, in this process; remembers how long it took.
  Result<BackupStats> create(const std::string& id) {
    auto started = Clock::now();
    auto stats = m_backend->create_snapshot(job(id));
    m_seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return stats;
  }

  // A create_snapshot that must succeed and leave a complete copy of the source.
  std::string create_ok() {
    std::string id = next_id();
    auto stats = create(id);
    EXPECT_TRUE(stats.ok()) << "create_snapshot " << id << ": " << stats.error().describe();
    expect_complete(id);
    return id;
  }

  // How long the last create() took.
  double last_seconds() const { return m_seconds; }

  // Asserts snapshot `id` is a complete copy of the source as it is now (read-only on btrfs).
  void expect_complete(const std::string& id) {
    TreeCompare what;
    // btrfs receive leaves an unchanged root folder with the receive's mtime (see the crash suite).
    what.root = m_kind != Kind::btrfs_subvolume;
    auto diffs = tree_differences(m_source, snap(id), what);
    EXPECT_TRUE(diffs.empty()) << "snapshot " << id << " is not a complete copy of the source:\n" << join_lines(diffs);
    if (is_btrfs()) {
      EXPECT_TRUE(is_read_only_subvolume(snap(id))) << id << " is not a read-only subvolume";
    }
  }

  // Renames snapshot `id` out of sight as core does (.deleting-<id>) and deletes it with the backend.
  Status remove(const std::string& id) {
    fs::path hidden = preset_dir() / (".deleting-" + id);
    SNAPKEEP_TRY(rename_path(snap(id), hidden));
    return m_backend->delete_snapshot(hidden, m_progress);
  }

  // Free room as the backend measures it, once deletions have really freed their space.
  std::uint64_t free_bytes() {
    if (is_btrfs()) {
      // A commit wakes the cleaner that frees deleted subvolumes; wait for it, commit again.
      run_ok({"btrfs", "filesystem", "sync", "--", m_preset.destination.string()});
      run_ok({"btrfs", "subvolume", "sync", "--", m_preset.destination.string()});
      run_ok({"btrfs", "filesystem", "sync", "--", m_preset.destination.string()});
    }
    ::sync();
    auto space = m_backend->space(m_preset.destination);
    EXPECT_TRUE(space.ok()) << space.error().describe();
    return space ? space->free_bytes : 0;
  }

  // Programs check_preset needs, each with a folder in which it is the only program.
  std::map<std::string, fs::path> tools() const {
    fs::path fakes = fs::path(SNAPKEEP_SOURCE_DIR) / "tests" / "fakes";
    switch (m_kind) {
      case Kind::fake: return {};
      case Kind::rsync: return {{"rsync", fakes / "hold"}};
      case Kind::btrfs_plain:
      case Kind::btrfs_subvolume: return {{"rsync", fakes / "hold"}, {"btrfs", fakes / "btrfs-fail"}};
    }
    return {};
  }

 private:
  Kind m_kind;
  TempDir m_tmp;
  std::unique_ptr<LoopFs> m_src_fs;   // btrfs_subvolume
  std::unique_ptr<LoopFs> m_dest_fs;  // real backends
  fs::path m_source;
  Preset m_preset;
  std::unique_ptr<Backend> m_backend;
  FakeBackend* m_fake = nullptr;  // m_backend, for the fake
  Progress m_progress{"home"};
  int m_ids = 0;
  double m_seconds = 0.05;
};

// ---------------------------------------------------------------------------------------------
// Killed runs

// How a killed create_snapshot is stopped.
enum class KillMode {
  whole,         // the child and its programs SIGKILLed at a seeded moment
  program,       // only the backend's program (rsync, btrfs send/receive) SIGKILLed at a seeded moment
  transferring,  // the whole group SIGKILLed at a seeded moment once a program of the backend runs
  fake_step,     // the fake SIGKILLs itself at a step
};

struct KillPlan {
  KillMode mode = KillMode::whole;
  double fraction = 0;  // of the last undisturbed create_snapshot's duration
  FakeStep step = FakeStep::copy_started;
  std::string describe() const {
    switch (mode) {
      case KillMode::whole: return "whole run killed at " + std::to_string(fraction) + " of a run";
      case KillMode::program: return "its program killed at " + std::to_string(fraction) + " of a run";
      case KillMode::transferring: return "killed while transferring, at " + std::to_string(fraction) + " of a run";
      case KillMode::fake_step: return "the fake killed itself at " + std::string(step_name(step));
    }
    return "?";
  }
};

// What became of a killed create_snapshot.
enum class KillOutcome { killed, failed, finished };

// Waits until `moment` or until the call ended.
void sleep_until(ForkedCall& call, Clock::time_point moment) {
  while (Clock::now() < moment && call.running()) {
    std::this_thread::sleep_for(100us);
  }
}

// Runs create_snapshot(id) in a forked child and stops it as `plan` says; returns once the child
// and every program it started are gone.
KillOutcome kill_create(Target& t, const std::string& id, const KillPlan& plan) {
  BackupJob job = t.job(id);
  auto span = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t.last_seconds()));
  auto started = Clock::now();
  ForkedCall call([&] {
    if (plan.mode == KillMode::fake_step) {
      t.fake()->faults().at[plan.step] = FakeAction::kill;
    }
    return t.backend().create_snapshot(job).ok();
  });
  // The first program the child runs (rsync, btrfs send or receive), once it runs.
  auto program = [&]() -> std::optional<fault::ProcInfo> {
    std::optional<fault::ProcInfo> found;
    wait_until(
        [&] {
          auto children = fault::children_of(call.pid());
          if (!children.empty()) {
            found = children.front();
          }
          return found.has_value() || !call.running();
        },
        60s, 100us);
    return found;
  };
  auto moment = [&](Clock::time_point from) {
    return from + std::chrono::duration_cast<Clock::duration>(span * plan.fraction);
  };
  switch (plan.mode) {
    case KillMode::whole:
      sleep_until(call, moment(started));
      call.kill_group();
      break;
    case KillMode::program:
      if (auto p = program()) {
        sleep_until(call, moment(Clock::now()));
        ::kill(p->pid, SIGKILL);
      }
      break;
    case KillMode::transferring:
      if (program()) {
        sleep_until(call, moment(Clock::now()));
        call.kill_group();
      }
      break;
    case KillMode::fake_step: break;
  }
  int status = call.wait();
  EXPECT_TRUE(call.wait_group_gone()) << "programs of the killed run are still alive";
  if (WIFSIGNALED(status)) {
    return KillOutcome::killed;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? KillOutcome::finished : KillOutcome::failed;
}

// The snapshots there are, each described (contents, modes, owners, mtimes) with its inodes by path.
struct Described {
  fault::TreeState state;
  std::map<std::string, ino_t> inodes;
};

Described describe(const fs::path& dir, fault::HashCache& cache) {
  Described out;
  out.state = fault::describe_tree(dir, cache);
  for (const auto& rel : tree_entries(dir)) {
    out.inodes[rel.string()] = inode_of(dir / rel);
  }
  return out;
}

// Asserts `dir` is still what `before` described: every entry's contents and metadata, and inodes.
void expect_unchanged(const fs::path& dir, const Described& before, fault::HashCache& cache, const std::string& when) {
  Described now = describe(dir, cache);
  auto diffs = fault::state_differences(before.state, now.state);
  EXPECT_TRUE(diffs.empty()) << dir << " changed " << when << ":\n" << join_lines(diffs);
  for (const auto& [rel, ino] : before.inodes) {
    auto it = now.inodes.find(rel);
    if (it != now.inodes.end()) {
      EXPECT_EQ(it->second, ino) << dir / rel << " is another inode " << when;
    }
  }
}

// The names in the preset folder and its state folder (one level each), as paths.
std::set<fs::path> work_names(const Target& t) {
  std::set<fs::path> out;
  for (const auto& dir : {t.preset_dir(), t.state_dir()}) {
    for (const auto& name : names_in(dir)) {
      out.insert(dir / name);
    }
  }
  return out;
}

// The kill plans of one backend's trials: seeded moments for every backend, program kills where
// the backend runs programs, and every step of the fake.
std::vector<KillPlan> kill_plans(Kind kind, int seeded, std::uint64_t seed) {
  std::mt19937_64 rng(seed + static_cast<std::uint64_t>(kind));
  std::uniform_real_distribution<double> fraction(0.0, 1.3);
  std::vector<KillPlan> plans;
  for (int i = 0; i < seeded; ++i) {
    plans.push_back({KillMode::whole, fraction(rng)});
  }
  if (kind == Kind::fake) {
    for (FakeStep step : {FakeStep::copy_started, FakeStep::copy_midway, FakeStep::copy_done, FakeStep::renamed}) {
      plans.push_back({KillMode::fake_step, 0, step});
    }
  } else {
    plans.push_back({KillMode::transferring, fraction(rng) / 2});
    plans.push_back({KillMode::program, fraction(rng) / 2});
    plans.push_back({KillMode::program, 0});
  }
  return plans;
}

// ---------------------------------------------------------------------------------------------
// Brute-force usage of hard-link trees

// Every inode of every snapshot, with the snapshots that hold its links.
struct InodeUse {
  std::uint64_t bytes = 0;
  nlink_t links = 0;  // all its links (1 for a folder)
  nlink_t seen = 0;   // links found in the snapshots
  std::set<std::size_t> holders;
};

std::map<std::pair<dev_t, ino_t>, InodeUse> inode_uses(const std::vector<fs::path>& snapshots) {
  std::map<std::pair<dev_t, ino_t>, InodeUse> out;
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    std::vector<fs::path> paths{snapshots[i]};
    for (const auto& rel : tree_entries(snapshots[i])) {
      paths.push_back(snapshots[i] / rel);
    }
    for (const auto& path : paths) {
      struct stat st = stat_of(path);
      InodeUse& use = out[{st.st_dev, st.st_ino}];
      use.bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
      use.links = S_ISDIR(st.st_mode) ? 1 : st.st_nlink;
      ++use.seen;
      use.holders.insert(i);
    }
  }
  return out;
}

// Bytes freed once every snapshot in `gone` is deleted: inodes all of whose links lie in them.
std::uint64_t freed_by(const std::map<std::pair<dev_t, ino_t>, InodeUse>& uses, const std::set<std::size_t>& gone) {
  std::uint64_t bytes = 0;
  for (const auto& [key, use] : uses) {
    if (use.seen == use.links && std::includes(gone.begin(), gone.end(), use.holders.begin(), use.holders.end())) {
      bytes += use.bytes;
    }
  }
  return bytes;
}

// Physical byte ranges of a btrfs file's data extents (FIEMAP), as (start, length).
std::set<std::pair<std::uint64_t, std::uint64_t>> data_ranges(const fs::path& file) {
  std::set<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& e : extents_of(file)) {
    out.insert({e.physical, e.length});
  }
  return out;
}

// Bytes of data extents that only files of snapshot i reference, among `trees` (the snapshots,
// then other trees on the filesystem that may share extents with them).
std::vector<std::uint64_t> exclusive_extent_bytes(const std::vector<fs::path>& trees, std::size_t snapshots) {
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::set<std::size_t>> holders;
  for (std::size_t i = 0; i < trees.size(); ++i) {
    for (const auto& rel : tree_entries(trees[i])) {
      struct stat st = stat_of(trees[i] / rel);
      if (S_ISREG(st.st_mode)) {
        for (const auto& range : data_ranges(trees[i] / rel)) {
          holders[range].insert(i);
        }
      }
    }
  }
  std::vector<std::uint64_t> out(snapshots, 0);
  for (const auto& [range, who] : holders) {
    if (who.size() == 1 && *who.begin() < snapshots) {
      out[*who.begin()] += range.second;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The suite

class BackendConformance : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() != Kind::fake) {
      SNAPKEEP_REQUIRE_ROOT();
    }
    m_target = std::make_unique<Target>(GetParam());
    ASSERT_TRUE(m_target->make()) << "cannot make the world of " << kind_name(GetParam());
  }
  Target& t() { return *m_target; }

 private:
  std::unique_ptr<Target> m_target;
};

// Baseline: each snapshot is a complete copy of the source as it was, and earlier snapshots stay.
TEST_P(BackendConformance, CreateSnapshotMakesACompleteCopy) {
  fault::HashCache cache;
  write_source(t().source(), 0);
  std::string first = t().create_ok();
  Described was = describe(t().snap(first), cache);
  write_source(t().source(), 1);
  std::string second = t().create_ok();
  expect_unchanged(t().snap(first), was, cache, "after the next snapshot");
  auto snapshots = list_snapshots(t().preset_dir());
  ASSERT_TRUE(snapshots.ok());
  ASSERT_EQ(snapshots->size(), 2u);
  EXPECT_EQ(snapshots->back().id, second);
}

// A killed create_snapshot leaves only a complete snapshot or dot-named work, leaves every earlier
// snapshot as it was, and the next create_snapshot succeeds.
TEST_P(BackendConformance, KilledCreateSnapshotLeavesACompleteSnapshotOrOnlyDotWork) {
  fault::HashCache cache;
  write_source(t().source(), 0);
  std::map<std::string, Described> kept;
  std::string first = t().create_ok();
  kept[first] = describe(t().snap(first), cache);
  int round = 1;
  std::map<KillOutcome, int> outcomes;
  for (const KillPlan& plan : kill_plans(GetParam(), 4, 20261204)) {
    SCOPED_TRACE(plan.describe());
    write_source(t().source(), round++);
    std::string id = t().next_id();
    KillOutcome outcome = kill_create(t(), id, plan);
    ++outcomes[outcome];
    for (const auto& name : names_in(t().preset_dir())) {
      if (kept.count(name) != 0) {
        expect_unchanged(t().snap(name), kept[name], cache, "by a killed run");
      } else if (name == id) {
        t().expect_complete(id);  // the killed run got as far as completing it
        kept[id] = describe(t().snap(id), cache);
      } else {
        EXPECT_EQ(name.front(), '.') << "a killed run left " << name << ", neither a snapshot nor dot-named";
        EXPECT_FALSE(parse_snapshot_id(name).has_value()) << name;
      }
    }
    if (outcome == KillOutcome::finished) {
      EXPECT_TRUE(kept.count(id) != 0) << "create_snapshot succeeded without a snapshot";
    }
    if (outcome == KillOutcome::failed) {
      EXPECT_EQ(kept.count(id), 0u) << "create_snapshot failed but left a snapshot";
    }
    std::string next = t().create_ok();
    // The next run may complete what the killed one left (a verified btrfs receive): complete too.
    for (const auto& name : names_in(t().preset_dir())) {
      if (kept.count(name) == 0 && parse_snapshot_id(name)) {
        if (name != next) {
          EXPECT_EQ(name, id) << "the next run made a snapshot under another id than its own or the killed run's";
        }
        t().expect_complete(name);
        kept[name] = describe(t().snap(name), cache);
      }
    }
  }
  std::printf("[kills] %s: %d killed, %d failed (program killed), %d finished before the kill\n",
              kind_name(GetParam()).c_str(), outcomes[KillOutcome::killed], outcomes[KillOutcome::failed],
              outcomes[KillOutcome::finished]);
  RecordProperty("killed", std::to_string(outcomes[KillOutcome::killed]));
  RecordProperty("failed", std::to_string(outcomes[KillOutcome::failed]));
  RecordProperty("finished", std::to_string(outcomes[KillOutcome::finished]));
  EXPECT_GT(outcomes[KillOutcome::killed], 0) << "no trial killed a run: the test proved nothing";
}

// delete_snapshot deletes the snapshot it is given and never touches another: every other
// snapshot's entries, contents, metadata and inodes stay as they were.
TEST_P(BackendConformance, DeleteSnapshotNeverTouchesAnotherSnapshot) {
  fault::HashCache cache;
  std::vector<std::string> ids;
  std::map<std::string, Described> kept;
  for (int round = 0; round < 4; ++round) {
    write_source(t().source(), round);
    ids.push_back(t().create_ok());
    kept[ids.back()] = describe(t().snap(ids.back()), cache);
  }
  // The middle one, the newest, then the oldest.
  for (const std::string& victim : {ids[1], ids[3], ids[0]}) {
    SCOPED_TRACE("deleting " + victim);
    std::set<std::string> names = names_in(t().preset_dir());
    auto removed = t().remove(victim);
    ASSERT_TRUE(removed.ok()) << removed.error().describe();
    EXPECT_FALSE(exists_nofollow(t().preset_dir() / (".deleting-" + victim))) << "not deleted";
    kept.erase(victim);
    names.erase(victim);
    EXPECT_EQ(names_in(t().preset_dir()), names) << "something else in the preset folder changed";
    for (const auto& [id, described] : kept) {
      expect_unchanged(t().snap(id), described, cache, "when " + victim + " was deleted");
    }
  }
}

// usage() agrees with a brute-force count: exactly on hard-link trees (exclusive, cumulative, total
// and freed_after from the inodes and their links), and with the space the backend's own measure
// (space()) sees freed when the snapshots are deleted oldest first; on btrfs (exact = false) the
// exclusive bytes are those of data extents no other subvolume references (FIEMAP), and what
// deleting frees is never less than predicted.
TEST_P(BackendConformance, UsageAgreesWithABruteForceCount) {
  std::vector<std::string> ids;
  for (int round = 0; round < 4; ++round) {
    write_source(t().source(), round);
    ids.push_back(t().create_ok());
  }
  if (!t().is_btrfs()) {
    // A file of the oldest snapshot also linked from outside the preset: deleting frees nothing of it.
    fs::create_directories(t().preset().destination / "other");
    fs::create_hard_link(t().snap(ids[0]) / "pair1", t().preset().destination / "other" / "kept.bin");
  }
  auto snapshots = list_snapshots(t().preset_dir());
  ASSERT_TRUE(snapshots.ok());
  ASSERT_EQ(snapshots->size(), 4u);
  std::vector<fs::path> paths;
  for (const auto& s : *snapshots) {
    paths.push_back(s.path);
  }
  auto report = t().backend().usage(*snapshots, {0, 1, 2, 3});
  ASSERT_TRUE(report.ok()) << report.error().describe();
  ASSERT_EQ(report->snapshots.size(), 4u);
  ASSERT_EQ(report->freed_after.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(report->snapshots[i].id, ids[i]) << "usage lists snapshots oldest first";
  }

  if (!t().is_btrfs()) {
    EXPECT_TRUE(report->exact);
    auto uses = inode_uses(paths);
    std::uint64_t total = 0;
    for (const auto& [key, use] : uses) {
      total += use.bytes;
    }
    EXPECT_EQ(report->total_bytes, total);
    std::set<std::size_t> older;
    for (std::size_t i = 0; i < 4; ++i) {
      older.insert(i);
      EXPECT_EQ(report->snapshots[i].exclusive_bytes, freed_by(uses, {i})) << ids[i];
      EXPECT_EQ(report->snapshots[i].cumulative_bytes, freed_by(uses, older)) << ids[i];
      EXPECT_EQ(report->freed_after[i], freed_by(uses, older)) << ids[i];
    }
    EXPECT_GT(report->snapshots[0].exclusive_bytes, 40 * k_kib) << "only_in_0.bin is the oldest's alone";
    auto scrambled = t().backend().usage(*snapshots, {2, 0});
    ASSERT_TRUE(scrambled.ok());
    ASSERT_EQ(scrambled->freed_after.size(), 2u);
    EXPECT_EQ(scrambled->freed_after[0], freed_by(uses, {2}));
    EXPECT_EQ(scrambled->freed_after[1], freed_by(uses, {0, 2}));
  } else {
    EXPECT_FALSE(report->exact) << "btrfs can only estimate what deleting several snapshots frees";
    std::vector<fs::path> trees = paths;
    if (t().kind() == Kind::btrfs_plain) {
      trees.push_back(t().state_dir() / "current");  // shares extents with the newest snapshot
    }
    std::vector<std::uint64_t> exclusive = exclusive_extent_bytes(trees, 4);
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(report->snapshots[i].exclusive_bytes, exclusive[i]) << ids[i];
    }
    EXPECT_GT(report->snapshots[0].exclusive_bytes, 40 * k_kib) << "only_in_0.bin is the oldest's alone";
  }

  // What deleting oldest first really frees, as space() measures it.
  std::uint64_t start = t().free_bytes();
  for (std::size_t i = 0; i < 4; ++i) {
    auto removed = t().remove(ids[i]);
    ASSERT_TRUE(removed.ok()) << removed.error().describe();
    std::uint64_t freed = t().free_bytes() - start;
    std::printf("[usage] %s: deleting up to %s freed %llu, predicted %llu\n", kind_name(GetParam()).c_str(),
                ids[i].c_str(), static_cast<unsigned long long>(freed),
                static_cast<unsigned long long>(report->freed_after[i]));
    if (report->exact) {
      EXPECT_EQ(freed, report->freed_after[i]) << "deleting up to " << ids[i];
    } else {
      EXPECT_GE(freed, report->freed_after[i]) << "deleting up to " << ids[i] << " freed less than the lower bound";
    }
  }
}

// capabilities() answers what the backend does: content_sharing hard_links means an unchanged file
// is one inode in two snapshots; extent_lineage means it keeps inode number, ctime, size and mtime
// and shares its extents, in snapshots that are filesystems of their own; snapshots_source means a
// subvolume source gets a read-only snapshot of its own, and without it nothing appears beside or
// inside the source.
TEST_P(BackendConformance, CapabilitiesAnswerWhatTheBackendDoes) {
  fault::HashCache cache;
  BackendCapabilities caps = t().backend().capabilities();
  write_source(t().source(), 0);
  std::set<std::string> beside = names_in(t().source().parent_path());
  std::string first = t().create_ok();
  write_source(t().source(), 1);
  fault::TreeState source = fault::describe_tree(t().source(), cache);
  std::string second = t().create_ok();

  fs::path a = t().snap(first) / "docs" / "b.bin";
  fs::path b = t().snap(second) / "docs" / "b.bin";
  struct stat sa = stat_of(a);
  struct stat sb = stat_of(b);
  switch (caps.content_sharing) {
    case ContentSharing::hard_links:
      EXPECT_EQ(sa.st_dev, sb.st_dev);
      EXPECT_EQ(sa.st_ino, sb.st_ino) << "an unchanged file is not one inode in two snapshots";
      EXPECT_NE(inode_of(t().snap(first) / "big.bin"), inode_of(t().snap(second) / "big.bin"))
          << "a changed file shares the old inode";
      break;
    case ContentSharing::extent_lineage:
      EXPECT_NE(sa.st_dev, sb.st_dev) << "snapshots are not filesystems of their own";
      EXPECT_EQ(sa.st_ino, sb.st_ino);
      EXPECT_EQ(sa.st_ctim.tv_sec, sb.st_ctim.tv_sec);
      EXPECT_EQ(sa.st_ctim.tv_nsec, sb.st_ctim.tv_nsec);
      EXPECT_EQ(sa.st_size, sb.st_size);
      EXPECT_EQ(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
      EXPECT_EQ(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
      EXPECT_FALSE(extents_of(a).empty());
      EXPECT_EQ(extents_of(a), extents_of(b)) << "an unchanged file does not share its extents";
      EXPECT_NE(extents_of(t().snap(first) / "big.bin"), extents_of(t().snap(second) / "big.bin"));
      break;
  }
  bool subvolume_source = t().kind() == Kind::btrfs_subvolume;
  if (caps.snapshots_source && subvolume_source) {
    fs::path own = t().source_snapshot_root() / second;
    EXPECT_TRUE(is_read_only_subvolume(own)) << "no read-only snapshot of the source at " << own;
    auto diffs = tree_differences(t().source(), own, TreeCompare{.root = false});
    EXPECT_TRUE(diffs.empty()) << own << " is not a snapshot of the source:\n" << join_lines(diffs);
  } else {
    EXPECT_FALSE(subvolume_source) << "a backend without source snapshots was given a subvolume source";
    EXPECT_EQ(names_in(t().source().parent_path()), beside) << "something appeared beside the source";
    auto diffs = fault::state_differences(source, fault::describe_tree(t().source(), cache));
    EXPECT_TRUE(diffs.empty()) << "the source changed:\n" << join_lines(diffs);
  }
  if (GetParam() != Kind::fake) {
    auto named = make_backend(std::string(t().backend().name()));
    EXPECT_TRUE(named.ok()) << "the registry does not know " << t().backend().name();
  }
}

// interrupted_work lists exactly the work killed or failed runs left in the preset folder since the
// last successful run (two in a row, so that one run's leftovers meet the next): every new entry
// but a complete snapshot is listed (or lies below a listed one), nothing else is, and after the
// next successful run nothing is.
TEST_P(BackendConformance, InterruptedWorkListsExactlyWhatAKilledRunLeft) {
  EXPECT_TRUE(t().backend().interrupted_work(t().preset_dir()).empty()) << "work listed before any run";
  write_source(t().source(), 0);
  t().create_ok();
  std::vector<std::vector<KillPlan>> pairs;
  if (GetParam() == Kind::fake) {
    pairs = {{{KillMode::fake_step, 0, FakeStep::copy_midway}, {KillMode::fake_step, 0, FakeStep::copy_done}},
             {{KillMode::fake_step, 0, FakeStep::copy_started}, {KillMode::fake_step, 0, FakeStep::renamed}}};
  } else {
    pairs = {{{KillMode::transferring, 0.0}, {KillMode::transferring, 0.3}},
             {{KillMode::program, 0.1}, {KillMode::transferring, 0.0}}};
  }
  int round = 1;
  for (const auto& pair : pairs) {
    EXPECT_TRUE(t().backend().interrupted_work(t().preset_dir()).empty()) << "work listed after a successful run";
    std::set<fs::path> baseline = work_names(t());
    for (const KillPlan& plan : pair) {
      SCOPED_TRACE(plan.describe());
      write_source(t().source(), round++);
      std::string id = t().next_id();
      kill_create(t(), id, plan);
      std::set<fs::path> left;
      for (const auto& path : work_names(t())) {
        if (baseline.count(path) == 0 && !parse_snapshot_id(path.filename().string())) {
          left.insert(path);
        }
      }
      std::set<fs::path> listed;
      for (const auto& work : t().backend().interrupted_work(t().preset_dir())) {
        listed.insert(work.path);
        EXPECT_FALSE(work.what.empty()) << work.path;
        EXPECT_TRUE(left.count(work.path) != 0) << "listed but not left by a killed run: " << work.path;
      }
      for (const auto& path : left) {
        bool covered = std::any_of(listed.begin(), listed.end(), [&](const fs::path& p) {
          return path == p || path.string().rfind(p.string() + "/", 0) == 0;
        });
        EXPECT_TRUE(covered) << "a killed run left " << path << " but interrupted_work does not list it";
      }
    }
    write_source(t().source(), round++);
    t().create_ok();
  }
  EXPECT_TRUE(t().backend().interrupted_work(t().preset_dir()).empty()) << "work listed after the last run";
}

// check_preset fails with a message naming the program it needs when PATH lacks it, and passes when
// PATH holds exactly the programs it needs (the fake needs none).
TEST_P(BackendConformance, CheckPresetNamesAMissingTool) {
  TempDir empty;
  {
    ScopedEnv path("PATH", empty.path().string());
    Status checked = t().backend().check_preset(t().preset());
    if (t().tools().empty()) {
      EXPECT_TRUE(checked.ok()) << "needs a program it does not name: " << checked.error().describe();
    } else {
      EXPECT_FALSE(checked.ok()) << "passes with an empty PATH";
    }
  }
  std::string all;
  for (const auto& [tool, dir] : t().tools()) {
    all += (all.empty() ? "" : ":") + dir.string();
  }
  for (const auto& [missing, unused] : t().tools()) {
    std::string others;
    for (const auto& [tool, dir] : t().tools()) {
      if (tool != missing) {
        others += (others.empty() ? "" : ":") + dir.string();
      }
    }
    ScopedEnv path("PATH", others.empty() ? empty.path().string() : others);
    Status checked = t().backend().check_preset(t().preset());
    ASSERT_FALSE(checked.ok()) << "passes without " << missing;
    EXPECT_NE(checked.error().describe().find(missing), std::string::npos)
        << "does not name " << missing << ": " << checked.error().describe();
  }
  if (!all.empty()) {
    ScopedEnv path("PATH", all);
    Status checked = t().backend().check_preset(t().preset());
    EXPECT_TRUE(checked.ok()) << checked.error().describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendConformance,
                         ::testing::Values(Kind::fake, Kind::rsync, Kind::btrfs_plain, Kind::btrfs_subvolume),
                         [](const ::testing::TestParamInfo<Kind>& param) { return kind_name(param.param); });

}  // namespace
}  // namespace snapkeep::test
