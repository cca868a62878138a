#include "core/transfer/native/metadata.hpp"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

namespace snapkeep {
namespace {

bool running_as_root() {
  static const bool root = ::geteuid() == 0;
  return root;
}

// A path naming entry `name` of the folder open as `dirfd` however deep it lies: the xattr calls
// have no *at() form.
std::string proc_path(int dirfd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
}

bool no_xattr_support(int err) {
  return err == ENOTSUP || err == ENOSYS;
}

}  // namespace

bool xattr_is_copied(std::string_view name) {
  if (!running_as_root()) {
    return name.starts_with("user.");
  }
  if (name.starts_with("system.")) {
    return name == "system.posix_acl_access" || name == "system.posix_acl_default";
  }
  return !name.starts_with("trusted.SGI_ACL_");
}

Result<Xattrs> read_xattrs(int dirfd, const std::string& name, const std::filesystem::path& path) {
  Xattrs out;
  std::string at = proc_path(dirfd, name);
  std::string names;
  for (;;) {
    ssize_t size = ::llistxattr(at.c_str(), nullptr, 0);
    if (size < 0) {
      if (no_xattr_support(errno)) {
        return out;
      }
      return sys_error("cannot list extended attributes of", path);
    }
    if (size == 0) {
      return out;
    }
    names.resize(static_cast<std::size_t>(size));
    size = ::llistxattr(at.c_str(), names.data(), names.size());
    if (size < 0 && errno == ERANGE) {
      continue;  // they changed in between
    }
    if (size < 0) {
      return sys_error("cannot list extended attributes of", path);
    }
    names.resize(static_cast<std::size_t>(size));
    break;
  }
  for (std::size_t pos = 0; pos < names.size();) {
    std::string attr(names.c_str() + pos);
    pos += attr.size() + 1;
    if (attr.empty() || !xattr_is_copied(attr)) {
      continue;
    }
    std::string value;
    for (;;) {
      ssize_t size = ::lgetxattr(at.c_str(), attr.c_str(), nullptr, 0);
      if (size < 0 && errno == ENODATA) {
        break;  // removed in between
      }
      if (size < 0) {
        return sys_error("cannot read extended attribute " + attr + " of", path);
      }
      value.resize(static_cast<std::size_t>(size));
      size = size == 0 ? 0 : ::lgetxattr(at.c_str(), attr.c_str(), value.data(), value.size());
      if (size < 0 && errno == ERANGE) {
        continue;
      }
      if (size < 0 && errno == ENODATA) {
        break;
      }
      if (size < 0) {
        return sys_error("cannot read extended attribute " + attr + " of", path);
      }
      value.resize(static_cast<std::size_t>(size));
      out.emplace_back(std::move(attr), std::move(value));
      break;
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status apply_metadata(int dirfd, const std::string& name, int fd, const struct stat& st, const Xattrs& xattrs,
                      const std::filesystem::path& path) {
  const bool symlink = S_ISLNK(st.st_mode);
  if (running_as_root()) {
    int rc = fd >= 0 ? ::fchown(fd, st.st_uid, st.st_gid)
                     : ::fchownat(dirfd, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) {
      return sys_error("cannot set the owner of", path);
    }
  } else if (fd >= 0) {
    (void)::fchown(fd, static_cast<uid_t>(-1), st.st_gid);  // only our own groups: may fail, as with rsync
  } else {
    (void)::fchownat(dirfd, name.c_str(), static_cast<uid_t>(-1), st.st_gid, AT_SYMLINK_NOFOLLOW);
  }
  if (!xattrs.empty()) {
    std::string at = proc_path(dirfd, name);
    for (const auto& [attr, value] : xattrs) {
      int rc = fd >= 0 ? ::fsetxattr(fd, attr.c_str(), value.data(), value.size(), 0)
                       : ::lsetxattr(at.c_str(), attr.c_str(), value.data(), value.size(), 0);
      if (rc != 0) {
        return sys_error("cannot set extended attribute " + attr + " of", path);
      }
    }
  }
  if (!symlink) {
    int rc = fd >= 0 ? ::fchmod(fd, st.st_mode & 07777) : ::fchmodat(dirfd, name.c_str(), st.st_mode & 07777, 0);
    if (rc != 0) {
      return sys_error("cannot set the mode of", path);
    }
  }
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1] = st.st_mtim;
  int rc = fd >= 0 ? ::futimens(fd, times) : ::utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) {
    return sys_error("cannot set the modification time of", path);
  }
  return {};
}

}  // namespace snapkeep
