#include "core/base/progress_events.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

namespace snapkeep {
namespace {

using Clock = std::chrono::steady_clock;

// The stream's state: one per process, guarded by its mutex.
struct Stream {
  std::mutex mutex;
  int fd = -1;
  std::chrono::milliseconds interval{1000};
  bool run_active = false;
  std::string operation;
  std::string preset;
  Clock::time_point started{};
  std::optional<Clock::time_point> last_event;
  ProgressCounts total;                         // every step of the run so far
  std::map<const void*, ProgressCounts> steps;  // each open step's last counts
};

Stream& stream() {
  static Stream s;
  return s;
}

// Writes one event line; a reader that went away closes the stream. Call with the mutex held.
void emit(Stream& s, nlohmann::json event) {
  if (s.fd < 0) {
    return;
  }
  const auto now = Clock::now();
  event["operation"] = s.operation;
  event["preset"] = s.preset;
  event["elapsed"] = s.run_active ? std::chrono::duration<double>(now - s.started).count() : 0.0;
  event["files"] = s.total.files;
  event["bytes"] = s.total.bytes;
  std::string line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(s.fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      s.fd = -1;
      return;
    }
    done += static_cast<std::size_t>(n);
  }
  s.last_event = now;
}

// Adds what a step did since its last report to the run's total.
void account(Stream& s, const void* step, const ProgressCounts& counts) {
  ProgressCounts& last = s.steps[step];
  const auto grown = [](std::uint64_t now, std::uint64_t before) { return now >= before ? now - before : now; };
  s.total.files += grown(counts.files, last.files);
  s.total.bytes += grown(counts.bytes, last.bytes);
  last = counts;
}

}  // namespace

Status open_progress_events(int fd, std::chrono::milliseconds interval) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) {
    return config_error("--progress-fd " + std::to_string(fd) + ": descriptor is not open for writing");
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  Stream& s = stream();
  std::lock_guard<std::mutex> guard(s.mutex);
  s.fd = fd;
  s.interval = interval;
  return {};
}

bool progress_events_on() {
  Stream& s = stream();
  std::lock_guard<std::mutex> guard(s.mutex);
  return s.fd >= 0;
}

ProgressRun::ProgressRun(std::string_view operation, std::string_view preset) {
  Stream& s = stream();
  std::lock_guard<std::mutex> guard(s.mutex);
  if (s.run_active) {
    return;
  }
  m_owner = true;
  s.run_active = true;
  s.operation = operation;
  s.preset = preset;
  s.started = Clock::now();
  s.total = {};
  s.steps.clear();
  emit(s, {{"event", "start"}});
}

ProgressRun::~ProgressRun() {
  if (m_owner) {
    finish("interrupted");
  }
}

void ProgressRun::finish(std::string_view status) {
  if (!m_owner) {
    return;
  }
  m_owner = false;
  Stream& s = stream();
  std::lock_guard<std::mutex> guard(s.mutex);
  emit(s, {{"event", "end"}, {"status", status}});
  s.run_active = false;
  s.steps.clear();
}

void progress_event(const void* step, const ProgressCounts& counts, const std::string& text, bool step_done) {
  Stream& s = stream();
  std::lock_guard<std::mutex> guard(s.mutex);
  if (s.fd < 0) {
    return;
  }
  account(s, step, counts);
  const auto now = Clock::now();
  if (step_done || !s.last_event || now - *s.last_event >= s.interval) {
    emit(s, {{"event", "progress"}, {"message", text}});
  }
  if (step_done) {
    s.steps.erase(step);
  }
}

}  // namespace snapkeep
