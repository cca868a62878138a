#pragma once
// Helpers for the fault-injection suite: seeds, descriptions of whole trees (what a snapshot must
// equal), snapkeep runs in their own process group, the process table, and copies
// of loop images mounted for power-loss checks (FIEMAP extents and btrfs probes come from
// tests/integration/integration_util.hpp). Header-only so no CMake change is needed.

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/integration_util.hpp"
#include "tests/support/testutil.hpp"

extern char** environ;

namespace snapkeep::test::fault {

// ---------------------------------------------------------------------------------------------
// Seeds

// SplitMix64: a good 64-bit mix, so nearby seeds give unrelated streams.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a of a label (stable across builds, unlike std::hash).
inline std::uint64_t label_hash(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h = (h ^ c) * 0x100000001b3ULL;
  }
  return h;
}

// What the environment asks for: SNAPKEEP_FAULT_SEED = "BASE" (every trial from that base) or
// "BASE:I" (replay trial I only: trials before it run without faults to rebuild the same source
// history); SNAPKEEP_FAULT_TRIALS = trials per backend; SNAPKEEP_FAULT_POWER_TRIALS = power cuts.
struct FaultSettings {
  std::uint64_t base_seed = 20261126;
  int trials = 30;
  int power_trials = 3;
  std::optional<int> replay_trial;
};

inline FaultSettings fault_settings() {
  FaultSettings s;
  if (const char* v = std::getenv("SNAPKEEP_FAULT_SEED"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    s.base_seed = std::strtoull(v, &end, 0);
    if (end != nullptr && *end == ':') {
      s.replay_trial = static_cast<int>(std::strtol(end + 1, nullptr, 10));
    }
  }
  if (const char* v = std::getenv("SNAPKEEP_FAULT_TRIALS"); v != nullptr && *v != '\0') {
    s.trials = std::max(1, std::atoi(v));
  }
  if (const char* v = std::getenv("SNAPKEEP_FAULT_POWER_TRIALS"); v != nullptr && *v != '\0') {
    s.power_trials = std::max(0, std::atoi(v));
  }
  if (s.replay_trial) {
    s.trials = *s.replay_trial + 1;
    s.power_trials = 0;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Tree descriptions

// One entry of a tree as a snapshot must reproduce it. Folder sizes are not compared; mtimes are
// compared in whole seconds (rsync's default comparison; the suite gives every write its own second).
struct Entry {
  char type = '?';  // f regular file, d folder, l symlink, o other
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::uint64_t size = 0;
  std::int64_t mtime = 0;
  std::uint64_t hash = 0;  // contents of a file
  std::string target;      // of a symlink
  bool operator==(const Entry&) const = default;
};

// Relative path ("." for the root) -> entry.
using TreeState = std::map<std::string, Entry>;

inline std::string describe_entry(const Entry& e) {
  std::ostringstream os;
  os << e.type << " mode=" << std::oct << e.mode << std::dec << " owner=" << e.uid << ":" << e.gid << " size=" << e.size
     << " mtime=" << e.mtime << " hash=" << std::hex << e.hash << std::dec;
  if (e.type == 'l') {
    os << " -> " << e.target;
  }
  return os.str();
}

// Content hashes, keyed by what changes whenever a file's content can have changed (ctime cannot
// be set back), so a snapshot verified once is re-verified by lstat alone.
class HashCache {
 public:
  std::uint64_t hash_of(const std::filesystem::path& path, const struct stat& st) {
    Key key{st.st_dev,         st.st_ino,          static_cast<std::uint64_t>(st.st_size),
            st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec,
            st.st_ctim.tv_nsec};
    if (auto it = m_hashes.find(key); it != m_hashes.end()) {
      return it->second;
    }
    std::uint64_t h = hash_file(path);
    m_hashes.emplace(key, h);
    return h;
  }
  // Bytes read so far.
  std::uint64_t bytes_hashed() const { return m_bytes; }

 private:
  using Key = std::tuple<dev_t, ino_t, std::uint64_t, std::int64_t, long, std::int64_t, long>;
  std::uint64_t hash_file(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      ADD_FAILURE() << "cannot open " << path << ": " << std::strerror(errno);
      return 0;
    }
    std::string data;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        ADD_FAILURE() << "cannot read " << path << ": " << std::strerror(errno);
        break;
      }
      if (n == 0) {
        break;
      }
      data.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    m_bytes += data.size();
    return mix64(std::hash<std::string_view>{}(data) ^ data.size());
  }
  std::map<Key, std::uint64_t> m_hashes;
  std::uint64_t m_bytes = 0;
};

namespace detail {
inline void describe_into(const std::filesystem::path& dir, const std::string& rel, TreeState& out, HashCache& cache) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    ADD_FAILURE() << "cannot open folder " << dir << ": " << std::strerror(errno);
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name != "." && name != "..") {
      names.push_back(name);
    }
  }
  ::closedir(d);
  for (const auto& name : names) {
    std::filesystem::path path = dir / name;
    std::string child = rel.empty() ? name : rel + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      ADD_FAILURE() << "lstat " << path << ": " << std::strerror(errno);
      continue;
    }
    Entry e;
    e.mode = st.st_mode;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime = st.st_mtim.tv_sec;
    if (S_ISREG(st.st_mode)) {
      e.type = 'f';
      e.size = static_cast<std::uint64_t>(st.st_size);
      e.hash = cache.hash_of(path, st);
    } else if (S_ISDIR(st.st_mode)) {
      e.type = 'd';
    } else if (S_ISLNK(st.st_mode)) {
      e.type = 'l';
      std::error_code ec;
      e.target = std::filesystem::read_symlink(path, ec).string();
    } else {
      e.type = 'o';
    }
    out[child] = e;
    if (e.type == 'd') {
      describe_into(path, child, out, cache);
    }
  }
}
}  // namespace detail

