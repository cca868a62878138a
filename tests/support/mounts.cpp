#include "tests/support/mounts.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

// umount, or a lazy umount when the mount is busy (a killed child may still use it).
void unmount(const fs::path& at) {
  if (run({"umount", "--", at.string()}).exit_code != 0) {
    run({"umount", "-l", "--", at.string()});
  }
}

}  // namespace

LoopMount::LoopMount(const fs::path& image, const fs::path& mount_point) : m_mount(mount_point) {
  fs::create_directories(m_mount);
  RunResult setup = run_ok({"losetup", "--find", "--show", "--", image.string()});
  if (setup.exit_code != 0) {
    return;
  }
  m_device = setup.out.substr(0, setup.out.find('\n'));
  RunResult mounted = run({"mount", "--", m_device, m_mount.string()});
  if (mounted.exit_code != 0) {
    ADD_FAILURE() << "cannot mount " << image << " (" << m_device << "): " << mounted.err;
    return;
  }
  m_mounted = true;
}

LoopMount::~LoopMount() {
  if (m_mounted) {
    unmount(m_mount);
  }
  if (!m_device.empty()) {
    run({"losetup", "-d", m_device});
  }
}

void LoopMount::remount() {
  if (!m_mounted) {
    return;
  }
  ::sync();
  run_ok({"umount", "--", m_mount.string()});
  m_mounted = run_ok({"mount", "--", m_device, m_mount.string()}).exit_code == 0;
}

MountGuard::MountGuard(std::vector<std::string> mount_args, const fs::path& at) : m_at(at) {
  mount_args.insert(mount_args.begin(), "mount");
  mount_args.push_back(at.string());
  m_ok = run_ok(mount_args).exit_code == 0;
}

MountGuard::~MountGuard() {
  if (m_ok) {
    unmount(m_at);
  }
}

BindMount::BindMount(const fs::path& from, const fs::path& at) : MountGuard({"--bind", "--", from.string()}, at) {}

bool mounted_anywhere(const std::string& text) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

namespace fault {

ScratchDir::ScratchDir(const fs::path& fallback) {
  struct statvfs sv {};
  char pattern[] = "/dev/shm/snapkeep-fault-XXXXXX";
  if (::statvfs("/dev/shm", &sv) == 0 &&
      static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize > 2ULL * 1024 * 1024 * 1024 &&
      ::mkdtemp(pattern) != nullptr) {
    m_path = pattern;
  } else {
    m_path = fallback / "scratch";
    fs::create_directories(m_path);
  }
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(m_path, ec);
}

}  // namespace fault
}  // namespace snapkeep::test
