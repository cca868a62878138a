#include "core/process.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cctype>
#include <csignal>
#include <cstring>
#include <thread>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <spdlog/spdlog.h>

#include "core/signals.hpp"

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

Result<ProcessResult> run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty()) {
    return runtime_error("internal error: empty argv");
  }
  boost::filesystem::path exe = argv[0];
  if (argv[0].find('/') == std::string::npos) {
    exe = bp::search_path(argv[0]);
    if (exe.empty()) {
      return Error{ErrorKind::runtime, "cannot run " + argv[0] + ": not found in PATH (is it installed?)", ENOENT,
                   {}};
    }
  }
  spdlog::debug("running: {}", quote_argv(argv));

  std::vector<std::string> args(argv.begin() + 1, argv.end());
  bp::environment env = boost::this_process::environment();
  for (const auto& [key, value] : options.env) {
    env[key] = value;
  }
  bp::ipstream out_stream;
  bp::ipstream err_stream;
  std::error_code launch_error;
  bp::child child;
  try {
    child = bp::child(bp::exe = exe, bp::args = args, bp::env = env, bp::std_in<bp::null, bp::std_out> out_stream,
                      bp::std_err > err_stream, DieWithParent{}, launch_error);
  } catch (const std::exception& e) {
    return runtime_error("cannot start " + argv[0] + ": " + e.what());
  }
  if (launch_error) {
    return Error{ErrorKind::runtime, "cannot start " + argv[0], launch_error.value(), exe.string()};
  }
  register_child(child.id());

  TailBuffer tail(options.stderr_tail_bytes);
  std::thread err_reader([&] {
    std::string line;
    while (std::getline(err_stream, line)) {
      spdlog::debug("{}: {}", argv[0], line);
      tail.append(line);
      tail.append("\n");
    }
  });

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
  err_reader.join();

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
  result.stderr_tail = tail.take();
  spdlog::debug("{} {}", argv[0], result.status_text());
  return result;
}

}  // namespace snapkeep
