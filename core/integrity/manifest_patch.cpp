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
#include <optional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/signals.hpp"
#include "core/integrity/content_identity.hpp"
#include "core/integrity/entry_hash.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_diff.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Entries of the base's pages a patch keeps in memory between its two looks at them (about 200
// bytes each); pages beyond are read twice.
constexpr std::size_t k_patch_cached_entries = 100000;

// A changed path of the new snapshot and its lstat.
struct Fresh {
  std::string path;
  struct stat st {};
};

Error too_many(std::size_t max_paths) {
  return runtime_error("more than " + std::to_string(max_paths) + " paths changed");
}

// lstats of paths below the folder `root`, none following a symlink on the way (a path the stream
// named may have become a symlink's name since). The folders of the last few paths stay open:
// changed paths come sorted, so the entries of one folder follow one another.
class Below {
 public:
  Below(int root_fd, const fs::path& root) : m_root_fd(root_fd), m_root(root) {}

  // The lstat of `rel`; false when there is no such entry.
  Result<bool> lstat(const std::string& rel, struct stat& st) {
    const auto slash = rel.rfind('/');
    int dir_fd = m_root_fd;
    if (slash != std::string::npos) {
      const std::string_view folder(rel.data(), slash);
      auto kept = std::find_if(m_folders.begin(), m_folders.end(), [&](const auto& f) { return f.first == folder; });
      if (kept != m_folders.end()) {
        std::rotate(kept, kept + 1, m_folders.end());  // the most recent last
      } else {
        open_how how{};
        how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        std::string name(folder);
        Fd fd(static_cast<int>(::syscall(SYS_openat2, m_root_fd, name.c_str(), &how, sizeof how)));
        if (!fd) {
          if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
            return false;
          }
          return sys_error("cannot look at", m_root / name);
        }
        if (m_folders.size() == k_kept) {
          m_folders.erase(m_folders.begin());
        }
        m_folders.emplace_back(std::move(name), std::move(fd));
      }
      dir_fd = m_folders.back().second.get();
    }
    const char* name = slash == std::string::npos ? rel.c_str() : rel.c_str() + slash + 1;
    if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return false;
      }
      return sys_error("cannot look at", m_root / rel);
    }
    return true;
  }

 private:
  // A file's folder and the folder holding that one, and a little more.
  static constexpr std::size_t k_kept = 4;
  int m_root_fd;
  const fs::path& m_root;
  std::vector<std::pair<std::string, Fd>> m_folders;  // the least recently used first
};

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

// Whether look_at_changes walks what lies below a named subtree.
enum class Subtrees { walked, named_only };

