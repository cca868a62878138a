#pragma once
// The per-preset lock: flock(2) on DEST/<preset>/.snapkeep/lock, released when the process dies.

#include <filesystem>
#include <string>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"

namespace snapkeep {

// Holds a preset's lock for its lifetime; the lock file holds the holder's pid while it is held.
class PresetLock {
 public:
  // Takes the lock in state_dir (which must exist). When another process holds it: with `wait`,
  // blocks until it is free; otherwise fails with ErrorKind::locked naming the holder's pid. On a
  // read-only filesystem nothing can change, and the lock is a placeholder that holds nothing.
  static Result<PresetLock> acquire(const std::filesystem::path& state_dir, const std::string& preset, bool wait);

  PresetLock(PresetLock&& other) noexcept = default;
  PresetLock& operator=(PresetLock&& other) noexcept;
  PresetLock(const PresetLock&) = delete;
  PresetLock& operator=(const PresetLock&) = delete;
  ~PresetLock();

 private:
  explicit PresetLock(Fd fd) : m_fd(std::move(fd)) {}
  // Empties the lock file (no pid of ours outlives the lock) and releases the lock.
  void release() noexcept;
  Fd m_fd;
};

}  // namespace snapkeep
