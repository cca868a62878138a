#include "core/store/catalog.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <tuple>

#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"
#include "core/store/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

fs::path record_path(const fs::path& preset_dir, const std::string& id) {
  return preset_dir / k_state_dir_name / "snapshots" / id;
}

// A snapshot record: "time=EPOCH_SECONDS", "time_ns=EPOCH_NANOSECONDS" and "seq=N", the order of
// completion (records of older versions have no seq, and some an "id_time=", no longer used).
struct Record {
  std::time_t time = 0;
  long long time_ns = 0;
  std::uint64_t seq = 0;
  std::optional<std::uint64_t> files;
  std::optional<std::uint64_t> bytes;
};

// The text of a small file. A backup reads every snapshot's record (list_snapshots,
// record_snapshot_time): plain read(2)s, no stream.
Result<std::string> read_small_file(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot read", path);
  }
  std::string text;
  char buffer[512];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot read", path);
    }
    if (n == 0) {
      return text;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

std::optional<Record> read_record(const fs::path& preset_dir, const std::string& id) {
  std::optional<Record> out;
  const Result<std::string> text = read_small_file(record_path(preset_dir, id));
  if (!text) {
    return out;  // no record (or none readable): the id names the time
  }
  std::size_t start = 0;
  while (start < text->size()) {
    std::size_t newline = text->find('\n', start);
    if (newline == std::string::npos) {
      newline = text->size();
    }
    const std::string line = text->substr(start, newline - start);
    start = newline + 1;
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    char* end = nullptr;
    long long v = std::strtoll(line.c_str() + eq + 1, &end, 10);
    if (end == nullptr || *end != '\0' || end == line.c_str() + eq + 1) {
      continue;
    }
    const std::string_view key = std::string_view(line).substr(0, eq);
    if (key == "time") {
      out = out.value_or(Record{});
      out->time = static_cast<std::time_t>(v);
    } else if (key == "time_ns" && out) {
      out->time_ns = v;
    } else if (key == "seq" && out && v > 0) {
      out->seq = static_cast<std::uint64_t>(v);
    } else if (key == "files" && out && v >= 0) {
      out->files = static_cast<std::uint64_t>(v);
    } else if (key == "bytes" && out && v >= 0) {
      out->bytes = static_cast<std::uint64_t>(v);
    }
  }
  if (out && out->time_ns == 0) {
    out->time_ns = static_cast<long long>(out->time) * 1000000000LL;
  }
  return out;
}

// Ids that in-progress work under a dot-name ("..-<id>", e.g. a btrfs receive or a deletion) still holds.
std::vector<std::string> ids_held_by_work(const fs::path& preset_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(preset_dir, ec)) {
    std::string name = entry.path().filename().string();
    std::size_t dash = name.find('-');
    if (name.size() > 1 && name[0] == '.' && dash != std::string::npos && parse_snapshot_id(name.substr(dash + 1))) {
      out.push_back(name.substr(dash + 1));
    }
  }
  return out;
}

// Calls `visit` with the path, name and parsed id of each snapshot folder of preset_dir (a
// directory, not a symlink, named by a snapshot id) until it returns false. A missing preset_dir
// has none. The type is the one readdir gives (an lstat only where the filesystem gives none):
// every backup goes over the folder several times, and it may hold thousands of snapshots.
Status for_each_snapshot_folder(
    const fs::path& preset_dir,
    const std::function<bool(const fs::path&, const std::string&, const SnapshotId&)>& visit) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(preset_dir.c_str()), ::closedir);
  if (!dir) {
    if (errno == ENOENT) {
      return {};
    }
    return sys_error("cannot list snapshots", preset_dir);
  }
  for (;;) {
    errno = 0;
    const struct dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) {
        return sys_error("cannot list snapshots", preset_dir);
      }
      return {};
    }
    const std::string name = entry->d_name;
    auto id = parse_snapshot_id(name);
    if (!id) {
      continue;
    }
    const fs::path path = preset_dir / name;
    bool folder = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {
      struct stat st {};
      folder = ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (folder && !visit(path, name, *id)) {
      return {};
    }
  }
}

}  // namespace

Result<std::vector<SnapshotInfo>> list_snapshots(const fs::path& preset_dir) {
  std::vector<SnapshotInfo> out;
  SNAPKEEP_TRY(
      for_each_snapshot_folder(preset_dir, [&](const fs::path& path, const std::string& name, const SnapshotId& id) {
        SnapshotInfo info;
        info.id = name;
        info.path = path;
        info.legacy = id.legacy;
        if (auto recorded = read_record(preset_dir, name)) {
          info.time = recorded->time;
          info.time_ns = recorded->time_ns;
          info.seq = recorded->seq;
          info.files = recorded->files;
          info.bytes = recorded->bytes;
          info.time_recorded = true;
        } else {
          info.time = snapshot_id_time(id);
          info.time_ns = static_cast<long long>(info.time) * 1000000000LL;
        }
        out.push_back(std::move(info));
        return true;
      }));
  std::sort(out.begin(), out.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) {
    return std::make_tuple(a.seq != 0, a.seq, a.time_ns, a.id) < std::make_tuple(b.seq != 0, b.seq, b.time_ns, b.id);
  });
  return out;
}

