#pragma once
// Helpers for the integration tests: a preset's test world, tree comparison (contents, metadata,
// hard links, xattrs), timestamps, snapshot folders, background snapkeep runs, mount guards and
// btrfs probes (read-only subvolumes, FIEMAP extents). Header-only so no CMake change is needed.

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/testutil.hpp"

extern char** environ;

namespace snapkeep::test {

// A test's world for CLI runs of preset "home": a TempDir with src/ and the config, and a loop-mounted
// ext4 destination of `dest_mib` MiB (check dest.ok() first).
struct PresetWorld {
  explicit PresetWorld(unsigned dest_mib) : dest("ext4", dest_mib) {
    src = tmp / "src";
    fs::create_directories(src);
    config = tmp / "snapkeep.ini";
    preset_dir = dest.mount_point() / "home";
  }
  // (Re)writes the config for preset "home": source src, destination the loop mount, then `extra`.
  void write_config(const std::string& extra = "") const {
    write_preset_config(config, "home", src, dest.mount_point(), extra);
  }
  // Runs `snapkeep -c CONFIG args...`.
  RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", config.string()});
    return snapkeep(args);
  }
  // `snapkeep --json args...`, parsed, with the exit status checked (stderr into *err when given).
  nlohmann::json cli_json(std::vector<std::string> args, int expected_exit = 0, std::string* err = nullptr) const {
    args.insert(args.begin(), "--json");
    RunResult r = cli(args);
    EXPECT_EQ(r.exit_code, expected_exit) << "snapkeep " << ::testing::PrintToString(args) << "\nstdout:\n"
                                          << r.out << "\nstderr:\n"
                                          << r.err;
    if (err != nullptr) {
      *err = r.err;
    }
    nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "not JSON:\n" << r.out << "\nstderr:\n" << r.err;
    return doc.is_discarded() ? nlohmann::json() : doc;
  }
  // A `--json backup` that must succeed (exit 0, status "ok"); returns its JSON entry for the preset.
  nlohmann::json backup_entry() const {
    nlohmann::json doc = cli_json({"backup"});
    if (!doc.contains("presets") || doc["presets"].size() != 1) {
      ADD_FAILURE() << "unexpected backup JSON: " << doc.dump();
      return nlohmann::json::object();
    }
    nlohmann::json entry = doc["presets"][0];
    EXPECT_EQ(entry.value("status", ""), "ok") << entry.dump();
    return entry;
  }
  // backup_entry()'s new snapshot id ("" after a failure).
  std::string backup_id() const { return backup_entry().value("snapshot", ""); }
  fs::path snap(const std::string& id) const { return preset_dir / id; }
  // The time record of snapshot `id` (.snapkeep/snapshots/ID).
  fs::path record(const std::string& id) const { return preset_dir / ".snapkeep" / "snapshots" / id; }

  TempDir tmp;
  LoopFs dest;
  fs::path src;
  fs::path config;
  fs::path preset_dir;
};

// What tree_differences() compares besides names, types and contents.
struct TreeCompare {
  bool modes = true;       // full st_mode (type, permissions, setuid/setgid/sticky)
  bool owners = true;      // uid and gid
  bool mtimes = true;      // mtime of files, folders and symlinks
  bool mtime_ns = true;    // ... to the nanosecond (else whole seconds)
  bool xattrs = false;     // every extended attribute, ACLs included
  bool hard_links = true;  // entries sharing an inode in one tree share one in the other
  bool root = true;        // compare the two roots' own metadata too
};

// Everything but nanoseconds of mtimes. For tests about other things: rsync's default whole-second
// time comparison leaves the ns of folders made in the second their source changed (see
// RsyncBackup.MetadataIsKept and RsyncBackup.SameSecondChangeIsNotLinked for that).
inline TreeCompare whole_second_mtimes() {
  TreeCompare what;
  what.mtime_ns = false;
  return what;
}

// The target text of a symlink ("" and a test failure when it is not one).
inline std::string link_target(const fs::path& link) {
  std::error_code ec;
  fs::path target = fs::read_symlink(link, ec);
  if (ec) {
    ADD_FAILURE() << "readlink " << link << ": " << ec.message();
    return {};
  }
  return target.string();
}

// Every extended attribute of path (not following symlinks), name -> value bytes.
inline std::map<std::string, std::string> xattrs_of(const fs::path& path) {
  std::map<std::string, std::string> out;
  ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
  if (size <= 0) {
    return out;
  }
  std::string names(static_cast<std::size_t>(size), '\0');
  size = ::llistxattr(path.c_str(), names.data(), names.size());
  if (size <= 0) {
    return out;
  }
  names.resize(static_cast<std::size_t>(size));
  for (std::size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    ssize_t vsize = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    std::string value(vsize > 0 ? static_cast<std::size_t>(vsize) : 0, '\0');
    if (vsize > 0) {
      vsize = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      value.resize(vsize > 0 ? static_cast<std::size_t>(vsize) : 0);
    }
    out[name] = value;
  }
  return out;
}

