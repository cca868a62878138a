#include "core/base/fsutil.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <new>
#include <system_error>
#include <vector>

#include "core/base/fd.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Owns a DIR stream (closedir on every path).
struct CloseDir {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirStream = std::unique_ptr<DIR, CloseDir>;

DirStream open_dir_stream(int fd) {
  return DirStream(::fdopendir(fd));
}

// Below this depth each level keeps its directory open; deeper, remove_deep() works with two
// descriptors at a time so no open-file limit is hit.
constexpr int k_max_open_depth = 256;

struct RemoveState {
  dev_t device = 0;
  std::uint64_t removed = 0;
  const std::function<void(std::uint64_t)>* on_progress = nullptr;
};

// Empties the directory open as `fd` using ".." to climb back: for very deep chains. Each folder is
// re-read after each of its subfolders is gone, which is cheap for the narrow chains that get this deep.
Status remove_deep(Fd fd, const fs::path& path, RemoveState& state) {
  std::vector<std::string> names;  // from the folder of `fd` down to the current one
  Fd current = std::move(fd);
  for (;;) {
    std::string subdir;
    Status status;
    {
      DirStream dir = open_dir_stream(::dup(current.get()));
      if (!dir) {
        return sys_error("cannot read directory", path);
      }
      ::rewinddir(dir.get());
      errno = 0;
      while (struct dirent* entry = ::readdir(dir.get())) {
        std::string_view name = entry->d_name;
        if (name == "." || name == "..") {
          continue;
        }
        struct stat st {};
        if (::fstatat(current.get(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          continue;
        }
        if (S_ISDIR(st.st_mode)) {
          if (st.st_dev != state.device) {
            status = runtime_error("refusing to delete across a mount point", path / entry->d_name);
            break;
          }
          ::fchmodat(current.get(), entry->d_name, (st.st_mode & 07777) | S_IRWXU, 0);
          subdir = entry->d_name;
          break;
        }
        if (::unlinkat(current.get(), entry->d_name, 0) != 0 && errno != ENOENT) {
          status = sys_error("cannot remove", path / entry->d_name);
          break;
        }
        ++state.removed;
      }
    }
    SNAPKEEP_TRY(status);
    if (!subdir.empty()) {
      Fd child(::openat(current.get(), subdir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child) {
        return sys_error("cannot open directory", path / subdir);
      }
      current = std::move(child);
      names.push_back(subdir);
      continue;
    }
    if (names.empty()) {
      return {};
    }
    Fd parent(::openat(current.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent) {
      return sys_error("cannot climb back out of a deep directory", path);
    }
    if (::unlinkat(parent.get(), names.back().c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return sys_error("cannot remove directory", path / names.back());
    }
    ++state.removed;
    names.pop_back();
    current = std::move(parent);
  }
}

// Empties the directory open as `dirfd` (at `path`, for messages).
Status remove_children(Fd dirfd, const fs::path& path, RemoveState& state, int depth) {
  if (depth >= k_max_open_depth) {
    return remove_deep(std::move(dirfd), path, state);
  }
  DirStream stream = open_dir_stream(dirfd.get());
  if (!stream) {
    return sys_error("cannot read directory", path);
  }
  dirfd.release();  // the stream owns it now
  DIR* dir = stream.get();
  Status status;
  // Entries removed while reading may make readdir skip others: repeat until a pass removes nothing.
  for (bool removed_any = true; removed_any && status;) {
    removed_any = false;
    ::rewinddir(dir);
    errno = 0;
    while (struct dirent* entry = ::readdir(dir)) {
      std::string_view name = entry->d_name;
      if (name == "." || name == "..") {
        continue;
      }
      struct stat st {};
      if (::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
          continue;
        }
        status = sys_error("cannot stat", path / entry->d_name);
        break;
      }
      if (S_ISDIR(st.st_mode)) {
        if (st.st_dev != state.device) {
          status = runtime_error("refusing to delete across a mount point", path / entry->d_name);
          break;
        }
        if ((st.st_mode & S_IWUSR) == 0 || (st.st_mode & S_IXUSR) == 0) {
          ::fchmodat(::dirfd(dir), entry->d_name, (st.st_mode & 07777) | S_IRWXU, 0);
        }
        Fd child(::openat(::dirfd(dir), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!child) {
          status = sys_error("cannot open directory", path / entry->d_name);
          break;
        }
        status = remove_children(std::move(child), path / entry->d_name, state, depth + 1);
        if (!status) {
          break;
        }
        if (::unlinkat(::dirfd(dir), entry->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
          status = sys_error("cannot remove directory", path / entry->d_name);
          break;
        }
      } else if (::unlinkat(::dirfd(dir), entry->d_name, 0) != 0 && errno != ENOENT) {
        status = sys_error("cannot remove", path / entry->d_name);
        break;
      }
      removed_any = true;
      if (++state.removed % 4096 == 0 && state.on_progress != nullptr && *state.on_progress) {
        (*state.on_progress)(state.removed);
      }
      errno = 0;
    }
    if (status && errno != 0) {
      status = sys_error("cannot read directory", path);
    }
  }
  return status;
}

}  // namespace

Status make_dir(const fs::path& dir, unsigned mode) {
  if (::mkdir(dir.c_str(), mode) == 0) {
    return {};
  }
  if (errno == EEXIST) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return {};
    }
    return runtime_error("exists and is not a directory", dir);
  }
  return sys_error("cannot create directory", dir);
}

Status fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot open directory", dir);
  }
  if (::fsync(fd.get()) != 0) {
    return sys_error("cannot fsync directory", dir);
  }
  return {};
}

Status sync_filesystem(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot open", path);
  }
  if (::syncfs(fd.get()) != 0) {
    return sys_error("cannot sync filesystem of", path);
  }
  return {};
}

Result<std::uint64_t> count_extents(int fd, const fs::path& path) {
  struct fiemap map {};
  map.fm_start = 0;
  map.fm_length = FIEMAP_MAX_OFFSET;
  map.fm_extent_count = 0;  // count them only
  if (::ioctl(fd, FS_IOC_FIEMAP, &map) != 0) {
    if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EINVAL) {
      return std::uint64_t{0};
    }
    return sys_error("cannot map the extents of", path);
  }
  return std::uint64_t{map.fm_mapped_extents};
}

