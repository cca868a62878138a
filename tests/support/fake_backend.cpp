#include "tests/support/fake_backend.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <set>
#include <utility>

#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"
#include "tests/support/file_probes.hpp"

namespace fs = std::filesystem;

namespace snapkeep::test {
namespace {

constexpr std::string_view k_work_prefix = ".fake-work-";

// An inode: (device, inode number).
using InodeKey = std::pair<dev_t, ino_t>;

std::uint64_t allocated(const struct stat& st) {
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

// Names in a folder, sorted (so copies and deletions go in one order every time).
Result<std::vector<std::string>> sorted_names(const fs::path& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return sys_error("fake backend: cannot open folder", dir);
  }
  std::vector<std::string> names;
  while (struct dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name != "." && name != "..") {
      names.push_back(std::move(name));
    }
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Every entry below root (root itself first as ""), parents before children, with its lstat.
Status walk(const fs::path& root, const std::function<Status(const fs::path& rel, const struct stat& st)>& visit,
            const fs::path& rel = {}) {
  fs::path here = rel.empty() ? root : root / rel;
  struct stat st {};
  if (::lstat(here.c_str(), &st) != 0) {
    return sys_error("fake backend: cannot lstat", here);
  }
  SNAPKEEP_TRY(visit(rel, st));
  if (!S_ISDIR(st.st_mode)) {
    return {};
  }
  SNAPKEEP_TRY_ASSIGN(auto names, sorted_names(here));
  for (const auto& name : names) {
    SNAPKEEP_TRY(walk(root, visit, rel.empty() ? fs::path(name) : rel / name));
  }
  return {};
}

// Is `prev` (the previous snapshot's entry) an unchanged copy of `src`, so it can be linked?
bool unchanged(const struct stat& src, const struct stat& prev) {
  return S_ISREG(src.st_mode) && S_ISREG(prev.st_mode) && src.st_size == prev.st_size &&
         src.st_mtim.tv_sec == prev.st_mtim.tv_sec && src.st_mtim.tv_nsec == prev.st_mtim.tv_nsec &&
         src.st_mode == prev.st_mode && src.st_uid == prev.st_uid && src.st_gid == prev.st_gid;
}

// Gives `path` the owner of `st` (when it differs from what it has) and its mtime.
Status copy_owner_and_time(const fs::path& path, const struct stat& st) {
  struct stat now {};
  if (::lstat(path.c_str(), &now) != 0) {
    return sys_error("fake backend: cannot lstat", path);
  }
  if ((now.st_uid != st.st_uid || now.st_gid != st.st_gid) && ::lchown(path.c_str(), st.st_uid, st.st_gid) != 0) {
    return sys_error("fake backend: cannot chown", path);
  }
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return sys_error("fake backend: cannot set the times of", path);
  }
  return {};
}

// Copies the data of regular file `from` into a new file `to` with the mode of `st`; returns the
// bytes copied.
Result<std::uint64_t> copy_data(const fs::path& from, const fs::path& to, const struct stat& st) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!in) {
    return sys_error("fake backend: cannot open", from);
  }
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) {
    return sys_error("fake backend: cannot create", to);
  }
  std::uint64_t copied = 0;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("fake backend: cannot read", from);
    }
    if (n == 0) {
      break;
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buf + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w < 0) {
        return sys_error("fake backend: cannot write", to);
      }
      done += w;
    }
    copied += static_cast<std::uint64_t>(n);
  }
  if (::fchmod(out.get(), st.st_mode & 07777) != 0) {
    return sys_error("fake backend: cannot chmod", to);
  }
  if (out.close() != 0) {
    return sys_error("fake backend: cannot write", to);
  }
  return copied;
}

// One run of create_snapshot: the copy of job.source into `work`, with the quota's accounting.
class Copier {
 public:
  Copier(const BackupJob& job, fs::path work, std::optional<std::uint64_t> quota, std::uint64_t used,
         std::function<Status(FakeStep, const fs::path&)> reach, std::size_t midway)
      : m_job(job), m_work(std::move(work)), m_quota(quota), m_used(used), m_reach(std::move(reach)), m_midway(midway) {
    if (!job.snapshots.empty()) {
      m_previous = job.snapshots.back().path;
    }
  }