// Printable form of a path with control and non-ASCII bytes escaped, for messages.
inline std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Relative paths of every entry below root (not following symlinks), sorted.
inline std::vector<fs::path> tree_entries(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    out.push_back(it->path().lexically_relative(root));
  }
  if (ec) {
    ADD_FAILURE() << "cannot walk " << root << ": " << ec.message();
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Differences between two trees (empty when equal under `what`), one line each.
inline std::vector<std::string> tree_differences(const fs::path& a, const fs::path& b, const TreeCompare& what = {}) {
  std::vector<std::string> diffs;
  auto ea = tree_entries(a);
  auto eb = tree_entries(b);
  std::set<fs::path> sb(eb.begin(), eb.end());
  std::set<fs::path> sa(ea.begin(), ea.end());
  for (const auto& rel : eb) {
    if (sa.count(rel) == 0) {
      diffs.push_back("only in " + b.string() + ": " + printable(rel.string()));
    }
  }
  std::vector<fs::path> both;
  for (const auto& rel : ea) {
    if (sb.count(rel) == 0) {
      diffs.push_back("only in " + a.string() + ": " + printable(rel.string()));
    } else {
      both.push_back(rel);
    }
  }
  if (what.root) {
    both.insert(both.begin(), fs::path());
  }
  std::map<ino_t, ino_t> inode_map;  // inode in a -> inode in b
  std::map<ino_t, ino_t> inode_back;
  for (const auto& rel : both) {
    fs::path pa = rel.empty() ? a : a / rel;
    fs::path pb = rel.empty() ? b : b / rel;
    std::string name = rel.empty() ? "(root)" : printable(rel.string());
    struct stat sta {};
    struct stat stb {};
    if (::lstat(pa.c_str(), &sta) != 0 || ::lstat(pb.c_str(), &stb) != 0) {
      diffs.push_back(name + ": lstat failed");
      continue;
    }
    if ((sta.st_mode & S_IFMT) != (stb.st_mode & S_IFMT)) {
      diffs.push_back(name + ": file type differs");
      continue;
    }
    if (what.modes && sta.st_mode != stb.st_mode) {
      std::ostringstream os;
      os << name << ": mode " << std::oct << sta.st_mode << " vs " << stb.st_mode;
      diffs.push_back(os.str());
    }
    if (what.owners && (sta.st_uid != stb.st_uid || sta.st_gid != stb.st_gid)) {
      diffs.push_back(name + ": owner " + std::to_string(sta.st_uid) + ":" + std::to_string(sta.st_gid) + " vs " +
                      std::to_string(stb.st_uid) + ":" + std::to_string(stb.st_gid));
    }
    if (what.mtimes &&
        (sta.st_mtim.tv_sec != stb.st_mtim.tv_sec || (what.mtime_ns && sta.st_mtim.tv_nsec != stb.st_mtim.tv_nsec))) {
      diffs.push_back(name + ": mtime " + std::to_string(sta.st_mtim.tv_sec) + "." +
                      std::to_string(sta.st_mtim.tv_nsec) + " vs " + std::to_string(stb.st_mtim.tv_sec) + "." +
                      std::to_string(stb.st_mtim.tv_nsec));
    }
    if (S_ISREG(sta.st_mode)) {
      if (sta.st_size != stb.st_size) {
        diffs.push_back(name + ": size " + std::to_string(sta.st_size) + " vs " + std::to_string(stb.st_size));
      } else if (read_file(pa) != read_file(pb)) {
        diffs.push_back(name + ": contents differ");
      }
      if (what.hard_links && sta.st_nlink > 1) {
        auto [it, fresh] = inode_map.emplace(sta.st_ino, stb.st_ino);
        if (!fresh && it->second != stb.st_ino) {
          diffs.push_back(name + ": hard link to an earlier entry was broken");
        }
      }
      if (what.hard_links && stb.st_nlink > 1) {
        auto [it, fresh] = inode_back.emplace(stb.st_ino, sta.st_ino);
        if (!fresh && it->second != sta.st_ino) {
          diffs.push_back(name + ": linked to an entry it is not linked to in " + a.string());
        }
      }
    }
    if (S_ISLNK(sta.st_mode) && link_target(pa) != link_target(pb)) {
      diffs.push_back(name + ": symlink target '" + printable(link_target(pa)) + "' vs '" + printable(link_target(pb)) +
                      "'");
    }
    if (what.xattrs && xattrs_of(pa) != xattrs_of(pb)) {
      diffs.push_back(name + ": extended attributes differ");
    }
  }
  return diffs;
}

// gtest assertion text for tree_differences().
inline std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    out += "  " + line + "\n";
  }
  return out;
}

