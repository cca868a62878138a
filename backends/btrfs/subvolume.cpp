#include "backends/btrfs/subvolume.hpp"

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <stdio.h>  // renameat2
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/base/fd.hpp"

namespace snapkeep::btrfs {
namespace {

// libbtrfsutil sets errno on failure; keep both its words and errno.
Error btrfs_error(const std::string& what, const std::filesystem::path& path, btrfs_util_error err) {
  int saved = errno;
  return make_error(ErrorKind::runtime, what + " (" + btrfs_util_strerror(err) + ")", saved, path);
}

}  // namespace

Result<bool> is_subvolume(const std::filesystem::path& path) {
  btrfs_util_error err = btrfs_util_is_subvolume(path.c_str());
  if (err == BTRFS_UTIL_OK) {
    return true;
  }
  if (err == BTRFS_UTIL_ERROR_NOT_SUBVOLUME || err == BTRFS_UTIL_ERROR_NOT_BTRFS) {
    return false;
  }
  return btrfs_error("cannot tell whether this is a btrfs subvolume", path, err);
}

Result<SubvolumeInfo> subvolume_info(const std::filesystem::path& path) {
  struct btrfs_util_subvolume_info raw {};
  btrfs_util_error err = btrfs_util_subvolume_info(path.c_str(), 0, &raw);
  if (err != BTRFS_UTIL_OK) {
    return btrfs_error("cannot read subvolume info", path, err);
  }
  SubvolumeInfo info;
  info.id = raw.id;
  std::memcpy(info.uuid.data(), raw.uuid, 16);
  std::memcpy(info.parent_uuid.data(), raw.parent_uuid, 16);
  std::memcpy(info.received_uuid.data(), raw.received_uuid, 16);
  info.ctransid = raw.ctransid;
  bool read_only = false;
  err = btrfs_util_get_subvolume_read_only(path.c_str(), &read_only);
  if (err != BTRFS_UTIL_OK) {
    return btrfs_error("cannot read the read-only flag", path, err);
  }
  info.read_only = read_only;
  return info;
}

Status create_subvolume(const std::filesystem::path& path) {
  btrfs_util_error err = btrfs_util_create_subvolume(path.c_str(), 0, nullptr, nullptr);
  if (err != BTRFS_UTIL_OK) {
    return btrfs_error("cannot create subvolume", path, err);
  }
  return {};
}

Status snapshot(const std::filesystem::path& source, const std::filesystem::path& dest, bool read_only) {
  int flags = read_only ? BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY : 0;
  btrfs_util_error err = btrfs_util_create_snapshot(source.c_str(), dest.c_str(), flags, nullptr, nullptr);
  if (err != BTRFS_UTIL_OK) {
    return btrfs_error("cannot snapshot " + source.string() + " as " + dest.string(), {}, err);
  }
  return {};
}

Status delete_subvolume(const std::filesystem::path& path) {
  btrfs_util_error err = btrfs_util_delete_subvolume(path.c_str(), 0);
  if (err != BTRFS_UTIL_OK) {
    return btrfs_error("cannot delete subvolume", path, err);
  }
  return {};
}

bool is_verified_copy(const std::filesystem::path& dest, const Uuid& source_uuid) {
  auto info = subvolume_info(dest);
  return info && info->read_only && !is_null(info->received_uuid) && info->received_uuid == source_uuid;
}

Status exchange_names(const std::filesystem::path& a, const std::filesystem::path& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
    return sys_error("cannot swap " + a.string() + " and", b);
  }
  return {};
}

Status sync_and_clean(const std::filesystem::path& path) {
  btrfs_util_error err = btrfs_util_sync(path.c_str());
  if (err != BTRFS_UTIL_OK) {
    return btrfs_error("cannot sync the btrfs filesystem", path, err);
  }
  return {};
}

Result<std::vector<std::filesystem::path>> nested_subvolumes(const std::filesystem::path& path) {
  struct btrfs_util_subvolume_iterator* iter = nullptr;
  btrfs_util_error err = btrfs_util_create_subvolume_iterator(path.c_str(), 0, 0, &iter);
  if (err != BTRFS_UTIL_OK) {
    return btrfs_error("cannot list subvolumes below", path, err);
  }
  std::vector<std::filesystem::path> out;
  for (;;) {
    char* sub = nullptr;
    std::uint64_t id = 0;
    err = btrfs_util_subvolume_iterator_next(iter, &sub, &id);
    if (err != BTRFS_UTIL_OK) {
      break;
    }
    out.emplace_back(sub);
    std::free(sub);
  }
  btrfs_util_destroy_subvolume_iterator(iter);
  if (err != BTRFS_UTIL_ERROR_STOP_ITERATION) {
    return btrfs_error("cannot list subvolumes below", path, err);
  }
  return out;
}

Result<Uuid> filesystem_uuid(const std::filesystem::path& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot open", path);
  }
  struct btrfs_ioctl_fs_info_args args {};
  if (::ioctl(fd.get(), BTRFS_IOC_FS_INFO, &args) != 0) {
    return sys_error("cannot read btrfs filesystem info (is it on btrfs?)", path);
  }
  Uuid out{};
  std::memcpy(out.data(), args.fsid, 16);
  return out;
}

std::string uuid_text(const Uuid& uuid) {
  if (is_null(uuid)) {
    return "-";
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0],
                uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9], uuid[10], uuid[11],
                uuid[12], uuid[13], uuid[14], uuid[15]);
  return buf;
}

bool is_null(const Uuid& uuid) {
  for (auto b : uuid) {
    if (b != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace snapkeep::btrfs