  // Copies everything (folders' modes and times last); fails at a fault or a full quota.
  Result<BackupStats> run() {
    if (::mkdir(m_work.c_str(), 0700) != 0) {
      return sys_error("fake backend: cannot make folder", m_work);
    }
    SNAPKEEP_TRY(m_reach(FakeStep::copy_started, m_work));
    SNAPKEEP_TRY(walk(m_job.source, [&](const fs::path& rel, const struct stat& st) { return copy_entry(rel, st); }));
    // Folder times after their contents: creating an entry changes its folder's mtime.
    for (auto it = m_folders.rbegin(); it != m_folders.rend(); ++it) {
      fs::path dir = it->first.empty() ? m_work : m_work / it->first;
      if (::chmod(dir.c_str(), it->second.st_mode & 07777) != 0) {
        return sys_error("fake backend: cannot chmod", dir);
      }
      SNAPKEEP_TRY(copy_owner_and_time(dir, it->second));
    }
    SNAPKEEP_TRY(m_reach(FakeStep::copy_done, m_work));
    return m_stats;
  }

 private:
  Status copy_entry(const fs::path& rel, const struct stat& st) {
    fs::path from = rel.empty() ? m_job.source : m_job.source / rel;
    fs::path to = rel.empty() ? m_work : m_work / rel;
    ++m_stats.files;
    if (S_ISDIR(st.st_mode)) {
      if (!rel.empty() && ::mkdir(to.c_str(), 0700) != 0) {
        return sys_error("fake backend: cannot make folder", to);
      }
      m_folders.emplace_back(rel, st);
      SNAPKEEP_TRY(charge(to));
    } else if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      fs::path target = fs::read_symlink(from, ec);
      if (ec) {
        return sys_error("fake backend: cannot read symlink", from, ec.value());
      }
      if (::symlink(target.c_str(), to.c_str()) != 0) {
        return sys_error("fake backend: cannot make symlink", to);
      }
      SNAPKEEP_TRY(copy_owner_and_time(to, st));
      SNAPKEEP_TRY(charge(to));
    } else if (S_ISREG(st.st_mode)) {
      SNAPKEEP_TRY(copy_file(rel, from, to, st));
    } else {
      return runtime_error("fake backend: cannot copy " + from.string() + ": not a folder, file or symlink");
    }
    if (++m_entries == m_midway) {
      SNAPKEEP_TRY(m_reach(FakeStep::copy_midway, m_work));
    }
    return {};
  }

  // A regular file: a link to the previous snapshot's unchanged copy, to an earlier name of the
  // same source inode, or a new copy.
  Status copy_file(const fs::path& rel, const fs::path& from, const fs::path& to, const struct stat& st) {
    m_stats.bytes_total += static_cast<std::uint64_t>(st.st_size);
    InodeKey source_inode{st.st_dev, st.st_ino};
    if (auto group = m_groups.find(source_inode); group != m_groups.end()) {
      return link_to(group->second, to);
    }
    if (!m_previous.empty()) {
      struct stat prev {};
      if (::lstat((m_previous / rel).c_str(), &prev) == 0 && unchanged(st, prev)) {
        SNAPKEEP_TRY(link_to(m_previous / rel, to));
        m_groups.emplace(source_inode, to);
        return {};
      }
    }
    SNAPKEEP_TRY_ASSIGN(std::uint64_t copied, copy_data(from, to, st));
    SNAPKEEP_TRY(copy_owner_and_time(to, st));
    ++m_stats.files_transferred;
    m_stats.bytes_transferred += copied;
    m_groups.emplace(source_inode, to);
    return charge(to);
  }

  Status link_to(const fs::path& existing, const fs::path& to) {
    if (::link(existing.c_str(), to.c_str()) != 0) {
      return sys_error("fake backend: cannot link " + existing.string() + " as", to);
    }
    return {};
  }

  // Counts a new inode against the quota; beyond it, removes it and fails as a full disk would.
  Status charge(const fs::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      return sys_error("fake backend: cannot lstat", path);
    }
    m_used += allocated(st);
    if (m_quota && m_used > *m_quota) {
      std::error_code ec;
      fs::remove(path, ec);
      return sys_error("fake backend: quota of " + std::to_string(*m_quota) + " bytes exceeded writing", path, ENOSPC);
    }
    return {};
  }

  const BackupJob& m_job;
  fs::path m_work;
  fs::path m_previous;  // the newest snapshot, "" when none
  std::optional<std::uint64_t> m_quota;
  std::uint64_t m_used;
  std::function<Status(FakeStep, const fs::path&)> m_reach;
  std::size_t m_midway;
  std::size_t m_entries = 0;
  BackupStats m_stats;
  std::map<InodeKey, fs::path> m_groups;                    // source inode -> its first copy in work
  std::vector<std::pair<fs::path, struct stat>> m_folders;  // in walk order
};

