#pragma once
// Mounts a test makes and always undoes: an image on a loop device, a mount or bind mount of
// anything, a copy of an image for power-cut checks, and a scratch folder for such copies.

#include <filesystem>
#include <string>
#include <vector>

namespace snapkeep::test {

namespace fs = std::filesystem;

// An image file attached to a loop device and mounted at `mount_point` (made when missing);
// unmounted (lazily when busy) and detached at destruction. A failure is a test failure.
class LoopMount {
 public:
  LoopMount(const fs::path& image, const fs::path& mount_point);
  ~LoopMount();
  LoopMount(const LoopMount&) = delete;
  LoopMount& operator=(const LoopMount&) = delete;
  bool ok() const { return m_mounted; }
  const fs::path& mount_point() const { return m_mount; }
  const std::string& device() const { return m_device; }
  // Unmounts and mounts again (after a sync), which empties the page cache for this filesystem.
  void remount();

 private:
  fs::path m_mount;
  std::string m_device;
  bool m_mounted = false;
};

// Runs `mount MOUNT_ARGS... AT` and unmounts AT at destruction, lazily when it is busy (declare it
// after the LoopFs or TempDir it uses).
class MountGuard {
 public:
  MountGuard(std::vector<std::string> mount_args, const fs::path& at);
  ~MountGuard();
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  bool ok() const { return m_ok; }

 private:
  fs::path m_at;
  bool m_ok = false;
};

// Bind-mounts `from` at `at` and unmounts it at destruction (declare it after the LoopFs it uses).
class BindMount : public MountGuard {
 public:
  BindMount(const fs::path& from, const fs::path& at);
};

// True when /proc/self/mountinfo mentions text (a mount point or device).
bool mounted_anywhere(const std::string& text);

namespace fault {

// A copy of a filesystem image attached to a loop device and mounted; unmounted and detached at
// destruction.
using MountedCopy = LoopMount;

// A scratch folder for power-cut copies of images: in /dev/shm when it has room (the copy is
// written through a loop device; on a disk, deleting it waits for that writeback), else under
// `fallback`. Removed with its contents at destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const fs::path& fallback);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return m_path; }

 private:
  fs::path m_path;
};

}  // namespace fault
}  // namespace snapkeep::test
