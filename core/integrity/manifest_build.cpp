#include "core/integrity/manifest_build.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>

#include <spdlog/spdlog.h>

#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/base/signals.hpp"
#include "core/config/units.hpp"
#include "core/integrity/content_identity.hpp"
#include "core/integrity/entry_hash.hpp"
#include "core/integrity/external_sort.hpp"
#include "core/integrity/hashing.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_patch.hpp"
#include "core/integrity/record_bytes.hpp"
#include "core/integrity/work_file.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Every field of ManifestEntry travels through the sorts below (entry_record/parse_entry): a new
// field must be added there too.
static_assert(sizeof(ManifestEntry) == 128, "ManifestEntry changed: carry the new field in entry_record/parse_entry");

Error interrupted() {
  return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
}

// A walked entry, sorted by inode number (then path): hard links of one inode come together and
// files are read in the order of their inodes.
void walked_record(RecordBuilder& out, const struct stat& st, std::string_view path) {
  out.clear();
  out.var(st.st_ino);
  out.ordered_text(path);
  out.var(static_cast<std::uint64_t>(st.st_dev));
  out.var(st.st_mode);
  out.var(static_cast<std::uint64_t>(st.st_size));
  out.i64(timespec_ns(st.st_mtim));
  out.i64(timespec_ns(st.st_ctim));
  out.var(st.st_nlink);
}

// The stat fields a walked record keeps, and its path.
struct Walked {
  struct stat st {};
  std::string_view path;
};

Walked parse_walked(std::string_view record) {
  RecordParser in(record);
  Walked w;
  w.st.st_ino = static_cast<ino_t>(in.var());
  w.path = in.ordered_text();
  w.st.st_dev = static_cast<dev_t>(in.var());
  w.st.st_mode = static_cast<mode_t>(in.var());
  w.st.st_size = static_cast<off_t>(in.var());
  std::int64_t mtime = in.i64();
  std::int64_t ctime = in.i64();
  w.st.st_mtim = timespec{static_cast<time_t>(mtime / 1000000000), static_cast<long>(mtime % 1000000000)};
  w.st.st_ctim = timespec{static_cast<time_t>(ctime / 1000000000), static_cast<long>(ctime % 1000000000)};
  w.st.st_nlink = static_cast<nlink_t>(in.var());
  return w;
}

// Appends a finished manifest entry; on its own it sorts by path bytes (the manifest's order).
// `linked`: its inode has other links (ManifestWriter::add).
void entry_record(RecordBuilder& out, const ManifestEntry& e, bool linked = false) {
  out.ordered_text(e.path);
  out.u8(static_cast<std::uint8_t>(e.type));
  out.var(e.size);
  out.i64(e.mtime_ns);
  out.var(e.ino);
  out.i64(e.ctime_ns);
  out.u8(static_cast<std::uint8_t>((e.source ? 1 : 0) | (linked ? 2 : 0)));
  if (e.source) {
    out.var(e.source->ino);
    out.i64(e.source->ctime_ns);
  }
  out.hex(e.hash);
}

