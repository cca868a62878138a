#include "core/store/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>

namespace snapkeep {

Result<PresetLock> PresetLock::acquire(const std::filesystem::path& state_dir, const std::string& preset, bool wait) {
  std::filesystem::path path = state_dir / "lock";
  // Deliberately inherited by children (no O_CLOEXEC): rsync's helper processes outlive a killed
  // snapkeep by a moment, and the lock stays held until the last of them has exited.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW, 0644);
  if (fd < 0) {
    return sys_error(preset + ": cannot open lock file", path);
  }
  if (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    int err = errno;
    std::string holder;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
      holder = std::string(buf, static_cast<std::size_t>(n));
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) {
        holder.pop_back();
      }
    }
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return make_error(ErrorKind::locked,
                        preset + ": another snapkeep run" + (holder.empty() ? "" : " (pid " + holder + ")") +
                            " holds the lock " + path.string() + "; try again when it has finished",
                        0, {});
    }
    return sys_error(preset + ": cannot lock", path, err);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock holds regardless; only the pid shown to a waiting run is missing.
  }
  return PresetLock(fd);
}

PresetLock::PresetLock(PresetLock&& other) noexcept : m_fd(other.m_fd) {
  other.m_fd = -1;
}

PresetLock& PresetLock::operator=(PresetLock&& other) noexcept {
  if (this != &other) {
    release();
    m_fd = other.m_fd;
    other.m_fd = -1;
  }
  return *this;
}

PresetLock::~PresetLock() {
  release();
}

void PresetLock::release() noexcept {
  if (m_fd < 0) {
    return;
  }
  // Our pid goes while we still hold the lock: the next holder writes its own only just after it
  // takes the lock, and a run that fails to take it in between must not name us, long gone.
  if (::ftruncate(m_fd, 0) != 0) {
    // Only the pid a later run may show is stale; the lock is released regardless.
  }
  ::close(m_fd);  // releases the flock; the file stays so no run races on re-creating it
  m_fd = -1;
}

}  // namespace snapkeep