Result<std::size_t> count_snapshots(const fs::path& preset_dir) {
  std::size_t count = 0;
  SNAPKEEP_TRY(for_each_snapshot_folder(preset_dir, [&](const fs::path&, const std::string&, const SnapshotId&) {
    ++count;
    return true;
  }));
  return count;
}

bool holds_recorded_snapshot(const fs::path& preset_dir) {
  bool found = false;
  auto listed = for_each_snapshot_folder(preset_dir, [&](const fs::path&, const std::string& name, const SnapshotId&) {
    found = read_record(preset_dir, name).has_value();
    return !found;
  });
  return listed && found;
}

Result<SnapshotInfo> find_snapshot(const fs::path& preset_dir, const std::string& id_or_latest_text) {
  // Tab completion leaves a trailing slash ("2014-01-11/"), and a path may be given for the id.
  std::string id_or_latest = id_or_latest_text;
  while (id_or_latest.size() > 1 && id_or_latest.back() == '/') {
    id_or_latest.pop_back();
  }
  if (auto slash = id_or_latest.rfind('/'); slash != std::string::npos) {
    id_or_latest = id_or_latest.substr(slash + 1);
  }
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset_dir));
  if (snapshots.empty()) {
    return runtime_error("no snapshots yet in " + preset_dir.string());
  }
  if (id_or_latest == k_latest_name) {
    return snapshots.back();
  }
  for (const auto& s : snapshots) {
    if (s.id == id_or_latest) {
      return s;
    }
  }
  return runtime_error("no snapshot '" + id_or_latest_text + "' in " + preset_dir.string() +
                       " (snapkeep list shows the ids)");
}

std::pair<std::string, std::time_t> new_snapshot_id(const fs::path& preset_dir, std::time_t now,
                                                    const std::vector<std::string>& also_taken) {
  std::vector<std::string> held = ids_held_by_work(preset_dir);
  held.insert(held.end(), also_taken.begin(), also_taken.end());
  // An id a little ahead of the clock whose snapshot was made before now was moved on by a burst of
  // backups within the same seconds: the new id comes after it, so a burst's names keep its order
  // even after a prune freed an earlier name. One made after now means the clock was ahead then,
  // and one far ahead another time zone (ids are local time): the new id names the true time.
  std::time_t start = now;
  // Ids are fixed-width local times, so they sort as the times they name: one that sorts before the
  // local time of two days ago names a moment before now whatever daylight saving did, and is
  // passed over without converting it (mktime reads the time zone each call, and a preset of hourly
  // snapshots kept for months has thousands of ids).
  const std::string long_before = format_snapshot_id(now - 2 * 24 * 3600);
  auto follow = [&](const std::string& name) {
    if (name < long_before) {
      return;
    }
    auto parsed = parse_snapshot_id(name);
    if (!parsed || parsed->legacy) {
      return;
    }
    const std::time_t t = snapshot_id_time(*parsed);
    if (t < start) {
      return;
    }
    if (t - now > k_id_catch_up_seconds) {
      return;  // another time zone's, or a clock that was far ahead
    }
    auto recorded = read_record(preset_dir, name);
    if (!recorded || recorded->time <= now) {
      start = t + 1;
    }
  };
  for (const auto& name : held) {
    follow(name);
  }
  std::error_code ec;
  // The folders, and the records (one whose folder is being deleted still counts).
  for (const fs::path& dir : {preset_dir, preset_dir / k_state_dir_name / "snapshots"}) {
    fs::directory_iterator it(dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      follow(it->path().filename().string());
    }
  }
  for (std::time_t t = start;; ++t) {
    std::string id = format_snapshot_id(t);
    if (!fs::exists(fs::symlink_status(preset_dir / id, ec)) &&
        !fs::exists(fs::symlink_status(record_path(preset_dir, id), ec)) &&
        std::find(held.begin(), held.end(), id) == held.end()) {
      return {id, t};
    }
  }
}

Status record_snapshot_time(const fs::path& preset_dir, const std::string& id, std::time_t when) {
  struct timespec exact {};
  exact.tv_sec = when;
  return record_snapshot_time(preset_dir, id, exact);
}