// Reads an entry_record back; returns whether it was linked.
bool parse_entry(std::string_view record, ManifestEntry& e) {
  RecordParser in(record);
  e.path.assign(in.ordered_text());
  e.type = static_cast<EntryType>(in.u8());
  e.size = in.var();
  e.mtime_ns = in.i64();
  e.ino = in.var();
  e.ctime_ns = in.i64();
  const std::uint8_t flags = in.u8();
  if ((flags & 1) != 0) {
    SourceIdentity source;
    source.ino = in.var();
    source.ctime_ns = in.i64();
    e.source = source;
  } else {
    e.source.reset();
  }
  e.hash = in.hex();
  return (flags & 2) != 0;
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

// One open folder of the walk, read entry by entry.
struct WalkLevel {
  std::unique_ptr<DIR, DirCloser> dir;
  std::string rel;  // its path relative to the root ("" for the root)
};

// Opens folder `name` of `parent` (or `path` itself when parent is null) for reading.
Result<std::unique_ptr<DIR, DirCloser>> open_folder(DIR* parent, const char* name, const fs::path& path) {
  int fd = parent == nullptr ? ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                             : ::openat(::dirfd(parent), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  Fd owned(fd);
  if (!owned) {
    return sys_error(parent == nullptr ? "cannot walk snapshot" : "cannot read", path);
  }
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(owned.get()));
  if (!dir) {
    return sys_error("cannot read", path);
  }
  owned.release();  // the DIR owns it now
  return dir;
}

// Adds every entry below root (not root itself) to `by_inode`, without following symlinks or
// descending into other filesystems. Folders are read as streams: memory is one open folder per
// level of depth, however many entries a folder has.
Result<std::uint64_t> walk_tree(const fs::path& root, ExternalSorter& by_inode) {
  SNAPKEEP_TRY_ASSIGN(auto top, open_folder(nullptr, nullptr, root));
  struct stat root_st {};
  if (::fstat(::dirfd(top.get()), &root_st) != 0) {
    return sys_error("cannot walk snapshot", root);
  }
  std::vector<WalkLevel> stack;
  stack.push_back(WalkLevel{std::move(top), {}});
  RecordBuilder record;
  std::uint64_t entries = 0;
  while (!stack.empty()) {
    WalkLevel& level = stack.back();
    errno = 0;
    const struct dirent* entry = ::readdir(level.dir.get());
    if (entry == nullptr) {
      if (errno != 0) {
        return sys_error("cannot read", root / level.rel);
      }
      stack.pop_back();
      continue;
    }
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    std::string rel = level.rel.empty() ? std::string(name) : level.rel + "/" + std::string(name);
    struct stat st {};
    if (::fstatat(::dirfd(level.dir.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return sys_error("cannot read", root / rel);
    }
    if ((entries & 1023) == 0 && stop_signal() != 0) {
      return interrupted();
    }
    walked_record(record, st, rel);
    SNAPKEEP_TRY(by_inode.add(record.view()));
    ++entries;
    if (S_ISDIR(st.st_mode) && st.st_dev == root_st.st_dev) {
      SNAPKEEP_TRY_ASSIGN(auto sub, open_folder(level.dir.get(), entry->d_name, root / rel));
      stack.push_back(WalkLevel{std::move(sub), std::move(rel)});  // `level` is not used after this
    }
  }
  return entries;
}

// Whether the previous manifest may vouch for files of `snapshot` at all.
bool may_reuse_from(const ManifestBuildOptions& options, const fs::path& snapshot) {
  if (!options.previous_manifest || options.checksum == ChecksumKind::none) {
    return false;
  }
  if (options.content_sharing == ContentSharing::hard_links && options.previous_snapshot) {
    // Inode numbers of another filesystem name other files.
    struct stat a {};
    struct stat b {};
    return ::stat(options.previous_snapshot->c_str(), &a) == 0 && ::stat(snapshot.c_str(), &b) == 0 &&
           a.st_dev == b.st_dev;
  }
  return true;
}

// Adds the regular files of the previous manifest to `known`, by inode number then position (the
// last record of an inode wins, as in the manifest). False when nothing may be reused from it.
Result<bool> load_previous(const ManifestBuildOptions& options, const fs::path& snapshot, ExternalSorter& known) {
  if (!may_reuse_from(options, snapshot)) {
    return false;
  }
  auto opened = open_manifest(*options.previous_manifest);
  if (opened.state != ManifestState::ok) {
    if (opened.state != ManifestState::missing) {
      spdlog::warn("not reusing hashes of {}: {}", options.previous_manifest->string(), opened.reason);
    }
    return false;
  }
  if (opened.reader->header().checksum != options.checksum) {
    return false;
  }
  ManifestEntry entry;
  RecordBuilder record;
  for (std::uint64_t position = 0;; ++position) {
    auto more = opened.reader->next(entry);
    if (!more) {
      spdlog::warn("not reusing hashes: {}", more.error().describe());
      return false;
    }
    if (!*more) {
      return true;
    }
    if (entry.type == EntryType::file && !entry.hash.empty()) {
      record.clear();
      record.var(entry.ino);
      record.var(position);
      entry.path.clear();
      entry_record(record, entry);
      SNAPKEEP_TRY(known.add(record.view()));
    }
  }
}

// Walks the previous manifest's files along ascending inode numbers.
class KnownFiles {
 public:
  explicit KnownFiles(std::optional<SortedRecords> records) : m_records(std::move(records)) {}

  // The previous manifest's last record of inode `ino`, or null. Inode numbers must be asked in
  // ascending order (the same one again is fine: hard links).
  Result<const ManifestEntry*> find(std::uint64_t ino) {
    if (m_found && m_found_ino == ino) {
      return &m_entry;
    }
    m_found = false;
    if (!m_started) {
      m_started = true;
      SNAPKEEP_TRY(advance());
    }
    while (m_ahead && m_ahead_ino < ino) {
      SNAPKEEP_TRY(advance());
    }
    while (m_ahead && m_ahead_ino == ino) {  // the last record of an inode wins
      parse_entry(m_ahead_entry, m_entry);
      m_found = true;
      m_found_ino = ino;
      SNAPKEEP_TRY(advance());
    }
    return m_found ? &m_entry : nullptr;
  }

 private:
  // Reads the next record ahead.
  Status advance() {
    m_ahead = false;
    if (!m_records) {
      return {};
    }
    std::string_view bytes;
    SNAPKEEP_TRY_ASSIGN(bool more, m_records->next(bytes));
    if (!more) {
      m_records.reset();
      return {};
    }
    RecordParser in(bytes);
    m_ahead_ino = in.var();
    in.var();  // the position in the manifest, which only orders records of one inode
    m_ahead_entry.assign(in.rest());
    m_ahead = true;
    return {};
  }

  std::optional<SortedRecords> m_records;
  bool m_started = false;
  bool m_ahead = false;
  std::uint64_t m_ahead_ino = 0;
  std::string m_ahead_entry;
  bool m_found = false;
  std::uint64_t m_found_ino = 0;
  ManifestEntry m_entry;
};

// Hashes or reuses the hash of each regular file and symlink of a snapshot, in inode order.
class EntryHasher {
 public:
  EntryHasher(const ManifestBuildOptions& options, KnownFiles& previous, ManifestBuildStats& stats, std::uint64_t total)
      : m_options(options), m_previous(previous), m_stats(stats), m_total(total) {
    if (options.checksum != ChecksumKind::none) {
      m_hashers.emplace_back(options.checksum);
    }
  }

  // Sets record.hash for the entry at `full` (lstat as walked: `st`). A file is reused from the
  // previous manifest or an earlier hard link when allowed, else read: the record then takes size
  // and times from the file as read. Fails on a read error.
  Status fill(const fs::path& full, const struct stat& st, ManifestEntry& record) {
    if (record.type == EntryType::file && !m_hashers.empty()) {
      SNAPKEEP_TRY_ASSIGN(const ManifestEntry* before, m_previous.find(record.ino));
      if (before != nullptr && may_reuse_hash(*before, st, m_options.content_sharing)) {
        record.hash = before->hash;
        ++m_stats.files_reused;
        return {};
      }
      if (m_hashed_any && m_hashed_ino == record.ino) {  // a hard link within this snapshot
        record.hash = m_hashed;
        ++m_stats.files_reused;
        return {};
      }
    }
    SNAPKEEP_TRY(hash_entry(full, m_hashers, record, m_stats.bytes_hashed));
    if (record.type != EntryType::file || m_hashers.empty()) {
      return {};
    }
    ++m_stats.files_hashed;
    m_hashed_any = true;
    m_hashed_ino = record.ino;
    m_hashed = record.hash;
    if (m_options.progress != nullptr) {
      m_options.progress->update("manifest: " + format_bytes(m_stats.bytes_hashed) + " hashed, " +
                                     std::to_string(m_stats.entries) + " of " + std::to_string(m_total) + " entries",
                                 {m_stats.entries, m_stats.bytes_hashed});
    }
    return {};
  }

 private:
  const ManifestBuildOptions& m_options;
  KnownFiles& m_previous;
  ManifestBuildStats& m_stats;
  std::uint64_t m_total;
  std::vector<Hasher> m_hashers;
  bool m_hashed_any = false;  // the inode hashed last, and its hash
  std::uint64_t m_hashed_ino = 0;
  std::string m_hashed;
};

// Makes the entry of every walked record (in inode order) and adds it to `by_path`.
Status make_entries(const fs::path& snapshot, SortedRecords& walk, EntryHasher& hasher, ExternalSorter& by_path,
                    ManifestBuildStats& stats) {
  ManifestEntry record;
  RecordBuilder bytes;
  std::string_view walked;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, walk.next(walked));
    if (!more) {
      return by_path.finish();
    }
    if (stop_signal() != 0) {
      return interrupted();
    }
    Walked w = parse_walked(walked);
    record = entry_from_stat(w.path, w.st);
    stats.files += record.type == EntryType::file ? 1 : 0;
    SNAPKEEP_TRY(hasher.fill(snapshot / w.path, w.st, record));
    stats.bytes += record.type == EntryType::file ? record.size : 0;
    bytes.clear();
    entry_record(bytes, record, w.st.st_nlink > 1);
    SNAPKEEP_TRY(by_path.add(bytes.view()));
    ++stats.entries;
  }
}

// Writes the entries of `by_path` as the manifest `file` of snapshot `id`.
Status write_manifest(const ExternalSorter& by_path, const fs::path& file, const std::string& id,
                      const ManifestBuildOptions& options) {
  SNAPKEEP_TRY_ASSIGN(ManifestWriter writer, ManifestWriter::create(file, new_manifest_header(id, options)));
  SNAPKEEP_TRY_ASSIGN(SortedRecords sorted, by_path.stream());
  ManifestEntry record;
  std::string_view bytes;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, sorted.next(bytes));
    if (!more) {
      return writer.commit();
    }
    const bool linked = parse_entry(bytes, record);
    SNAPKEEP_TRY(writer.add(record, linked));
  }
}

}  // namespace

