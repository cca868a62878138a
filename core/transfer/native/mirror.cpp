#include "core/transfer/native/mirror.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>

#include "core/base/fd.hpp"
#include "core/base/signals.hpp"
#include "core/transfer/native/exclude.hpp"
#include "core/transfer/native/file_data.hpp"
#include "core/transfer/native/metadata.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr int k_dir_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// Bytes compared at a time, and the pieces a changed block is written (or punched) in: a filesystem
// block, so a changed byte rewrites 4 KiB and a block of zeros becomes a hole.
constexpr std::size_t k_block = 64 * 1024;
constexpr std::size_t k_piece = 4096;
constexpr std::string_view k_vanished_warning =
    "some source files vanished while snapkeep copied them; they are not in this snapshot";

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

// A source inode: (device, inode number).
struct DevIno {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const DevIno& o) const { return dev == o.dev && ino == o.ino; }
};
struct DevInoHash {
  std::size_t operator()(const DevIno& k) const { return std::hash<ino_t>()(k.ino) * 31 + std::hash<dev_t>()(k.dev); }
};

// Names in the folder open as `dirfd` (not "." and ".."), sorted bytewise.
Result<std::vector<std::string>> list_names(int dirfd, const fs::path& path) {
  const int copy = ::openat(dirfd, ".", k_dir_flags);
  if (copy < 0) {
    return sys_error("cannot open directory", path);
  }
  DIR* dir = ::fdopendir(copy);
  if (dir == nullptr) {
    ::close(copy);
    return sys_error("cannot open directory", path);
  }
  std::vector<std::string> out;
  errno = 0;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") {
      out.emplace_back(name);
    }
    errno = 0;
  }
  const int err = errno;
  ::closedir(dir);
  if (err != 0) {
    return make_error(ErrorKind::runtime, "cannot list directory", err, path.string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Reads up to `size` bytes at `offset` (fewer only at the end of the file).
ssize_t read_at(int fd, char* data, std::size_t size, off_t offset) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, data + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return -1;
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

bool same_mtime(const struct stat& a, const struct stat& b) {
  return a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

class Mirror {
 public:
  Mirror(const MirrorJob& job, ExcludeRules rules) : m_job(job), m_preset(*job.preset), m_rules(std::move(rules)) {}

  Result<MirrorStats> run() {
    Fd src(::open(m_job.source.c_str(), k_dir_flags));
    if (!src) {
      return sys_error("cannot open the source", m_job.source);
    }
    struct stat root {};
    if (::fstat(src.get(), &root) != 0) {
      return sys_error("cannot examine the source", m_job.source);
    }
    m_root_dev = root.st_dev;
    Fd dst;
    if (!m_job.dry_run || ::access(m_job.target.c_str(), F_OK) == 0) {
      dst = Fd(::open(m_job.target.c_str(), k_dir_flags));
      if (!dst) {
        return sys_error("cannot open", m_job.target);
      }
    }
    m_root_dst = dst.get();
    ++m_stats.files;
    SNAPKEEP_TRY(folder(src.get(), dst.get(), ""));
    if (!m_job.dry_run) {
      // The root's own owner, mode, xattrs and time, as rsync gives SOURCE/'s to TARGET/.
      SNAPKEEP_TRY(metadata_at(dst.get(), ".", dst.get(), root, src.get(), ".", ""));
    }
    if (m_vanished) {
      m_stats.warnings.emplace_back(k_vanished_warning);
    }
    if (!m_job.dry_run && !m_too_many) {
      m_stats.changed =
          MirrorStats::Changed{{m_entries.begin(), m_entries.end()}, {m_subtrees.begin(), m_subtrees.end()}};
      std::erase(m_stats.changed->entries, std::string());  // the root: no manifest lists it
    }
    return std::move(m_stats);
  }

 private:
  // Notes a path the run changed (and its folder, whose times move with it).
  void changed(const std::string& rel, bool subtree = false) {
    if (m_too_many) {
      return;
    }
    (subtree ? m_subtrees : m_entries).insert(rel);
    const auto slash = rel.rfind('/');
    m_entries.insert(slash == std::string::npos ? std::string() : rel.substr(0, slash));
    if (m_entries.size() + m_subtrees.size() > m_job.max_paths) {
      m_too_many = true;
      m_entries.clear();
      m_subtrees.clear();
    }
  }

  fs::path src_path(const std::string& rel) const { return rel.empty() ? m_job.source : m_job.source / rel; }
  fs::path dst_path(const std::string& rel) const { return rel.empty() ? m_job.target : m_job.target / rel; }

  // An unreadable source entry: gone (a warning), or with allow_partial a warning, else the error.
  Status source_failure(Error e, bool& skipped) {
    skipped = true;
    if (e.err == ENOENT) {
      m_vanished = true;
      return {};
    }
    if (m_preset.allow_partial && !e.full) {
      m_stats.warnings.push_back("not copied (allow_partial = yes keeps the snapshot): " + e.describe());
      return {};
    }
    return e;
  }

  // The contents of a folder: what the target has and the source has not goes first (room), then
  // every source entry in name order.
  Status folder(int src, int dst, const std::string& prefix) {
    std::vector<std::string> names;
    if (auto listed = list_names(src, src_path(prefix))) {
      names = std::move(*listed);
    } else {
      bool skipped = false;
      return source_failure(std::move(listed).error(), skipped);
    }
    struct Child {
      std::string name;
      struct stat st;
    };
    std::vector<Child> children;
    bool tagged = false;
    for (auto& name : names) {
      Child c{std::move(name), {}};
      if (::fstatat(src, c.name.c_str(), &c.st, AT_SYMLINK_NOFOLLOW) != 0) {
        bool skipped = false;
        SNAPKEEP_TRY(source_failure(sys_error("cannot examine", src_path(join(prefix, c.name))), skipped));
        continue;
      }
      tagged = tagged || is_tag(c.name);
      children.push_back(std::move(c));
    }
    // Left out, and so removed from the target (--delete-excluded): the source's top-level
    // lost+found, excluded names, and the contents of a folder holding an exclude_if_present tag.
    std::erase_if(children, [&](const Child& c) {
      if (prefix.empty() && c.name == "lost+found") {
        return true;
      }
      if (tagged && !is_tag(c.name)) {
        return true;
      }
      return !m_rules.empty() && m_rules.excluded(join(prefix, c.name), S_ISDIR(c.st.st_mode));
    });
    if (dst >= 0) {
      SNAPKEEP_TRY_ASSIGN(std::vector<std::string> present, list_names(dst, dst_path(prefix)));
      std::size_t i = 0;
      for (const auto& name : present) {
        while (i < children.size() && children[i].name < name) {
          ++i;
        }
        if (i == children.size() || children[i].name != name) {
          SNAPKEEP_TRY(remove(dst, name, join(prefix, name)));
        }
      }
    }
    for (const auto& c : children) {
      if (stop_signal() != 0) {
        return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
      }
      SNAPKEEP_TRY(entry(src, dst, prefix, c.name, c.st));
      show_progress();
    }
    return {};
  }

  bool is_tag(const std::string& name) const {
    return std::find(m_preset.exclude_if_present.begin(), m_preset.exclude_if_present.end(), name) !=
           m_preset.exclude_if_present.end();
  }

  // Removes a target entry and everything below it (`below`: a call for an entry inside one
  // being removed, which is neither counted nor noted again).
  Status remove(int dst, const std::string& name, const std::string& rel, bool below = false) {
    if (!below) {
      ++m_stats.removed;
    }
    if (m_job.dry_run) {
      return {};
    }
    if (!below) {
      changed(rel, true);
    }
    struct stat st {};
    if (::fstatat(dst, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return errno == ENOENT ? Status{} : sys_error("cannot examine", dst_path(rel));
    }
    if (S_ISDIR(st.st_mode)) {
      Fd dir(::openat(dst, name.c_str(), k_dir_flags));
      if (!dir) {
        return sys_error("cannot open", dst_path(rel));
      }
      SNAPKEEP_TRY_ASSIGN(auto names, list_names(dir.get(), dst_path(rel)));
      for (const auto& inner : names) {
        SNAPKEEP_TRY(remove(dir.get(), inner, join(rel, inner), true));
      }
      if (::unlinkat(dst, name.c_str(), AT_REMOVEDIR) != 0) {
        return sys_error("cannot remove", dst_path(rel));
      }
      return {};
    }
    if (::unlinkat(dst, name.c_str(), 0) != 0) {
      return sys_error("cannot remove", dst_path(rel));
    }
    return {};
  }

  // One source entry made equal in the target.
  Status entry(int src, int dst, const std::string& prefix, const std::string& name, const struct stat& st) {
    const std::string rel = join(prefix, name);
    ++m_stats.files;
    struct stat t {};
    bool have = dst >= 0 && ::fstatat(dst, name.c_str(), &t, AT_SYMLINK_NOFOLLOW) == 0;
    if (have && (t.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
      SNAPKEEP_TRY(remove(dst, name, rel));
      --m_stats.removed;  // replaced, not removed
      have = false;
    }
    if (S_ISDIR(st.st_mode)) {
      return directory(src, dst, rel, name, st, have);
    }
    const DevIno key{st.st_dev, st.st_ino};
    if (st.st_nlink > 1) {
      // Another name of a source inode placed already: the same inode in the target.
      if (const auto first = m_first_names.find(key); first != m_first_names.end()) {
        SNAPKEEP_TRY_ASSIGN(bool linked, link_to_first(dst, name, rel, first->second, have, t, st));
        if (linked) {
          return {};
        }
      }
    }
    // A target inode that is another source inode's copy (hard links changed in the source) is
    // never written through this name: it gets an inode of its own.
    if (have && t.st_nlink > 1) {
      const auto owner = m_owners.find(t.st_ino);
      if (owner != m_owners.end() && !(owner->second == key)) {
        if (!m_job.dry_run && ::unlinkat(dst, name.c_str(), 0) != 0) {
          return sys_error("cannot remove", dst_path(rel));
        }
        changed(rel);
        have = false;
      }
    }
    bool skipped = false;
    if (S_ISREG(st.st_mode)) {
      SNAPKEEP_TRY(regular(src, dst, rel, name, st, have, t, skipped));
    } else {
      SNAPKEEP_TRY(special(src, dst, rel, name, st, have, t, skipped));
    }
    if (skipped || m_job.dry_run) {
      return {};
    }
    if (st.st_nlink == 1 && (!have || t.st_nlink == 1)) {
      return {};  // one name at both ends: nothing to keep track of
    }
    struct stat made {};
    if (::fstatat(dst, name.c_str(), &made, AT_SYMLINK_NOFOLLOW) != 0) {
      return sys_error("cannot examine", dst_path(rel));
    }
    if (st.st_nlink > 1) {
      m_first_names[key] = rel;
    }
    if (st.st_nlink > 1 || made.st_nlink > 1) {
      m_owners[made.st_ino] = key;
    }
    return {};
  }

  // A later name of a multiply linked source inode: a hard link to the first name's copy. False
  // when the link cannot be made (EMLINK): the name then gets a copy, which later names link to.
  Result<bool> link_to_first(int dst, const std::string& name, const std::string& rel, const std::string& first,
                             bool& have, const struct stat& t, const struct stat& st) {
    if (m_job.dry_run) {
      return true;
    }
    struct stat f {};
    if (::fstatat(m_root_dst, first.c_str(), &f, AT_SYMLINK_NOFOLLOW) != 0) {
      return sys_error("cannot examine", dst_path(first));
    }
    if (S_ISREG(st.st_mode)) {
      m_stats.bytes_total += static_cast<std::uint64_t>(st.st_size);
    }
    if (have && t.st_ino == f.st_ino) {
      return true;
    }
    if (have && ::unlinkat(dst, name.c_str(), 0) != 0) {
      return sys_error("cannot remove", dst_path(rel));
    }
    have = false;
    changed(rel);
    changed(first);  // its link count moves
    if (::linkat(m_root_dst, first.c_str(), dst, name.c_str(), 0) != 0) {
      if (errno == EMLINK) {
        if (S_ISREG(st.st_mode)) {
          m_stats.bytes_total -= static_cast<std::uint64_t>(st.st_size);
        }
        return false;
      }
      return sys_error("cannot link " + dst_path(first).string() + " as", dst_path(rel));
    }
    return true;
  }

  Status directory(int src, int dst, const std::string& rel, const std::string& name, const struct stat& st,
                   bool have) {
    if (!have && !m_job.dry_run) {
      if (::mkdirat(dst, name.c_str(), 0700) != 0) {
        return sys_error("cannot make folder", dst_path(rel));
      }
      changed(rel);
    }
    Fd inner_src(::openat(src, name.c_str(), k_dir_flags));
    Fd inner_dst;
    if (dst >= 0 && (have || !m_job.dry_run)) {
      inner_dst = Fd(::openat(dst, name.c_str(), k_dir_flags));
      if (!inner_dst) {
        return sys_error("cannot open", dst_path(rel));
      }
    }
    const bool mount_point = m_preset.one_file_system && st.st_dev != m_root_dev;
    if (!inner_src) {
      bool skipped = false;
      SNAPKEEP_TRY(source_failure(sys_error("cannot open directory", src_path(rel)), skipped));
    } else if (!mount_point) {
      SNAPKEEP_TRY(folder(inner_src.get(), inner_dst.get(), rel));
    } else if (inner_dst) {
      // One filesystem: the mount point stays, its contents do not.
      SNAPKEEP_TRY_ASSIGN(auto names, list_names(inner_dst.get(), dst_path(rel)));
      for (const auto& inner : names) {
        SNAPKEEP_TRY(remove(inner_dst.get(), inner, join(rel, inner)));
      }
    }
    if (m_job.dry_run) {
      return {};
    }
    return metadata_at(dst, name, inner_dst.get(), st, src, name, rel);
  }

  Status regular(int src, int dst, const std::string& rel, const std::string& name, const struct stat& st, bool have,
                 const struct stat& t, bool& skipped) {
    m_stats.bytes_total += static_cast<std::uint64_t>(st.st_size);
    const bool unchanged = have && t.st_size == st.st_size && same_mtime(t, st);
    if (m_job.dry_run) {
      if (!unchanged) {
        ++m_stats.files_transferred;
        m_stats.bytes_transferred += static_cast<std::uint64_t>(st.st_size);
      }
      return {};
    }
    if (unchanged) {
      return metadata_at(dst, name, -1, st, src, name, rel, &t);
    }
    Fd in(::openat(src, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) {
      return source_failure(sys_error("cannot open", src_path(rel)), skipped);
    }
    Fd out(::openat(dst, name.c_str(), (have ? O_RDWR : O_WRONLY | O_CREAT | O_EXCL) | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) {
      return sys_error(have ? "cannot open" : "cannot create", dst_path(rel));
    }
    ++m_stats.files_transferred;
    changed(rel);
    if (have) {
      SNAPKEEP_TRY(update_blocks(in.get(), out.get(), rel));
    } else {
      SNAPKEEP_TRY_ASSIGN(DataCopy copied, copy_file_data(in.get(), out.get(), nullptr, src_path(rel), dst_path(rel)));
      m_stats.bytes_transferred += copied.bytes_read;
    }
    return metadata_at(dst, name, out.get(), st, src, name, rel);
  }

  // Rewrites the pieces of `out` that differ from `in`, and gives it `in`'s length. Compared in
  // blocks of k_block, written in pieces of k_piece: a piece of zeros becomes a hole (as a fresh
  // copy makes it, and as rsync --sparse would), any other differing piece is written.
  Status update_blocks(int in, int out, const std::string& rel) {
    std::vector<char> want(k_block);
    std::vector<char> have(k_block);
    off_t at = 0;
    for (;;) {
      if (stop_signal() != 0) {
        return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
      }
      const ssize_t n = read_at(in, want.data(), want.size(), at);
      if (n < 0) {
        return sys_error("cannot read", src_path(rel));
      }
      if (n == 0) {
        break;
      }
      ssize_t m = read_at(out, have.data(), static_cast<std::size_t>(n), at);
      if (m < 0) {
        return sys_error("cannot read", dst_path(rel));
      }
      if (m != n || std::memcmp(want.data(), have.data(), static_cast<std::size_t>(n)) != 0) {
        std::fill(have.begin() + m, have.begin() + n, '\1');  // past the old end: differs
        for (ssize_t piece = 0; piece < n; piece += static_cast<ssize_t>(k_piece)) {
          const std::size_t len = std::min(k_piece, static_cast<std::size_t>(n - piece));
          if (std::memcmp(want.data() + piece, have.data() + piece, len) == 0) {
            continue;
          }
          SNAPKEEP_TRY(write_piece(out, want.data() + piece, len, at + piece, rel));
        }
      }
      at += n;
      if (static_cast<std::size_t>(n) < want.size()) {
        break;
      }
    }
    if (::ftruncate(out, at) != 0) {
      return sys_error("cannot set the length of", dst_path(rel));
    }
    return {};
  }

  // One differing piece: a hole when it is all zeros and whole (within the file), else written.
  Status write_piece(int out, const char* data, std::size_t len, off_t at, const std::string& rel) {
    static const std::vector<char> zeros(k_piece, '\0');
    if (len == k_piece && std::memcmp(data, zeros.data(), len) == 0 &&
        ::fallocate(out, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, static_cast<off_t>(len)) == 0) {
      return {};
    }
    for (std::size_t done = 0; done < len;) {
      const ssize_t w = ::pwrite(out, data + done, len - done, at + static_cast<off_t>(done));
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w <= 0) {
        return sys_error("cannot write", dst_path(rel));
      }
      done += static_cast<std::size_t>(w);
    }
    m_stats.bytes_transferred += len;
    return {};
  }

  // Symlinks, devices, fifos and sockets: made anew when they differ.
  Status special(int src, int dst, const std::string& rel, const std::string& name, const struct stat& st, bool have,
                 const struct stat& t, bool& skipped) {
    std::string target;
    if (S_ISLNK(st.st_mode)) {
      target.resize(static_cast<std::size_t>(st.st_size) + 1);
      const ssize_t n = ::readlinkat(src, name.c_str(), target.data(), target.size());
      if (n < 0) {
        return source_failure(sys_error("cannot read the symlink", src_path(rel)), skipped);
      }
      target.resize(static_cast<std::size_t>(n));
    }
    bool same = have;
    if (have && S_ISLNK(st.st_mode)) {
      std::string current(static_cast<std::size_t>(t.st_size) + 1, '\0');
      const ssize_t n = ::readlinkat(dst, name.c_str(), current.data(), current.size());
      same = n >= 0 && std::string_view(current.data(), static_cast<std::size_t>(n)) == target;
    } else if (have && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
      same = t.st_rdev == st.st_rdev;
    }
    if (m_job.dry_run) {
      return {};
    }
    if (!same) {
      if (have && ::unlinkat(dst, name.c_str(), 0) != 0) {
        return sys_error("cannot remove", dst_path(rel));
      }
      const int rc = S_ISLNK(st.st_mode) ? ::symlinkat(target.c_str(), dst, name.c_str())
                                         : ::mknodat(dst, name.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev);
      if (rc != 0) {
        return sys_error("cannot make", dst_path(rel));
      }
      changed(rel);
    }
    return metadata_at(dst, name, -1, st, src, name, rel);
  }

  // Owner, mode, xattrs and mtime of the target entry `name` in `dst` (open as `fd`, or -1) made the
  // source's: extended attributes the source has not are removed (a new file may have inherited a
  // folder's default ACL), and nothing is set when everything is equal already.
  Status metadata_at(int dst, const std::string& name, int fd, const struct stat& st, int src,
                     const std::string& src_name, const std::string& rel, const struct stat* known = nullptr) {
    SNAPKEEP_TRY_ASSIGN(Xattrs wanted, read_xattrs(src, src_name, src_path(rel)));
    SNAPKEEP_TRY_ASSIGN(Xattrs present, read_xattrs(dst, name, dst_path(rel)));
    struct stat t {};
    if (known != nullptr) {
      t = *known;
    } else if ((fd >= 0 ? ::fstat(fd, &t) : ::fstatat(dst, name.c_str(), &t, AT_SYMLINK_NOFOLLOW)) != 0) {
      return sys_error("cannot examine", dst_path(rel));
    }
    const bool owners = !m_root || (t.st_uid == st.st_uid && t.st_gid == st.st_gid);
    if (owners && present == wanted && (S_ISLNK(st.st_mode) || (t.st_mode & 07777) == (st.st_mode & 07777)) &&
        same_mtime(t, st)) {
      return {};
    }
    for (const auto& entry : present) {
      const std::string& attr = entry.first;
      const bool kept = std::any_of(wanted.begin(), wanted.end(), [&](const auto& w) { return w.first == attr; });
      if (kept) {
        continue;
      }
      const int removed =
          fd >= 0 ? ::fremovexattr(fd, attr.c_str()) : ::lremovexattr(proc_entry(dst, name).c_str(), attr.c_str());
      if (removed != 0 && errno != ENODATA) {
        return sys_error("cannot remove extended attribute " + attr + " of", dst_path(rel));
      }
    }
    changed(rel);
    return apply_metadata(dst, name, fd, st, wanted, dst_path(rel));
  }

  // A path naming entry `name` of the folder open as `dirfd`, for the *xattr calls without an "at" form.
  static std::string proc_entry(int dirfd, const std::string& name) {
    return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
  }

  void show_progress() {
    if (m_job.progress == nullptr || (m_stats.files & 255) != 0 || !m_job.progress->enabled()) {
      return;
    }
    m_job.progress->update(
        std::to_string(m_stats.files) + " files, " + std::to_string(m_stats.files_transferred) + " written",
        {m_stats.bytes_transferred, 0});
  }

  const MirrorJob& m_job;
  const Preset& m_preset;
  ExcludeRules m_rules;
  MirrorStats m_stats;
  dev_t m_root_dev = 0;
  int m_root_dst = -1;
  bool m_vanished = false;
  const bool m_root = ::geteuid() == 0;
  std::set<std::string> m_entries;
  std::set<std::string> m_subtrees;
  bool m_too_many = false;
  // Multiply linked source inodes: the path of their first name in the target.
  std::unordered_map<DevIno, std::string, DevInoHash> m_first_names;
  // Target inodes with several names, and the source inode each was made the copy of this run.
  std::unordered_map<ino_t, DevIno> m_owners;
};

}  // namespace

Result<MirrorStats> run_mirror(const MirrorJob& job) {
  SNAPKEEP_TRY_ASSIGN(ExcludeRules rules, ExcludeRules::for_preset(*job.preset));
  Mirror mirror(job, std::move(rules));
  return mirror.run();
}

}  // namespace snapkeep