// The fake's unfinished work in preset_dir.
std::vector<InterruptedWork> work_folders(const fs::path& preset_dir) {
  std::vector<InterruptedWork> out;
  auto names = sorted_names(preset_dir);
  if (!names) {
    return out;
  }
  for (const auto& name : *names) {
    if (name.rfind(k_work_prefix, 0) == 0) {
      out.push_back({preset_dir / name, "an unfinished copy; the next backup removes it", ""});
    }
  }
  return out;
}

// Counts what a copy of `source` would hold, for a dry run.
Result<BackupStats> count_source(const fs::path& source) {
  BackupStats stats;
  SNAPKEEP_TRY(walk(source, [&](const fs::path&, const struct stat& st) -> Status {
    ++stats.files;
    if (S_ISREG(st.st_mode)) {
      stats.bytes_total += static_cast<std::uint64_t>(st.st_size);
    }
    return {};
  }));
  return stats;
}

}  // namespace

std::string_view step_name(FakeStep step) {
  switch (step) {
    case FakeStep::copy_started: return "copy_started";
    case FakeStep::copy_midway: return "copy_midway";
    case FakeStep::copy_done: return "copy_done";
    case FakeStep::renamed: return "renamed";
    case FakeStep::delete_started: return "delete_started";
    case FakeStep::delete_midway: return "delete_midway";
  }
  return "?";
}

std::string fake_work_name(const std::string& id) {
  return std::string(k_work_prefix) + id;
}

BackendCapabilities FakeBackend::capabilities() const {
  return {.snapshots_source = false, .content_sharing = ContentSharing::hard_links};
}

Status FakeBackend::check_preset(const Preset& preset) const {
  ++m_calls.check_preset;
  if (m_faults.check_error) {
    return runtime_error(preset.name + ": " + *m_faults.check_error);
  }
  return {};
}

Status FakeBackend::reach(FakeStep step, const fs::path& path) {
  if (m_observer) {
    m_observer(step, path);
  }
  auto fault = m_faults.at.find(step);
  if (fault == m_faults.at.end()) {
    return {};
  }
  FakeAction action = fault->second;
  m_faults.at.erase(fault);
  if (action == FakeAction::kill) {
    ::raise(SIGKILL);
  }
  return runtime_error("fake backend: failed on purpose at " + std::string(step_name(step)), path);
}

Result<BackupStats> FakeBackend::create_snapshot(const BackupJob& job) {
  ++m_calls.create_snapshot;
  m_calls.log.push_back("create " + job.id);
  if (job.dry_run) {
    return count_source(job.source);
  }
  fs::path target = job.preset_dir / job.id;
  if (exists_nofollow(target)) {
    return runtime_error("fake backend: " + target.string() + " exists already");
  }
  for (const auto& work : work_folders(job.preset_dir)) {
    SNAPKEEP_TRY(remove_tree(work.path));
  }
  fs::path work = job.preset_dir / fake_work_name(job.id);
  std::optional<std::uint64_t> quota = m_faults.quota_bytes;
  Copier copier(
      job, work, quota, quota ? used_bytes(job.preset->destination) : 0,
      [this](FakeStep step, const fs::path& path) { return reach(step, path); }, m_faults.midway_entries);
  auto stats = copier.run();
  if (!stats) {
    Error e = std::move(stats).error();
    if (e.full_filesystem()) {
      (void)remove_tree(work);  // as a real backend gives the space back
    }
    return e;
  }
  SNAPKEEP_TRY(rename_path(work, target));
  SNAPKEEP_TRY(reach(FakeStep::renamed, target));
  m_calls.created.push_back(job.id);
  m_calls.log.push_back("created " + job.id);
  return stats;
}

