#pragma once
// The metadata `rsync -aHAX --numeric-ids` keeps, read from a source entry and applied to its copy:
// numeric owner and group, mode with setuid/setgid/sticky, nanosecond mtime, and extended
// attributes including POSIX ACLs (docs/engine.md says which names are copied).

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep {

// Extended attributes as (name, value), sorted by name.
using Xattrs = std::vector<std::pair<std::string, std::string>>;

// Is this attribute copied? Not the system.* names other than the POSIX ACLs, not XFS's
// trusted.SGI_ACL_* (its view of the same ACLs), and when not root only user.* (as rsync).
bool xattr_is_copied(std::string_view name);

// The copied extended attributes of entry `name` in the folder open as `dirfd` (not following a
// symlink); a filesystem without xattrs has none. `path` is for messages.
Result<Xattrs> read_xattrs(int dirfd, const std::string& name, const std::filesystem::path& path);

// Sets owner and group, extended attributes, mode and mtime of entry `name` in `dirfd` (in that
// order: chown clears setuid bits, the mtime is last) from the source's `st` and `xattrs`. `fd` is
// the entry open for writing, or -1 (symlinks, devices, fifos, sockets). A non-root run keeps what
// it may (as rsync: the group when it is one of ours, no owner). Errors keep errno and the path.
Status apply_metadata(int dirfd, const std::string& name, int fd, const struct stat& st, const Xattrs& xattrs,
                      const std::filesystem::path& path);

}  // namespace snapkeep