// Every entry below root (not following symlinks), root itself as ".".
inline TreeState describe_tree(const std::filesystem::path& root, HashCache& cache) {
  TreeState out;
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    ADD_FAILURE() << root << " is not a folder";
    return out;
  }
  Entry e;
  e.type = 'd';
  e.mode = st.st_mode;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime = st.st_mtim.tv_sec;
  out["."] = e;
  detail::describe_into(root, "", out, cache);
  return out;
}

// Differences between the expected and the actual tree, at most `limit` lines.
inline std::vector<std::string> state_differences(const TreeState& expected, const TreeState& actual,
                                                  std::size_t limit = 12) {
  std::vector<std::string> out;
  std::size_t total = 0;
  auto add = [&](const std::string& line) {
    if (++total <= limit) {
      out.push_back(line);
    }
  };
  for (const auto& [path, e] : expected) {
    auto it = actual.find(path);
    if (it == actual.end()) {
      add("missing: " + path + " (" + describe_entry(e) + ")");
    } else if (!(it->second == e)) {
      add("differs: " + path + "\n      expected " + describe_entry(e) + "\n      actual   " +
          describe_entry(it->second));
    }
  }
  for (const auto& [path, e] : actual) {
    if (expected.count(path) == 0) {
      add("unexpected: " + path + " (" + describe_entry(e) + ")");
    }
  }
  if (total > limit) {
    out.push_back("... and " + std::to_string(total - limit) + " more");
  }
  return out;
}

inline std::uint64_t total_file_bytes(const TreeState& state) {
  std::uint64_t total = 0;
  for (const auto& [path, e] : state) {
    if (e.type == 'f') {
      total += e.size;
    }
  }
  return total;
}

