#include "tests/support/forked.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <gtest/gtest.h>

#include "tests/support/processes.hpp"

namespace snapkeep::test {

ForkedCall::ForkedCall(const std::function<bool()>& body) {
  std::fflush(nullptr);  // nothing buffered is written twice
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    bool ok = body();
    std::fflush(nullptr);
    ::_exit(ok ? 0 : 1);
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return;
  }
  ::setpgid(pid, pid);  // also here, so that a kill right after fork reaches the group
  m_child = ChildProcess(pid);
}

ForkedCall::~ForkedCall() {
  if (pid() > 0) {
    kill_group();
    wait();
    wait_group_gone();
  }
}

bool ForkedCall::running() {
  return m_child.running();
}

void ForkedCall::kill_group() {
  if (pid() > 0) {
    ::kill(-pid(), SIGKILL);
  }
}

int ForkedCall::wait() {
  return m_child.wait();
}

bool ForkedCall::wait_group_gone(std::chrono::milliseconds limit) {
  if (pid() <= 0) {
    return true;
  }
  return wait_until([&] { return live_processes_in_group(pid()).empty(); }, limit, std::chrono::milliseconds(1));
}

bool ForkedCall::succeeded() {
  int status = wait();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool ForkedCall::killed() {
  int status = wait();
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace snapkeep::test