// Sets the mtime (and atime) of path, not following a symlink.
inline void set_mtime(const fs::path& path, time_t sec, long nsec = 0) {
  struct timespec times[2];
  times[0].tv_sec = sec;
  times[0].tv_nsec = nsec;
  times[1].tv_sec = sec;
  times[1].tv_nsec = nsec;
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    ADD_FAILURE() << "utimensat " << path << ": " << std::strerror(errno);
  }
}

// True when path exists (lstat, a dangling symlink counts).
inline bool exists_nofollow(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Names in a folder (not recursive), sorted; empty when it cannot be read.
inline std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    out.insert(entry.path().filename().string());
  }
  return out;
}

// The snapshot id naming local time `t`.
inline std::string id_for(std::time_t t) {
  struct tm tm {};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H-%M-%S", &tm);
  return buf;
}

// Moves snapkeep-made snapshots of `w` into the past: renames each (hard links untouched) to the id of
// base + i*step, writes its time record, and points `latest` at the last. Returns the new ids.
// Tests that are not about the clock use this so that retention sees a settled history.
inline std::vector<std::string> backdate(const PresetWorld& w, const std::vector<std::string>& ids, std::time_t base,
                                         std::time_t step) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::time_t t = base + static_cast<std::time_t>(i) * step;
    std::string id = id_for(t);
    fs::rename(w.snap(ids[i]), w.snap(id));
    fs::remove(w.record(ids[i]));
    write_file(w.record(id), "time=" + std::to_string(static_cast<long long>(t)) + "\n");
    out.push_back(id);
  }
  fs::remove(w.preset_dir / "latest");
  fs::create_symlink(out.back(), w.preset_dir / "latest");
  return out;
}

// The entries of a `prune --json` document's only preset, by id (its status must be "ok").
inline std::map<std::string, nlohmann::json> prune_entries(const nlohmann::json& doc) {
  std::map<std::string, nlohmann::json> out;
  if (!doc.contains("presets") || doc["presets"].size() != 1) {
    ADD_FAILURE() << "unexpected prune JSON: " << doc.dump();
    return out;
  }
  const nlohmann::json& preset = doc["presets"][0];
  EXPECT_EQ(preset.value("status", ""), "ok") << preset.dump();
  if (!preset.contains("snapshots")) {
    ADD_FAILURE() << "no snapshots in " << preset.dump();
    return out;
  }
  for (const auto& s : preset["snapshots"]) {
    out[s.value("id", "")] = s;
  }
  return out;
}

// Asserts PRESET_DIR/latest is a symlink naming an existing snapshot folder; returns its target
// ("" and a test failure when it is not a symlink).
inline std::string expect_latest_valid(const fs::path& preset_dir) {
  struct stat st {};
  if (::lstat((preset_dir / "latest").c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) {
    ADD_FAILURE() << preset_dir / "latest"
                  << " is not a symlink";
    return {};
  }
  std::string target = link_target(preset_dir / "latest");
  EXPECT_TRUE(fs::is_directory(preset_dir / target)) << "latest -> " << target << " dangles";
  return target;
}

// True when path is a read-only btrfs subvolume (BTRFS_IOC_SUBVOL_GETFLAGS; no child process, so
// it can be polled quickly).
inline bool is_read_only_subvolume(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  std::uint64_t flags = 0;
  int rc = ::ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags);
  ::close(fd);
  return rc == 0 && (flags & BTRFS_SUBVOL_RDONLY) != 0;
}

// One file extent as FIEMAP reports it (two files share storage where their extents are equal).
struct Extent {
  std::uint64_t logical = 0;
  std::uint64_t physical = 0;
  std::uint64_t length = 0;
  bool operator==(const Extent&) const = default;
};