ManifestHeader new_manifest_header(const std::string& id, const ManifestBuildOptions& options) {
  ManifestHeader header;
  header.checksum = options.checksum;
  header.snapshot_id = id;
  header.origin = options.origin;
  // A link count says something about other names only where a snapshot is a filesystem tree of its
  // own (btrfs); in a hard-link tree every unchanged file has links in other snapshots.
  header.links = options.content_sharing == ContentSharing::extent_lineage;
  header.created_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return header;
}

Result<ManifestBuildStats> build_manifest(const fs::path& snapshot, const std::string& id,
                                          const fs::path& manifest_file, const ManifestBuildOptions& options) {
  ManifestBuildStats stats;
  fs::path work_dir = options.work_dir ? *options.work_dir : manifest_file.parent_path();
  ExternalSorter by_inode(work_dir);
  SNAPKEEP_TRY_ASSIGN(std::uint64_t walked, walk_tree(snapshot, by_inode));
  SNAPKEEP_TRY(by_inode.finish());
  ExternalSorter known(work_dir);
  SNAPKEEP_TRY_ASSIGN(bool reuse, load_previous(options, snapshot, known));
  SNAPKEEP_TRY(known.finish());
  std::optional<SortedRecords> known_records;
  if (reuse) {
    SNAPKEEP_TRY_ASSIGN(SortedRecords records, known.stream());
    known_records.emplace(std::move(records));
  }
  KnownFiles previous(std::move(known_records));
  EntryHasher hasher(options, previous, stats, walked);
  ExternalSorter by_path(work_dir);
  SNAPKEEP_TRY_ASSIGN(SortedRecords walk, by_inode.stream());
  SNAPKEEP_TRY(make_entries(snapshot, walk, hasher, by_path, stats));
  SNAPKEEP_TRY(write_manifest(by_path, manifest_file, id, options));
  return stats;
}