// The changed paths as `snapshot` (device `dev`) holds them, looked at through `below`: each named
// entry, and each named subtree with (when walked) everything below it; sorted by path, each once.
Result<std::vector<Fresh>> look_at_changes(const fs::path& snapshot, dev_t dev, Below& below,
                                           const TreeChanges& changes, std::size_t max_paths, Subtrees subtrees) {
  std::vector<Fresh> fresh;
  for (const auto& path : changes.entries) {
    Fresh f{path, {}};
    SNAPKEEP_TRY_ASSIGN(bool present, below.lstat(path, f.st));
    if (present) {
      fresh.push_back(std::move(f));
    }
  }
  for (const auto& path : changes.subtrees) {
    Fresh f{path, {}};
    SNAPKEEP_TRY_ASSIGN(bool present, below.lstat(path, f.st));
    if (!present) {
      continue;
    }
    const bool folder = S_ISDIR(f.st.st_mode) && f.st.st_dev == dev && subtrees == Subtrees::walked;
    fresh.push_back(std::move(f));
    if (folder) {
      SNAPKEEP_TRY(walk_below(snapshot, path, dev, max_paths, fresh));
    }
  }
  std::sort(fresh.begin(), fresh.end(), [](const Fresh& a, const Fresh& b) { return a.path < b.path; });
  fresh.erase(std::unique(fresh.begin(), fresh.end(), [](const Fresh& a, const Fresh& b) { return a.path == b.path; }),
              fresh.end());
  return fresh;
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

// A file's hash as PreparedPatch::hash_ahead read it from the source snapshot, with the size and
// mtime it had there.
struct AheadHash {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string hash;
};
using AheadHashes = std::unordered_map<std::string, AheadHash>;

// The most records a delta of a base of `entries` entries holds (k_min_delta_records).
std::size_t delta_record_limit(std::uint64_t entries) {
  return static_cast<std::size_t>(std::min<std::uint64_t>(
      k_patch_max_paths, std::max<std::uint64_t>(entries / k_delta_entries_divisor,
                                                 std::min<std::uint64_t>(k_min_delta_records, entries / 2))));
}

// The end of the run of pages not `touched` that starts at `first`.
std::size_t untouched_run_end(const std::vector<bool>& touched, std::size_t first) {
  std::size_t end = first;
  while (end < touched.size() && !touched[end]) {
    ++end;
  }
  return end;
}

// What clones would take of `pages`: the runs of pages not `touched` of k_min_clone_bytes and
// longer, as ManifestWriter::add_pages clones them; and whether any page is taken at all.
struct Clonable {
  std::uint64_t bytes = 0;
  std::uint64_t percent = 0;  // of the bytes of all pages
  bool any_taken = false;
};

Clonable clonable(const std::vector<ManifestPage>& pages, const std::vector<bool>& touched) {
  Clonable out;
  if (pages.empty()) {
    return out;
  }
  std::uint64_t& cloned = out.bytes;
  for (std::size_t i = 0; i < pages.size();) {
    if (touched[i]) {
      ++i;
      continue;
    }
    out.any_taken = true;
    const std::size_t end = untouched_run_end(touched, i);
    const std::uint64_t length = pages[end - 1].offset + pages[end - 1].length - pages[i].offset;
    if (length >= k_min_clone_bytes) {
      cloned += length;
    }
    i = end;
  }
  const std::uint64_t whole = pages.back().offset + pages.back().length - pages.front().offset;
  out.percent = cloned * 100 / whole;
  return out;
}

// Writes entries of changed paths: reuses a hash the parent's manifest vouches for or one hashed
// ahead, else reads. Into a whole manifest (`whole`), or a delta of the base (`delta`), which takes
// only what differs from the base: then the snapshot's totals are the parent's, adjusted.
class PatchWriter {
 public:
  // `removed`: the parent's files at changed paths, by inode: their hashes may serve the same file
  // under its new name. `parent`: the parent's totals (for a delta).
  PatchWriter(const fs::path& snapshot, const ManifestBuildOptions& options, ManifestWriter* whole,
              ManifestDeltaWriter* delta, const ManifestDeltaWriter::Totals& parent, ManifestBuildStats& stats,
              std::unordered_map<std::uint64_t, ManifestEntry> removed, const AheadHashes& ahead)
      : m_snapshot(snapshot),
        m_options(options),
        m_whole(whole),
        m_delta(delta),
        m_totals(parent),
        m_stats(stats),
        m_removed(std::move(removed)),
        m_ahead(ahead) {
    if (options.checksum != ChecksumKind::none) {
      m_hashers.emplace_back(options.checksum);
    }
  }

  // The entry of `fresh`; `same_path` is the parent's entry of its path, if any.
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
      } else if (auto ahead = m_ahead.find(fresh.path); ahead != m_ahead.end() && ahead->second.size == record.size &&
                                                        ahead->second.mtime_ns == record.mtime_ns) {
        record.hash = ahead->second.hash;
        m_stats.bytes_hashed += record.size;
        ++m_stats.files_hashed;
        ++m_stats.files_hashed_ahead;
        m_hashed[record.ino] = record.hash;
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
    if (same_path != nullptr) {
      tally(*same_path, -1);
    }
    tally(record, 1);
    const bool linked = S_ISREG(fresh.st.st_mode) && fresh.st.st_nlink > 1;
    return m_delta != nullptr ? m_delta->add(record, linked) : add(record, linked);
  }

  // A parent entry the changes removed; `in_base`: the base holds its path.
  Status deleted(const ManifestEntry& entry, bool in_base) {
    count_change(PathChange::deleted, m_changes);
    tally(entry, -1);
    return m_delta != nullptr && in_base ? m_delta->remove(entry.path) : Status{};
  }
  // A path of the base the parent lacked already, and the new snapshot lacks too.
  Status gone(const std::string& path) { return m_delta != nullptr ? m_delta->remove(path) : Status{}; }
  const ChangeCounts& changes() const { return m_changes; }

  // A parent entry nothing changed; `linked` as the parent's manifest says; `overlaid`: a record of
  // the parent's delta, not the base's (a delta takes it again).
  Status carried(const ManifestEntry& entry, bool linked, bool overlaid) {
    if (m_delta != nullptr) {
      return overlaid ? m_delta->add(entry, linked) : Status{};
    }
    return add(entry, linked);
  }

  // The base's pages [first, end), which nothing changed, as they are (a whole manifest only).
  Status pages(const ManifestIndex& base, std::size_t first, std::size_t end) {
    const auto& pages = base.pages();
    const auto& links = base.links();
    auto by_path = [](const ManifestLink& link, std::string_view path) { return link.path < path; };
    auto from = std::lower_bound(links.begin(), links.end(), std::string_view(pages[first].first), by_path);
    auto to = end < pages.size() ? std::lower_bound(from, links.end(), std::string_view(pages[end].first), by_path)
                                 : links.end();
    for (std::size_t i = first; i < end; ++i) {
      m_stats.entries += pages[i].count;
      m_stats.files += pages[i].files;
      m_stats.bytes += pages[i].bytes;
    }
    m_stats.base_pages_taken += end - first;
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    return m_whole->add_pages(base, first, end, std::vector<ManifestLink>(from, to));
  }

  // A delta's totals: the parent's, with what the changes added and removed.
  const ManifestDeltaWriter::Totals& totals() const { return m_totals; }

 private:
  void tally(const ManifestEntry& entry, int sign) {
    const auto step = [sign](std::uint64_t& total, std::uint64_t amount) {
      total = sign > 0 ? total + amount : total - amount;
    };
    step(m_totals.entries, 1);
    if (entry.type == EntryType::file) {
      step(m_totals.files, 1);
      step(m_totals.bytes, entry.size);
    }
  }

  Status add(const ManifestEntry& record, bool linked) {
    if (record.type == EntryType::file) {
      ++m_stats.files;
      m_stats.bytes += record.size;
    }
    ++m_stats.entries;
    if ((m_stats.entries & 4095) == 0 && stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    return m_whole->add(record, linked);
  }

  const fs::path& m_snapshot;
  const ManifestBuildOptions& m_options;
  ManifestWriter* m_whole;
  ManifestDeltaWriter* m_delta;
  ManifestDeltaWriter::Totals m_totals;
  ManifestBuildStats& m_stats;
  std::vector<Hasher> m_hashers;
  std::unordered_map<std::uint64_t, ManifestEntry> m_removed;
  std::unordered_map<std::uint64_t, std::string> m_hashed;
  const AheadHashes& m_ahead;
  ChangeCounts m_changes;
};

}  // namespace

