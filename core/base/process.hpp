#pragma once
// The one way snapkeep runs other programs: argv vectors only, never a shell.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep {

// How a child ended, with the tail of what it wrote to stderr.
struct ProcessResult {
  int exit_code = -1;       // exit status when the child exited normally
  int term_signal = 0;      // the signal that killed it, 0 when it exited
  std::string stderr_tail;  // the last few KiB of stderr
  std::string stdout_text;  // all of stdout when ProcessOptions::capture_stdout

  bool succeeded() const { return term_signal == 0 && exit_code == 0; }
  // "exited with status 23" / "was killed by signal 9 (Killed)".
  std::string status_text() const;
};

// What to do with the child's output and environment.
struct ProcessOptions {
  bool capture_stdout = false;
  // Called with each piece of stdout ending in '\n' or '\r' (progress lines).
  std::function<void(std::string_view)> on_stdout_line;
  // Extra environment for the child, on top of ours and of LC_ALL=C (which every child gets, so
  // its messages can be classified).
  std::map<std::string, std::string> env;
  // Bytes of stderr to keep.
  std::size_t stderr_tail_bytes = 4096;
};

// Runs argv[0] (searched in PATH unless it has a '/') with argv[1..].
// Fails only when the child cannot be started; a non-zero exit is a result.
// The child dies with us (PR_SET_PDEATHSIG) and is killed when we get SIGINT/SIGTERM/SIGHUP.
Result<ProcessResult> run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Both children of a pipeline, and the bytes that passed between them.
struct PipelineResult {
  ProcessResult first;
  ProcessResult second;
  std::uint64_t bytes = 0;

  bool succeeded() const { return first.succeeded() && second.succeeded(); }
};

// Runs `first | second` as two children joined through snapkeep (which counts the bytes), never
// through a shell; both exit statuses are kept. `on_bytes(total)` is called as data passes, and
// `on_data(bytes)` with the data itself (the btrfs backend reads the paths of a send stream).
// `first_env` is added to the first child's environment only.
Result<PipelineResult> run_pipeline(const std::vector<std::string>& first, const std::vector<std::string>& second,
                                    const std::function<void(std::uint64_t)>& on_bytes = {},
                                    const std::function<void(std::string_view)>& on_data = {},
                                    const std::map<std::string, std::string>& first_env = {});

// A child started on descriptors of the caller's choosing (rsync's server end on ssh's pipes, ssh on
// a protocol channel), running while the caller talks to it. Killed and reaped when dropped unwaited.
class RunningProcess {
 public:
  RunningProcess();
  RunningProcess(RunningProcess&&) noexcept;
  RunningProcess& operator=(RunningProcess&&) noexcept;
  ~RunningProcess();

  // Its pid, -1 once waited for (or when none was started).
  pid_t pid() const;
  // Sends `sig` to it while it has not been waited for.
  void kill(int sig);
  // Waits for it: how it ended and the tail of its stderr. Only once; later calls return the same.
  ProcessResult wait();

  struct State;

 private:
  explicit RunningProcess(std::unique_ptr<State> state);
  std::unique_ptr<State> m_state;
  friend Result<RunningProcess> start_process(const std::vector<std::string>&, int, int, const ProcessOptions&);
};

// Starts argv (no shell) reading stdin_fd and writing stdout_fd, which the child gets as its 0 and 1
// (the caller closes its own copies when it is done with them); stderr is read on a thread for the
// tail. options.env applies; capture_stdout and on_stdout_line do not. The child dies with us and
// on SIGINT/SIGTERM/SIGHUP, like run_process' children. Fails only when it cannot start.
Result<RunningProcess> start_process(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd,
                                     const ProcessOptions& options = {});

// "argv0 'arg 1' arg2": for log lines only, never executed.
std::string quote_argv(const std::vector<std::string>& argv);

// A short description of a failed child for error messages: its status, what that status means
// (when known) and the tail of its stderr.
std::string describe_failure(std::string_view program, const ProcessResult& result, std::string_view meaning = {});

}  // namespace snapkeep