void tidy_manifests(const fs::path& state_dir, const std::vector<std::string>& ids) {
  std::error_code ec;
  const fs::path preset_dir = state_dir.parent_path();
  std::vector<fs::path> gone;  // manifests of deleted snapshots: removed unless a delta amends one
  std::vector<fs::path> kept;
  for (const auto& entry : fs::directory_iterator(manifest_dir(state_dir), ec)) {
    std::string name = entry.path().filename().string();
    bool temp = name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string::npos;
    // A snapshot folder the caller did not list (a btrfs receive a killed run left, completed
    // since) keeps its manifest.
    std::error_code sec;
    bool orphan = name[0] != '.' && std::find(ids.begin(), ids.end(), name) == ids.end() &&
                  !fs::exists(fs::symlink_status(preset_dir / name, sec));
    if (temp) {
      std::error_code rec;
      fs::remove(entry.path(), rec);
    } else if (orphan || name.starts_with(k_gone_manifest_prefix)) {
      gone.push_back(entry.path());
    } else if (name[0] != '.') {
      kept.push_back(entry.path());
    }
  }
  if (gone.empty()) {
    return;
  }
  // The bases the manifests kept amend (docs/scrub.md, "Delta manifests"): each header is read. One
  // that does not read may be a delta: then nothing that could be a base goes this time.
  std::set<std::string> base_ids;
  std::set<DeltaBase> bases;  // id and checksum
  for (const auto& path : kept) {
    auto base = manifest_base_of(path);
    if (!base) {
      spdlog::debug("manifests of deleted snapshots kept for now: {}", base.error().describe());
      return;
    }
    if (*base) {
      base_ids.insert((*base)->id);
      bases.insert(**base);
    }
  }
  for (const auto& path : gone) {
    const std::string name = path.filename().string();
    // "<id>" (its snapshot gone), ".gone-<id>", ".gone-<id>.<time>" or ".gone-<id>.<checksum>".
    const bool moved = name.starts_with(k_gone_manifest_prefix);
    std::string id = moved ? name.substr(k_gone_manifest_prefix.size()) : name;
    std::string suffix;
    if (const auto dot = id.find('.'); dot != std::string::npos) {
      suffix = id.substr(dot + 1);
      id.erase(dot);
    }
    const bool checksummed = suffix.size() == 32 && std::all_of(suffix.begin(), suffix.end(), [](char c) {
                               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                             });
    std::error_code rec;
    if (base_ids.count(id) > 0) {
      // Its id is named: kept when it is the very manifest a delta amends (by checksum).
      std::string checksum = checksummed ? suffix : std::string();
      if (!checksummed) {
        auto index = ManifestIndex::open(path);
        if (!index && index.error().err != 0) {
          continue;  // not known: kept for now
        }
        checksum = index ? index->checksum() : std::string();
      }
      if (bases.count(DeltaBase{id, checksum}) > 0) {
        if (!moved) {
          // Under a name no snapshot made again under that id can take.
          if (auto aside = set_manifest_aside(path); !aside) {
            spdlog::debug("{}", aside.error().describe());
            continue;
          }
          fs::remove(path, rec);
        }
        continue;
      }
    }
    fs::remove(path, rec);
    if (!rec) {
      spdlog::debug("removed the manifest of the deleted snapshot {}", id);
    }
  }
}