struct PreparedPatch::State {
  TreeChanges changes;
  fs::path base_manifest;  // the parent's
  // The whole manifest the pages come from: the parent's, or the one the parent's delta amends,
  // whose records then overlay its pages (the parent's view), with the parent's totals.
  std::string base_id;
  std::string base_checksum;
  std::vector<ManifestDeltaRecord> overlay;
  ManifestDeltaWriter::Totals parent_totals;
  ChecksumKind checksum = ChecksumKind::xxh128;
  std::size_t max_paths = 0;
  std::optional<ManifestIndex> base;
  std::optional<ChangedPaths> changed;  // views into `changes`
  std::uint64_t base_extents = 0;
  // Base pages the changes fall in, and the inodes whose other names (base links) are looked at again.
  std::vector<bool> touched;
  std::unordered_set<std::uint64_t> relook;
  // The files the changes removed or replaced, by inode: their hashes may serve the same file under
  // a new name. The pages read on the way, for the merge, up to k_patch_cached_entries.
  std::unordered_map<std::uint64_t, ManifestEntry> removed;
  std::unordered_map<std::size_t, std::vector<ManifestEntry>> cached;
  std::uint64_t covered = 0;      // entries of the base the changes cover (a delta may remove them)
  AheadHashes ahead;              // hash_ahead's, by path
  std::uint64_t ahead_bytes = 0;  // and the bytes it read
  bool written = false;
};

