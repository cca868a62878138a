#include "core/transfer/native/engine.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/base/fd.hpp"
#include "core/base/format.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/signals.hpp"
#include "core/transfer/native/exclude.hpp"
#include "core/transfer/native/file_data.hpp"
#include "core/transfer/native/metadata.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr int k_dir_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr std::string_view k_vanished_warning =
    "some source files vanished while snapkeep copied them; they are not in this snapshot";

// A source inode: the key of in-source hard-link groups.
struct DevIno {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const DevIno&) const = default;
  auto operator<=>(const DevIno&) const = default;
};

struct DevInoHash {
  std::size_t operator()(const DevIno& k) const {
    return std::hash<std::uint64_t>()(k.ino * 0x9e3779b97f4a7c15ULL ^ k.dev);
  }
};

// The copy of a multiply-linked source inode: where its first name went, and its record.
struct LinkGroup {
  std::string path;  // relative to the target
  ManifestEntry record;
  bool avoided_damage = false;  // its first name was copied afresh instead of linked to damaged content
};

// One entry of a source folder as listed.
struct Child {
  std::string name;
  bool dir = false;   // as listed: descended into after its record
  bool made = false;  // a folder created in the target, to be filled and finished
  struct stat st {};
};

// A step of a folder's walk: the entry's record, or (folders) its contents.
struct Step {
  std::uint32_t child = 0;
  bool contents = false;
};

// Manifest order within one folder: the entry "name" sorts as its name, its contents as "name/".
bool step_less(const Child& a, bool a_contents, const Child& b, bool b_contents) {
  std::size_t n = std::min(a.name.size(), b.name.size());
  int c = std::memcmp(a.name.data(), b.name.data(), n);
  if (c != 0) {
    return c < 0;
  }
  if (a.name.size() == b.name.size()) {
    return !a_contents && b_contents;
  }
  if (a.name.size() < b.name.size()) {
    return !a_contents || '/' < static_cast<unsigned char>(b.name[n]);
  }
  return b_contents && static_cast<unsigned char>(a.name[n]) < '/';
}

// Compares two relative paths in manifest order (bytes, unsigned).
int path_compare(std::string_view a, std::string_view b) {
  return a.compare(b);
}

// An earlier manifest read alongside the walk (both in manifest order).
class Cursor {
 public:
  explicit Cursor(PreviousManifest* manifest) : m_manifest(manifest), m_done(manifest == nullptr) {}
  // The record at `path`, or null; skips records before it. A manifest that fails to read is
  // given up with a warning.
  const ManifestEntry* seek(const std::string& path, std::vector<std::string>& warnings) {
    while (!m_done) {
      if (!m_have) {
        auto more = m_manifest->next(m_entry);
        if (!more) {
          warnings.push_back("not using an earlier manifest any more: " + more.error().describe());
          m_done = true;
          break;
        }
        if (!*more) {
          m_done = true;
          break;
        }
        m_have = true;
      }
      int c = path_compare(m_entry.path, path);
      if (c < 0) {
        m_have = false;
        continue;
      }
      return c == 0 ? &m_entry : nullptr;
    }
    return nullptr;
  }

 private:
  PreviousManifest* m_manifest;
  ManifestEntry m_entry;
  bool m_have = false;
  bool m_done;
};

// An open folder of a link base, opened when first needed.
struct BaseDir {
  Fd fd;
  bool tried = false;
};

// One folder being walked: source, target and link bases at the same relative path.
struct Level {
  Level* parent = nullptr;
  std::string name;    // in the parent
  std::string prefix;  // relative path of this folder, "" for the root
  int src = -1;
  int dst = -1;
  std::vector<BaseDir> bases;
};

// Where the move index found a candidate.
struct MoveKey {
  std::uint64_t source_ino = 0;
  std::uint64_t position = 0;
  bool operator<(const MoveKey& o) const { return source_ino < o.source_ino; }
};

class Engine {
 public:
  explicit Engine(const NativeCopyJob& job) : m_job(job), m_preset(*job.preset) {}

  Result<NativeCopyStats> run();