// The extents of a file (FS_IOC_FIEMAP, data synced first); a test failure when it cannot be read.
inline std::vector<Extent> extents_of(const fs::path& file) {
  std::vector<Extent> out;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "open " << file << ": " << std::strerror(errno);
    return out;
  }
  constexpr unsigned k_batch = 256;
  std::vector<std::uint64_t> storage((sizeof(struct fiemap) + k_batch * sizeof(struct fiemap_extent)) / 8 + 1);
  std::uint64_t start = 0;
  for (bool last = false; !last;) {
    std::fill(storage.begin(), storage.end(), 0);
    auto* map = reinterpret_cast<struct fiemap*>(storage.data());
    map->fm_start = start;
    map->fm_length = FIEMAP_MAX_OFFSET - start;
    map->fm_flags = FIEMAP_FLAG_SYNC;
    map->fm_extent_count = k_batch;
    if (::ioctl(fd, FS_IOC_FIEMAP, map) != 0) {
      ADD_FAILURE() << "FS_IOC_FIEMAP " << file << ": " << std::strerror(errno);
      break;
    }
    if (map->fm_mapped_extents == 0) {
      break;
    }
    for (unsigned i = 0; i < map->fm_mapped_extents; ++i) {
      const auto& e = map->fm_extents[i];
      out.push_back({e.fe_logical, e.fe_physical, e.fe_length});
      start = e.fe_logical + e.fe_length;
      last = last || (e.fe_flags & FIEMAP_EXTENT_LAST) != 0;
    }
  }
  ::close(fd);
  return out;
}

// Polls cond every `step` until it holds or `limit` passes; returns its last value.
inline bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds limit,
                       std::chrono::microseconds step = std::chrono::microseconds(500)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return cond();
    }
    std::this_thread::sleep_for(step);
  }
  return true;
}

// Starts the built snapkeep binary with `args` (posix_spawn, no shell): stdin from /dev/null, stdout
// and stderr into out_path and err_path (truncated), environment `env`, spawn attributes `attr`.
// Returns the child's pid, or -1 after a test failure naming posix_spawn's error.
inline pid_t spawn_snapkeep(const std::vector<std::string>& args, const fs::path& out_path, const fs::path& err_path,
                            const posix_spawnattr_t& attr, char* const env[]) {
  std::vector<std::string> argv{snapkeep_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) {
    cargv.push_back(a.data());
  }
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, cargv[0], &actions, &attr, cargv.data(), env);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
    return -1;
  }
  return pid;
}

// How a BackgroundRun starts.
struct BackgroundOptions {
  std::string name = "background";  // stdout and stderr go to LOG_DIR/NAME.out and LOG_DIR/NAME.err
  bool own_group = false;           // in a process group of its own (pgid = pid), killed whole at destruction
};

// A snapkeep run in the background (posix_spawn, no shell); killed and reaped at destruction.
class BackgroundRun {
 public:
  // stdout and stderr go to files in `log_dir`; `extra_env` entries ("K=V") replace ours.
  BackgroundRun(const std::vector<std::string>& args, const fs::path& log_dir,
                const std::vector<std::string>& extra_env = {}, const BackgroundOptions& options = {})
      : m_own_group(options.own_group) {
    m_out_path = log_dir / (options.name + ".out");
    m_err_path = log_dir / (options.name + ".err");
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      bool replaced = false;
      for (const auto& extra : extra_env) {
        if (entry.substr(0, entry.find('=') + 1) == extra.substr(0, extra.find('=') + 1)) {
          replaced = true;
        }
      }
      if (!replaced) {
        env_strings.push_back(entry);
      }
    }
    env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> cenv;
    for (auto& e : env_strings) {
      cenv.push_back(e.data());
    }
    cenv.push_back(nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (m_own_group) {
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
      posix_spawnattr_setpgroup(&attr, 0);
    }
    m_pid = spawn_snapkeep(args, m_out_path, m_err_path, attr, cenv.data());
    posix_spawnattr_destroy(&attr);
  }
  ~BackgroundRun() {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_own_group ? -m_pid : m_pid, SIGKILL);
      wait();
    }
  }
  BackgroundRun(const BackgroundRun&) = delete;
  BackgroundRun& operator=(const BackgroundRun&) = delete;

  pid_t pid() const { return m_pid; }
  // True while the child has not exited (reaps it when it has).
  bool running() {
    if (m_pid <= 0 || m_reaped) {
      return false;
    }
    pid_t r = ::waitpid(m_pid, &m_status, WNOHANG);
    if (r == m_pid) {
      m_reaped = true;
      return false;
    }
    return true;
  }
  void kill(int sig) {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, sig);
    }
  }
  // Sends sig to the whole process group (own_group runs only; the group outlives a reaped leader).
  void kill_group(int sig) {
    if (m_pid > 0 && m_own_group) {
      ::kill(-m_pid, sig);
    }
  }
  // SIGSTOPs the child and waits until it is stopped: true then, false when it exited first.
  bool stop() {
    if (m_pid <= 0 || m_reaped) {
      return false;
    }
    ::kill(m_pid, SIGSTOP);
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(m_pid, &status, WUNTRACED);
      if (r < 0 && errno == EINTR) {
        continue;
      }
      if (r == m_pid && WIFSTOPPED(status)) {
        return true;
      }
      m_status = status;
      m_reaped = true;
      return false;
    }
  }
  // Lets a stopped child go on.
  void resume() {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, SIGCONT);
    }
  }
  // Waits for the child; returns its raw wait status.
  int wait() {
    if (m_pid > 0 && !m_reaped) {
      while (::waitpid(m_pid, &m_status, 0) < 0 && errno == EINTR) {
      }
      m_reaped = true;
    }
    return m_status;
  }
  // Waits for the child; its exit status, or -1 when a signal ended it.
  int exit_code() {
    int status = wait();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string stdout_text() const { return text_of(m_out_path); }
  std::string stderr_text() const { return text_of(m_err_path); }

 private:
  static std::string text_of(const fs::path& path) {
    std::error_code ec;
    return fs::exists(path, ec) ? read_file(path) : std::string();
  }
  pid_t m_pid = -1;
  bool m_own_group = false;
  bool m_reaped = false;
  int m_status = 0;
  fs::path m_out_path;
  fs::path m_err_path;
};

