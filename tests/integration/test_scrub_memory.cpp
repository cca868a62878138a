// Memory ceiling of scrub, manifest building and the read commands (issue 13): a tree of 200 000
// small files in 3 hard-link snapshots is given manifests (scrub --init, the backup-time manifest),
// scrubbed, one damaged file repaired, then listed, measured (du), checked, asked about (versions,
// diff, status, report), planned for a prune and for min_free (prune --free), restored whole, and
// backed up by the native engine, each step in a child process inside a memory
// cgroup of 64 MiB. A step that needed more memory would be OOM-killed: the test checks each exit
// status and that the cgroup counted no OOM kill. Nothing here depends on timing.
//
// The cgroup is a child of the test's own memory cgroup, made under a temporary name and removed in
// teardown: cgroup v2 (memory.max, memory.events) where its memory controller is available, else
// v1 (memory.limit_in_bytes, memory.oom_control).

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backends/rsync/rsync_backend.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

constexpr std::uint64_t k_limit = 64ull << 20;
constexpr int k_files = 200000;
constexpr int k_per_dir = 1000;
constexpr int k_changed = 200;  // files rewritten between snapshots

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of `name` in a "name value" file (memory.events, memory.oom_control); 0 when absent.
std::uint64_t counter(const fs::path& file, const std::string& name) {
  std::istringstream in(read_text(file));
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value) {
    if (key == name) {
      return value;
    }
  }
  return 0;
}

bool write_text(const fs::path& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// A memory cgroup with a hard limit, child of this process's own; removed at destruction.
class MemoryCgroup {
 public:
  explicit MemoryCgroup(std::uint64_t limit) {
    std::string self = read_text("/proc/self/cgroup");
    std::istringstream lines(self);
    std::string v1_path;
    std::string v2_path;
    for (std::string line; std::getline(lines, line);) {
      std::size_t a = line.find(':');
      std::size_t b = line.find(':', a + 1);
      std::string controllers = line.substr(a + 1, b - a - 1);
      std::string path = line.substr(b + 1);
      if (controllers.empty()) {
        v2_path = path;
      }
      std::istringstream list(controllers);
      for (std::string c; std::getline(list, c, ',');) {
        if (c == "memory") {
          v1_path = path;
        }
      }
    }
    // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS... - TYPE SOURCE SUPER_OPTIONS".
    std::istringstream mounts(read_text("/proc/self/mountinfo"));
    fs::path v1_root;
    fs::path v2_root;
    for (std::string line; std::getline(mounts, line);) {
      std::size_t dash = line.find(" - ");
      if (dash == std::string::npos) {
        continue;
      }
      std::istringstream head(line.substr(0, dash));
      std::istringstream tail(line.substr(dash + 3));
      std::string id, parent_id, device, root, mount_point, type, source, options;
      head >> id >> parent_id >> device >> root >> mount_point;
      tail >> type >> source >> options;
      if (type == "cgroup2") {
        v2_root = mount_point;
      } else if (type == "cgroup" && ("," + options + ",").find(",memory,") != std::string::npos) {
        v1_root = mount_point;
      }
    }
    if (!v2_root.empty() && !v2_path.empty()) {
      fs::path parent = v2_root / fs::path(v2_path).relative_path();
      std::string enabled = read_text(parent / "cgroup.subtree_control");
      if (enabled.find("memory") == std::string::npos) {
        write_text(parent / "cgroup.subtree_control", "+memory");
        enabled = read_text(parent / "cgroup.subtree_control");
      }
      if (enabled.find("memory") != std::string::npos && make_child(parent) &&
          write_text(m_dir / "memory.max", std::to_string(limit)) && write_text(m_dir / "memory.swap.max", "0")) {
        m_v2 = true;
        return;
      }
      remove();
    }
    if (!v1_root.empty() && !v1_path.empty()) {
      fs::path parent = v1_root / fs::path(v1_path).relative_path();
      if (make_child(parent) && write_text(m_dir / "memory.limit_in_bytes", std::to_string(limit))) {
        return;
      }
      remove();
    }
    m_why_not = "no memory cgroup can be made here (cgroup v2 memory controller or v1 memory hierarchy)";
  }
  ~MemoryCgroup() { remove(); }
  MemoryCgroup(const MemoryCgroup&) = delete;
  MemoryCgroup& operator=(const MemoryCgroup&) = delete;

  bool ok() const { return !m_dir.empty(); }
  const std::string& why_not() const { return m_why_not; }

  // OOM kills in the cgroup so far.
  std::uint64_t oom_kills() const {
    return m_v2 ? counter(m_dir / "memory.events", "oom_kill") : counter(m_dir / "memory.oom_control", "oom_kill");
  }
  // Moves the calling process into the cgroup.
  bool join() const { return write_text(m_dir / "cgroup.procs", std::to_string(::getpid())); }

 private:
  bool make_child(const fs::path& parent) {
    std::string pattern = (parent / "snapkeep-test-XXXXXX").string();
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (::mkdtemp(name.data()) == nullptr) {
      return false;
    }
    m_dir = name.data();
    return true;
  }
  void remove() {
    if (!m_dir.empty()) {
      // The child processes have exited: an empty cgroup folder is removed with rmdir.
      for (int attempt = 0; attempt < 100 && ::rmdir(m_dir.c_str()) != 0 && errno == EBUSY; ++attempt) {
        ::usleep(10000);
      }
      m_dir.clear();
    }
  }

  fs::path m_dir;
  bool m_v2 = false;
  std::string m_why_not;
};

// How a child in the cgroup ended.
struct Ended {
  int status = -1;  // waitpid status
  std::string out;
  std::string err;
  bool exited_ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  std::string describe() const {
    std::string what = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                           : "exit " + std::to_string(WEXITSTATUS(status));
    return what + "\nstderr: " + err;
  }
};

// Runs `body` (returning an exit code) in a child process inside `cgroup`.
Ended run_in(const MemoryCgroup& cgroup, const fs::path& dir, const std::function<int()>& body) {
  fs::path out = dir / "child.out";
  fs::path err = dir / "child.err";
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0 || !cgroup.join()) {
      ::_exit(125);
    }
    int code = body();
    std::fflush(nullptr);
    ::_exit(code);
  }
  Ended ended;
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return ended;
  }
  while (::waitpid(pid, &ended.status, 0) < 0 && errno == EINTR) {
  }
  ended.out = read_text(out);
  ended.err = read_text(err);
  return ended;
}