 private:
  Status setup();
  Status build_move_index();
  Status walk(Level& level);
  Status list(Level& level, std::vector<Child>& children, bool& vanished);
  Status entry(Level& level, Child& child);
  Status regular_or_special(Level& level, Child& child, ManifestEntry& record);
  Status contents(Level& level, Child& child);
  Status regular(Level& level, Child& child, ManifestEntry& record);
  Result<bool> link_unchanged(Level& level, Child& child, ManifestEntry& record);
  // Is this base file content that scrub recorded damaged (NativeCopyJob::avoid)? Notes `path`.
  bool damaged(const struct stat& st, const std::string& path) {
    if (m_job.avoid == nullptr || m_job.avoid->count({static_cast<std::uint64_t>(st.st_dev), st.st_ino}) == 0) {
      return false;
    }
    auto& avoided = m_stats.avoided_damage;
    if (avoided.size() < 1000 && (avoided.empty() || avoided.back() != path)) {
      avoided.push_back(path);
    }
    return true;
  }
  Result<bool> link_moved(Level& level, Child& child, ManifestEntry& record);
  Status copy_regular(Level& level, Child& child, ManifestEntry& record, bool& skipped);
  Status copy_from_copy(Level& level, Child& child, int from_dirfd, const std::string& from_name,
                        ManifestEntry& record);
  Status special(Level& level, Child& child, ManifestEntry& record, bool& skipped);
  Result<bool> link_group_member(Level& level, Child& child, ManifestEntry& record);
  Status finish_folder(const std::string& name, int dst, int src_parent, const std::string& src_name,
                       const struct stat& st, const std::string& rel);
  Status emit(const ManifestEntry& record);
  Result<std::string> hash_at(int dirfd, const std::string& name, const std::string& rel);
  int base_dir(Level& level, std::size_t b);
  Status source_failure(Error e, const std::string& rel, bool& skipped);
  void vanished(const std::string& rel);
  void show_progress();
  // Reports the counts now to the progress line and the event stream.
  void report_progress();
  bool hashing() const { return m_job.manifest != nullptr && m_job.manifest->hashes() && !m_stats.manifest_error; }
  std::unique_ptr<ContentHasher> new_hasher() const { return hashing() ? m_job.manifest->hasher() : nullptr; }
  fs::path src_path(const std::string& rel) const { return rel.empty() ? m_job.source : m_job.source / rel; }
  fs::path dst_path(const std::string& rel) const { return rel.empty() ? m_job.target : m_job.target / rel; }
  static std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "/" + name;
  }

  const NativeCopyJob& m_job;
  const Preset& m_preset;
  ExcludeRules m_rules;
  Fd m_src_root;
  Fd m_dst_root;
  dev_t m_root_dev = 0;
  std::vector<Fd> m_base_roots;
  std::vector<Cursor> m_cursors;
  std::vector<MoveKey> m_moves;  // sorted by source inode
  std::unique_ptr<PreviousManifest> m_move_view;
  std::size_t m_move_base = 0;
  std::unordered_map<DevIno, LinkGroup, DevInoHash> m_groups;
  std::map<DevIno, std::string> m_emlink;  // base inode -> the copy made when it had too many links
  bool m_vanished = false;
  std::uint64_t m_entries_seen = 0;
  std::uint64_t m_since_checkpoint = 0;
  NativeCopyStats m_stats;
};

Result<NativeCopyStats> Engine::run() {
  SNAPKEEP_TRY(setup());
  struct stat root_st {};
  if (::fstat(m_src_root.get(), &root_st) != 0) {
    return sys_error("cannot stat", m_job.source);
  }
  m_root_dev = root_st.st_dev;
  Level root;
  root.src = m_src_root.get();
  root.dst = m_dst_root.get();
  root.bases.resize(m_job.bases.size());
  for (std::size_t b = 0; b < m_job.bases.size(); ++b) {
    root.bases[b].tried = true;
    root.bases[b].fd = Fd(m_base_roots[b].valid() ? ::dup(m_base_roots[b].get()) : -1);
  }
  ++m_stats.files;  // the root, as rsync counts it
  SNAPKEEP_TRY(walk(root));
  if (!m_job.dry_run) {
    SNAPKEEP_TRY(finish_folder(".", m_dst_root.get(), m_src_root.get(), ".", root_st, ""));
  }
  if (m_vanished) {
    m_stats.warnings.emplace_back(k_vanished_warning);
  }
  if (m_job.progress != nullptr) {
    report_progress();  // the final counts, for the event stream
    m_job.progress->finish();
  }
  return std::move(m_stats);
}

