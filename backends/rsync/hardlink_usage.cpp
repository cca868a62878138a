#include "backends/rsync/hardlink_usage.hpp"

#include <fts.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "core/integrity/external_sort.hpp"
#include "core/integrity/record_bytes.hpp"

namespace snapkeep {
namespace {

// A multiply-linked inode: where its links were seen (records sorted by inode, then snapshot).
struct SharedInode {
  std::uint64_t bytes = 0;
  std::uint64_t nlink = 0;
  std::uint64_t seen = 0;
  std::size_t first = 0;      // oldest snapshot index holding a link
  std::size_t last = 0;       // newest snapshot index holding a link
  std::size_t last_rank = 0;  // latest position in the deletion order among its snapshots
};

// Owns an fts walk.
struct CloseFts {
  void operator()(FTS* fts) const { ::fts_close(fts); }
};

constexpr std::size_t k_not_deleted = static_cast<std::size_t>(-1);

// Where the sort's work files go: the preset's .snapkeep/ when it can be written, else the
// temporary folder (du also runs on a drive mounted read-only).
std::filesystem::path usage_work_dir(const std::vector<SnapshotInfo>& snapshots) {
  if (!snapshots.empty()) {
    const std::filesystem::path state = snapshots.front().path.parent_path() / ".snapkeep";
    struct statvfs vfs {};
    if (::access(state.c_str(), W_OK) == 0 && ::statvfs(state.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) == 0) {
      return state;
    }
  }
  return std::filesystem::temp_directory_path();
}

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
  // Links of multiply-linked inodes, one record each (device, inode, snapshot index, bytes, link
  // count), sorted by inode in work files: memory stays bounded however many files the snapshots
  // hold (docs/scrub.md, Memory, disk and limits).
  ExternalSorter links(usage_work_dir(snapshots));
  RecordBuilder record;

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
      record.clear();
      record.var(static_cast<std::uint64_t>(st->st_dev));
      record.var(st->st_ino);
      record.var(i);
      record.var(bytes);
      record.var(st->st_nlink);
      SNAPKEEP_TRY(links.add(record.view()));
    }
    if (int err = errno; err != 0) {
      return sys_error("cannot walk snapshot", snapshots[i].path, err);
    }
  }
  SNAPKEEP_TRY(links.finish());
  SNAPKEEP_TRY_ASSIGN(SortedRecords sorted, links.stream());
  auto settle = [&](const SharedInode& inode) {
    if (inode.seen < inode.nlink) {
      return;  // linked from outside this preset: deleting snapshots frees nothing
    }
    if (inode.first == inode.last) {
      exclusive[inode.first] += inode.bytes;
    } else {
      freed_with[inode.last] += inode.bytes;
    }
    if (inode.last_rank != k_not_deleted) {
      freed_at_rank[inode.last_rank] += inode.bytes;
    }
  };
  SharedInode inode;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  bool open = false;
  for (;;) {
    std::string_view bytes;
    SNAPKEEP_TRY_ASSIGN(bool more, sorted.next(bytes));
    if (!more) {
      break;
    }
    RecordParser in(bytes);
    const std::uint64_t d = in.var();
    const std::uint64_t n = in.var();
    const auto i = static_cast<std::size_t>(in.var());
    if (!open || d != dev || n != ino) {
      if (open) {
        settle(inode);
      }
      open = true;
      dev = d;
      ino = n;
      inode = SharedInode{};
      inode.bytes = in.var();
      inode.nlink = in.var();
      inode.first = i;
      inode.last_rank = rank[i];
      report.total_bytes += inode.bytes;
    }
    inode.last = i;
    if (inode.last_rank != k_not_deleted && (rank[i] == k_not_deleted || rank[i] > inode.last_rank)) {
      inode.last_rank = rank[i];
    }
    ++inode.seen;
  }
  if (open) {
    settle(inode);
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