// Lets `run` go until `mid_work()` holds, then stops it (SIGSTOP) and asks `mid_work()` again while
// it cannot move: true when it is stopped in the middle of its work. When the second look says
// otherwise it goes on and is watched again; false once it has ended (or after `limit`, running).
inline bool stop_when(BackgroundRun& run, const std::function<bool()>& mid_work,
                      std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!wait_until([&] { return mid_work() || !run.running(); }, left, std::chrono::microseconds(100)) ||
        !run.stop()) {
      return false;
    }
    if (mid_work()) {
      return true;
    }
    run.resume();
  }
  return false;
}

// True when nobody holds the flock on `lock` (a preset's .snapkeep/lock) at this moment.
inline bool lock_is_free(const fs::path& lock) {
  int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return true;
  }
  bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);  // releases it again
  return free;
}

// Runs `mount MOUNT_ARGS... AT` and unmounts AT at destruction, lazily when it is busy (declare it
// after the LoopFs or TempDir it uses).
class MountGuard {
 public:
  MountGuard(std::vector<std::string> mount_args, const fs::path& at) : m_at(at) {
    mount_args.insert(mount_args.begin(), "mount");
    mount_args.push_back(at.string());
    m_ok = run_ok(mount_args).exit_code == 0;
  }
  ~MountGuard() {
    if (m_ok && run({"umount", "--", m_at.string()}).exit_code != 0) {
      run({"umount", "-l", "--", m_at.string()});
    }
  }
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  bool ok() const { return m_ok; }

 private:
  fs::path m_at;
  bool m_ok = false;
};

// Bind-mounts `from` at `at` and unmounts it at destruction (declare it after the LoopFs it uses).
class BindMount : public MountGuard {
 public:
  BindMount(const fs::path& from, const fs::path& at) : MountGuard({"--bind", "--", from.string()}, at) {}
};

// Pids of the processes other than us for which pred(/proc/PID) holds (a process may end while
// pred reads it).
inline std::vector<pid_t> processes_where(const std::function<bool(const fs::path&)>& pred) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    auto pid = static_cast<pid_t>(std::stol(name));
    if (pid != ::getpid() && pred(entry.path())) {
      out.push_back(pid);
    }
  }
  return out;
}

// Pids of processes whose working directory lies below `dir` (rsync children that outlived a kill).
inline std::vector<pid_t> processes_working_in(const fs::path& dir) {
  return processes_where([&](const fs::path& proc) {
    std::error_code ec;
    fs::path cwd = fs::read_symlink(proc / "cwd", ec);
    return !ec && cwd.string().rfind(dir.string(), 0) == 0;
  });
}

// Pids of the live (not zombie) processes in process group pgid.
inline std::vector<pid_t> live_processes_in_group(pid_t pgid) {
  return processes_where([&](const fs::path& proc) {
    std::string stat_line;
    std::ifstream in(proc / "stat");  // a process that is gone reads as ""
    std::getline(in, stat_line);
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so read after the last ')'.
    std::size_t close = stat_line.rfind(')');
    if (close == std::string::npos) {
      return false;
    }
    std::istringstream rest(stat_line.substr(close + 1));
    char state = '?';
    pid_t ppid = 0;
    pid_t pgrp = 0;
    rest >> state >> ppid >> pgrp;
    return pgrp == pgid && state != 'Z' && state != 'X';
  });
}

}  // namespace snapkeep::test
