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
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW, 0644));
  if (!fd && errno == EROFS) {
    // A drive mounted read-only (an off-site drive being verified): nothing can change it, so
    // readers need no lock; anything that writes fails with EROFS on its own.
    return PresetLock(Fd{});
  }
  if (!fd) {
    return sys_error("cannot open lock file", path).in(preset);
  }
  if (::flock(fd.get(), LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    int err = errno;
    std::string holder;
    char buf[32] = {};
    ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    if (n > 0) {
      holder = std::string(buf, static_cast<std::size_t>(n));
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) {
        holder.pop_back();
      }
    }
    if (err == EWOULDBLOCK) {
      return make_error(ErrorKind::locked, "another snapkeep run" + (holder.empty() ? "" : " (pid " + holder + ")") +
                                               " holds the lock " + path.string() + "; try again when it has finished")
          .in(preset);
    }
    return sys_error("cannot lock", path, err).in(preset);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    // The lock holds regardless; only the pid shown to a waiting run is missing.
  }
  return PresetLock(std::move(fd));
}

PresetLock& PresetLock::operator=(PresetLock&& other) noexcept {
  if (this != &other) {
    release();
    m_fd = std::move(other.m_fd);
  }
  return *this;
}

PresetLock::~PresetLock() {
  release();
}

void PresetLock::release() noexcept {
  if (!m_fd) {
    return;
  }
  // Our pid goes while we still hold the lock: the next holder writes its own only just after it
  // takes the lock, and a run that fails to take it in between must not name us, long gone.
  if (::ftruncate(m_fd.get(), 0) != 0) {
    // Only the pid a later run may show is stale; the lock is released regardless.
  }
  m_fd.close();  // releases the flock; the file stays so no run races on re-creating it
}

}  // namespace snapkeep
