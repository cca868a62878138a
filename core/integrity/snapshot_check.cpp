#include "core/integrity/snapshot_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/base/signals.hpp"
#include "core/integrity/hashing.hpp"
#include "core/integrity/scrub_state.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

std::string_view type_name(EntryType type) {
  switch (type) {
    case EntryType::file: return "file";
    case EntryType::directory: return "folder";
    case EntryType::symlink: return "symlink";
    case EntryType::other: return "special file";
  }
  return "entry";
}

Error interrupted() {
  return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
}

}  // namespace

// One snapshot's manifest being walked, at its current entry.
struct SnapshotCheck::Walker {
  std::uint32_t snapshot = 0;  // place in m_verified
  const VerifiedSnapshot* verified = nullptr;
  std::unique_ptr<ManifestReader> reader;
  ChecksumKind kind = ChecksumKind::xxh128;
  ManifestEntry entry;
  std::string root;  // the snapshot's path and a slash
  // The folder of the last entry, open, so that an entry is looked up by its name alone.
  std::string dir;
  Fd dir_fd;
  bool dir_tried = false;

  // lstat of the current entry; false with errno set when it fails.
  bool lstat_entry(struct stat& st) {
    std::size_t slash = entry.path.rfind('/');
    std::string_view parent =
        slash == std::string::npos ? std::string_view() : std::string_view(entry.path).substr(0, slash);
    if (!dir_tried || parent != dir) {
      dir.assign(parent);
      dir_fd.reset(::open((root + dir).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      dir_tried = true;
    }
    if (!dir_fd) {
      return ::lstat((root + entry.path).c_str(), &st) == 0;  // the lookup's own errno
    }
    const char* name = entry.path.c_str() + (slash == std::string::npos ? 0 : slash + 1);
    return ::fstatat(dir_fd.get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  }
};

Status SnapshotCheck::run(const std::vector<SnapshotInfo>& snapshots, const std::string& preset_name) {
  m_verified.reserve(snapshots.size());  // Walkers point into it
  for (std::size_t first = 0; first < snapshots.size(); first += k_open_manifests) {
    std::vector<Walker> walkers;
    for (std::size_t i = first; i < std::min(snapshots.size(), first + k_open_manifests); ++i) {
      if (stop_signal() != 0) {
        return interrupted();
      }
      const SnapshotInfo& snap = snapshots[i];
      auto order = static_cast<std::uint32_t>(i);
      fs::path file = manifest_path(m_state_dir, snap.id);
      auto opened = open_manifest(file);
      if (opened.state == ManifestState::missing) {
        m_report.without_manifest.push_back(snap.id);
        continue;
      }
      if (opened.state == ManifestState::unsupported) {
        spdlog::warn("{}: {}: not verified: {}", preset_name, file.string(), opened.reason);
        m_report.without_manifest.push_back(snap.id);
        continue;
      }
      if (opened.state == ManifestState::damaged || opened.reader->header().snapshot_id != snap.id) {
        m_findings.add_manifest_damaged(
            order, snap,
            file.string() + ": " +
                (opened.state == ManifestState::damaged ? opened.reason
                                                        : "it names snapshot " + opened.reader->header().snapshot_id));
        continue;
      }
      Walker walker;
      walker.snapshot = static_cast<std::uint32_t>(m_verified.size());
      m_verified.push_back(VerifiedSnapshot{snap, order});
      walker.verified = &m_verified.back();
      walker.kind = opened.reader->header().checksum;
      walker.root = snap.path.string() + "/";
      walker.reader = std::move(opened.reader);
      walkers.push_back(std::move(walker));
      ++m_report.snapshots_checked;
    }
    SNAPKEEP_TRY(walk(walkers));
  }
  m_progress.finish();
  return {};
}

Status SnapshotCheck::walk(std::vector<Walker>& walkers) {
  // The walkers holding an entry, the smallest (path, snapshot) first: every snapshot's record of a
  // path comes together, so a file unchanged across snapshots becomes one path group.
  auto after = [](const Walker* a, const Walker* b) {
    if (a->entry.path != b->entry.path) {
      return a->entry.path > b->entry.path;
    }
    return a->snapshot > b->snapshot;
  };
  std::vector<Walker*> heap;
  auto advance = [&](Walker& w) -> Status {
    SNAPKEEP_TRY_ASSIGN(bool more, w.reader->next(w.entry));
    if (more) {
      heap.push_back(&w);
      std::push_heap(heap.begin(), heap.end(), after);
    }
    return {};
  };
  for (auto& w : walkers) {
    SNAPKEEP_TRY(advance(w));
  }
  while (!heap.empty()) {
    if ((m_report.entries_checked & 4095) == 0) {
      if (stop_signal() != 0) {
        return interrupted();
      }
      m_progress.update("check " + std::to_string(m_report.entries_checked) + " entries");
    }
    std::pop_heap(heap.begin(), heap.end(), after);
    Walker* w = heap.back();
    heap.pop_back();
    SNAPKEEP_TRY(check_entry(*w));
    SNAPKEEP_TRY(advance(*w));
  }
  return {};
}

void SnapshotCheck::entry_finding(FindingStatus status, const Walker& walker, const fs::path& full, std::string actual,
                                  std::string detail) {
  const ManifestEntry& e = walker.entry;
  std::size_t index =
      m_findings.add_entry(EntryFindingKey{status, e.ino, e.hash, e.type}, PathPosition{walker.verified->order, full},
                           walker.verified->info.id, e, std::move(actual), std::move(detail));
  if (status == FindingStatus::missing && e.type == EntryType::file && !e.hash.empty() &&
      m_sharing == ContentSharing::hard_links) {
    m_missing.push_back(MissingFile{index, walker.snapshot, full, e, walker.kind});
  }
}

Status SnapshotCheck::check_entry(Walker& walker) {
  const ManifestEntry& e = walker.entry;
  ++m_report.entries_checked;
  auto full = [&]() { return fs::path(walker.root + e.path); };  // made only for what is reported
  struct stat st {};
  if (!walker.lstat_entry(st)) {
    if (errno == ENOENT || errno == ENOTDIR) {
      entry_finding(FindingStatus::missing, walker, full(), {}, {});
    } else {
      entry_finding(FindingStatus::unreadable, walker, full(), {}, sys_error("cannot stat", full()).describe());
    }
    return {};
  }
  EntryType live = entry_type_of(st.st_mode);
  if (live != e.type) {
    entry_finding(FindingStatus::modified, walker, full(), {},
                  "was a " + std::string(type_name(e.type)) + ", is a " + std::string(type_name(live)));
    return {};
  }
  std::int64_t mtime = timespec_ns(st.st_mtim);
  if (e.type == EntryType::symlink && !e.hash.empty()) {
    std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlink(full().c_str(), target.data(), target.size());
    if (n < 0) {
      entry_finding(FindingStatus::unreadable, walker, full(), {}, sys_error("cannot read symlink", full()).describe());
      return {};
    }
    target.resize(static_cast<std::size_t>(n));
    std::string actual = hash_bytes(walker.kind, target);
    ++m_report.files_checked;
    if (actual != e.hash) {
      entry_finding(mtime == e.mtime_ns ? FindingStatus::corrupted : FindingStatus::modified, walker, full(), actual,
                    "symlink target differs");
    }
    return {};
  }
  if (e.type != EntryType::file) {
    return {};
  }
  if (e.hash.empty()) {
    // checksum = none: metadata is all there is to check.
    if (static_cast<std::uint64_t>(st.st_size) != e.size || mtime != e.mtime_ns) {
      entry_finding(mtime == e.mtime_ns ? FindingStatus::corrupted : FindingStatus::modified, walker, full(), {},
                    "size or mtime differ (checksum = none)");
    }
    return {};
  }
  return m_index.add(walker.snapshot, e, walker.kind, st, content_key(st, m_sharing),
                     state_key_of(e, walker.kind, m_sharing));
}

}  // namespace snapkeep
