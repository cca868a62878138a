#include "core/transfer/damaged_links.hpp"

#include <fts.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "core/base/fsutil.hpp"
#include "core/transfer/rsync.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Owns an FTS walk (fts_close on every path).
struct CloseFts {
  void operator()(FTS* fts) const { ::fts_close(fts); }
};

// Relative paths of the regular files below `tree` that are one of `inodes` (not crossing filesystems).
Result<std::vector<std::string>> files_with_inodes(const fs::path& tree,
                                                   const std::set<std::pair<std::uint64_t, std::uint64_t>>& inodes) {
  std::vector<std::string> out;
  std::string root = tree.string();
  char* paths[] = {root.data(), nullptr};
  std::unique_ptr<FTS, CloseFts> walk(::fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, nullptr));
  if (!walk) {
    return sys_error("cannot walk", tree);
  }
  for (;;) {
    errno = 0;
    FTSENT* entry = ::fts_read(walk.get());
    if (entry == nullptr) {
      if (errno != 0) {
        return sys_error("cannot walk", tree);
      }
      break;
    }
    if (entry->fts_info == FTS_DNR || entry->fts_info == FTS_ERR || entry->fts_info == FTS_NS) {
      return sys_error("cannot read", entry->fts_path, entry->fts_errno);
    }
    if (entry->fts_info != FTS_F) {
      continue;
    }
    const struct stat& st = *entry->fts_statp;
    if (inodes.count({static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)}) > 0) {
      out.push_back(fs::path(entry->fts_path).lexically_relative(tree).string());
    }
  }
  return out;
}

}  // namespace

LinkBaseDamage damaged_content(const DamageRecord& record, const std::vector<SnapshotInfo>& snapshots) {
  LinkBaseDamage out;
  for (const auto& snapshot : snapshots) {
    for (auto it = record.entries.lower_bound({snapshot.id, ""});
         it != record.entries.end() && it->first == snapshot.id; ++it) {
      if (it->second.empty()) {
        out.newest_whole = out.newest_whole || &snapshot == &snapshots.back();
        continue;
      }
      struct stat st {};
      if (::lstat((snapshot.path / it->second).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        out.inodes.emplace(static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino));
      }
    }
  }
  return out;
}

Result<std::vector<std::string>> recopy_damaged_links(const Preset& preset, const fs::path& source,
                                                      const fs::path& target, const fs::path& work_dir,
                                                      const LinkBaseDamage& damaged, Progress& progress) {
  if (damaged.inodes.empty()) {
    return std::vector<std::string>{};
  }
  SNAPKEEP_TRY_ASSIGN(auto linked, files_with_inodes(target, damaged.inodes));
  if (linked.empty()) {
    return linked;
  }
  // The list: the root (its times are set back after the files are replaced), then every file;
  // rsync brings the folders on their way (implied folders) with their metadata.
  std::string list = std::string(".") + '\0';
  for (const auto& rel : linked) {
    if (::unlink((target / rel).c_str()) != 0 && errno != ENOENT) {
      return sys_error("cannot remove the link to damaged content", target / rel);
    }
    list += rel;
    list += '\0';
  }
  const fs::path list_file = work_dir / "damaged-links";
  SNAPKEEP_TRY(write_file_atomic(list_file, list));
  RsyncTransfer transfer;
  transfer.source = source;
  transfer.target = target;
  transfer.mirror = false;
  transfer.files_from = list_file;
  transfer.operation = "backup (fresh copies of files recorded damaged)";
  auto copied = run_rsync(preset, transfer, progress);
  std::error_code ec;
  fs::remove(list_file, ec);
  if (!copied) {
    return std::move(copied).error();
  }
  return linked;
}

std::string describe_paths(const std::vector<std::string>& paths, std::size_t max_paths) {
  std::string out;
  for (std::size_t i = 0; i < paths.size() && i < max_paths; ++i) {
    out += (i == 0 ? "" : ", ") + paths[i];
  }
  if (paths.size() > max_paths) {
    out += " and " + std::to_string(paths.size() - max_paths) + " more";
  }
  return out;
}

}  // namespace snapkeep