// Runs the snapkeep binary with `args` inside `cgroup`.
Ended snapkeep_in(const MemoryCgroup& cgroup, const fs::path& dir, const std::vector<std::string>& args) {
  return run_in(cgroup, dir, [&]() {
    std::vector<std::string> argv{snapkeep_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (auto& a : argv) {
      raw.push_back(a.data());
    }
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    return 126;
  });
}

// Writes the small file number `i` of round `round` (1 to 60 bytes: kept in the inode).
void write_small(const fs::path& path, int i, int round) {
  std::string data = "file " + std::to_string(i) + " round " + std::to_string(round) + "\n";
  data.resize(static_cast<std::size_t>(10 + (i * 7 + round) % 50), 'x');
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fd);
  struct timespec times[2] = {{1700000000 + i, 0}, {1700000000 + i, round}};
  ::utimensat(AT_FDCWD, path.c_str(), times, 0);
}

fs::path rel_of(int i) {
  return fs::path("d" + std::to_string(i / k_per_dir)) / ("f" + std::to_string(i));
}

// The next snapshot: hard links to the previous one, `k_changed` files rewritten. Returns the
// bytes rewritten.
std::uint64_t link_snapshot(const fs::path& from, const fs::path& to, int round) {
  std::uint64_t bytes = 0;
  std::mt19937 rng(static_cast<unsigned>(round));
  std::vector<bool> changed(k_files, false);
  for (int n = 0; n < k_changed; ++n) {
    changed[rng() % k_files] = true;
  }
  for (int i = 0; i < k_files; ++i) {
    if (i % k_per_dir == 0) {
      fs::create_directories(to / rel_of(i).parent_path());
    }
    if (changed[static_cast<std::size_t>(i)]) {
      write_small(to / rel_of(i), i, round);
      bytes += static_cast<std::uint64_t>(fs::file_size(to / rel_of(i)));
    } else if (::link((from / rel_of(i)).c_str(), (to / rel_of(i)).c_str()) != 0) {
      ADD_FAILURE() << "link " << rel_of(i) << ": " << std::strerror(errno);
      break;
    }
  }
  return bytes;
}