PreparedPatch::PreparedPatch(std::unique_ptr<State> state) : m_state(std::move(state)) {}
PreparedPatch::PreparedPatch(PreparedPatch&&) noexcept = default;
PreparedPatch::~PreparedPatch() = default;

Result<PreparedPatch> PreparedPatch::prepare(const fs::path& base_manifest, TreeChanges changes, ChecksumKind checksum,
                                             std::size_t max_paths) {
  if (changes.entries.size() + changes.subtrees.size() > max_paths) {
    return too_many(max_paths);
  }
  auto state = std::make_unique<State>();
  state->changes = std::move(changes);
  state->base_manifest = base_manifest;
  state->checksum = checksum;
  state->max_paths = max_paths;
  const TreeChanges& changed_paths = state->changes;

  // The base: its header and tables, checked. It must list its links: the inodes whose other names
  // (hard links the changes did not name) must be looked at again, because a link gained or lost,
  // or data written through another name, changes the inode's ctime under every name.
  // A delta amends a whole manifest: its pages, overlaid by the delta's records.
  Result<ManifestIndex> opened = runtime_error("not opened");
  auto delta_base = manifest_base_of(base_manifest);
  if (delta_base && *delta_base) {
    auto delta = read_manifest_delta(base_manifest);
    if (!delta) {
      return runtime_error("the manifest of " + changed_paths.base + " cannot be used: " + delta.error().describe());
    }
    opened = open_delta_base(base_manifest, delta->header);
    state->base_id = delta->header.base;
    state->base_checksum = delta->header.base_checksum;
    state->overlay = std::move(delta->records);
    state->parent_totals = {delta->header.total_entries, delta->header.total_files, delta->header.total_bytes};
    if (delta->header.checksum != checksum) {
      return runtime_error("the manifest of " + changed_paths.base + " holds other hashes than the preset's checksum",
                           base_manifest);
    }
    if (!delta->header.links) {
      return runtime_error("the manifest of " + changed_paths.base + " lists no hard links", base_manifest);
    }
  } else {
    opened = ManifestIndex::open(base_manifest);
    state->base_id = changed_paths.base;
  }
  if (!opened) {
    return runtime_error("the manifest of " + changed_paths.base + " cannot be used: " + opened.error().describe());
  }
  const ManifestIndex& base = state->base.emplace(std::move(opened).value());
  if (state->overlay.empty() && state->base_checksum.empty()) {
    state->base_checksum = base.checksum();
    for (const auto& page : base.pages()) {
      state->parent_totals.entries += page.count;
      state->parent_totals.files += page.files;
      state->parent_totals.bytes += page.bytes;
    }
  }
  if (base.header().checksum != checksum) {
    return runtime_error("the manifest of " + changed_paths.base + " holds other hashes than the preset's checksum",
                         base_manifest);
  }
  if (!base.header().links) {
    return runtime_error("the manifest of " + changed_paths.base + " lists no hard links", base_manifest);
  }
  if (auto counted = count_extents(base.fd(), base_manifest); counted) {
    state->base_extents = *counted;
  } else {
    spdlog::debug("{}", counted.error().describe());  // then the pages are cloned, as ever
  }
  const ChangedPaths& changed = state->changed.emplace(changed_paths);
  const auto& pages = base.pages();
  for (const auto& link : base.links()) {
    if (changed.covers(link.path)) {
      state->relook.insert(link.ino);
    }
  }
  for (const auto& record : state->overlay) {
    if (record.linked && changed.covers(record.entry.path)) {
      state->relook.insert(record.entry.ino);
    }
  }
  if (state->relook.size() > max_paths) {
    return too_many(max_paths);
  }

  // The pages the changes fall in: every other page is taken as it is. A changed path falls in the
  // page it sorts into, a subtree in the pages its range spans. write() adds the pages of paths
  // found below subtrees and of other names of linked files.
  std::vector<bool>& touched = state->touched;
  touched.assign(pages.size(), false);
  if (!pages.empty()) {
    for (const auto& path : changed_paths.entries) {
      touched[base.page_of(path)] = true;
    }
    for (const auto& path : changed_paths.subtrees) {
      touched[base.page_of(path)] = true;
      // Below `path`: the paths from "path/" up to (not including) "path0", '0' following '/'.
      const std::size_t to = base.page_of(path + "0");
      for (std::size_t i = base.page_of(path + "/"); i <= to; ++i) {
        touched[i] = true;
      }
    }
    for (const auto& link : base.links()) {
      if (state->relook.count(link.ino) > 0) {
        touched[base.page_of(link.path)] = true;
      }
    }
    for (const auto& record : state->overlay) {
      if (!record.removed && state->relook.count(record.entry.ino) > 0) {
        touched[base.page_of(record.entry.path)] = true;
      }
    }
  }

  // Every path the changes cover lies in a page touched above: read them for the removed files.
  std::size_t cached_entries = 0;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    if (!touched[i]) {
      continue;
    }
    SNAPKEEP_TRY_ASSIGN(std::vector<ManifestEntry> records, base.read_page(i));
    for (const auto& entry : records) {
      const bool covered = changed.covers(entry.path);
      state->covered += covered ? 1 : 0;
      if (entry.type == EntryType::file && !entry.hash.empty() && covered) {
        if (state->removed.size() >= max_paths) {
          return too_many(max_paths);
        }
        state->removed[entry.ino] = entry;
      }
    }
    if (cached_entries + records.size() <= k_patch_cached_entries) {
      cached_entries += records.size();
      state->cached.emplace(i, std::move(records));
    }
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
  }
  // The parent's own files at changed paths, where its delta overlays the base (they
  // replace the base's of the same inode).
  for (const auto& record : state->overlay) {
    if (!record.removed && record.entry.type == EntryType::file && !record.entry.hash.empty() &&
        changed.covers(record.entry.path)) {
      if (state->removed.size() >= max_paths) {
        return too_many(max_paths);
      }
      state->removed[record.entry.ino] = record.entry;
    }
  }
  // The pages write() will take as they are, checked now in a few large reads rather than one run
  // at a time when they are taken (pages write() finds touched after all were checked for nothing).
  // A delta takes none, but it amends them: it must not amend a damaged manifest either.
  SNAPKEEP_TRY(state->base->check_pages_ahead(touched));
  return PreparedPatch(std::move(state));
}

