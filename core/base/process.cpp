#include "core/base/process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cctype>
#include <csignal>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>

#include "core/base/signals.hpp"

namespace bp = boost::process;

namespace snapkeep {
namespace {

// Makes the child die with snapkeep even when snapkeep is SIGKILLed.
struct DieWithParent : bp::extend::handler {
  pid_t parent = ::getpid();
  template <class Executor>
  void on_exec_setup(Executor& /*exec*/) const {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
  }
};

// Keeps the last `limit` bytes of a stream.
class TailBuffer {
 public:
  explicit TailBuffer(std::size_t limit) : m_limit(limit) {}
  void append(std::string_view data) {
    m_text.append(data);
    if (m_text.size() > 2 * m_limit) {
      m_text.erase(0, m_text.size() - m_limit);
    }
  }
  std::string take() {
    if (m_text.size() > m_limit) {
      m_text.erase(0, m_text.size() - m_limit);
    }
    return std::move(m_text);
  }

 private:
  std::size_t m_limit;
  std::string m_text;
};

bool needs_quotes(const std::string& arg) {
  if (arg.empty()) {
    return true;
  }
  for (unsigned char c : arg) {
    if (!(std::isalnum(c) || std::strchr("-_./=:,+@%", c) != nullptr)) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string ProcessResult::status_text() const {
  if (term_signal != 0) {
    return "was killed by signal " + std::to_string(term_signal) + " (" + strsignal(term_signal) + ")";
  }
  return "exited with status " + std::to_string(exit_code);
}

std::string quote_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) {
      out += ' ';
    }
    if (!needs_quotes(arg)) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'') {
        out += "'\\''";
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

std::string describe_failure(std::string_view program, const ProcessResult& result, std::string_view meaning) {
  std::string out = std::string(program) + " " + result.status_text();
  if (!meaning.empty()) {
    out += " (" + std::string(meaning) + ")";
  }
  std::string tail = result.stderr_tail;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) {
    tail.pop_back();
  }
  if (!tail.empty()) {
    out += "; its stderr ends with:\n" + tail;
  }
  return out;
}

namespace {

// The program to execute: argv0 itself when it has a '/', else its PATH match.
Result<boost::filesystem::path> resolve_program(const std::string& argv0) {
  if (argv0.find('/') != std::string::npos) {
    return boost::filesystem::path(argv0);
  }
  boost::filesystem::path exe = bp::search_path(argv0);
  if (exe.empty()) {
    return make_error(ErrorKind::runtime, "cannot run " + argv0 + ": not found in PATH (is it installed?)", ENOENT, {});
  }
  return exe;
}

bp::environment child_environment(const std::map<std::string, std::string>& extra) {
  bp::environment env = boost::this_process::environment();
  // Children speak C: their messages (strerror texts in a stderr tail) can be classified, and
  // numbers in their output parse the same whatever the user's locale.
  env.set("LC_ALL", "C");
  for (const auto& [key, value] : extra) {
    env.set(key, value);  // operator[] overruns a buffer in Boost 1.74 (boostorg/process#122)
  }
  return env;
}

// Reads a child's stderr on a thread, logging each line at debug level and keeping the tail.
class StderrCollector {
 public:
  StderrCollector(bp::ipstream& stream, std::string name, std::size_t tail_bytes)
      : m_tail(tail_bytes), m_thread([this, &stream, name = std::move(name)] {
          std::string line;
          while (std::getline(stream, line)) {
            spdlog::debug("{}: {}", name, line);
            m_tail.append(line);
            m_tail.append("\n");
          }
        }) {}
  ~StderrCollector() {
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  StderrCollector(const StderrCollector&) = delete;
  StderrCollector& operator=(const StderrCollector&) = delete;
  // Waits for EOF and returns the tail.
  std::string finish() {
    m_thread.join();
    return m_tail.take();
  }

 private:
  TailBuffer m_tail;
  std::thread m_thread;
};

// Waits for a started child and fills in how it ended.
void wait_child(bp::child& child, const std::string& name, ProcessResult& result) {
  std::error_code wait_error;
  child.wait(wait_error);
  unregister_child(child.id());
  // Boost.Process folds signals into exit_code; native_exit_code keeps the raw wait status.
  int status = child.native_exit_code();
  if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  } else {
    result.exit_code = WEXITSTATUS(status);
  }
  spdlog::debug("{} {}", name, result.status_text());
}

}  // namespace

namespace {

// Gives the child the caller's descriptors as its stdin and stdout.
struct UseDescriptors : bp::extend::handler {
  int in = -1;
  int out = -1;
  template <class Executor>
  void on_exec_setup(Executor& /*exec*/) const {
    if (::dup2(in, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0) {
      ::_exit(127);
    }
  }
};

}  // namespace

struct RunningProcess::State {
  std::string name;
  bp::child child;
  bp::ipstream err_stream;
  std::unique_ptr<StderrCollector> errors;
  bool waited = false;
  ProcessResult result;
};

RunningProcess::RunningProcess() = default;
RunningProcess::RunningProcess(std::unique_ptr<State> state) : m_state(std::move(state)) {}
RunningProcess::RunningProcess(RunningProcess&&) noexcept = default;
RunningProcess& RunningProcess::operator=(RunningProcess&& other) noexcept {
  if (this != &other) {
    if (m_state && !m_state->waited) {
      kill(SIGKILL);
      wait();
    }
    m_state = std::move(other.m_state);
  }
  return *this;
}
RunningProcess::~RunningProcess() {
  if (m_state && !m_state->waited) {
    kill(SIGKILL);
    wait();
  }
}

pid_t RunningProcess::pid() const {
  return m_state && !m_state->waited ? m_state->child.id() : -1;
}

void RunningProcess::kill(int sig) {
  if (m_state && !m_state->waited) {
    ::kill(m_state->child.id(), sig);
  }
}

ProcessResult RunningProcess::wait() {
  if (!m_state) {
    return {};
  }
  if (!m_state->waited) {
    wait_child(m_state->child, m_state->name, m_state->result);
    m_state->result.stderr_tail = m_state->errors->finish();
    m_state->waited = true;
  }
  return m_state->result;
}

Result<RunningProcess> start_process(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd,
                                     const ProcessOptions& options) {
  if (argv.empty()) {
    return runtime_error("internal error: empty argv");
  }
  SNAPKEEP_TRY_ASSIGN(auto exe, resolve_program(argv[0]));
  spdlog::debug("starting: {}", quote_argv(argv));
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  auto state = std::make_unique<RunningProcess::State>();
  state->name = argv[0];
  std::error_code launch_error;
  UseDescriptors fds;
  fds.in = stdin_fd;
  fds.out = stdout_fd;
  try {
    state->child = bp::child(bp::exe = exe, bp::args = args, bp::env = child_environment(options.env),
                             bp::std_err > state->err_stream, fds, DieWithParent{}, launch_error);
  } catch (const std::exception& e) {
    return runtime_error("cannot start " + argv[0] + ": " + e.what());
  }
  if (launch_error) {
    return make_error(ErrorKind::runtime, "cannot start " + argv[0], launch_error.value(), exe.string());
  }
  register_child(state->child.id());
  state->errors = std::make_unique<StderrCollector>(state->err_stream, argv[0], options.stderr_tail_bytes);
  return RunningProcess(std::move(state));
}

Result<ProcessResult> run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty()) {
    return runtime_error("internal error: empty argv");
  }
  SNAPKEEP_TRY_ASSIGN(auto exe, resolve_program(argv[0]));
  spdlog::debug("running: {}", quote_argv(argv));

