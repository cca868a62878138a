#include "core/integrity/manifest_build.hpp"

#include <fts.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/base/signals.hpp"
#include "core/config/units.hpp"
#include "core/integrity/hashing.hpp"
#include "core/integrity/manifest.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// One entry of the tree as walked, before sorting.
struct WalkEntry {
  std::string path;
  EntryType type = EntryType::file;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t ino = 0;
  bool multiply_linked = false;
};

// Every entry below root (not root itself), without following symlinks or leaving its filesystem.
Result<std::vector<WalkEntry>> walk_tree(const fs::path& root) {
  std::vector<WalkEntry> out;
  std::string root_text = root.string();
  char* paths[] = {root_text.data(), nullptr};
  FTS* fts = ::fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, nullptr);
  if (fts == nullptr) {
    return sys_error("cannot walk snapshot", root);
  }
  errno = 0;
  while (FTSENT* entry = ::fts_read(fts)) {
    if (entry->fts_info == FTS_DP || entry->fts_level == 0) {
      continue;
    }
    if (entry->fts_info == FTS_DNR || entry->fts_info == FTS_ERR || entry->fts_info == FTS_NS) {
      Error e = sys_error("cannot read", entry->fts_path, entry->fts_errno);
      ::fts_close(fts);
      return e;
    }
    const struct stat* st = entry->fts_statp;
    WalkEntry w;
    w.path.assign(entry->fts_path + root_text.size() + 1);
    w.type = entry_type_of(st->st_mode);
    w.size = static_cast<std::uint64_t>(st->st_size);
    w.mtime_ns = timespec_ns(st->st_mtim);
    w.ctime_ns = timespec_ns(st->st_ctim);
    w.ino = st->st_ino;
    w.multiply_linked = S_ISREG(st->st_mode) && st->st_nlink > 1;
    out.push_back(std::move(w));
    errno = 0;
  }
  int err = errno;
  ::fts_close(fts);
  if (err != 0) {
    return sys_error("cannot walk snapshot", root, err);
  }
  return out;
}

// What the previous manifest knew about one inode.
struct Known {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::string hash;
};

// The regular files of the previous manifest by inode number; empty when it cannot be trusted or
// uses another checksum.
std::unordered_map<std::uint64_t, Known> load_previous(const ManifestBuildOptions& options) {
  std::unordered_map<std::uint64_t, Known> known;
  if (!options.previous_manifest || options.checksum == ChecksumKind::none) {
    return known;
  }
  auto opened = open_manifest(*options.previous_manifest);
  if (opened.state != ManifestState::ok) {
    if (opened.state != ManifestState::missing) {
      spdlog::warn("not reusing hashes of {}: {}", options.previous_manifest->string(), opened.reason);
    }
    return known;
  }
  if (opened.reader->header().checksum != options.checksum) {
    return known;
  }
  ManifestEntry entry;
  for (;;) {
    auto more = opened.reader->next(entry);
    if (!more) {
      spdlog::warn("not reusing hashes: {}", more.error().describe());
      known.clear();
      return known;
    }
    if (!*more) {
      break;
    }
    if (entry.type == EntryType::file && !entry.hash.empty()) {
      known[entry.ino] = Known{entry.size, entry.mtime_ns, entry.ctime_ns, std::move(entry.hash)};
    }
  }
  return known;
}

}  // namespace

