#include "core/integrity/manifest_diff.hpp"

#include "core/integrity/manifest.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Is the entry held by another file than before (docs/history.md)?
bool identity_moved(const ManifestEntry& before, const ManifestEntry& after, ContentSharing sharing) {
  if (before.ino != after.ino) {
    return true;
  }
  // Hard-link trees: every new link moves an inode's ctime, so only the inode number counts.
  return sharing == ContentSharing::extent_lineage && before.ctime_ns != after.ctime_ns;
}

// The manifest at `path`, checked; an error naming it when it cannot be used.
Result<std::unique_ptr<ManifestReader>> open_checked(const fs::path& path) {
  ManifestOpen opened = open_manifest(path);
  switch (opened.state) {
    case ManifestState::ok: return std::move(opened.reader);
    case ManifestState::missing: return runtime_error("no manifest", path);
    case ManifestState::damaged: return runtime_error("damaged manifest (" + opened.reason + ")", path);
    case ManifestState::unsupported: return runtime_error("manifest of a newer format (" + opened.reason + ")", path);
  }
  return runtime_error("cannot open manifest", path);
}

}  // namespace

std::string_view entry_type_name(EntryType type) {
  switch (type) {
    case EntryType::file: return "file";
    case EntryType::directory: return "folder";
    case EntryType::symlink: return "symlink";
    case EntryType::other: return "other";
  }
  return "other";
}

PathChange compare_entries(const ManifestEntry& before, const ManifestEntry& after, ContentSharing sharing) {
  if (before.type != after.type) {
    return PathChange::content;
  }
  if (before.type == EntryType::directory) {
    return PathChange::unchanged;
  }
  const bool moved = identity_moved(before, after, sharing);
  if (before.type == EntryType::other) {  // devices, fifos, sockets: no content of their own
    return moved || before.size != after.size || before.mtime_ns != after.mtime_ns ? PathChange::metadata
                                                                                   : PathChange::unchanged;
  }
  if (before.size != after.size) {
    return PathChange::content;
  }
  const bool hashes = !before.hash.empty() && before.hash.size() == after.hash.size();
  if (hashes && before.hash != after.hash) {
    return PathChange::content;
  }
  if (before.mtime_ns != after.mtime_ns) {
    return hashes ? PathChange::metadata : PathChange::content;  // without hashes: as rsync's quick check
  }
  return moved ? PathChange::metadata : PathChange::unchanged;
}

Result<bool> ManifestStream::next(ManifestEntry& entry) {
  return m_reader.next(entry);
}

Status EntryMerge::advance(EntryStream& stream, ManifestEntry& slot, bool& ready) {
  SNAPKEEP_TRY_ASSIGN(ready, stream.next(slot));
  return {};
}

Result<bool> EntryMerge::next(const ManifestEntry*& before, const ManifestEntry*& after) {
  if (!m_started || m_took_b) {
    SNAPKEEP_TRY(advance(m_before, m_b, m_b_ready));
  }
  if (!m_started || m_took_a) {
    SNAPKEEP_TRY(advance(m_after, m_a, m_a_ready));
  }
  m_started = true;
  before = nullptr;
  after = nullptr;
  m_took_b = false;
  m_took_a = false;
  if (!m_b_ready && !m_a_ready) {
    return false;
  }
  // std::string compares bytes as unsigned char: the manifests' order.
  const int order = !m_b_ready ? 1 : (!m_a_ready ? -1 : m_b.path.compare(m_a.path));
  if (order <= 0) {
    before = &m_b;
    m_took_b = true;
  }
  if (order >= 0) {
    after = &m_a;
    m_took_a = true;
  }
  return true;
}

Result<ChangeCounts> count_manifest_changes(const fs::path& before, const fs::path& after, ContentSharing sharing) {
  SNAPKEEP_TRY_ASSIGN(auto old_reader, open_checked(before));
  SNAPKEEP_TRY_ASSIGN(auto new_reader, open_checked(after));
  ManifestStream old_stream(*old_reader);
  ManifestStream new_stream(*new_reader);
  EntryMerge merge(old_stream, new_stream);
  ChangeCounts counts;
  const ManifestEntry* b = nullptr;
  const ManifestEntry* a = nullptr;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, merge.next(b, a));
    if (!more) {
      break;
    }
    count_change(b == nullptr   ? PathChange::added
                 : a == nullptr ? PathChange::deleted
                                : compare_entries(*b, *a, sharing),
                 counts);
  }
  return counts;
}

void count_change(PathChange change, ChangeCounts& counts) {
  switch (change) {
    case PathChange::added: ++counts.added; break;
    case PathChange::deleted: ++counts.deleted; break;
    case PathChange::content: ++counts.content; break;
    case PathChange::metadata: ++counts.metadata; break;
    case PathChange::unchanged: break;
  }
}

}  // namespace snapkeep
