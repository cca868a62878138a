#include "core/history/tree_walk.hpp"

#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/base/fsutil.hpp"
#include "core/base/signals.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr int k_folder_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// The components of a relative path ("a/b/c" -> a, b, c); empty ones and "." are skipped.
std::vector<std::string> components(const std::string& rel) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= rel.size()) {
    std::size_t end = rel.find('/', start);
    if (end == std::string::npos) {
      end = rel.size();
    }
    std::string part = rel.substr(start, end - start);
    if (!part.empty() && part != ".") {
      out.push_back(std::move(part));
    }
    start = end + 1;
  }
  return out;
}

}  // namespace

Result<Fd> open_folder_beneath(const fs::path& root, const std::string& rel) {
  Fd fd(::open(root.c_str(), k_folder_flags));
  if (!fd) {
    return sys_error("cannot open", root);
  }
  fs::path walked = root;
  for (const std::string& part : components(rel)) {
    walked /= part;
    Fd inner(::openat(fd.get(), part.c_str(), k_folder_flags));
    if (!inner) {
      return sys_error(errno == ELOOP || errno == ENOTDIR ? "not a folder (or a symlink)" : "cannot open", walked);
    }
    fd = std::move(inner);
  }
  return fd;
}

Result<struct stat> stat_beneath(const fs::path& root, const std::string& rel, Fd& parent) {
  std::vector<std::string> parts = components(rel);
  if (parts.empty()) {
    return runtime_error("no path inside the snapshot", root);
  }
  std::string folder;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    folder += (folder.empty() ? "" : "/") + parts[i];
  }
  SNAPKEEP_TRY_ASSIGN(parent, open_folder_beneath(root, folder));
  struct stat st {};
  if (::fstatat(parent.get(), parts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return sys_error("cannot stat", root / rel);
  }
  return st;
}

ManifestEntry entry_from_stat(std::string path, const struct stat& st) {
  ManifestEntry entry;
  entry.path = std::move(path);
  entry.type = entry_type_of(st.st_mode);
  entry.size = static_cast<std::uint64_t>(st.st_size);
  entry.mtime_ns = timespec_ns(st.st_mtim);
  entry.ino = st.st_ino;
  entry.ctime_ns = timespec_ns(st.st_ctim);
  return entry;
}

Result<std::unique_ptr<TreeStream>> TreeStream::open(const fs::path& root, const std::string& rel) {
  SNAPKEEP_TRY_ASSIGN(Fd fd, open_folder_beneath(root, rel));
  std::unique_ptr<TreeStream> stream(new TreeStream());
  stream->m_root = root / rel;
  SNAPKEEP_TRY(stream->push(std::move(fd), ""));
  return stream;
}

Status TreeStream::push(Fd fd, std::string prefix) {
  const fs::path where = m_root / prefix;
  Fd listing(::dup(fd.get()));
  DIR* dir = listing ? ::fdopendir(listing.get()) : nullptr;
  if (dir == nullptr) {
    return sys_error("cannot read folder", where);
  }
  listing.release();  // closedir closes it
  Level level;
  level.prefix = std::move(prefix);
  errno = 0;
  while (struct dirent* d = ::readdir(dir)) {
    if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) {
      continue;
    }
    bool folder = d->d_type == DT_DIR;
    if (d->d_type == DT_UNKNOWN) {
      struct stat st {};
      folder = ::fstatat(fd.get(), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    level.steps.push_back(Step{d->d_name, false});
    if (folder) {
      level.steps.push_back(Step{std::string(d->d_name) + "/", true});
    }
  }
  const int read_error = errno;
  ::closedir(dir);
  if (read_error != 0) {
    return sys_error("cannot read folder", where, read_error);
  }
  // Manifest order: std::string compares bytes as unsigned char.
  std::sort(level.steps.begin(), level.steps.end(), [](const Step& a, const Step& b) { return a.key < b.key; });
  level.fd = std::move(fd);
  m_levels.push_back(std::move(level));
  return {};
}

Result<bool> TreeStream::next(ManifestEntry& entry) {
  while (!m_levels.empty()) {
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    Level& top = m_levels.back();
    if (top.next == top.steps.size()) {
      m_levels.pop_back();
      continue;
    }
    const Step step = top.steps[top.next++];
    if (step.contents) {
      const std::string name = step.key.substr(0, step.key.size() - 1);
      Fd inner(::openat(top.fd.get(), name.c_str(), k_folder_flags));
      if (!inner) {
        return sys_error("cannot open", m_root / (top.prefix + name));
      }
      SNAPKEEP_TRY(push(std::move(inner), top.prefix + name + "/"));
      continue;
    }
    struct stat st {};
    if (::fstatat(top.fd.get(), step.key.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return sys_error("cannot stat", m_root / (top.prefix + step.key));
    }
    entry = entry_from_stat(top.prefix + step.key, st);
    return true;
  }
  return false;
}

}  // namespace snapkeep