// Bytes of the files in `to` that are new or different from `from`.
inline std::uint64_t changed_file_bytes(const TreeState& from, const TreeState& to) {
  std::uint64_t total = 0;
  for (const auto& [path, e] : to) {
    auto it = from.find(path);
    if (e.type == 'f' && (it == from.end() || !(it->second == e))) {
      total += e.size;
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Processes

// One line of the process table.
struct ProcInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  char state = '?';
  std::string comm;
  std::string cmdline;  // arguments joined by spaces
};

// The whole of a small /proc file ("" when it is gone or unreadable; a process may exit while it
// is read, so no stream that throws).
inline std::string read_proc_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

inline std::optional<ProcInfo> read_proc(pid_t pid) {
  std::string base = "/proc/" + std::to_string(pid);
  std::string stat_line = read_proc_file(base + "/stat");
  auto open = stat_line.find('(');
  auto close = stat_line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= stat_line.size()) {
    return std::nullopt;
  }
  ProcInfo info;
  info.pid = pid;
  info.comm = stat_line.substr(open + 1, close - open - 1);
  std::istringstream rest(stat_line.substr(close + 2));
  rest >> info.state >> info.ppid >> info.pgrp;
  info.cmdline = read_proc_file(base + "/cmdline");
  for (char& c : info.cmdline) {
    if (c == '\0') {
      c = ' ';
    }
  }
  return info;
}

// Calls visit(pid) for every process in /proc (visit reads what it needs, so it can pass over a pid
// cheaply).
template <typename Visit>
inline void for_each_pid(Visit visit) {
  DIR* d = ::opendir("/proc");
  if (d == nullptr) {
    return;
  }
  while (struct dirent* ent = ::readdir(d)) {
    std::string_view name = ent->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string_view::npos) {
      continue;
    }
    visit(static_cast<pid_t>(std::stol(std::string(name))));
  }
  ::closedir(d);
}

inline std::vector<ProcInfo> process_table() {
  std::vector<ProcInfo> out;
  for_each_pid([&](pid_t pid) {
    if (auto info = read_proc(pid)) {
      out.push_back(std::move(*info));
    }
  });
  return out;
}

// Live (not zombie) processes other than us in process group `pgrp` or whose command line
// mentions one of `markers`.
inline std::vector<ProcInfo> leftover_processes(const std::vector<std::string>& markers, pid_t pgrp = 0) {
  std::vector<ProcInfo> out;
  for (auto& p : process_table()) {
    if (p.pid == ::getpid() || p.state == 'Z' || p.state == 'X') {
      continue;
    }
    bool ours = pgrp > 0 && p.pgrp == pgrp;
    for (const auto& m : markers) {
      ours = ours || (!m.empty() && p.cmdline.find(m) != std::string::npos);
    }
    if (ours) {
      out.push_back(std::move(p));
    }
  }
  return out;
}

// Waits up to 20 s until no live process mentions one of markers; kills and reports stragglers.
inline bool wait_until_gone(const std::vector<std::string>& markers) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!leftover_processes(markers).empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      for (const auto& p : leftover_processes(markers)) {
        ADD_FAILURE() << "process left behind: " << p.pid << " " << p.cmdline;
        ::kill(p.pid, SIGKILL);
      }
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Live children of pid. Only pids above pid are read (children are younger; pid wrap-around
// during a test is not expected), so polling it often stays cheap.
inline std::vector<ProcInfo> children_of(pid_t pid) {
  std::vector<ProcInfo> out;
  for_each_pid([&](pid_t child) {
    if (child <= pid) {
      return;
    }
    if (auto info = read_proc(child); info && info->ppid == pid && info->state != 'Z' && info->state != 'X') {
      out.push_back(std::move(*info));
    }
  });
  return out;
}

// snapkeep started in a process group of its own (posix_spawn, no shell), so that the whole group
// (snapkeep, rsync and its helpers, btrfs send/receive) can be SIGKILLed at once. The group is
// killed and the leader reaped at destruction.
class GroupRun {
 public:
  GroupRun(const std::vector<std::string>& args, const std::filesystem::path& out_path,
           const std::filesystem::path& err_path)
      : m_out_path(out_path), m_err_path(err_path) {
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigset_t defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) {
      sigaddset(&defaults, sig);
    }
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    m_pid = spawn_snapkeep(args, m_out_path, m_err_path, attr, environ);
    posix_spawnattr_destroy(&attr);
    m_started = std::chrono::steady_clock::now();
  }
  ~GroupRun() {
    if (m_pid > 0) {
      ::kill(-m_pid, SIGKILL);
      wait();
    }
  }
  GroupRun(const GroupRun&) = delete;
  GroupRun& operator=(const GroupRun&) = delete;

  pid_t pid() const { return m_pid; }
  bool ok() const { return m_pid > 0; }
  // True while the leader has not exited (reaps it when it has).
  bool running() {
    if (m_pid <= 0 || m_reaped) {
      return false;
    }
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_reaped = true;
      m_status = status;
      m_ended = std::chrono::steady_clock::now();
      return false;
    }
    return true;
  }
  // SIGKILLs the whole process group.
  void kill_group() {
    if (m_pid > 0) {
      ::kill(-m_pid, SIGKILL);
    }
  }
  // Waits for the leader; returns its raw wait status.
  int wait() {
    if (m_pid > 0 && !m_reaped) {
      int status = 0;
      while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
      }
      m_reaped = true;
      m_status = status;
      m_ended = std::chrono::steady_clock::now();
    }
    return m_status;
  }
  double seconds() const { return std::chrono::duration<double>(m_ended - m_started).count(); }
  std::chrono::steady_clock::time_point started() const { return m_started; }
  std::string out_text() const { return slurp(m_out_path); }
  std::string err_text() const { return slurp(m_err_path); }

 private:
  static std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  pid_t m_pid = -1;
  bool m_reaped = false;
  int m_status = 0;
  std::chrono::steady_clock::time_point m_started;
  std::chrono::steady_clock::time_point m_ended;
  std::filesystem::path m_out_path;
  std::filesystem::path m_err_path;
};