Status FakeBackend::delete_snapshot(const fs::path& snapshot, Progress& /*progress*/) {
  ++m_calls.delete_snapshot;
  std::string name = snapshot.filename().string();
  m_calls.log.push_back("delete " + name);
  SNAPKEEP_TRY(reach(FakeStep::delete_started, snapshot));
  std::vector<fs::path> entries;  // parents before children
  SNAPKEEP_TRY(walk(snapshot, [&](const fs::path& rel, const struct stat& st) -> Status {
    fs::path path = rel.empty() ? snapshot : snapshot / rel;
    if (S_ISDIR(st.st_mode) && (st.st_mode & 0700) != 0700 && ::chmod(path.c_str(), st.st_mode | 0700) != 0) {
      return sys_error("fake backend: cannot make writable", path);
    }
    entries.push_back(path);
    return {};
  }));
  std::size_t removed = 0;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (::remove(it->c_str()) != 0) {
      return sys_error("fake backend: cannot delete", *it);
    }
    if (++removed == m_faults.midway_entries) {
      SNAPKEEP_TRY(reach(FakeStep::delete_midway, snapshot));
    }
  }
  m_calls.deleted.push_back(name);
  m_calls.log.push_back("deleted " + name);
  return {};
}

Result<UsageReport> FakeBackend::usage(const std::vector<SnapshotInfo>& snapshots,
                                       const std::vector<std::size_t>& deletion_order) {
  ++m_calls.usage;
  struct Inode {
    std::uint64_t bytes = 0;
    nlink_t links_needed = 0;       // all its links (a folder's one name)
    nlink_t links_seen = 0;         // links found in the snapshots
    std::set<std::size_t> holders;  // snapshots holding a link
  };
  std::map<InodeKey, Inode> inodes;
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    SNAPKEEP_TRY(walk(snapshots[i].path, [&](const fs::path&, const struct stat& st) -> Status {
      Inode& inode = inodes[{st.st_dev, st.st_ino}];
      inode.bytes = allocated(st);
      inode.links_needed = S_ISDIR(st.st_mode) ? 1 : st.st_nlink;
      ++inode.links_seen;
      inode.holders.insert(i);
      return {};
    }));
  }
  // Bytes freed once every snapshot in `gone` is deleted: inodes whose links all lie in them.
  auto freed_by = [&](const std::set<std::size_t>& gone) {
    std::uint64_t bytes = 0;
    for (const auto& [key, inode] : inodes) {
      bool all_gone = std::all_of(inode.holders.begin(), inode.holders.end(),
                                  [&](std::size_t holder) { return gone.count(holder) != 0; });
      if (inode.links_seen >= inode.links_needed && all_gone) {
        bytes += inode.bytes;
      }
    }
    return bytes;
  };
  UsageReport report;
  for (const auto& [key, inode] : inodes) {
    report.total_bytes += inode.bytes;
  }
  std::set<std::size_t> older;
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    older.insert(i);
    report.snapshots.push_back({snapshots[i].id, freed_by({i}), freed_by(older)});
  }
  std::set<std::size_t> gone;
  for (std::size_t index : deletion_order) {
    gone.insert(index);
    report.freed_after.push_back(freed_by(gone));
  }
  return report;
}

std::vector<InterruptedWork> FakeBackend::interrupted_work(const fs::path& preset_dir) const {
  ++m_calls.interrupted_work;
  return work_folders(preset_dir);
}

bool FakeBackend::made_snapshot(const fs::path& snapshot) const {
  struct stat st {};
  return ::lstat(snapshot.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<DestinationSpace> FakeBackend::space(const fs::path& destination) const {
  ++m_calls.space;
  if (!m_faults.quota_bytes) {
    return Backend::space(destination);
  }
  std::uint64_t quota = *m_faults.quota_bytes;
  return DestinationSpace{quota, quota - std::min(quota, used_bytes(destination))};
}

std::uint64_t FakeBackend::used_bytes(const fs::path& root) {
  std::set<InodeKey> seen;
  std::uint64_t total = 0;
  (void)walk(root, [&](const fs::path&, const struct stat& st) -> Status {
    if (seen.insert({st.st_dev, st.st_ino}).second) {
      total += allocated(st);
    }
    return {};
  });
  return total;
}

}  // namespace snapkeep::test
