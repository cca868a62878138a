#include "core/backup/check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "core/store/catalog.hpp"
#include "core/store/preset_checks.hpp"
#include "core/transfer/rsync.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Link limits above this (xfs, btrfs: 2^32 or more) are never reached by snapshots.
constexpr long k_link_limit_worth_watching = 1L << 20;
// Files with fewer links are never looked at more closely (a cheap filter for the walk).
constexpr std::uintmax_t k_many_links = 1000;

// Files of the newest snapshot that the next backup would take past the destination's link limit
// (ext4: 65 000): their links now plus their names in one snapshot. Backups never fail there (the
// content is copied once more, docs/drives.md), but each such copy takes the file's size again:
// worth knowing before it happens.
void warn_near_link_limit(const Backend& backend, const std::vector<SnapshotInfo>& snapshots, CheckReport& report) {
  if (snapshots.empty() || backend.capabilities().content_sharing != ContentSharing::hard_links) {
    return;
  }
  const fs::path& newest = snapshots.back().path;
  const long limit = ::pathconf(newest.c_str(), _PC_LINK_MAX);
  if (limit <= 0 || limit >= k_link_limit_worth_watching) {
    return;
  }
  struct Inode {
    std::uintmax_t links = 0;
    std::uintmax_t names = 0;  // in the newest snapshot
    fs::path example;
  };
  std::map<ino_t, Inode> many;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(newest, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink < k_many_links) {
      continue;
    }
    Inode& inode = many[st.st_ino];
    inode.links = st.st_nlink;
    if (inode.names++ == 0) {
      inode.example = it->path();
    }
  }
  std::size_t count = 0;
  const Inode* first = nullptr;
  for (const auto& [ino, inode] : many) {
    if (inode.links + inode.names > static_cast<std::uintmax_t>(limit)) {
      ++count;
      first = first != nullptr ? first : &inode;
    }
  }
  if (first != nullptr) {
    report.warnings.push_back(std::to_string(count) + " files in snapshot " + snapshots.back().id +
                              " will pass the destination's limit of " + std::to_string(limit) +
                              " hard links in the next backup (e.g. " + first->example.string() + ": " +
                              std::to_string(first->links) + " links, " + std::to_string(first->names) +
                              " names per snapshot): the backup copies each once more and later snapshots link to "
                              "the copy, which takes the file's size again");
  }
}

}  // namespace

Result<CheckReport> check_setup(const Preset& preset, const Backend& backend) {
  CheckReport report;
  SNAPKEEP_TRY(check_preset(preset));
  if (preset.remote_source && !preset.remote.served && preset.pull == PullMethod::rsync) {
    SNAPKEEP_TRY(check_remote_source(preset));  // pull = btrfs-send: the backend asks the source host
  }
  if (destination_read_only(preset)) {
    report.warnings.push_back("destination " + preset.destination.string() +
                              " is mounted read-only: list, du, scrub (without --repair) and restore work; a backup "
                              "needs it mounted read-write");
  } else {
    SNAPKEEP_TRY(check_destination_filesystem(preset));
  }
  SNAPKEEP_TRY(backend.check_preset(preset));
  if (preset.exclude_from) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*preset.exclude_from, ec)) {
      return runtime_error("exclude_from file " + preset.exclude_from->string() + " is not readable").in(preset.name);
    }
  }
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset.preset_dir()));
  warn_near_link_limit(backend, snapshots, report);
  return report;
}

}  // namespace snapkeep