inline std::string describe_status(int status) {
  if (WIFEXITED(status)) {
    return "exit " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "signal " + std::to_string(WTERMSIG(status));
  }
  return "status " + std::to_string(status);
}

// ---------------------------------------------------------------------------------------------
// Filesystem probes

// is_read_only_subvolume() and extents_of() (FIEMAP; unchanged files of two snapshots share storage
// when their extents are equal) are in tests/integration/integration_util.hpp.

// True when /proc/self/mountinfo mentions text (a mount point or device).
inline bool mounted_anywhere(const std::string& text) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// A scratch folder for power-cut copies of images: in /dev/shm when it has room (the copy is
// written through a loop device; on a disk, deleting it waits for that writeback), else under
// `fallback`. Removed with its contents at destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::filesystem::path& fallback) {
    struct statvfs sv {};
    char pattern[] = "/dev/shm/snapkeep-fault-XXXXXX";
    if (::statvfs("/dev/shm", &sv) == 0 &&
        static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize > 2ULL * 1024 * 1024 * 1024 &&
        ::mkdtemp(pattern) != nullptr) {
      m_path = pattern;
    } else {
      m_path = fallback / "scratch";
      std::filesystem::create_directories(m_path);
    }
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

// A copy of a filesystem image attached to a loop device and mounted; unmounted and detached at
// destruction.
class MountedCopy {
 public:
  MountedCopy(const std::filesystem::path& image, const std::filesystem::path& mount_point) : m_mount(mount_point) {
    std::filesystem::create_directories(m_mount);
    RunResult setup = run_ok({"losetup", "--find", "--show", "--", image.string()});
    if (setup.exit_code != 0) {
      return;
    }
    m_device = setup.out.substr(0, setup.out.find('\n'));
    RunResult mounted = run({"mount", "--", m_device, m_mount.string()});
    if (mounted.exit_code != 0) {
      ADD_FAILURE() << "cannot mount the copy " << image << ": " << mounted.err;
      return;
    }
    m_mounted = true;
  }
  ~MountedCopy() {
    if (m_mounted && run({"umount", "--", m_mount.string()}).exit_code != 0) {
      run({"umount", "-l", "--", m_mount.string()});
    }
    if (!m_device.empty()) {
      run({"losetup", "-d", m_device});
    }
  }
  MountedCopy(const MountedCopy&) = delete;
  MountedCopy& operator=(const MountedCopy&) = delete;
  bool ok() const { return m_mounted; }
  const std::filesystem::path& mount_point() const { return m_mount; }

 private:
  std::filesystem::path m_mount;
  std::string m_device;
  bool m_mounted = false;
};

}  // namespace snapkeep::test::fault
