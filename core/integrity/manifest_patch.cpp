#include "core/integrity/manifest_patch.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/base/fd.hpp"
#include "core/base/signals.hpp"
#include "core/integrity/content_identity.hpp"
#include "core/integrity/entry_hash.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_diff.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// A changed path of the new snapshot and its lstat.
struct Fresh {
  std::string path;
  struct stat st {};
};

Error too_many(std::size_t max_paths) {
  return runtime_error("more than " + std::to_string(max_paths) + " paths changed");
}

// lstat of `rel` below the folder `root_fd` without following any symlink on the way (a path the
// stream named may have become a symlink's name since). False when there is no such entry.
Result<bool> lstat_below(int root_fd, const fs::path& root, const std::string& rel, struct stat& st) {
  const auto slash = rel.rfind('/');
  Fd parent;
  int dir_fd = root_fd;
  if (slash != std::string::npos) {
    open_how how{};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    const std::string folder = rel.substr(0, slash);
    parent.reset(static_cast<int>(::syscall(SYS_openat2, root_fd, folder.c_str(), &how, sizeof how)));
    if (!parent) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
        return false;
      }
      return sys_error("cannot look at", root / folder);
    }
    dir_fd = parent.get();
  }
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return false;
    }
    return sys_error("cannot look at", root / rel);
  }
  return true;
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

// Adds every entry below the folder `rel` (not `rel` itself) to `out`, like the full build's walk:
// no symlink followed, no other filesystem entered.
Status walk_below(const fs::path& root, const std::string& rel, dev_t root_dev, std::size_t max_paths,
                  std::vector<Fresh>& out) {
  struct Level {
    std::unique_ptr<DIR, DirCloser> dir;
    std::string rel;
  };
  std::vector<Level> stack;
  auto open_level = [&](const std::string& folder) -> Status {
    Fd fd(::open((root / folder).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      return sys_error("cannot read", root / folder);
    }
    std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd.get()));
    if (!dir) {
      return sys_error("cannot read", root / folder);
    }
    fd.release();
    stack.push_back(Level{std::move(dir), folder});
    return {};
  };
  SNAPKEEP_TRY(open_level(rel));
  while (!stack.empty()) {
    errno = 0;
    const struct dirent* entry = ::readdir(stack.back().dir.get());
    if (entry == nullptr) {
      if (errno != 0) {
        return sys_error("cannot read", root / stack.back().rel);
      }
      stack.pop_back();
      continue;
    }
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    Fresh fresh;
    fresh.path = stack.back().rel + "/" + std::string(name);
    if (::fstatat(::dirfd(stack.back().dir.get()), entry->d_name, &fresh.st, AT_SYMLINK_NOFOLLOW) != 0) {
      return sys_error("cannot read", root / fresh.path);
    }
    if (out.size() >= max_paths) {
      return too_many(max_paths);
    }
    const bool descend = S_ISDIR(fresh.st.st_mode) && fresh.st.st_dev == root_dev;
    out.push_back(std::move(fresh));
    if (descend) {
      SNAPKEEP_TRY(open_level(out.back().path));
    }
  }
  return {};
}

// Which paths the changes cover: named entries, and everything at or below a named subtree.
class ChangedPaths {
 public:
  explicit ChangedPaths(const TreeChanges& changes) {
    m_entries.insert(changes.entries.begin(), changes.entries.end());
    m_subtrees.insert(changes.subtrees.begin(), changes.subtrees.end());
  }
  bool covers(std::string_view path) const {
    if (m_entries.count(path) > 0) {
      return true;
    }
    if (m_subtrees.empty()) {
      return false;
    }
    for (std::size_t slash = path.find('/'); slash != std::string_view::npos; slash = path.find('/', slash + 1)) {
      if (m_subtrees.count(path.substr(0, slash)) > 0) {
        return true;
      }
    }
    return m_subtrees.count(path) > 0;
  }

 private:
  std::unordered_set<std::string_view> m_entries;
  std::unordered_set<std::string_view> m_subtrees;
};

