#pragma once
// Running a piece of the test process (a backend call, a use case) in a forked child of its own
// process group, so that it can be SIGKILLed at any moment together with the programs it started.

#include <sys/types.h>

#include <chrono>
#include <functional>

#include "tests/support/processes.hpp"

namespace snapkeep::test {

// `body` run in a forked child in a new process group; the child exits 0 when body returns true,
// 1 when it returns false (no destructors, no gtest teardown run there). The whole group is
// SIGKILLed and the child reaped at destruction. Fork only while holding no preset lock: the
// child shares the parent's open files.
class ForkedCall {
 public:
  explicit ForkedCall(const std::function<bool()>& body);
  ~ForkedCall();
  ForkedCall(const ForkedCall&) = delete;
  ForkedCall& operator=(const ForkedCall&) = delete;

  // The child's pid (= its process group), -1 when fork failed (a test failure).
  pid_t pid() const { return m_child.pid(); }
  // True while the child has not exited (reaps it when it has).
  bool running();
  // SIGKILLs the whole process group.
  void kill_group();
  // Waits for the child; its raw wait status.
  int wait();
  // Waits until no live process is left in the group (the programs the child started die with
  // it); false after `limit`.
  bool wait_group_gone(std::chrono::milliseconds limit = std::chrono::seconds(20));
  // True when the child exited 0 (body returned true); waits for it.
  bool succeeded();
  // True when SIGKILL ended the child; waits for it.
  bool killed();

 private:
  ChildProcess m_child;
};

}  // namespace snapkeep::test