  std::vector<std::string> args(argv.begin() + 1, argv.end());
  bp::ipstream out_stream;
  bp::ipstream err_stream;
  std::error_code launch_error;
  bp::child child;
  try {
    child = bp::child(bp::exe = exe, bp::args = args, bp::env = child_environment(options.env),
                      bp::std_in<bp::null, bp::std_out> out_stream, bp::std_err > err_stream, DieWithParent{},
                      launch_error);
  } catch (const std::exception& e) {
    return runtime_error("cannot start " + argv[0] + ": " + e.what());
  }
  if (launch_error) {
    return make_error(ErrorKind::runtime, "cannot start " + argv[0], launch_error.value(), exe.string());
  }
  register_child(child.id());
  StderrCollector errors(err_stream, argv[0], options.stderr_tail_bytes);

  ProcessResult result;
  std::string pending;
  auto* buf = out_stream.rdbuf();
  for (int c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
    char ch = static_cast<char>(c);
    if (options.capture_stdout) {
      result.stdout_text += ch;
    }
    if (options.on_stdout_line) {
      if (ch == '\n' || ch == '\r') {
        options.on_stdout_line(pending);
        pending.clear();
      } else {
        pending += ch;
      }
    }
  }
  if (options.on_stdout_line && !pending.empty()) {
    options.on_stdout_line(pending);
  }
  result.stderr_tail = errors.finish();
  wait_child(child, argv[0], result);
  return result;
}

Result<PipelineResult> run_pipeline(const std::vector<std::string>& first, const std::vector<std::string>& second,
                                    const std::function<void(std::uint64_t)>& on_bytes,
                                    const std::function<void(std::string_view)>& on_data,
                                    const std::map<std::string, std::string>& first_env) {
  if (first.empty() || second.empty()) {
    return runtime_error("internal error: empty argv");
  }
  SNAPKEEP_TRY_ASSIGN(auto exe1, resolve_program(first[0]));
  SNAPKEEP_TRY_ASSIGN(auto exe2, resolve_program(second[0]));
  spdlog::debug("running: {} | {}", quote_argv(first), quote_argv(second));
  std::vector<std::string> args1(first.begin() + 1, first.end());
  std::vector<std::string> args2(second.begin() + 1, second.end());
  bp::environment env1 = child_environment(first_env);
  bp::environment env = child_environment({});

  // first -> [upstream] -> us (counting) -> [downstream] -> second
  bp::pipe upstream;
  bp::ipstream err1;
  bp::ipstream err2;
  std::error_code launch_error;
  bp::child child1;
  try {
    child1 = bp::child(bp::exe = exe1, bp::args = args1, bp::env = env1, bp::std_in<bp::null, bp::std_out> upstream,
                       bp::std_err > err1, DieWithParent{}, launch_error);
  } catch (const std::exception& e) {
    return runtime_error("cannot start " + first[0] + ": " + e.what());
  }
  if (launch_error) {
    return make_error(ErrorKind::runtime, "cannot start " + first[0], launch_error.value(), exe1.string());
  }
  register_child(child1.id());
  StderrCollector errors1(err1, first[0], 4096);
  // The second child must not inherit our end of the first pipe, or the first never sees EPIPE.
  ::fcntl(upstream.native_source(), F_SETFD, FD_CLOEXEC);

  bp::pipe downstream;
  bp::child child2;
  try {
    child2 = bp::child(bp::exe = exe2, bp::args = args2, bp::env = env, bp::std_in<downstream, bp::std_out> bp::null,
                       bp::std_err > err2, DieWithParent{}, launch_error);
  } catch (const std::exception& e) {
    launch_error = std::make_error_code(std::errc::no_such_file_or_directory);
  }
  PipelineResult result;
  if (launch_error) {
    ::kill(child1.id(), SIGTERM);
    upstream.close();
    result.first.stderr_tail = errors1.finish();
    wait_child(child1, first[0], result.first);
    return make_error(ErrorKind::runtime, "cannot start " + second[0], launch_error.value(), exe2.string());
  }
  register_child(child2.id());
  StderrCollector errors2(err2, second[0], 4096);

  std::vector<char> buffer(1 << 20);
  bool downstream_open = true;
  for (;;) {
    ssize_t n = ::read(upstream.native_source(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    result.bytes += static_cast<std::uint64_t>(n);
    if (on_bytes) {
      on_bytes(result.bytes);
    }
    if (on_data) {
      on_data(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    }
    std::size_t done = 0;
    while (downstream_open && done < static_cast<std::size_t>(n)) {
      ssize_t w = ::write(downstream.native_sink(), buffer.data() + done, static_cast<std::size_t>(n) - done);
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w < 0) {
        downstream_open = false;  // the second child died (EPIPE): stop feeding it, let the first end
        break;
      }
      done += static_cast<std::size_t>(w);
    }
    if (!downstream_open) {
      break;
    }
  }
  // Closing our ends: the second child sees EOF; the first gets EPIPE if it still writes.
  downstream.close();
  upstream.close();
  result.first.stderr_tail = errors1.finish();
  result.second.stderr_tail = errors2.finish();
  wait_child(child1, first[0], result.first);
  wait_child(child2, second[0], result.second);
  return result;
}

}  // namespace snapkeep