// Writes entries of changed paths: reuses a hash the base manifest vouches for, else reads.
class PatchWriter {
 public:
  // `removed`: the base's files at changed paths, by inode: their hashes may serve the same file
  // under its new name.
  PatchWriter(const fs::path& snapshot, const ManifestBuildOptions& options, ManifestWriter& writer,
              ManifestBuildStats& stats, std::unordered_map<std::uint64_t, ManifestEntry> removed)
      : m_snapshot(snapshot), m_options(options), m_writer(writer), m_stats(stats), m_removed(std::move(removed)) {
    if (options.checksum != ChecksumKind::none) {
      m_hashers.emplace_back(options.checksum);
    }
  }

  // The entry of `fresh`; `same_path` is the base entry of its path, if any.
  Status fresh(const Fresh& fresh, const ManifestEntry* same_path) {
    ManifestEntry record = entry_from_stat(fresh.path, fresh.st);
    if (record.type == EntryType::file && !m_hashers.empty()) {
      const ManifestEntry* before = same_path;
      if (before == nullptr || before->ino != record.ino) {
        auto it = m_removed.find(record.ino);
        before = it == m_removed.end() ? nullptr : &it->second;
      }
      if (before != nullptr && may_reuse_hash(*before, fresh.st, m_options.content_sharing)) {
        record.hash = before->hash;
        ++m_stats.files_reused;
      } else if (auto linked = m_hashed.find(record.ino); linked != m_hashed.end()) {
        record.hash = linked->second;  // a hard link read earlier in this patch
        ++m_stats.files_reused;
      } else {
        SNAPKEEP_TRY(hash_entry(m_snapshot / fresh.path, m_hashers, record, m_stats.bytes_hashed));
        ++m_stats.files_hashed;
        m_hashed[record.ino] = record.hash;
      }
    } else {
      SNAPKEEP_TRY(hash_entry(m_snapshot / fresh.path, m_hashers, record, m_stats.bytes_hashed));
    }
    count_change(
        same_path == nullptr ? PathChange::added : compare_entries(*same_path, record, m_options.content_sharing),
        m_changes);
    return add(record);
  }

  // A base entry the changes removed.
  void deleted() { count_change(PathChange::deleted, m_changes); }
  const ChangeCounts& changes() const { return m_changes; }

  // A base entry nothing changed.
  Status carried(const ManifestEntry& entry) { return add(entry); }

 private:
  Status add(const ManifestEntry& record) {
    if (record.type == EntryType::file) {
      ++m_stats.files;
      m_stats.bytes += record.size;
    }
    ++m_stats.entries;
    if ((m_stats.entries & 4095) == 0 && stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    return m_writer.add(record);
  }

  const fs::path& m_snapshot;
  const ManifestBuildOptions& m_options;
  ManifestWriter& m_writer;
  ManifestBuildStats& m_stats;
  std::vector<Hasher> m_hashers;
  std::unordered_map<std::uint64_t, ManifestEntry> m_removed;
  std::unordered_map<std::uint64_t, std::string> m_hashed;
  ChangeCounts m_changes;
};

}  // namespace

