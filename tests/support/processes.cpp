#include "tests/support/processes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <string_view>
#include <thread>

#include <gtest/gtest.h>

#include "core/base/fd.hpp"
#include "tests/support/testutil.hpp"

extern char** environ;

namespace snapkeep::test {
namespace {

// A file's text, "" when it does not exist.
std::string text_if_exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec) ? read_file(path) : std::string();
}

}  // namespace

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds limit, std::chrono::microseconds step) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return cond();
    }
    std::this_thread::sleep_for(step);
  }
  return true;
}

pid_t spawn_snapkeep(const std::vector<std::string>& args, const fs::path& out_path, const fs::path& err_path,
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

BackgroundRun::BackgroundRun(const std::vector<std::string>& args, const fs::path& log_dir,
                             const std::vector<std::string>& extra_env, const BackgroundOptions& options)
    : BackgroundRun(args, log_dir / (options.name + ".out"), log_dir / (options.name + ".err"), extra_env, options) {}

BackgroundRun::BackgroundRun(const std::vector<std::string>& args, const fs::path& out_path, const fs::path& err_path,
                             const std::vector<std::string>& extra_env, const BackgroundOptions& options)
    : m_own_group(options.own_group), m_out_path(out_path), m_err_path(err_path) {
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
  short flags = 0;
  if (m_own_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  if (options.default_signals) {
    sigset_t none;
    sigset_t defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) {
      sigaddset(&defaults, sig);
    }
    flags |= POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
  }
  posix_spawnattr_setflags(&attr, flags);
  m_child = ChildProcess(spawn_snapkeep(args, m_out_path, m_err_path, attr, cenv.data()));
  posix_spawnattr_destroy(&attr);
}

bool ChildProcess::running() {
  if (m_pid <= 0 || m_reaped) {
    return false;
  }
  if (::waitpid(m_pid, &m_status, WNOHANG) == m_pid) {
    m_reaped = true;
    return false;
  }
  return true;
}

int ChildProcess::wait() {
  if (m_pid > 0 && !m_reaped) {
    while (::waitpid(m_pid, &m_status, 0) < 0 && errno == EINTR) {
    }
    m_reaped = true;
  }
  return m_status;
}

void ChildProcess::ended(int status) {
  m_status = status;
  m_reaped = true;
}

BackgroundRun::~BackgroundRun() {
  pid_t pid = m_child.pid();
  if (pid <= 0) {
    return;
  }
  if (m_own_group) {
    ::kill(-pid, SIGKILL);  // helpers of a reaped leader too
  } else if (!m_child.reaped()) {
    ::kill(pid, SIGKILL);
  }
  m_child.wait();
}

bool BackgroundRun::running() {
  return m_child.running();
}

void BackgroundRun::kill(int sig) {
  if (m_child.pid() > 0 && !m_child.reaped()) {
    ::kill(m_child.pid(), sig);
  }
}

void BackgroundRun::kill_group(int sig) {
  if (m_child.pid() > 0 && m_own_group) {
    ::kill(-m_child.pid(), sig);
  }
}

bool BackgroundRun::stop() {
  pid_t pid = m_child.pid();
  if (pid <= 0 || m_child.reaped()) {
    return false;
  }
  ::kill(pid, SIGSTOP);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WUNTRACED);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r == pid && WIFSTOPPED(status)) {
      return true;
    }
    m_child.ended(status);
    return false;
  }
}

void BackgroundRun::resume() {
  if (m_child.pid() > 0 && !m_child.reaped()) {
    ::kill(m_child.pid(), SIGCONT);
  }
}

int BackgroundRun::wait() {
  return m_child.wait();
}

int BackgroundRun::exit_code() {
  int status = wait();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string BackgroundRun::stdout_text() const {
  return text_if_exists(m_out_path);
}

std::string BackgroundRun::stderr_text() const {
  return text_if_exists(m_err_path);
}

bool stop_when(BackgroundRun& run, const std::function<bool()>& mid_work, std::chrono::milliseconds limit) {
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

std::vector<pid_t> processes_where(const std::function<bool(const fs::path&)>& pred) {
  std::vector<pid_t> out;
  fault::for_each_pid([&](pid_t pid) {
    if (pid != ::getpid() && pred(fs::path("/proc") / std::to_string(pid))) {
      out.push_back(pid);
    }
  });
  return out;
}

std::vector<pid_t> processes_working_in(const fs::path& dir) {
  return processes_where([&](const fs::path& proc) {
    std::error_code ec;
    fs::path cwd = fs::read_symlink(proc / "cwd", ec);
    return !ec && cwd.string().rfind(dir.string(), 0) == 0;
  });
}

std::vector<pid_t> live_processes_in_group(pid_t pgid) {
  std::vector<pid_t> out;
  for (const auto& p : fault::leftover_processes({}, pgid)) {
    out.push_back(p.pid);
  }
  return out;
}

std::vector<pid_t> processes_with(const std::string& needle) {
  return processes_where([&](const fs::path& proc) {
    std::string cmdline = fault::read_proc_file((proc / "cmdline").string());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    return cmdline.find(needle) != std::string::npos;
  });
}

std::vector<pid_t> processes_named(const std::string& comm, const std::string& needle) {
  std::vector<pid_t> out;
  for (pid_t pid : processes_with(needle)) {
    if (auto info = fault::read_proc(pid); info && info->comm == comm) {
      out.push_back(pid);
    }
  }
  return out;
}

namespace fault {

std::string read_proc_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return {};
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::optional<ProcInfo> read_proc(pid_t pid) {
  std::string base = "/proc/" + std::to_string(pid);
  std::string stat_line = read_proc_file(base + "/stat");
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so read after the last ')'.
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

void for_each_pid(const std::function<void(pid_t)>& visit) {
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

std::vector<ProcInfo> process_table() {
  std::vector<ProcInfo> out;
  for_each_pid([&](pid_t pid) {
    if (auto info = read_proc(pid)) {
      out.push_back(std::move(*info));
    }
  });
  return out;
}

std::vector<ProcInfo> leftover_processes(const std::vector<std::string>& markers, pid_t pgrp) {
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

bool wait_until_gone(const std::vector<std::string>& markers) {
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

std::vector<ProcInfo> children_of(pid_t pid) {
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

GroupRun::GroupRun(const std::vector<std::string>& args, const fs::path& out_path, const fs::path& err_path)
    : m_run(args, out_path, err_path, {},
            BackgroundOptions{.name = "group", .own_group = true, .default_signals = true}),
      m_started(std::chrono::steady_clock::now()) {}

bool GroupRun::running() {
  if (m_run.running()) {
    return true;
  }
  if (!m_ended) {
    m_ended = std::chrono::steady_clock::now();
  }
  return false;
}

void GroupRun::kill_group() {
  m_run.kill_group(SIGKILL);
}

int GroupRun::wait() {
  int status = m_run.wait();
  if (!m_ended) {
    m_ended = std::chrono::steady_clock::now();
  }
  return status;
}

double GroupRun::seconds() const {
  return std::chrono::duration<double>(m_ended.value_or(std::chrono::steady_clock::now()) - m_started).count();
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) {
    return "exit " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "signal " + std::to_string(WTERMSIG(status));
  }
  return "status " + std::to_string(status);
}

}  // namespace fault
}  // namespace snapkeep::test
