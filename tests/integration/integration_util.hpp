#pragma once
// Helpers for the integration tests: tree comparison (contents, metadata, hard links, xattrs),
// timestamps, background snapkeep runs, and mount guards. Header-only so no CMake change is needed.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
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

#include "tests/support/testutil.hpp"

extern char** environ;

namespace snapkeep::test {

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
    std::vector<std::string> argv{snapkeep_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) {
      cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
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
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, m_out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, m_err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (m_own_group) {
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
      posix_spawnattr_setpgroup(&attr, 0);
    }
    int rc = ::posix_spawn(&m_pid, cargv[0], &actions, &attr, cargv.data(), cenv.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
      m_pid = -1;
    }
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

// Bind-mounts `from` at `at` and unmounts it at destruction (declare it after the LoopFs it uses).
class BindMount {
 public:
  BindMount(const fs::path& from, const fs::path& at) : m_at(at) {
    m_ok = run_ok({"mount", "--bind", "--", from.string(), at.string()}).exit_code == 0;
  }
  ~BindMount() {
    if (m_ok && run({"umount", "--", m_at.string()}).exit_code != 0) {
      run({"umount", "-l", "--", m_at.string()});
    }
  }
  BindMount(const BindMount&) = delete;
  BindMount& operator=(const BindMount&) = delete;
  bool ok() const { return m_ok; }

 private:
  fs::path m_at;
  bool m_ok = false;
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