Status record_snapshot_time(const fs::path& preset_dir, const std::string& id, const struct timespec& when) {
  long long ns = timespec_ns(when);
  fs::path dir = preset_dir / k_state_dir_name / "snapshots";
  SNAPKEEP_TRY(make_dir(dir));
  std::uint64_t seq = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == id) {
      continue;
    }
    if (auto recorded = read_record(preset_dir, name)) {
      seq = std::max(seq, recorded->seq);
    }
  }
  return write_file_atomic(dir / id, "time=" + std::to_string(static_cast<long long>(when.tv_sec)) +
                                         "\ntime_ns=" + std::to_string(ns) + "\nseq=" + std::to_string(seq + 1) + "\n");
}

Status record_snapshot_counts(const fs::path& preset_dir, const std::string& id, std::uint64_t files,
                              std::uint64_t bytes) {
  // A record that cannot be read says why (errno, path); one that is empty has nothing to add to.
  SNAPKEEP_TRY_ASSIGN(std::string text, read_small_file(record_path(preset_dir, id)));
  if (text.empty()) {
    return runtime_error("no record to add counts to", record_path(preset_dir, id));
  }
  if (text.back() != '\n') {
    text += '\n';
  }
  text += "files=" + std::to_string(files) + "\nbytes=" + std::to_string(bytes) + "\n";
  return write_file_atomic(record_path(preset_dir, id), text);
}

Status record_adopted_snapshot(const fs::path& preset_dir, const std::string& id, std::time_t when) {
  fs::path dir = preset_dir / k_state_dir_name / "snapshots";
  SNAPKEEP_TRY(make_dir(dir));
  const long long seconds = static_cast<long long>(when);
  return write_file_atomic(dir / id, "time=" + std::to_string(seconds) +
                                         "\ntime_ns=" + std::to_string(seconds * 1000000000LL) + "\nadopted=1\n");
}

void forget_snapshot_state(const fs::path& preset_dir, const std::string& id) {
  std::error_code ec;
  fs::remove(record_path(preset_dir, id), ec);
  // Never over another deleted snapshot's manifest under the same id (an id used again): then a
  // name of its own. A manifest that cannot be renamed stays, for tidy_manifests to settle.
  const fs::path manifests = preset_dir / k_state_dir_name / k_manifest_dir_name;
  const fs::path from = manifests / id;
  const fs::path gone = manifests / (std::string(k_gone_manifest_prefix) + id);
  auto move_to = [&](const fs::path& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
      return true;
    }
    if (errno != EINVAL && errno != ENOSYS) {
      return false;
    }
    // A filesystem without RENAME_NOREPLACE (exFAT through FUSE): we hold the preset's lock.
    struct stat st {};
    if (::lstat(to.c_str(), &st) == 0) {
      errno = EEXIST;
      return false;
    }
    return ::rename(from.c_str(), to.c_str()) == 0;
  };
  if (!move_to(gone) && errno == EEXIST) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    (void)move_to(gone.string() + "." + std::to_string(now.tv_sec) + "-" + std::to_string(now.tv_nsec));
  }
}

void remove_orphan_records(const fs::path& preset_dir, const std::vector<SnapshotInfo>& snapshots) {
  std::vector<std::string> held = ids_held_by_work(preset_dir);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(preset_dir / k_state_dir_name / "snapshots", ec)) {
    std::string name = entry.path().filename().string();
    bool known = std::any_of(snapshots.begin(), snapshots.end(), [&](const SnapshotInfo& s) { return s.id == name; }) ||
                 std::find(held.begin(), held.end(), name) != held.end();
    if (!known) {
      fs::remove(entry.path(), ec);
    }
  }
}

Status update_latest(const fs::path& preset_dir, const std::string& id) {
  fs::path link = preset_dir / k_latest_name;
  struct stat st {};
  if (::lstat(link.c_str(), &st) == 0 && !S_ISLNK(st.st_mode)) {
    return runtime_error(link.string() +
                         " exists and is not a symlink; snapkeep does not replace what it did not make");
  }
  fs::path tmp = preset_dir / k_state_dir_name / "latest.new";
  ::unlink(tmp.c_str());
  if (::symlink(id.c_str(), tmp.c_str()) != 0) {
    return sys_error("cannot create symlink", tmp);
  }
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    Error e = sys_error("cannot replace", link);
    ::unlink(tmp.c_str());
    return e;
  }
  return fsync_dir(preset_dir);
}

std::optional<std::string> read_latest(const fs::path& preset_dir) {
  std::error_code ec;
  fs::path target = fs::read_symlink(preset_dir / k_latest_name, ec);
  if (ec) {
    return std::nullopt;
  }
  return target.string();
}

}  // namespace snapkeep