Result<ManifestBuildStats> build_manifest(const fs::path& snapshot, const std::string& id,
                                          const fs::path& manifest_file, const ManifestBuildOptions& options) {
  ManifestBuildStats stats;
  auto known = load_previous(options);
  bool same_device = false;
  if (options.previous_snapshot) {
    struct stat a {};
    struct stat b {};
    same_device = ::stat(options.previous_snapshot->c_str(), &a) == 0 && ::stat(snapshot.c_str(), &b) == 0 &&
                  a.st_dev == b.st_dev;
  }

  auto walked = walk_tree(snapshot);
  if (!walked) {
    return std::move(walked).error();
  }
  std::vector<WalkEntry>& entries = *walked;
  std::sort(entries.begin(), entries.end(), [](const WalkEntry& a, const WalkEntry& b) { return a.path < b.path; });

  ManifestHeader header;
  header.checksum = options.checksum;
  header.snapshot_id = id;
  header.origin = options.origin;
  header.created_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto writer = ManifestWriter::create(manifest_file, header);
  if (!writer) {
    return std::move(writer).error();
  }

  std::unordered_map<std::uint64_t, std::string> linked_here;  // hashes of multiply-linked inodes met so far
  std::vector<Hasher> hashers;
  if (options.checksum != ChecksumKind::none) {
    hashers.emplace_back(options.checksum);
  }
  ManifestEntry record;
  for (WalkEntry& w : entries) {
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    fs::path full = snapshot / w.path;
    record.path = std::move(w.path);
    record.type = w.type;
    record.size = w.size;
    record.mtime_ns = w.mtime_ns;
    record.ctime_ns = w.ctime_ns;
    record.ino = w.ino;
    record.hash.clear();
    if (w.type == EntryType::file) {
      ++stats.files;
    }
    if (w.type == EntryType::file && options.checksum != ChecksumKind::none) {
      auto it = known.find(w.ino);
      bool reuse = it != known.end() && it->second.size == w.size && it->second.mtime_ns == w.mtime_ns &&
                   (same_device || it->second.ctime_ns == w.ctime_ns);
      auto here = w.multiply_linked ? linked_here.find(w.ino) : linked_here.end();
      if (reuse) {
        record.hash = it->second.hash;
        ++stats.files_reused;
      } else if (here != linked_here.end()) {
        record.hash = here->second;
        ++stats.files_reused;
      } else {
        auto fd = open_for_reading(full);
        if (!fd) {
          return std::move(fd).error();
        }
        struct stat st {};
        if (::fstat(*fd, &st) != 0) {
          Error e = sys_error("cannot stat", full);
          ::close(*fd);
          return e;
        }
        auto read = hash_fd(*fd, hashers, {}, full);
        ::close(*fd);
        if (!read) {
          return std::move(read).error();
        }
        record.hash = hashers.front().hex_digest();
        record.size = *read;
        record.mtime_ns = timespec_ns(st.st_mtim);
        record.ctime_ns = timespec_ns(st.st_ctim);
        stats.bytes_hashed += *read;
        ++stats.files_hashed;
        if (w.multiply_linked) {
          linked_here[w.ino] = record.hash;
        }
        if (options.progress != nullptr) {
          options.progress->update("manifest: " + format_bytes(stats.bytes_hashed) + " hashed, " +
                                       std::to_string(stats.entries) + " of " + std::to_string(entries.size()) +
                                       " entries",
                                   {stats.entries, stats.bytes_hashed});
        }
      }
    } else if (w.type == EntryType::symlink && options.checksum != ChecksumKind::none) {
      std::string target(static_cast<std::size_t>(w.size) + 1, '\0');
      ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      if (n < 0) {
        return sys_error("cannot read symlink", full);
      }
      target.resize(static_cast<std::size_t>(n));
      record.hash = hash_bytes(options.checksum, target);
    }
    SNAPKEEP_TRY(writer->add(record));
    ++stats.entries;
  }
  SNAPKEEP_TRY(writer->commit());
  return stats;
}

void tidy_manifests(const fs::path& state_dir, const std::vector<std::string>& ids) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(manifest_dir(state_dir), ec)) {
    std::string name = entry.path().filename().string();
    bool temp = name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string::npos;
    bool orphan = name[0] != '.' && std::find(ids.begin(), ids.end(), name) == ids.end();
    if (temp || orphan) {
      std::error_code rec;
      fs::remove(entry.path(), rec);
      if (!rec && orphan) {
        spdlog::debug("removed the manifest of the deleted snapshot {}", name);
      }
    }
  }
}

void write_backup_manifest(const Preset& preset, const fs::path& preset_dir, const std::string& id,
                           const std::vector<SnapshotInfo>& earlier, BackupStats& stats) {
  fs::path state_dir = preset_dir / k_state_dir_name;
  stats.manifest_ok = false;
  auto fail = [&](const Error& error) {
    bool full = error.full_filesystem();
    Error e = error;
    e.message = preset.name + ": snapshot " + id + " is complete and is `latest`, but its manifest was not written" +
                (full ? " (the destination " + preset.destination.string() + " is full)" : "") +
                "; `snapkeep scrub --init " + preset.name + "` makes it" + (full ? " once there is room" : "") + ": " +
                error.message;
    stats.manifest_error = std::move(e);
  };
  if (auto made = make_dir(manifest_dir(state_dir), 0700); !made) {
    fail(made.error());
    return;
  }
  std::vector<std::string> ids{id};
  for (const auto& s : earlier) {
    ids.push_back(s.id);
  }
  tidy_manifests(state_dir, ids);
  ManifestBuildOptions options;
  options.checksum = preset.checksum;
  options.origin = "backup";
  if (!earlier.empty()) {
    options.previous_snapshot = earlier.back().path;
    options.previous_manifest = manifest_path(state_dir, earlier.back().id);
  }
  Progress progress(preset.name);
  options.progress = &progress;
  auto built = build_manifest(preset_dir / id, id, manifest_path(state_dir, id), options);
  progress.finish();
  if (!built) {
    fail(built.error());
    return;
  }
  stats.bytes_hashed = built->bytes_hashed;
  stats.manifest_ok = true;
  spdlog::info("{}: manifest of {}: {} entries, {} hashed in {} files, {} files unchanged", preset.name, id,
               built->entries, format_bytes(built->bytes_hashed), built->files_hashed, built->files_reused);
}

}  // namespace snapkeep