Status Engine::setup() {
  SNAPKEEP_TRY_ASSIGN(m_rules, ExcludeRules::for_preset(m_preset));
  // One descriptor per open folder level (source, target, link bases): deep trees need many.
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  m_src_root = Fd(::open(m_job.source.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!m_src_root) {
    return sys_error("cannot open the source", m_job.source);
  }
  if (!m_job.dry_run) {
    m_dst_root = Fd(::open(m_job.target.c_str(), k_dir_flags));
    if (!m_dst_root) {
      return sys_error("cannot open", m_job.target);
    }
  }
  for (const LinkBase& base : m_job.bases) {
    m_base_roots.emplace_back(::open(base.root.c_str(), k_dir_flags));
    m_cursors.emplace_back(base.manifest.get());
  }
  return build_move_index();
}

// The move index: source inode -> record position, for the files of the first base with a manifest
// that records source identities (16 bytes per file).
Status Engine::build_move_index() {
  if (m_job.manifest == nullptr || !m_job.manifest->hashes()) {
    return {};
  }
  for (std::size_t b = 0; b < m_job.bases.size(); ++b) {
    const auto& manifest = m_job.bases[b].manifest;
    if (m_job.bases[b].resumed || manifest == nullptr || !manifest->same_checksum() || !m_base_roots[b].valid()) {
      continue;
    }
    auto view = manifest->reopen();
    if (!view) {
      m_stats.warnings.push_back("no move detection: " + view.error().describe());
      return {};
    }
    // Reserved once (pages are resident only as they fill), so the index never holds two copies
    // of itself while it grows.
    m_moves.reserve(m_job.move_index_limit);
    ManifestEntry e;
    for (;;) {
      auto more = (*view)->next(e);
      if (!more) {
        m_stats.warnings.push_back("no move detection: " + more.error().describe());
        m_moves.clear();
        return {};
      }
      if (!*more) {
        break;
      }
      if (e.type == EntryType::file && e.source && e.size > 0 && !e.hash.empty()) {
        if (m_moves.size() == m_job.move_index_limit) {
          spdlog::info("{}: moves are found among the first {} files of the newest snapshot only (memory bound)",
                       m_job.preset->name, m_job.move_index_limit);
          break;
        }
        m_moves.push_back(MoveKey{e.source->ino, (*view)->last_position()});
      }
    }
    std::sort(m_moves.begin(), m_moves.end());
    m_move_view = std::move(*view);
    m_move_base = b;
    return {};
  }
  return {};
}

void Engine::vanished(const std::string& rel) {
  spdlog::debug("vanished during the backup: {}", src_path(rel).string());
  m_vanished = true;
}

// A source entry that cannot be read: skipped with a warning under allow_partial, else the error.
Status Engine::source_failure(Error e, const std::string& rel, bool& skipped) {
  if (e.err == ENOENT) {
    vanished(rel);
    skipped = true;
    return {};
  }
  if (m_preset.allow_partial && !e.full) {
    m_stats.warnings.push_back("not copied (allow_partial = yes keeps the snapshot): " + e.describe());
    skipped = true;
    return {};
  }
  return e;
}

void Engine::show_progress() {
  if (m_job.progress == nullptr || (++m_entries_seen & 255) != 0) {
    return;
  }
  report_progress();
}

void Engine::report_progress() {
  if (!m_job.progress->enabled()) {
    return;
  }
  m_job.progress->update(std::to_string(m_stats.files) + " files, " + std::to_string(m_stats.files_linked) +
                             " linked, " + std::to_string(m_stats.files_transferred) + " copied (" +
                             format_bytes(m_stats.bytes_transferred) + ")",
                         {m_stats.files, m_stats.bytes_transferred});
}

int Engine::base_dir(Level& level, std::size_t b) {
  BaseDir& dir = level.bases[b];
  if (!dir.tried) {
    dir.tried = true;
    int parent = level.parent != nullptr ? base_dir(*level.parent, b) : -1;
    if (parent >= 0) {
      dir.fd = Fd(::openat(parent, level.name.c_str(), k_dir_flags));
    }
  }
  return dir.fd.get();
}

Status Engine::emit(const ManifestEntry& record) {
  if (m_job.manifest == nullptr || m_stats.manifest_error) {
    return {};
  }
  Status added = m_job.manifest->add(record);
  if (added && m_since_checkpoint > (64u << 20)) {
    m_since_checkpoint = 0;
    added = m_job.manifest->checkpoint();
  }
  if (!added) {
    // The copy goes on without a manifest; the backup makes it afterwards (or says why not).
    spdlog::warn("the manifest cannot be written, the copy goes on without it: {}", added.error().describe());
    m_stats.manifest_error = added.error();
  }
  return {};
}

Status Engine::list(Level& level, std::vector<Child>& children, bool& gone) {
  Fd dup(::dup(level.src));
  if (!dup) {
    return sys_error("cannot read directory", src_path(level.prefix));
  }
  DIR* dir = ::fdopendir(dup.get());
  if (dir == nullptr) {
    return sys_error("cannot read directory", src_path(level.prefix));
  }
  dup.release();
  errno = 0;
  while (struct dirent* d = ::readdir(dir)) {
    std::string_view name = d->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    Child child;
    child.name = std::string(name);
    if (d->d_type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(level.src, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        continue;  // vanished: noticed again when it is handled
      }
      child.dir = S_ISDIR(st.st_mode);
    } else {
      child.dir = d->d_type == DT_DIR;
    }
    children.push_back(std::move(child));
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) {
    if (err == ENOENT) {
      gone = true;
      return {};
    }
    return sys_error("cannot read directory", src_path(level.prefix), err);
  }
  return {};
}

Status Engine::walk(Level& level) {
  std::vector<Child> children;
  bool gone = false;
  {
    Status listed = list(level, children, gone);
    if (!listed) {
      bool skipped = false;
      return source_failure(std::move(listed).error(), level.prefix, skipped);
    }
  }
  // What is left out: the source's top-level lost+found, excluded names, and the contents of a
  // folder holding an exclude_if_present tag (the tag itself stays).
  bool tagged = false;
  for (const Child& c : children) {
    tagged = tagged || std::find(m_preset.exclude_if_present.begin(), m_preset.exclude_if_present.end(), c.name) !=
                           m_preset.exclude_if_present.end();
  }
  std::erase_if(children, [&](const Child& c) {
    if (level.prefix.empty() && c.name == "lost+found") {
      return true;
    }
    if (tagged && std::find(m_preset.exclude_if_present.begin(), m_preset.exclude_if_present.end(), c.name) ==
                      m_preset.exclude_if_present.end()) {
      return true;
    }
    return !m_rules.empty() && m_rules.excluded(join(level.prefix, c.name), c.dir);
  });
  std::vector<Step> steps;
  steps.reserve(children.size() * 2);
  for (std::uint32_t i = 0; i < children.size(); ++i) {
    steps.push_back(Step{i, false});
    if (children[i].dir) {
      steps.push_back(Step{i, true});
    }
  }
  std::sort(steps.begin(), steps.end(), [&](const Step& a, const Step& b) {
    return step_less(children[a.child], a.contents, children[b.child], b.contents);
  });
  for (const Step& step : steps) {
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    Child& child = children[step.child];
    if (step.contents) {
      if (child.made) {
        SNAPKEEP_TRY(contents(level, child));
      }
    } else {
      SNAPKEEP_TRY(entry(level, child));
    }
    show_progress();
  }
  return {};
}

// The contents of a folder whose record is written: walked, then its metadata set.
Status Engine::contents(Level& level, Child& child) {
  std::string rel = join(level.prefix, child.name);
  Level inner;
  inner.parent = &level;
  inner.name = child.name;
  inner.prefix = rel;
  inner.bases.resize(level.bases.size());
  Fd src(::openat(level.src, child.name.c_str(), k_dir_flags));
  Fd dst;
  if (!m_job.dry_run) {
    dst = Fd(::openat(level.dst, child.name.c_str(), k_dir_flags));
    if (!dst) {
      return sys_error("cannot open", dst_path(rel));
    }
  }
  bool mount_point = m_preset.one_file_system && child.st.st_dev != m_root_dev;
  if (src && !mount_point) {
    inner.src = src.get();
    inner.dst = dst.get();
    SNAPKEEP_TRY(walk(inner));
  } else if (!src) {
    bool skipped = false;
    SNAPKEEP_TRY(source_failure(sys_error("cannot open directory", src_path(rel)), rel, skipped));
  }
  if (m_job.dry_run) {
    return {};
  }
  return finish_folder(child.name, dst.get(), level.src, child.name, child.st, rel);
}

Status Engine::finish_folder(const std::string& name, int dst, int src_parent, const std::string& src_name,
                             const struct stat& st, const std::string& rel) {
  Xattrs xattrs;
  auto read = read_xattrs(src_parent, src_name, src_path(rel));
  if (read) {
    xattrs = std::move(*read);
  } else if (read.error().err != ENOENT) {
    bool skipped = false;
    SNAPKEEP_TRY(source_failure(std::move(read).error(), rel, skipped));
  }
  return apply_metadata(-1, name, dst, st, xattrs, dst_path(rel));
}

Status Engine::entry(Level& level, Child& child) {
  std::string rel = join(level.prefix, child.name);
  if (::fstatat(level.src, child.name.c_str(), &child.st, AT_SYMLINK_NOFOLLOW) != 0) {
    bool skipped = false;
    return source_failure(sys_error("cannot stat", src_path(rel)), rel, skipped);
  }
  if (S_ISDIR(child.st.st_mode) != child.dir) {
    vanished(rel);  // replaced by another kind of entry since it was listed
    return {};
  }
  ManifestEntry record;
  record.path = rel;
  record.type = entry_type_of(child.st.st_mode);
  record.mtime_ns = timespec_ns(child.st.st_mtim);
  record.source = SourceIdentity{child.st.st_ino, timespec_ns(child.st.st_ctim)};
  ++m_stats.files;
  if (child.dir) {
    if (!m_job.dry_run) {
      if (::mkdirat(level.dst, child.name.c_str(), 0700) != 0) {
        Error e = sys_error("cannot create directory", dst_path(rel));
        if (!e.full || m_job.manifest == nullptr || m_stats.manifest_error) {
          return e;
        }
        spdlog::warn("the destination is full; the copy goes on without the manifest: {}", e.describe());
        m_stats.manifest_error = std::move(e);
        m_job.manifest->drop();  // its room goes to the data
        if (::mkdirat(level.dst, child.name.c_str(), 0700) != 0) {
          return sys_error("cannot create directory", dst_path(rel));
        }
      }
      struct stat made {};
      if (::fstatat(level.dst, child.name.c_str(), &made, AT_SYMLINK_NOFOLLOW) != 0) {
        return sys_error("cannot stat", dst_path(rel));
      }
      record.size = static_cast<std::uint64_t>(made.st_size);
      record.ino = made.st_ino;
      record.ctime_ns = timespec_ns(made.st_ctim);
    }
    child.made = true;
    return emit(record);
  }
  return regular_or_special(level, child, record);
}

Status Engine::regular_or_special(Level& level, Child& child, ManifestEntry& record) {
  bool skipped = false;
  Status made = S_ISREG(child.st.st_mode) ? regular(level, child, record) : special(level, child, record, skipped);
  if (!made && made.error().full && m_job.manifest != nullptr && !m_stats.manifest_error && !m_job.dry_run) {
    // A full destination: the data has priority. The manifest gives its room back (the backup
    // makes it afterwards, or says why it cannot) and this entry is tried once more.
    Error e = std::move(made).error();
    spdlog::warn("the destination is full; the copy goes on without the manifest: {}", e.describe());
    m_stats.manifest_error = std::move(e);
    m_job.manifest->drop();
    ::unlinkat(level.dst, child.name.c_str(), 0);
    ManifestEntry again = record;
    again.hash.clear();
    made = S_ISREG(child.st.st_mode) ? regular(level, child, again) : special(level, child, again, skipped);
  }
  SNAPKEEP_TRY(made);
  return skipped ? Status{} : emit(record);
}

Result<std::string> Engine::hash_at(int dirfd, const std::string& name, const std::string& rel) {
  auto hasher = new_hasher();
  if (!hasher) {
    return std::string();
  }
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
  if (!fd && errno == EPERM) {
    fd = Fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!fd) {
    return sys_error("cannot open", dst_path(rel));
  }
  SNAPKEEP_TRY_ASSIGN(DataCopy read, copy_file_data(fd.get(), -1, hasher.get(), dst_path(rel), {}));
  m_stats.bytes_hashed += read.bytes_read;
  return hasher->hex_digest();
}

// A name of a multiply-linked source inode met before: a hard link to its copy.
Result<bool> Engine::link_group_member(Level& level, Child& child, ManifestEntry& record) {
  auto it = m_groups.find(DevIno{child.st.st_dev, child.st.st_ino});
  if (it == m_groups.end()) {
    return false;
  }
  LinkGroup& group = it->second;
  std::string rel = record.path;
  if (group.avoided_damage && m_stats.avoided_damage.size() < 1000) {
    m_stats.avoided_damage.push_back(rel);  // another name of content copied afresh
  }
  if (!m_job.dry_run && ::linkat(m_dst_root.get(), group.path.c_str(), level.dst, child.name.c_str(), 0) != 0) {
    if (errno != EMLINK && errno != ENAMETOOLONG) {
      return sys_error("cannot link " + dst_path(group.path).string() + " to", dst_path(rel));
    }
    // Too many links (or a path too long to name): a copy of its own, and later names link to it.
    std::string from = group.path;
    std::size_t slash = from.rfind('/');
    Fd from_dir(slash == std::string::npos ? ::dup(m_dst_root.get())
                                           : ::openat(m_dst_root.get(), from.substr(0, slash).c_str(), k_dir_flags));
    if (!from_dir) {
      return sys_error("cannot open", dst_path(from.substr(0, slash)));
    }
    std::string from_name = slash == std::string::npos ? from : from.substr(slash + 1);
    ManifestEntry copy = group.record;
    copy.path = rel;
    SNAPKEEP_TRY(copy_from_copy(level, child, from_dir.get(), from_name, copy));
    group.path = rel;
    group.record = copy;
    record = copy;
    return true;
  }
  std::string path = record.path;
  record = group.record;
  record.path = path;
  if (record.type == EntryType::file) {
    m_stats.bytes_total += record.size;
  }
  return true;
}

// A copy of an unchanged file from a copy already on the destination (its hash is known): an
// in-kernel copy, with the source's metadata.
Status Engine::copy_from_copy(Level& level, Child& child, int from_dirfd, const std::string& from_name,
                              ManifestEntry& record) {
  std::string rel = record.path;
  Fd in(::openat(from_dirfd, from_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in) {
    return sys_error("cannot open", dst_path(rel));
  }
  Fd out(::openat(level.dst, child.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) {
    return sys_error("cannot create", dst_path(rel));
  }
  SNAPKEEP_TRY_ASSIGN(DataCopy copied, copy_file_data(in.get(), out.get(), nullptr, dst_path(rel), dst_path(rel)));
  SNAPKEEP_TRY_ASSIGN(Xattrs xattrs, read_xattrs(level.src, child.name, src_path(rel)));
  SNAPKEEP_TRY(apply_metadata(level.dst, child.name, out.get(), child.st, xattrs, dst_path(rel)));
  struct stat made {};
  if (::fstat(out.get(), &made) != 0) {
    return sys_error("cannot stat", dst_path(rel));
  }
  record.ino = made.st_ino;
  record.ctime_ns = timespec_ns(made.st_ctim);
  record.size = copied.size;
  m_stats.bytes_total += copied.size;
  return {};
}

Status Engine::regular(Level& level, Child& child, ManifestEntry& record) {
  record.size = static_cast<std::uint64_t>(child.st.st_size);
  const bool grouped = child.st.st_nlink > 1;
  if (grouped) {
    SNAPKEEP_TRY_ASSIGN(bool linked, link_group_member(level, child, record));
    if (linked) {
      return {};
    }
  }
  SNAPKEEP_TRY_ASSIGN(bool linked, link_unchanged(level, child, record));
  if (!linked) {
    SNAPKEEP_TRY_ASSIGN(bool moved, link_moved(level, child, record));
    linked = moved;
  }
  if (!linked) {
    bool skipped = false;
    SNAPKEEP_TRY(copy_regular(level, child, record, skipped));
    if (skipped) {
      return {};
    }
  }
  if (grouped) {
    const auto& avoided = m_stats.avoided_damage;
    m_groups[DevIno{child.st.st_dev, child.st.st_ino}] =
        LinkGroup{record.path, record, !avoided.empty() && avoided.back() == record.path};
  }
  return {};
}

// Same size, mtime, mode and owner (and xattrs) as the source: what rsync's --link-dest demands.
bool same_attributes(const struct stat& a, const struct stat& b) {
  return S_ISREG(b.st_mode) && a.st_mode == b.st_mode && a.st_uid == b.st_uid && a.st_gid == b.st_gid &&
         a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// Links the file to an earlier copy when it is unchanged (docs/engine.md, "the unchanged rule").
Result<bool> Engine::link_unchanged(Level& level, Child& child, ManifestEntry& record) {
  const struct stat& st = child.st;
  for (std::size_t b = 0; b < m_job.bases.size(); ++b) {
    const ManifestEntry* known = nullptr;
    bool trusted = false;  // the source identity vouches for xattrs
    if (m_job.bases[b].manifest != nullptr) {
      known = m_cursors[b].seek(record.path, m_stats.warnings);
      if (known == nullptr || known->type != EntryType::file || known->size != record.size ||
          known->mtime_ns != record.mtime_ns) {
        continue;
      }
      if (known->source && *known->source != *record.source) {
        continue;  // changed since (same size and mtime, but ctime or inode moved)
      }
      trusted = known->source.has_value();
    }
    int dir = base_dir(level, b);
    if (dir < 0) {
      continue;
    }
    struct stat old {};
    if (::fstatat(dir, child.name.c_str(), &old, AT_SYMLINK_NOFOLLOW) != 0 || !same_attributes(st, old) ||
        (known != nullptr && old.st_ino != known->ino) || damaged(old, record.path)) {
      continue;  // gone, changed on the backup, or known damaged: never linked
    }
    if (!trusted) {
      auto a = read_xattrs(level.src, child.name, src_path(record.path));
      auto o = read_xattrs(dir, child.name, m_job.bases[b].root / record.path);
      if (!a || !o || *a != *o) {
        continue;
      }
    }
    std::string hash = known != nullptr && m_job.bases[b].manifest->same_checksum() ? known->hash : std::string();
    if (m_job.dry_run) {
      ++m_stats.files_linked;
      m_stats.bytes_total += record.size;
      return true;
    }
    DevIno key{old.st_dev, old.st_ino};
    if (auto redirect = m_emlink.find(key); redirect != m_emlink.end()) {
      // This inode has no room for more links: link to the copy made instead.
      if (::linkat(m_dst_root.get(), redirect->second.c_str(), level.dst, child.name.c_str(), 0) != 0) {
        return sys_error("cannot link " + dst_path(redirect->second).string() + " to", dst_path(record.path));
      }
      struct stat made {};
      ::fstatat(level.dst, child.name.c_str(), &made, AT_SYMLINK_NOFOLLOW);
      old = made;
    } else if (::linkat(dir, child.name.c_str(), level.dst, child.name.c_str(), 0) != 0) {
      if (errno != EMLINK) {
        return sys_error("cannot link " + (m_job.bases[b].root / record.path).string() + " to", dst_path(record.path));
      }
      // EMLINK: a copy once more, and the following names of this inode link to it.
      if (hash.empty() && hashing()) {
        SNAPKEEP_TRY_ASSIGN(hash, hash_at(dir, child.name, record.path));
      }
      record.hash = hash;
      SNAPKEEP_TRY(copy_from_copy(level, child, dir, child.name, record));
      m_emlink[key] = record.path;
      ++m_stats.files_transferred;
      m_stats.bytes_transferred += record.size;
      return true;
    }
    if (hash.empty() && hashing()) {
      SNAPKEEP_TRY_ASSIGN(hash, hash_at(level.dst, child.name, record.path));
    }
    record.hash = std::move(hash);
    record.ino = old.st_ino;
    record.ctime_ns = timespec_ns(old.st_ctim);  // before this link: ctime moves with every link
    ++m_stats.files_linked;
    m_stats.bytes_total += record.size;
    return true;
  }
  return false;
}

// A file new at its path whose source inode, size and mtime match a file of the newest manifest
// (moved or renamed): linked to that copy once its hash proves the content equal.
Result<bool> Engine::link_moved(Level& level, Child& child, ManifestEntry& record) {
  if (m_moves.empty() || record.size == 0 || !hashing()) {
    return false;
  }
  const struct stat& st = child.st;
  auto range = std::equal_range(m_moves.begin(), m_moves.end(), MoveKey{st.st_ino, 0});
  for (auto it = range.first; it != range.second; ++it) {
    auto known = m_move_view->at(it->position);
    if (!known) {
      m_moves.clear();
      m_stats.warnings.push_back("no more move detection: " + known.error().describe());
      return false;
    }
    if (known->size != record.size || known->mtime_ns != record.mtime_ns || known->path == record.path) {
      continue;
    }
    int root = m_base_roots[m_move_base].get();
    struct stat old {};
    if (::fstatat(root, known->path.c_str(), &old, AT_SYMLINK_NOFOLLOW) != 0 || old.st_ino != known->ino ||
        !same_attributes(st, old) || damaged(old, record.path)) {
      continue;
    }
    std::size_t slash = known->path.rfind('/');
    Fd old_dir(slash == std::string::npos ? ::dup(root)
                                          : ::openat(root, known->path.substr(0, slash).c_str(), k_dir_flags));
    std::string old_name = slash == std::string::npos ? known->path : known->path.substr(slash + 1);
    if (!old_dir) {
      continue;
    }
    auto a = read_xattrs(level.src, child.name, src_path(record.path));
    auto o = read_xattrs(old_dir.get(), old_name, m_job.bases[m_move_base].root / known->path);
    if (!a || !o || *a != *o) {
      continue;
    }
    // The proof: the source's content hashes to the recorded hash.
    Fd in(::openat(level.src, child.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
    if (!in) {
      return false;  // the copy path will say why
    }
    auto hasher = new_hasher();
    auto read = copy_file_data(in.get(), -1, hasher.get(), src_path(record.path), {});
    if (!read) {
      return false;
    }
    m_stats.bytes_hashed += read->bytes_read;
    if (hasher->hex_digest() != known->hash) {
      continue;
    }
    if (!m_job.dry_run && ::linkat(old_dir.get(), old_name.c_str(), level.dst, child.name.c_str(), 0) != 0) {
      if (errno == EMLINK) {
        return false;
      }
      return sys_error("cannot link " + (m_job.bases[m_move_base].root / known->path).string() + " to",
                       dst_path(record.path));
    }
    record.hash = known->hash;
    record.ino = old.st_ino;
    record.ctime_ns = timespec_ns(old.st_ctim);
    ++m_stats.files_linked;
    ++m_stats.files_moved;
    m_stats.bytes_total += record.size;
    return true;
  }
  return false;
}

Status Engine::copy_regular(Level& level, Child& child, ManifestEntry& record, bool& skipped) {
  const std::string& rel = record.path;
  if (m_job.dry_run) {
    ++m_stats.files_transferred;
    m_stats.bytes_transferred += record.size;
    m_stats.bytes_total += record.size;
    return {};
  }
  Fd in(::openat(level.src, child.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
  if (!in && errno == EPERM) {
    in = Fd(::openat(level.src, child.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!in) {
    return source_failure(sys_error("cannot open", src_path(rel)), rel, skipped);
  }
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) {
    return source_failure(sys_error("cannot stat", src_path(rel)), rel, skipped);
  }
  if (!S_ISREG(st.st_mode)) {
    vanished(rel);
    skipped = true;
    return {};
  }
  child.st = st;  // what is copied is what the open file says
  record.mtime_ns = timespec_ns(st.st_mtim);
  record.source = SourceIdentity{st.st_ino, timespec_ns(st.st_ctim)};
  Xattrs xattrs;
  if (auto read = read_xattrs(level.src, child.name, src_path(rel)); read) {
    xattrs = std::move(*read);
  } else {
    return source_failure(std::move(read).error(), rel, skipped);
  }
  Fd out(::openat(level.dst, child.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) {
    return sys_error("cannot create", dst_path(rel));
  }
  auto hasher = new_hasher();
  auto copied = copy_file_data(in.get(), out.get(), hasher.get(), src_path(rel), dst_path(rel));
  if (!copied) {
    Error e = std::move(copied).error();
    if (e.path == src_path(rel) && !e.full) {
      out.reset();
      ::unlinkat(level.dst, child.name.c_str(), 0);
      return source_failure(std::move(e), rel, skipped);
    }
    return e;
  }
  SNAPKEEP_TRY(apply_metadata(level.dst, child.name, out.get(), st, xattrs, dst_path(rel)));
  struct stat made {};
  if (::fstat(out.get(), &made) != 0) {
    return sys_error("cannot stat", dst_path(rel));
  }
  if (out.close() != 0) {
    return sys_error("cannot write", dst_path(rel));
  }
  record.size = copied->size;
  record.ino = made.st_ino;
  record.ctime_ns = timespec_ns(made.st_ctim);
  record.hash = hasher ? hasher->hex_digest() : std::string();
  ++m_stats.files_transferred;
  m_stats.bytes_transferred += copied->size;
  m_stats.bytes_total += copied->size;
  m_since_checkpoint += copied->size;
  return {};
}

// Symlinks, devices, fifos and sockets: made anew (cheap), hard-linked within the snapshot as in
// the source.
Status Engine::special(Level& level, Child& child, ManifestEntry& record, bool& skipped) {
  const struct stat& st = child.st;
  const std::string& rel = record.path;
  if (st.st_nlink > 1) {
    SNAPKEEP_TRY_ASSIGN(bool linked, link_group_member(level, child, record));
    if (linked) {
      return {};
    }
  }
  std::string target;
  if (S_ISLNK(st.st_mode)) {
    target.resize(static_cast<std::size_t>(st.st_size) + 1);
    for (;;) {
      ssize_t n = ::readlinkat(level.src, child.name.c_str(), target.data(), target.size());
      if (n < 0) {
        return source_failure(sys_error("cannot read symlink", src_path(rel)), rel, skipped);
      }
      if (static_cast<std::size_t>(n) < target.size()) {
        target.resize(static_cast<std::size_t>(n));
        break;
      }
      target.resize(target.size() * 2);  // it grew since the lstat
    }
    record.size = target.size();
    if (hashing()) {
      auto hasher = new_hasher();
      hasher->update(target.data(), target.size());
      record.hash = hasher->hex_digest();
    }
  }
  if (m_job.dry_run) {
    return {};
  }
  Xattrs xattrs;
  if (auto read = read_xattrs(level.src, child.name, src_path(rel)); read) {
    xattrs = std::move(*read);
  } else {
    return source_failure(std::move(read).error(), rel, skipped);
  }
  int rc = S_ISLNK(st.st_mode) ? ::symlinkat(target.c_str(), level.dst, child.name.c_str())
                               : ::mknodat(level.dst, child.name.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev);
  if (rc != 0) {
    return sys_error(S_ISLNK(st.st_mode) ? "cannot create symlink" : "cannot create", dst_path(rel));
  }
  SNAPKEEP_TRY(apply_metadata(level.dst, child.name, -1, st, xattrs, dst_path(rel)));
  struct stat made {};
  if (::fstatat(level.dst, child.name.c_str(), &made, AT_SYMLINK_NOFOLLOW) != 0) {
    return sys_error("cannot stat", dst_path(rel));
  }
  record.ino = made.st_ino;
  record.ctime_ns = timespec_ns(made.st_ctim);
  if (st.st_nlink > 1) {
    m_groups[DevIno{st.st_dev, st.st_ino}] = LinkGroup{rel, record};
  }
  return {};
}

}  // namespace

Result<NativeCopyStats> run_native_copy(const NativeCopyJob& job) {
  Engine engine(job);
  return engine.run();
}

}  // namespace snapkeep