Result<ManifestBuildStats> patch_manifest(const fs::path& snapshot, const std::string& id,
                                          const fs::path& manifest_file, const fs::path& base_manifest,
                                          const TreeChanges& changes, const ManifestBuildOptions& options,
                                          std::size_t max_paths) {
  if (changes.entries.size() + changes.subtrees.size() > max_paths) {
    return too_many(max_paths);
  }
  Fd root(::open(snapshot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat root_st {};
  if (!root || ::fstat(root.get(), &root_st) != 0) {
    return sys_error("cannot read snapshot", snapshot);
  }

  // The changed paths as they are now.
  std::vector<Fresh> fresh;
  for (const auto& path : changes.entries) {
    Fresh f{path, {}};
    SNAPKEEP_TRY_ASSIGN(bool present, lstat_below(root.get(), snapshot, path, f.st));
    if (present) {
      fresh.push_back(std::move(f));
    }
  }
  for (const auto& path : changes.subtrees) {
    Fresh f{path, {}};
    SNAPKEEP_TRY_ASSIGN(bool present, lstat_below(root.get(), snapshot, path, f.st));
    if (!present) {
      continue;
    }
    const bool folder = S_ISDIR(f.st.st_mode) && f.st.st_dev == root_st.st_dev;
    fresh.push_back(std::move(f));
    if (folder) {
      SNAPKEEP_TRY(walk_below(snapshot, path, root_st.st_dev, max_paths, fresh));
    }
  }
  std::sort(fresh.begin(), fresh.end(), [](const Fresh& a, const Fresh& b) { return a.path < b.path; });
  fresh.erase(std::unique(fresh.begin(), fresh.end(), [](const Fresh& a, const Fresh& b) { return a.path == b.path; }),
              fresh.end());

  // The base, checked whole; on the way, what the changes removed or replaced, and the inodes whose
  // other names (hard links the stream did not name) must be looked at again: a link gained or
  // lost, or data written through another name, changes the inode's ctime under every name.
  const ChangedPaths changed(changes);
  std::unordered_map<std::uint64_t, ManifestEntry> removed;
  std::unordered_set<std::uint64_t> relook;
  for (const auto& f : fresh) {
    if (S_ISREG(f.st.st_mode) && f.st.st_nlink > 1) {
      relook.insert(f.st.st_ino);
    }
  }
  auto opened = open_manifest(base_manifest, [&](const ManifestEntry& entry) {
    if (entry.type == EntryType::file && removed.size() + relook.size() <= max_paths && changed.covers(entry.path)) {
      if (!entry.hash.empty()) {
        removed[entry.ino] = entry;
      }
      relook.insert(entry.ino);
    }
  });
  if (opened.state != ManifestState::ok) {
    return runtime_error("the manifest of " + changes.base + " cannot be used: " +
                             (opened.state == ManifestState::missing ? std::string("it is missing") : opened.reason),
                         base_manifest);
  }
  ManifestReader& base = *opened.reader;
  if (base.header().checksum != options.checksum) {
    return runtime_error("the manifest of " + changes.base + " holds other hashes than the preset's checksum",
                         base_manifest);
  }
  if (removed.size() + relook.size() > max_paths) {
    return too_many(max_paths);
  }

  SNAPKEEP_TRY_ASSIGN(ManifestWriter writer, ManifestWriter::create(manifest_file, new_manifest_header(id, options)));
  ManifestBuildStats stats;
  PatchWriter out(snapshot, options, writer, stats, std::move(removed));

  // The base and the changed paths merged by path.
  ManifestEntry entry;
  std::size_t next = 0;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, base.next(entry));
    if (!more) {
      break;
    }
    while (next < fresh.size() && fresh[next].path < entry.path) {
      SNAPKEEP_TRY(out.fresh(fresh[next++], nullptr));
    }
    if (next < fresh.size() && fresh[next].path == entry.path) {
      SNAPKEEP_TRY(out.fresh(fresh[next++], &entry));
      continue;
    }
    if (changed.covers(entry.path)) {
      out.deleted();
      continue;
    }
    if (entry.type == EntryType::file && relook.count(entry.ino) > 0) {
      Fresh again{entry.path, {}};
      SNAPKEEP_TRY_ASSIGN(bool present, lstat_below(root.get(), snapshot, entry.path, again.st));
      if (present) {
        SNAPKEEP_TRY(out.fresh(again, &entry));
      } else {
        out.deleted();
      }
      continue;
    }
    SNAPKEEP_TRY(out.carried(entry));
  }
  while (next < fresh.size()) {
    SNAPKEEP_TRY(out.fresh(fresh[next++], nullptr));
  }
  SNAPKEEP_TRY(writer.commit());
  stats.changes = out.changes();
  return stats;
}

}  // namespace snapkeep