TEST(ScrubMemory, TwoHundredThousandFilesScrubRepairInitAndBackupManifestIn64MiB) {
  SNAPKEEP_REQUIRE_ROOT();
  MemoryCgroup cgroup(k_limit);
  if (!cgroup.ok()) {
    GTEST_FAIL() << cgroup.why_not();
  }
  TempDir tmp;
  // Small files live in their inodes (inline_data): the image holds inodes, not data blocks.
  LoopFs dest("ext4", 640, {"-N", "400000", "-O", "inline_data"});
  ASSERT_TRUE(dest.ok());
  fs::path source = tmp / "src";
  fs::create_directories(source);
  fs::path preset_dir = dest.mount_point() / "home";
  const std::vector<std::string> ids = {"2026-01-01_00-00-00", "2026-01-02_00-00-00", "2026-01-03_00-00-00"};
  std::vector<fs::path> snaps;
  for (const auto& id : ids) {
    snaps.push_back(preset_dir / id);
  }
  for (int i = 0; i < k_files; ++i) {
    if (i % k_per_dir == 0) {
      fs::create_directories(snaps[0] / rel_of(i).parent_path());
    }
    write_small(snaps[0] / rel_of(i), i, 0);
  }
  std::uint64_t changed2 = link_snapshot(snaps[0], snaps[1], 1);
  link_snapshot(snaps[1], snaps[2], 2);
  ::sync();
  fs::path config = write_preset_config(tmp / "c.ini", "home", source, dest.mount_point());
  std::vector<std::string> cli{"-c", config.string()};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = cli;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };

  // scrub --init of the first snapshot: a manifest from nothing.
  Ended init1 = snapkeep_in(cgroup, tmp.path(), with({"--json", "scrub", "--init", "--snapshot", ids[0]}));
  ASSERT_TRUE(init1.exited_ok()) << init1.describe();
  EXPECT_EQ(cgroup.oom_kills(), 0u);

  // The backup-time manifest of the second, reusing the first's hashes.
  Ended backup = run_in(cgroup, tmp.path(), [&]() {
    Preset preset;
    preset.name = "home";
    preset.source = source;
    preset.destination = dest.mount_point();
    BackupStats stats;
    std::vector<SnapshotInfo> earlier{SnapshotInfo{ids[0], snaps[0]}};
    write_backup_manifest(preset, preset_dir, ids[1], earlier, stats, ContentSharing::hard_links);
    write_file(tmp / "bytes_hashed", std::to_string(stats.bytes_hashed));
    if (!stats.manifest_ok) {
      std::fprintf(stderr, "%s\n", stats.manifest_error->describe().c_str());
    }
    return stats.manifest_ok ? 0 : 1;
  });
  ASSERT_TRUE(backup.exited_ok()) << backup.describe();
  EXPECT_EQ(read_file(tmp / "bytes_hashed"), std::to_string(changed2)) << "only the rewritten files are read";
  EXPECT_EQ(cgroup.oom_kills(), 0u);

  // scrub --init makes the third manifest and scrubs the other two.
  Ended init3 = snapkeep_in(cgroup, tmp.path(), with({"--json", "scrub", "--init"}));
  ASSERT_TRUE(init3.exited_ok()) << init3.describe();
  json init3_doc = json::parse(init3.out, nullptr, false);
  ASSERT_FALSE(init3_doc.is_discarded()) << init3.out;
  EXPECT_EQ(init3_doc["presets"][0]["initialized"], json::array({ids[2]}));
  EXPECT_EQ(init3_doc["presets"][0]["snapshots_checked"], 2u);

  // A full scrub of 3 x 200 000 paths.
  Ended clean = snapkeep_in(cgroup, tmp.path(), with({"--json", "scrub"}));
  ASSERT_TRUE(clean.exited_ok()) << clean.describe();
  json doc = json::parse(clean.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << clean.out;
  const json& r = doc["presets"][0];
  EXPECT_EQ(r["snapshots_checked"], 3u);
  EXPECT_EQ(r["files_checked"], 3u * k_files);
  EXPECT_GE(r["contents_total"].get<std::uint64_t>(), static_cast<std::uint64_t>(k_files));
  EXPECT_TRUE(r["findings"].empty()) << r["findings"].dump();
  EXPECT_EQ(r["contents_unverified"], 0u);
  EXPECT_EQ(cgroup.oom_kills(), 0u);

  // One file damaged in place (mtime kept) in the first snapshot; its source is unchanged.
  int victim = 4321;
  fs::path damaged = snaps[0] / rel_of(victim);
  fs::create_directories(source / rel_of(victim).parent_path());
  write_small(source / rel_of(victim), victim, 0);
  {
    std::string data = read_file(damaged);
    data[0] = static_cast<char>(data[0] ^ 0x20);
    write_file(damaged, data);
    struct timespec times[2] = {{1700000000 + victim, 0}, {1700000000 + victim, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, damaged.c_str(), times, 0), 0);
  }
  Ended repair = snapkeep_in(cgroup, tmp.path(), with({"--json", "scrub", "--repair"}));
  ASSERT_TRUE(repair.exited_ok()) << repair.describe() << repair.out;
  json repaired = json::parse(repair.out, nullptr, false);
  ASSERT_FALSE(repaired.is_discarded()) << repair.out;
  const json& findings = repaired["presets"][0]["findings"];
  ASSERT_EQ(findings.size(), 1u) << findings.dump();
  EXPECT_EQ(findings[0]["status"], "corrupted");
  EXPECT_EQ(findings[0]["repaired"], true);
  EXPECT_EQ(read_file(damaged), read_file(source / rel_of(victim)));
  EXPECT_EQ(cgroup.oom_kills(), 0u);

  // The read commands over 3 x 200 000 paths under the same ceiling: list, du, check, and the plan
  // of a prune with a policy that deletes the oldest snapshot (dry run: nothing changes).
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"--json", "list"}, {"--json", "du"}, {"--json", "check"}}) {
    Ended ended = snapkeep_in(cgroup, tmp.path(), with(command));
    EXPECT_TRUE(ended.exited_ok()) << command[1] << ": " << ended.describe();
    EXPECT_EQ(cgroup.oom_kills(), 0u) << command[1];
  }
  // The history questions over the same snapshots: versions of one path (3 manifests), the diff of
  // two 200 000-entry manifests, status, and the report (usage, retention plan, coverage).
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"--json", "versions", "home", rel_of(victim).string()},
        {"--json", "diff", "home", ids[0], ids[1]},
        {"--json", "status"},
        {"--json", "report"}}) {
    Ended ended = snapkeep_in(cgroup, tmp.path(), with(command));
    EXPECT_TRUE(ended.exited_ok()) << command[1] << ": " << ended.describe();
    EXPECT_EQ(cgroup.oom_kills(), 0u) << command[1];
    if (command[1] == "diff") {
      json diffed = json::parse(ended.out, nullptr, false);
      ASSERT_FALSE(diffed.is_discarded()) << ended.out.substr(0, 2000);
      EXPECT_GT(diffed["presets"][0]["counts"]["content"].get<std::uint64_t>(), 0u);
      EXPECT_LE(diffed["presets"][0]["counts"]["content"].get<std::uint64_t>(), static_cast<std::uint64_t>(k_changed));
    }
  }
  write_preset_config(config, "home", source, dest.mount_point(), "keep = 2\n");
  Ended plan = snapkeep_in(cgroup, tmp.path(), with({"--json", "prune", "--dry-run"}));
  ASSERT_TRUE(plan.exited_ok()) << plan.describe();
  EXPECT_NE(plan.out.find(ids[0]), std::string::npos) << plan.out;
  EXPECT_EQ(cgroup.oom_kills(), 0u);
  // The min_free plan for a free space the drive cannot reach: it measures what deleting each
  // snapshot would free across 3 x 200 000 hard-linked paths, then refuses, deleting nothing.
  write_preset_config(config, "home", source, dest.mount_point());
  Ended space = snapkeep_in(cgroup, tmp.path(), with({"--json", "prune", "--dry-run", "--free", "99%"}));
  EXPECT_NE(space.out.find("cannot free enough space"), std::string::npos) << space.describe() << space.out;
  EXPECT_NE(space.out.find("Nothing was deleted"), std::string::npos) << space.out;
  EXPECT_EQ(cgroup.oom_kills(), 0u);
  for (const auto& snap : snaps) {
    EXPECT_TRUE(fs::is_directory(snap)) << snap;
  }
  // A restore of a whole 200 000-file snapshot (snapkeep checks the target and runs rsync, both
  // inside the ceiling).
  const fs::path restored = tmp / "restored";
  Ended restore =
      snapkeep_in(cgroup, tmp.path(), with({"--json", "restore", "home", ids[2], "--to", restored.string()}));
  ASSERT_TRUE(restore.exited_ok()) << restore.describe() << restore.out.substr(0, 2000);
  EXPECT_EQ(read_file(restored / rel_of(victim)), read_file(snaps[2] / rel_of(victim)));
  EXPECT_EQ(read_file(restored / rel_of(k_files - 1)), read_file(snaps[2] / rel_of(k_files - 1)));
  EXPECT_EQ(cgroup.oom_kills(), 0u);
  fs::remove_all(restored);

  // A backup of 200 000 files by the native engine under the same ceiling. The source is the newest
  // snapshot's tree as hard links on this filesystem (require_mount = no lets it share the drive)
  // with k_changed files rewritten: the engine walks every file and links all but those.
  const fs::path big_source = dest.mount_point() / "src";
  link_snapshot(snaps[2], big_source, 3);
  write_preset_config(config, "home", big_source, dest.mount_point(), "require_mount = no\n");
  Ended native = snapkeep_in(cgroup, tmp.path(), with({"--json", "backup"}));
  ASSERT_TRUE(native.exited_ok()) << native.describe();
  json made = json::parse(native.out, nullptr, false);
  ASSERT_FALSE(made.is_discarded()) << native.out;
  EXPECT_EQ(made["presets"][0]["status"], "ok");
  EXPECT_GE(made["presets"][0]["files"].get<std::uint64_t>(), static_cast<std::uint64_t>(k_files));
  EXPECT_LE(made["presets"][0]["files_transferred"].get<std::uint64_t>(), static_cast<std::uint64_t>(k_changed));
  EXPECT_EQ(cgroup.oom_kills(), 0u);
}

}  // namespace
}  // namespace snapkeep::test