ManifestBuildOptions backup_manifest_options(const Preset& preset, const fs::path& state_dir, ContentSharing sharing,
                                             const SnapshotInfo* previous) {
  ManifestBuildOptions options;
  options.checksum = preset.checksum;
  options.origin = "backup";
  options.content_sharing = sharing;
  options.work_dir = state_dir;
  const char* deltas = std::getenv("SNAPKEEP_MANIFEST_DELTAS");
  options.deltas = deltas == nullptr || std::string_view(deltas) != "0";
  if (previous != nullptr) {
    options.previous_snapshot = previous->path;
    options.previous_manifest = manifest_path(state_dir, previous->id);
  }
  return options;
}

Status ready_manifest_dir(const fs::path& state_dir, const std::vector<std::string>& ids) {
  SNAPKEEP_TRY(make_dir(manifest_dir(state_dir), 0700));
  tidy_manifests(state_dir, ids);
  remove_stale_work_files(state_dir);
  return {};
}

// How a patch took the base's pages, for the log: copied (and why) or how many cloned.
static std::string copied_or_cloned(const ManifestBuildStats& built) {
  switch (built.base_copy) {
    case ManifestBuildStats::BaseCopy::cloned: break;
    case ManifestBuildStats::BaseCopy::fragmented: return "copied into one piece";
    case ManifestBuildStats::BaseCopy::little_to_clone:
      return "copied into one piece, as clones would take only " + std::to_string(built.base_cloned_percent) +
             " % of it";
  }
  return std::to_string(built.base_pages_cloned) + " of them cloned";
}

