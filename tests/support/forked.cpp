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
  m_pid = ::fork();
  if (m_pid == 0) {
    ::setpgid(0, 0);
    bool ok = body();
    std::fflush(nullptr);
    ::_exit(ok ? 0 : 1);
  }
  if (m_pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return;
  }
  ::setpgid(m_pid, m_pid);  // also here, so that a kill right after fork reaches the group
}

ForkedCall::~ForkedCall() {
  if (m_pid > 0) {
    kill_group();
    wait();
    wait_group_gone();
  }
}

bool ForkedCall::running() {
  if (m_pid <= 0 || m_reaped) {
    return false;
  }
  if (::waitpid(m_pid, &m_status, WNOHANG) == m_pid) {
    m_reaped = true;
    return false;
  }
  return true;
}

void ForkedCall::kill_group() {
  if (m_pid > 0) {
    ::kill(-m_pid, SIGKILL);
  }
}

int ForkedCall::wait() {
  if (m_pid > 0 && !m_reaped) {
    while (::waitpid(m_pid, &m_status, 0) < 0 && errno == EINTR) {
    }
    m_reaped = true;
  }
  return m_status;
}

bool ForkedCall::wait_group_gone(std::chrono::milliseconds limit) {
  if (m_pid <= 0) {
    return true;
  }
  return wait_until([&] { return live_processes_in_group(m_pid).empty(); }, limit, std::chrono::milliseconds(1));
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
