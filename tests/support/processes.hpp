#pragma once
// Processes a test starts and watches: snapkeep runs in the background (optionally in a process
// group of their own, killed whole), polling, stopping a run mid-work, and the process table.

#include <spawn.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace snapkeep::test {

namespace fs = std::filesystem;

// Polls cond every `step` until it holds or `limit` passes; returns its last value.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds limit,
                std::chrono::microseconds step = std::chrono::microseconds(500));

// Starts the built snapkeep binary with `args` (posix_spawn, no shell): stdin from /dev/null, stdout
// and stderr into out_path and err_path (truncated), environment `env`, spawn attributes `attr`.
// Returns the child's pid, or -1 after a test failure naming posix_spawn's error.
pid_t spawn_snapkeep(const std::vector<std::string>& args, const fs::path& out_path, const fs::path& err_path,
                     const posix_spawnattr_t& attr, char* const env[]);

// A child process of this one, reaped once: whether it still runs, and how it ended.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid = -1) : m_pid(pid) {}
  // Its pid, -1 when there is none.
  pid_t pid() const { return m_pid; }
  // True while it has not exited (reaps it when it has).
  bool running();
  // Waits for it (once); its raw wait status.
  int wait();
  // True once it has been reaped.
  bool reaped() const { return m_reaped; }
  // Records that it ended with `status`, seen by a waitpid of the caller's own.
  void ended(int status);

 private:
  pid_t m_pid = -1;
  bool m_reaped = false;
  int m_status = 0;
};

// How a BackgroundRun starts.
struct BackgroundOptions {
  std::string name = "background";  // stdout and stderr go to LOG_DIR/NAME.out and LOG_DIR/NAME.err
  bool own_group = false;           // in a process group of its own (pgid = pid), killed whole at destruction
  bool default_signals = false;     // SIGPIPE, SIGINT, SIGTERM and SIGHUP at their defaults, none blocked
};

// A snapkeep run in the background (posix_spawn, no shell); killed (its whole group with
// own_group) and reaped at destruction.
class BackgroundRun {
 public:
  // stdout and stderr go to files in `log_dir`; `extra_env` entries ("K=V") replace ours.
  BackgroundRun(const std::vector<std::string>& args, const fs::path& log_dir,
                const std::vector<std::string>& extra_env = {}, const BackgroundOptions& options = {});
  // The same with stdout and stderr going to out_path and err_path (options.name unused).
  BackgroundRun(const std::vector<std::string>& args, const fs::path& out_path, const fs::path& err_path,
                const std::vector<std::string>& extra_env, const BackgroundOptions& options);
  ~BackgroundRun();
  BackgroundRun(const BackgroundRun&) = delete;
  BackgroundRun& operator=(const BackgroundRun&) = delete;

  // The child's pid, -1 when it could not be started.
  pid_t pid() const { return m_child.pid(); }
  // True while the child has not exited (reaps it when it has).
  bool running();
  // Sends sig to the child (not once it is reaped).
  void kill(int sig);
  // Sends sig to the whole process group (own_group runs only; the group outlives a reaped leader).
  void kill_group(int sig);
  // SIGSTOPs the child and waits until it is stopped: true then, false when it exited first.
  bool stop();
  // Lets a stopped child go on.
  void resume();
  // Waits for the child; returns its raw wait status.
  int wait();
  // Waits for the child; its exit status, or -1 when a signal ended it.
  int exit_code();
  // What it wrote so far ("" when nothing).
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  ChildProcess m_child;
  bool m_own_group = false;
  fs::path m_out_path;
  fs::path m_err_path;
};

// Lets `run` go until `mid_work()` holds, then stops it (SIGSTOP) and asks `mid_work()` again while
// it cannot move: true when it is stopped in the middle of its work. When the second look says
// otherwise it goes on and is watched again; false once it has ended (or after `limit`, running).
bool stop_when(BackgroundRun& run, const std::function<bool()>& mid_work,
               std::chrono::milliseconds limit = std::chrono::seconds(60));

// Pids of the processes other than us for which pred(/proc/PID) holds (a process may end while
// pred reads it).
std::vector<pid_t> processes_where(const std::function<bool(const fs::path&)>& pred);
// Processes whose command line holds `needle` (its NUL-separated words joined by blanks).
std::vector<pid_t> processes_with(const std::string& needle);
// Those of them whose command name (comm) is `comm`: "ssh", "rsync", "snapkeep", "btrfs".
std::vector<pid_t> processes_named(const std::string& comm, const std::string& needle);

// Pids of processes whose working directory lies below `dir` (rsync children that outlived a kill).
std::vector<pid_t> processes_working_in(const fs::path& dir);

// Pids of the live (not zombie) processes in process group pgid.
std::vector<pid_t> live_processes_in_group(pid_t pgid);

namespace fault {

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
std::string read_proc_file(const std::string& path);

// The process table line of pid, nullopt when it is gone.
std::optional<ProcInfo> read_proc(pid_t pid);

// Calls visit(pid) for every process in /proc (visit reads what it needs, so it can pass over a pid
// cheaply).
void for_each_pid(const std::function<void(pid_t)>& visit);

// Every process readable now.
std::vector<ProcInfo> process_table();

// Live (not zombie) processes other than us in process group `pgrp` or whose command line
// mentions one of `markers`.
std::vector<ProcInfo> leftover_processes(const std::vector<std::string>& markers, pid_t pgrp = 0);

// Waits up to 20 s until no live process mentions one of markers; kills and reports stragglers.
bool wait_until_gone(const std::vector<std::string>& markers);

// Live children of pid. Only pids above pid are read (children are younger; pid wrap-around
// during a test is not expected), so polling it often stays cheap.
std::vector<ProcInfo> children_of(pid_t pid);

// snapkeep started in a process group of its own (posix_spawn, no shell), so that the whole group
// (snapkeep, rsync and its helpers, btrfs send/receive) can be SIGKILLed at once. The group is
// killed and the leader reaped at destruction.
class GroupRun {
 public:
  GroupRun(const std::vector<std::string>& args, const fs::path& out_path, const fs::path& err_path);
  GroupRun(const GroupRun&) = delete;
  GroupRun& operator=(const GroupRun&) = delete;

  pid_t pid() const { return m_run.pid(); }
  bool ok() const { return m_run.pid() > 0; }
  // True while the leader has not exited (reaps it when it has).
  bool running();
  // SIGKILLs the whole process group.
  void kill_group();
  // Waits for the leader; returns its raw wait status.
  int wait();
  // From the start to when the leader was seen to end.
  double seconds() const;
  std::chrono::steady_clock::time_point started() const { return m_started; }
  std::string out_text() const { return m_run.stdout_text(); }
  std::string err_text() const { return m_run.stderr_text(); }

 private:
  BackgroundRun m_run;
  std::chrono::steady_clock::time_point m_started;
  std::optional<std::chrono::steady_clock::time_point> m_ended;
};

// "exit N", "signal N" or "status N" for a raw wait status.
std::string describe_status(int status);

}  // namespace fault
}  // namespace snapkeep::test