Status PreparedPatch::hash_ahead(const fs::path& source) {
  State& state = *m_state;
  if (state.checksum == ChecksumKind::none) {
    return {};
  }
  Fd root(::open(source.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat root_st {};
  if (!root || ::fstat(root.get(), &root_st) != 0) {
    return sys_error("cannot read snapshot", source);
  }
  Below below(root.get(), source);
  // Not below a named subtree: that is a renamed folder, whose files keep their content and their
  // hashes (a new file is named itself, as the target of its rename from a temporary name).
  SNAPKEEP_TRY_ASSIGN(std::vector<Fresh> paths, look_at_changes(source, root_st.st_dev, below, state.changes,
                                                                state.max_paths, Subtrees::named_only));
  std::vector<Hasher> hashers;
  hashers.emplace_back(state.checksum);
  std::uint64_t total = 0;
  for (const auto& f : paths) {
    const auto size = static_cast<std::uint64_t>(f.st.st_size);
    if (!S_ISREG(f.st.st_mode) || size > k_hash_ahead_file_bytes || total + size > k_hash_ahead_bytes) {
      continue;
    }
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    ManifestEntry record = entry_from_stat(f.path, f.st);
    // The size and mtime as the open file had them while it was read.
    SNAPKEEP_TRY(hash_entry(source / f.path, hashers, record, total));
    state.ahead[f.path] = AheadHash{record.size, record.mtime_ns, std::move(record.hash)};
  }
  state.ahead_bytes = total;
  return {};
}

std::pair<std::size_t, std::uint64_t> PreparedPatch::hashed_ahead() const {
  return {m_state->ahead.size(), m_state->ahead_bytes};
}

Result<PreparedPatch::Written> PreparedPatch::write(const fs::path& snapshot, const std::string& id,
                                                    const fs::path& manifest_file,
                                                    const ManifestBuildOptions& options) {
  State& state = *m_state;
  if (state.written) {
    return runtime_error("internal error: a prepared manifest patch is written twice", manifest_file);
  }
  state.written = true;
  if (options.checksum != state.checksum) {
    return runtime_error("internal error: a manifest patch prepared for another checksum", manifest_file);
  }
  const TreeChanges& changes = state.changes;
  const std::size_t max_paths = state.max_paths;
  Fd root(::open(snapshot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat root_st {};
  if (!root || ::fstat(root.get(), &root_st) != 0) {
    return sys_error("cannot read snapshot", snapshot);
  }
  Below below(root.get(), snapshot);
  SNAPKEEP_TRY_ASSIGN(std::vector<Fresh> fresh,
                      look_at_changes(snapshot, root_st.st_dev, below, changes, max_paths, Subtrees::walked));

  const ManifestIndex& base = *state.base;
  const ChangedPaths& changed = *state.changed;
  const auto& pages = base.pages();
  const auto& links = base.links();
  std::unordered_set<std::uint64_t>& relook = state.relook;
  std::vector<bool>& touched = state.touched;
  std::unordered_set<std::uint64_t> linked_fresh;  // relooked because of what write() found
  for (const auto& f : fresh) {
    if (S_ISREG(f.st.st_mode) && f.st.st_nlink > 1 && relook.insert(f.st.st_ino).second) {
      linked_fresh.insert(f.st.st_ino);
    }
  }
  if (relook.size() > max_paths) {
    return too_many(max_paths);
  }
  const auto& overlay = state.overlay;
  // A delta while it stays small; else a whole manifest, which takes the parent's records into
  // the base's pages (and the next delta starts from it). The delta's records: the parent's, and
  // the changed paths' or the base's they cover and may remove, whichever are more (a rewritten
  // file is both), so at most twice the limit. A new snapshot under the base's id (an id used
  // again) gets a whole manifest: a delta never amends its own id.
  const bool as_delta =
      options.deltas && id != state.base_id &&
      overlay.size() + std::max<std::uint64_t>(fresh.size(), state.covered) <= delta_record_limit(base.entry_count());
  if (!pages.empty()) {
    for (const auto& f : fresh) {
      touched[base.page_of(f.path)] = true;
    }
    for (const auto& link : links) {
      if (linked_fresh.count(link.ino) > 0) {
        touched[base.page_of(link.path)] = true;
      }
    }
    for (const auto& record : overlay) {
      if (!as_delta || (!record.removed && relook.count(record.entry.ino) > 0)) {
        touched[base.page_of(record.entry.path)] = true;
      }
    }
  }

  ManifestBuildStats stats;
  std::optional<ManifestWriter> whole;
  std::optional<ManifestDeltaWriter> delta;
  if (as_delta) {
    ManifestHeader header = new_manifest_header(id, options);
    header.base = state.base_id;
    header.base_checksum = state.base_checksum;
    delta.emplace(header);
    stats.delta = true;
    stats.delta_base = state.base_id;
  } else {
    SNAPKEEP_TRY_ASSIGN(ManifestWriter writer, ManifestWriter::create(manifest_file, new_manifest_header(id, options)));
    whole.emplace(std::move(writer));
    stats.base_extents = state.base_extents;
    const Clonable would_clone = clonable(pages, touched);
    stats.base_cloned_percent = would_clone.percent;
    if (state.base_extents * k_min_pages_per_extent > pages.size()) {
      stats.base_copy = ManifestBuildStats::BaseCopy::fragmented;
    } else if (would_clone.any_taken && would_clone.percent < k_min_cloned_percent &&
               would_clone.bytes < k_max_copied_clonable_bytes) {
      stats.base_copy = ManifestBuildStats::BaseCopy::little_to_clone;
    }
    if (stats.base_copy != ManifestBuildStats::BaseCopy::cloned) {
      whole->copy_taken_pages();
    }
  }
  PatchWriter out(snapshot, options, whole ? &*whole : nullptr, delta ? &*delta : nullptr, state.parent_totals, stats,
                  std::move(state.removed), state.ahead);
  auto linked = [&](const std::string& path) {
    auto it = std::lower_bound(links.begin(), links.end(), path,
                               [](const ManifestLink& link, const std::string& p) { return link.path < p; });
    return it != links.end() && it->path == path;
  };

  // One entry of the parent's manifest, in path order, after the changed paths before it: looked at
  // again, removed, or carried. `in_base`: the base holds its path; `overlaid`: it is a record of
  // the parent's delta; `gone`: that record removes the base's entry.
  std::size_t next = 0;
  auto parent_entry = [&](const ManifestEntry& entry, bool in_base, bool overlaid, bool is_linked,
                          bool gone) -> Status {
    while (next < fresh.size() && fresh[next].path < entry.path) {
      SNAPKEEP_TRY(out.fresh(fresh[next++], nullptr));
    }
    if (next < fresh.size() && fresh[next].path == entry.path) {
      return out.fresh(fresh[next++], gone ? nullptr : &entry);
    }
    if (gone) {
      return in_base ? out.gone(entry.path) : Status{};
    }
    if (changed.covers(entry.path)) {
      return out.deleted(entry, in_base);
    }
    if (entry.type == EntryType::file && relook.count(entry.ino) > 0) {
      Fresh again{entry.path, {}};
      SNAPKEEP_TRY_ASSIGN(bool present, below.lstat(entry.path, again.st));
      return present ? out.fresh(again, &entry) : out.deleted(entry, in_base);
    }
    return out.carried(entry, is_linked, overlaid);
  };
  // The overlay's records, by the page of the base they fall in (found once each: the merge below
  // asks for every record of a touched page).
  std::vector<std::size_t> overlay_pages;
  overlay_pages.reserve(overlay.size());
  for (const auto& record : overlay) {
    overlay_pages.push_back(pages.empty() ? 0 : base.page_of(record.entry.path));
  }
  std::size_t overlay_next = 0;
  auto overlay_in = [&](std::size_t page) {
    return overlay_next < overlay.size() && (pages.empty() || overlay_pages[overlay_next] <= page);
  };

  // The pages in order: untouched runs taken whole (a delta takes nothing of them but the parent's
  // records there), touched pages merged with the parent's records and the changed paths.
  for (std::size_t i = 0; i < pages.size();) {
    if (!touched[i]) {
      const std::size_t end = untouched_run_end(touched, i);
      if (next < fresh.size() && (end == pages.size() || fresh[next].path < pages[end].first)) {
        return runtime_error("internal error: a changed path falls in a page taken as it is", fresh[next].path);
      }
      if (whole) {
        if (overlay_in(end - 1)) {
          return runtime_error("internal error: a record of the parent's delta falls in a page taken as it is",
                               overlay[overlay_next].entry.path);
        }
        SNAPKEEP_TRY(out.pages(base, i, end));
      } else {
        // Nothing here is changed or looked at again (their pages are touched): each is carried, or
        // stays removed from the base (`in_base` matters to nothing else).
        while (overlay_in(end - 1)) {
          const ManifestDeltaRecord& record = overlay[overlay_next++];
          SNAPKEEP_TRY(parent_entry(record.entry, record.removed, true, record.linked, record.removed));
        }
      }
      i = end;
      continue;
    }
    std::vector<ManifestEntry> records;
    if (auto it = state.cached.find(i); it != state.cached.end()) {
      records = std::move(it->second);
    } else {
      SNAPKEEP_TRY_ASSIGN(records, base.read_page(i));
    }
    ++stats.base_pages_read;
    for (std::size_t r = 0; r < records.size() || overlay_in(i);) {
      if (overlay_in(i) && (r == records.size() || !(records[r].path < overlay[overlay_next].entry.path))) {
        const ManifestDeltaRecord& record = overlay[overlay_next++];
        const bool in_base = r < records.size() && records[r].path == record.entry.path;
        r += in_base ? 1 : 0;
        SNAPKEEP_TRY(parent_entry(record.entry, in_base, true, record.linked, record.removed));
      } else {
        const ManifestEntry& entry = records[r++];
        SNAPKEEP_TRY(parent_entry(entry, true, false, linked(entry.path), false));
      }
    }
    ++i;
    while (next < fresh.size() && (i == pages.size() || fresh[next].path < pages[i].first)) {
      SNAPKEEP_TRY(out.fresh(fresh[next++], nullptr));
    }
  }
  while (overlay_next < overlay.size()) {  // an empty base
    const ManifestDeltaRecord& record = overlay[overlay_next++];
    SNAPKEEP_TRY(parent_entry(record.entry, false, true, record.linked, record.removed));
  }
  while (next < fresh.size()) {
    SNAPKEEP_TRY(out.fresh(fresh[next++], nullptr));
  }
  stats.changes = out.changes();
  if (delta) {
    const ManifestDeltaWriter::Totals& totals = out.totals();
    stats.entries = totals.entries;
    stats.files = totals.files;
    stats.bytes = totals.bytes;
    stats.delta_records = delta->records();
    SNAPKEEP_TRY(delta->seal(manifest_file, totals));
  } else {
    SNAPKEEP_TRY(whole->seal());
    stats.base_pages_cloned = whole->pages_cloned();
  }
  return Written{stats, std::move(whole), std::move(delta)};
}

Result<ManifestBuildStats> patch_manifest(const fs::path& snapshot, const std::string& id,
                                          const fs::path& manifest_file, const fs::path& base_manifest,
                                          const TreeChanges& changes, const ManifestBuildOptions& options,
                                          std::size_t max_paths) {
  SNAPKEEP_TRY_ASSIGN(PreparedPatch prepared,
                      PreparedPatch::prepare(base_manifest, changes, options.checksum, max_paths));
  SNAPKEEP_TRY_ASSIGN(PreparedPatch::Written written, prepared.write(snapshot, id, manifest_file, options));
  SNAPKEEP_TRY(written.commit(ManifestWriter::Durability::sync));
  return written.stats;
}

}  // namespace snapkeep
