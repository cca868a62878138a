#include "core/base/fsprobe.hpp"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cstdio>

namespace snapkeep {

Result<std::string> filesystem_type(const std::filesystem::path& path) {
  struct statfs sfs {};
  if (::statfs(path.c_str(), &sfs) != 0) {
    return sys_error("cannot statfs", path);
  }
  switch (static_cast<unsigned long>(sfs.f_type)) {
    case BTRFS_SUPER_MAGIC: return std::string("btrfs");
    case EXT4_SUPER_MAGIC: return std::string("ext4");
    case XFS_SUPER_MAGIC: return std::string("xfs");
    case TMPFS_MAGIC: return std::string("tmpfs");
    case NFS_SUPER_MAGIC: return std::string("nfs");
    case OVERLAYFS_SUPER_MAGIC: return std::string("overlay");
    case 0x65735546UL: return std::string("fuse");
    case 0x2fc12fc1UL: return std::string("zfs");
    case 0xf2f52010UL: return std::string("f2fs");
    default: break;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(sfs.f_type));
  return std::string(buf);
}

}  // namespace snapkeep