Status write_file_atomic(const fs::path& path, std::string_view content) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) {
      return sys_error("cannot create", tmp);
    }
    std::size_t done = 0;
    while (done < content.size()) {
      ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        Error e = sys_error("cannot write", tmp);
        ::unlink(tmp.c_str());
        return e;
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      Error e = sys_error("cannot fsync", tmp);
      ::unlink(tmp.c_str());
      return e;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = sys_error("cannot rename " + tmp.string() + " to", path);
    ::unlink(tmp.c_str());
    return e;
  }
  return fsync_dir(path.parent_path());
}

Result<bool> make_private_dir(const fs::path& dir) {
  SNAPKEEP_TRY(make_dir(dir, 0700));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    return sys_error("cannot stat", dir);
  }
  if ((st.st_mode & 077) == 0) {
    return false;
  }
  if (::chmod(dir.c_str(), st.st_mode & 07700) != 0) {
    return sys_error("cannot make private (chmod 0700)", dir);
  }
  return true;
}

Status rename_path(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return sys_error("cannot rename " + from.string() + " to " + to.string(), {});
  }
  return {};
}

Status remove_tree(const fs::path& root, const std::function<void(std::uint64_t)>& on_progress) {
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) {
    return errno == ENOENT ? Status{} : Status{sys_error("cannot stat", root)};
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(root.c_str()) != 0 && errno != ENOENT) {
      return sys_error("cannot remove", root);
    }
    return {};
  }
  if ((st.st_mode & S_IRWXU) != S_IRWXU) {
    ::chmod(root.c_str(), (st.st_mode & 07777) | S_IRWXU);
  }
  Fd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot open directory", root);
  }
  RemoveState state;
  state.device = st.st_dev;
  state.on_progress = &on_progress;
  SNAPKEEP_TRY(remove_children(std::move(fd), root, state, 0));
  if (::rmdir(root.c_str()) != 0 && errno != ENOENT) {
    return sys_error("cannot remove directory", root);
  }
  return {};
}

bool keeps_nanosecond_mtimes(const fs::path& dir) {
  fs::path probe = dir / ".snapkeep-mtime-probe";
  Fd fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    return false;
  }
  struct timespec times[2] = {{1000000000, 123456789}, {1000000000, 123456789}};
  struct stat st {};
  bool kept = ::futimens(fd.get(), times) == 0 && ::fstat(fd.get(), &st) == 0 && st.st_mtim.tv_nsec == 123456789;
  ::unlink(probe.c_str());
  return kept;
}

TreeCount count_tree(const fs::path& root) {
  TreeCount count;
  count.entries = 1;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    ++count.entries;
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      count.bytes += it->file_size(ec);
    }
  }
  return count;
}

Result<bool> dir_is_empty(const fs::path& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return sys_error("cannot read directory", dir);
  }
  bool empty = true;
  errno = 0;
  while (struct dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  int err = errno;
  ::closedir(d);
  if (empty && err != 0) {
    return sys_error("cannot read directory", dir, err);
  }
  return empty;
}

bool path_is_within(const fs::path& inner, const fs::path& outer) {
  std::error_code ec;
  fs::path a = fs::weakly_canonical(inner, ec);
  if (ec) {
    a = inner.lexically_normal();
  }
  fs::path b = fs::weakly_canonical(outer, ec);
  if (ec) {
    b = outer.lexically_normal();
  }
  auto ai = a.begin();
  for (auto bi = b.begin(); bi != b.end(); ++bi, ++ai) {
    if (bi->empty()) {
      continue;  // trailing separator
    }
    if (ai == a.end() || *ai != *bi) {
      return false;
    }
  }
  return true;
}

BackgroundRead::BackgroundRead(const fs::path& path) {
  auto read = [this, path]() noexcept {
    try {
      Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) {
        return;
      }
      ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
      std::vector<char> buffer(1 << 20);
      while (!m_stop.load(std::memory_order_relaxed)) {
        const ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(m_bytes));
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n <= 0) {
          return;
        }
        m_bytes += static_cast<std::uint64_t>(n);
      }
    } catch (const std::bad_alloc&) {
      // No buffer: the file is read when it is needed.
    }
  };
  // The thread blocks every signal (it inherits the mask it is started with), so they keep reaching
  // the main thread, whose waits they interrupt.
  sigset_t all;
  sigset_t before;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &before);
  try {
    m_thread = std::thread(read);
  } catch (const std::system_error&) {
    // No thread to be had: the file is read when it is needed.
  }
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

BackgroundRead::~BackgroundRead() {
  m_stop = true;
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

std::uint64_t BackgroundRead::finish() {
  if (m_thread.joinable()) {
    m_thread.join();
  }
  return m_bytes;
}

}  // namespace snapkeep