void note_backup_manifest(const Preset& preset, const std::string& id, const ManifestBuildStats& built, bool patched,
                          BackupStats& stats) {
  if (stats.counts_from_manifest) {
    stats.files = built.entries + 1;  // and the snapshot's root
    stats.bytes_total = built.bytes;
  }
  stats.bytes_hashed = built.bytes_hashed;
  stats.manifest_ok = true;
  stats.change_counts = built.changes;
  if (patched) {
    const std::string hashed_ahead = built.files_hashed_ahead > 0 ? " (" + std::to_string(built.files_hashed_ahead) +
                                                                        " from the source snapshot during the receive)"
                                                                  : std::string();
    const std::size_t changed = stats.changes->entries.size() + stats.changes->subtrees.size();
    if (built.delta) {
      spdlog::info(
          "{}: manifest of {} patched from {}'s: {} changed paths, {} hashed in {} files{}, {} entries; a delta of "
          "the manifest of {}: {} records, {} pages of it read",
          preset.name, id, stats.changes->base, changed, format_bytes(built.bytes_hashed), built.files_hashed,
          hashed_ahead, built.entries, built.delta_base, built.delta_records, built.base_pages_read);
      return;
    }
    spdlog::info(
        "{}: manifest of {} patched from {}'s: {} changed paths, {} hashed in {} files{}, {} entries; {} pages "
        "rewritten, {} taken as they were, {} (the parent's manifest is in {} extents)",
        preset.name, id, stats.changes->base, changed, format_bytes(built.bytes_hashed), built.files_hashed,
        hashed_ahead, built.entries, built.base_pages_read, built.base_pages_taken, copied_or_cloned(built),
        built.base_extents > 0 ? std::to_string(built.base_extents) : std::string("unknown"));
  } else {
    spdlog::info("{}: manifest of {}: {} entries, {} hashed in {} files, {} files unchanged", preset.name, id,
                 built.entries, format_bytes(built.bytes_hashed), built.files_hashed, built.files_reused);
  }
}

void write_backup_manifest(const Preset& preset, const fs::path& preset_dir, const std::string& id,
                           const std::vector<SnapshotInfo>& earlier, BackupStats& stats, ContentSharing sharing) {
  fs::path state_dir = preset_dir / k_state_dir_name;
  stats.manifest_ok = false;
  auto fail = [&](Error error) {
    bool full = error.full;
    std::string why = std::move(error.message);
    error.message = "snapshot " + id + " is complete and is `latest`, but its manifest was not written" +
                    (full ? " (the destination " + preset.destination.string() + " is full)" : "") +
                    "; `snapkeep scrub --init " + preset.name + "` makes it" + (full ? " once there is room" : "") +
                    ": " + why;
    stats.manifest_error = std::move(error).in(preset.name);
  };
  std::vector<std::string> ids{id};
  for (const auto& s : earlier) {
    ids.push_back(s.id);
  }
  if (auto ready = ready_manifest_dir(state_dir, ids); !ready) {
    fail(std::move(ready).error());
    return;
  }
  ManifestBuildOptions options =
      backup_manifest_options(preset, state_dir, sharing, earlier.empty() ? nullptr : &earlier.back());
  Progress progress(preset.name);
  options.progress = &progress;
  Result<ManifestBuildStats> built = runtime_error("not built");
  bool patched = false;
  if (stats.changes) {
    // The backend knows what changed since the snapshot it made this one from: patch its manifest.
    const bool known =
        std::any_of(earlier.begin(), earlier.end(), [&](const SnapshotInfo& s) { return s.id == stats.changes->base; });
    built = known ? patch_manifest(preset_dir / id, id, manifest_path(state_dir, id),
                                   manifest_path(state_dir, stats.changes->base), *stats.changes, options)
                  : Result<ManifestBuildStats>(runtime_error("the snapshot " + stats.changes->base + " is gone"));
    patched = built.ok();
    if (!built && stop_signal() == 0) {
      spdlog::info("{}: writing the manifest of {} in full: {}", preset.name, id, built.error().describe());
    }
  }
  if (!patched && (!stats.changes || stop_signal() == 0)) {
    built = build_manifest(preset_dir / id, id, manifest_path(state_dir, id), options);
  }
  progress.finish();
  if (!built) {
    if (stats.counts_from_manifest) {
      const TreeCount count = count_tree(preset_dir / id);
      stats.files = count.entries;
      stats.bytes_total = count.bytes;
    }
    fail(std::move(built).error());
    return;
  }
  note_backup_manifest(preset, id, *built, patched, stats);
}

}  // namespace snapkeep
