#include "core/base/signals.hpp"

#include <array>
#include <atomic>
#include <csignal>

namespace snapkeep {
namespace {

std::atomic<int> g_stop_signal{0};
constexpr std::size_t k_max_children = 16;
std::array<std::atomic<pid_t>, k_max_children> g_children{};

extern "C" void on_stop_signal(int sig) {
  int expected = 0;
  g_stop_signal.compare_exchange_strong(expected, sig);
  for (auto& child : g_children) {
    pid_t pid = child.load();
    if (pid > 0) {
      ::kill(pid, SIGTERM);
    }
  }
}

}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking reads return EINTR and notice the stop
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    sigaction(sig, &sa, nullptr);
  }
  // A closed pipe to a child must give EPIPE, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
}

int stop_signal() {
  return g_stop_signal.load();
}

void register_child(pid_t pid) {
  for (auto& child : g_children) {
    pid_t expected = 0;
    if (child.compare_exchange_strong(expected, pid)) {
      break;
    }
  }
  if (g_stop_signal.load() != 0) {
    ::kill(pid, SIGTERM);
  }
}

void unregister_child(pid_t pid) {
  for (auto& child : g_children) {
    pid_t expected = pid;
    if (child.compare_exchange_strong(expected, 0)) {
      break;
    }
  }
}

}  // namespace snapkeep
