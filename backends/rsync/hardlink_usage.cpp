#include "backends/rsync/hardlink_usage.hpp"

#include <fts.h>
#include <sys/stat.h>

#include <cstring>
#include <memory>
#include <unordered_map>

namespace snapkeep {
namespace {

struct InodeKey {
  dev_t dev;
  ino_t ino;
  bool operator==(const InodeKey& o) const { return dev == o.dev && ino == o.ino; }
};

struct InodeKeyHash {
  std::size_t operator()(const InodeKey& k) const {
    return std::hash<ino_t>()(k.ino) ^ (k.dev * 0x9e3779b97f4a7c15ULL);
  }
};

// A multiply-linked inode: where its links were seen.
struct SharedInode {
  std::uint64_t bytes = 0;
  nlink_t nlink = 0;
  nlink_t seen = 0;
  std::size_t first = 0;      // oldest snapshot index holding a link
  std::size_t last = 0;       // newest snapshot index holding a link
  std::size_t last_rank = 0;  // latest position in the deletion order among its snapshots
};

// Owns an fts walk.
struct CloseFts {
  void operator()(FTS* fts) const { ::fts_close(fts); }
};

constexpr std::size_t k_not_deleted = static_cast<std::size_t>(-1);

}  // namespace

Result<UsageReport> hardlink_tree_usage(const std::vector<SnapshotInfo>& snapshots,
                                        const std::vector<std::size_t>& deletion_order) {
  UsageReport report;
  // rank[i]: position of snapshot i in the deletion order.
  std::vector<std::size_t> rank(snapshots.size(), k_not_deleted);
  for (std::size_t j = 0; j < deletion_order.size(); ++j) {
    rank.at(deletion_order[j]) = j;
  }
  std::vector<std::uint64_t> freed_at_rank(deletion_order.size(), 0);
  std::vector<std::uint64_t> exclusive(snapshots.size(), 0);
  std::vector<std::uint64_t> freed_with(snapshots.size(), 0);  // shared inodes freed once 0..i are gone
  std::unordered_map<InodeKey, SharedInode, InodeKeyHash> shared;

  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    std::string root = snapshots[i].path.string();
    char* paths[] = {root.data(), nullptr};
    std::unique_ptr<FTS, CloseFts> walk(::fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, nullptr));
    FTS* fts = walk.get();
    if (fts == nullptr) {
      return sys_error("cannot walk snapshot", snapshots[i].path);
    }
    while (FTSENT* entry = ::fts_read(fts)) {
      if (entry->fts_info == FTS_DP) {
        continue;  // directories are counted on the way in
      }
      if (entry->fts_info == FTS_DNR || entry->fts_info == FTS_ERR || entry->fts_info == FTS_NS) {
        return sys_error("cannot read", entry->fts_path, entry->fts_errno);
      }
      const struct stat* st = entry->fts_statp;
      std::uint64_t bytes = static_cast<std::uint64_t>(st->st_blocks) * 512;
      if (S_ISDIR(st->st_mode) || st->st_nlink <= 1) {
        exclusive[i] += bytes;
        report.total_bytes += bytes;
        if (rank[i] != k_not_deleted) {
          freed_at_rank[rank[i]] += bytes;
        }
        continue;
      }
      auto [it, inserted] = shared.try_emplace(InodeKey{st->st_dev, st->st_ino});
      SharedInode& inode = it->second;
      if (inserted) {
        inode.bytes = bytes;
        inode.nlink = st->st_nlink;
        inode.first = i;
        inode.last_rank = rank[i];
        report.total_bytes += bytes;
      }
      inode.last = i;
      if (inode.last_rank != k_not_deleted && (rank[i] == k_not_deleted || rank[i] > inode.last_rank)) {
        inode.last_rank = rank[i];
      }
      ++inode.seen;
    }
    if (int err = errno; err != 0) {
      return sys_error("cannot walk snapshot", snapshots[i].path, err);
    }
  }
  for (const auto& [key, inode] : shared) {
    if (inode.seen < inode.nlink) {
      continue;  // linked from outside this preset: deleting snapshots frees nothing
    }
    if (inode.first == inode.last) {
      exclusive[inode.first] += inode.bytes;
    } else {
      freed_with[inode.last] += inode.bytes;
    }
    if (inode.last_rank != k_not_deleted) {
      freed_at_rank[inode.last_rank] += inode.bytes;
    }
  }
  std::uint64_t freed = 0;
  for (std::uint64_t bytes : freed_at_rank) {
    freed += bytes;
    report.freed_after.push_back(freed);
  }
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    running += exclusive[i] + freed_with[i];
    report.snapshots.push_back({snapshots[i].id, exclusive[i], running});
  }
  return report;
}

}  // namespace snapkeep
