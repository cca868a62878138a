#include "core/integrity/scrub.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/base/signals.hpp"
#include "core/config/units.hpp"
#include "core/integrity/hashing.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_build.hpp"
#include "core/integrity/scrub_damage.hpp"
#include "core/integrity/scrub_remake.hpp"
#include "core/integrity/scrub_repair.hpp"
#include "core/integrity/scrub_state.hpp"
#include "core/store/catalog.hpp"
#include "core/store/lock.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view type_name(EntryType type) {
  switch (type) {
    case EntryType::file: return "file";
    case EntryType::directory: return "folder";
    case EntryType::symlink: return "symlink";
    case EntryType::other: return "special file";
  }
  return "entry";
}

// What a manifest says one content must hash to.
struct Expectation {
  ChecksumKind kind = ChecksumKind::xxh128;
  std::string hash;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// One snapshot path of a content: which manifest record (snapshot, ordinal) expects what.
struct Ref {
  std::uint32_t snap = 0;
  std::uint32_t expectation = 0;
  std::uint64_t ordinal = 0;
};

// Which files are one content. Snapshots in the preset folder's filesystem (hard-link trees): one
// inode, (device, inode number). Snapshots that are filesystems of their own (btrfs subvolumes,
// each with its own device number): a file unchanged along a lineage of snapshots keeps its inode
// number, ctime, size and mtime while its extents are shared: (ino, ctime, size, mtime).
struct GroupKey {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::uint64_t c = 0;
  std::uint64_t d = 0;
  std::uint64_t subvolume = 0;
  bool operator==(const GroupKey&) const = default;
};

struct GroupKeyHash {
  std::size_t operator()(const GroupKey& k) const { return static_cast<std::size_t>(XXH3_64bits(&k, sizeof k)); }
};

enum class Verdict { intact, corrupted, modified };

// One unique content and what became of it.
struct Content {
  fs::path read_path;  // a snapshot path to read it from
  std::uint64_t live_size = 0;
  std::int64_t live_mtime_ns = 0;
  std::uint64_t ino = 0;
  std::uint64_t state_key = 0;
  std::vector<Expectation> expectations;
  std::vector<Ref> refs;
  // Results of this run.
  bool read = false;
  bool unreadable = false;
  std::string error;
  std::vector<std::string> actual;  // digest per expectation
  bool damaged = false;
  // Paths of every ref, recovered from the manifests for damaged contents: (ref index, relative path).
  std::vector<std::pair<std::size_t, std::string>> paths;
  RepairResult repair;
  bool repair_tried = false;

  Verdict verdict(std::size_t expectation) const {
    const Expectation& e = expectations[expectation];
    if (actual[expectation] == e.hash) {
      return Verdict::intact;
    }
    return live_mtime_ns == e.mtime_ns ? Verdict::corrupted : Verdict::modified;
  }
};

// The stable key under which a content's verifications are recorded in the scrub state: taken
// from the manifest record (what the content should be), not from the live file.
std::uint64_t state_key_of(const ManifestEntry& e, ChecksumKind kind, bool subvolume) {
  std::string text = std::to_string(e.ino) + ":" + std::to_string(e.size) + ":" + std::to_string(e.mtime_ns) + ":" +
                     std::string(checksum_name(kind)) + ":" + e.hash;
  if (subvolume) {
    text += ":" + std::to_string(e.ctime_ns);
  }
  return XXH3_64bits(text.data(), text.size());
}

class Scrubber {
 public:
  Scrubber(const Preset& preset, const ScrubOptions& options, ScrubState& state, const FilesystemScrub* fs_scrub)
      : m_preset(preset), m_options(options), m_state(state), m_fs_scrub(fs_scrub), m_progress(preset.name) {}

  Status run(const std::vector<SnapshotInfo>& snapshots, ScrubReport& report);

 private:
  Status init_manifests(std::vector<SnapshotInfo>& todo, const std::vector<SnapshotInfo>& all, ScrubReport& report);
  Status check_snapshot(std::uint32_t s, ManifestReader& reader, ScrubReport& report);
  void path_finding(FindingStatus status, std::uint32_t s, const fs::path& full, const ManifestEntry& e,
                    std::string actual, std::string detail, ScrubReport& report);
  Status verify_contents(ScrubReport& report);
  Status recover_paths();
  void repair(ScrubReport& report);
  void build_findings(ScrubReport& report);
  void run_fs_scrub(ScrubReport& report);

  const Preset& m_preset;
  const ScrubOptions& m_options;
  ScrubState& m_state;
  const FilesystemScrub* m_fs_scrub;  // the destination filesystem's own scrub, or null
  Progress m_progress;
  fs::path m_state_dir;
  std::vector<SnapshotInfo> m_snapshots;  // those being verified
  std::vector<fs::path> m_manifests;
  std::vector<Content> m_contents;
  std::unordered_map<GroupKey, std::size_t, GroupKeyHash> m_index;
  std::map<std::string, std::size_t> m_path_findings;  // "status:ino:hash" -> index in report.findings
  // Missing regular files, for relinking: (finding index, snapshot, full path, manifest record).
  struct Missing {
    std::size_t finding = 0;
    std::uint32_t snap = 0;
    fs::path path;
    ManifestEntry entry;
  };
  std::vector<Missing> m_missing;
  void relink_missing(ScrubReport& report);
};

void Scrubber::path_finding(FindingStatus status, std::uint32_t s, const fs::path& full, const ManifestEntry& e,
                            std::string actual, std::string detail, ScrubReport& report) {
  std::string key = std::string(finding_status_name(status)) + ":" + std::to_string(e.ino) + ":" + e.hash + ":" +
                    std::string(1, static_cast<char>(e.type));
  auto [it, fresh] = m_path_findings.try_emplace(key, report.findings.size());
  if (fresh) {
    ScrubFinding finding;
    finding.status = status;
    finding.size = e.size;
    finding.expected_hash = e.hash;
    finding.actual_hash = std::move(actual);
    finding.detail = std::move(detail);
    finding.repair_note = m_options.repair ? "not repaired: snapkeep repairs file content, and relinks a missing "
                                             "file whose inode lives on in another snapshot; restore this entry by "
                                             "hand from another snapshot or the source"
                                           : "";
    report.findings.push_back(std::move(finding));
  }
  ScrubFinding& finding = report.findings[it->second];
  finding.paths.push_back(full);
  const std::string& id = m_snapshots[s].id;
  if (std::find(finding.snapshots.begin(), finding.snapshots.end(), id) == finding.snapshots.end()) {
    finding.snapshots.push_back(id);
  }
}

Status Scrubber::check_snapshot(std::uint32_t s, ManifestReader& reader, ScrubReport& report) {
  const SnapshotInfo& snap = m_snapshots[s];
  ChecksumKind kind = reader.header().checksum;
  // A snapshot that is a filesystem of its own (a btrfs subvolume) rather than a folder of the
  // preset folder's filesystem (a hard-link tree).
  bool subvolume = false;
  {
    struct stat root {};
    struct stat parent {};
    if (::stat(snap.path.c_str(), &root) != 0 || ::stat(m_preset.preset_dir().c_str(), &parent) != 0) {
      return sys_error("cannot stat", snap.path);
    }
    subvolume = root.st_dev != parent.st_dev;
  }
  ManifestEntry e;
  std::uint64_t ordinal = 0;
  for (;; ++ordinal) {
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    auto more = reader.next(e);
    if (!more) {
      return std::move(more).error();
    }
    if (!*more) {
      break;
    }
    ++report.entries_checked;
    fs::path full = snap.path / e.path;
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        path_finding(FindingStatus::missing, s, full, e, {}, {}, report);
        if (e.type == EntryType::file && !e.hash.empty() && !subvolume) {
          std::string key = "missing:" + std::to_string(e.ino) + ":" + e.hash + ":f";
          m_missing.push_back(Missing{m_path_findings[key], s, full, e});
        }
      } else {
        path_finding(FindingStatus::unreadable, s, full, e, {}, sys_error("cannot stat", full).describe(), report);
      }
      continue;
    }
    EntryType live = entry_type_of(st.st_mode);
    if (live != e.type) {
      path_finding(FindingStatus::modified, s, full, e, {},
                   "was a " + std::string(type_name(e.type)) + ", is a " + std::string(type_name(live)), report);
      continue;
    }
    std::int64_t mtime = timespec_ns(st.st_mtim);
    if (e.type == EntryType::symlink && !e.hash.empty()) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      if (n < 0) {
        path_finding(FindingStatus::unreadable, s, full, e, {}, sys_error("cannot read symlink", full).describe(),
                     report);
        continue;
      }
      target.resize(static_cast<std::size_t>(n));
      std::string actual = hash_bytes(kind, target);
      ++report.files_checked;
      if (actual != e.hash) {
        path_finding(mtime == e.mtime_ns ? FindingStatus::corrupted : FindingStatus::modified, s, full, e, actual,
                     "symlink target differs", report);
      }
      continue;
    }
    if (e.type != EntryType::file) {
      continue;
    }
    if (e.hash.empty()) {
      // checksum = none: metadata is all there is to check.
      if (static_cast<std::uint64_t>(st.st_size) != e.size || mtime != e.mtime_ns) {
        path_finding(mtime == e.mtime_ns ? FindingStatus::corrupted : FindingStatus::modified, s, full, e, {},
                     "size or mtime differ (checksum = none)", report);
      }
      continue;
    }
    GroupKey key = subvolume ? GroupKey{st.st_ino, static_cast<std::uint64_t>(timespec_ns(st.st_ctim)),
                                        static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(mtime), 1}
                             : GroupKey{static_cast<std::uint64_t>(st.st_dev), st.st_ino, 0, 0, 0};
    auto [it, fresh] = m_index.try_emplace(key, m_contents.size());
    if (fresh) {
      Content content;
      content.read_path = full;
      content.live_size = static_cast<std::uint64_t>(st.st_size);
      content.live_mtime_ns = mtime;
      content.ino = st.st_ino;
      content.state_key = state_key_of(e, kind, subvolume);
      m_contents.push_back(std::move(content));
    }
    Content& content = m_contents[it->second];
    std::uint32_t x = 0;
    for (; x < content.expectations.size(); ++x) {
      const Expectation& have = content.expectations[x];
      if (have.kind == kind && have.hash == e.hash && have.size == e.size && have.mtime_ns == e.mtime_ns) {
        break;
      }
    }
    if (x == content.expectations.size()) {
      content.expectations.push_back(Expectation{kind, e.hash, e.size, e.mtime_ns});
    }
    content.refs.push_back(Ref{s, x, ordinal});
  }
  return {};
}

Status Scrubber::verify_contents(ScrubReport& report) {
  // Order: contents found damaged before are checked again first (outside the budget, so damage is
  // never forgotten); then the never verified; then the longest ago; inode order within each.
  std::vector<std::size_t> order(m_contents.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  auto rank = [&](std::size_t i) {
    const ContentRecord* r = m_state.find(m_contents[i].state_key);
    int klass = r == nullptr ? 1 : (r->damaged ? 0 : 2);
    return std::make_tuple(klass, r == nullptr ? 0 : r->verified_ns, m_contents[i].ino);
  };
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return rank(a) < rank(b); });
  for (const auto& c : m_contents) {
    report.bytes_total += c.live_size;
  }

  auto started = std::chrono::steady_clock::now();
  auto last_sync = started;
  std::uint64_t budget_bytes = 0;  // bytes counted against --max-bytes
  bool budget_started = false;     // a content counted against the budgets was read: progress is made
  std::uint64_t done_bytes = 0;
  for (std::size_t n = 0; n < order.size(); ++n) {
    Content& c = m_contents[order[n]];
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    const ContentRecord* before = m_state.find(c.state_key);
    bool recheck = before != nullptr && before->damaged;
    if (!recheck) {
      auto elapsed = std::chrono::steady_clock::now() - started;
      if (m_options.max_seconds && budget_started &&
          elapsed >= std::chrono::seconds(static_cast<std::chrono::seconds::rep>(*m_options.max_seconds))) {
        report.budget_reached = true;
        break;
      }
      if (m_options.max_bytes && budget_started && budget_bytes + c.live_size > *m_options.max_bytes) {
        report.budget_reached = true;
        break;
      }
    }
    m_progress.update("scrub " + std::to_string(n) + "/" + std::to_string(order.size()) + " contents, " +
                      format_bytes(done_bytes) + " of " + format_bytes(report.bytes_total));
    std::vector<Hasher> hashers;
    std::vector<ChecksumKind> kinds;
    for (const auto& e : c.expectations) {
      if (std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end()) {
        kinds.push_back(e.kind);
        hashers.emplace_back(e.kind);
      }
    }
    std::uint64_t read_bytes = 0;
    auto fd = open_for_reading(c.read_path);
    Result<std::uint64_t> read = fd ? Result<std::uint64_t>(std::uint64_t{0}) : Result<std::uint64_t>(fd.error());
    if (fd) {
      HashReadOptions how;
      how.from_disk = true;
      how.on_bytes = [&](std::uint64_t bytes) { read_bytes += bytes; };
      read = hash_fd(*fd, hashers, how, c.read_path);
      ::close(*fd);
    }
    report.bytes_read += read_bytes;
    done_bytes += c.live_size;
    if (!recheck) {
      budget_bytes += read_bytes;
      budget_started = true;
    }
    c.read = true;
    ++report.contents_verified;
    report.files_checked += c.refs.size();
    if (!read) {
      const Error& err = read.error();
      if (err.err == EIO || err.err == EUCLEAN || err.err == ENODATA) {
        c.unreadable = true;
        c.damaged = true;
        c.error = err.describe();
      } else {
        return err;
      }
    } else {
      std::vector<std::string> digests;
      for (auto& h : hashers) {
        digests.push_back(h.hex_digest());
      }
      for (const auto& e : c.expectations) {
        c.actual.push_back(
            digests[static_cast<std::size_t>(std::find(kinds.begin(), kinds.end(), e.kind) - kinds.begin())]);
      }
      for (std::size_t x = 0; x < c.expectations.size(); ++x) {
        if (c.verdict(x) != Verdict::intact) {
          c.damaged = true;
        }
      }
      if (c.damaged) {
        ++report.mismatches;
      }
    }
    SNAPKEEP_TRY(m_state.record(c.state_key, now_ns(), c.damaged));
    if (std::chrono::steady_clock::now() - last_sync > std::chrono::seconds(5)) {
      SNAPKEEP_TRY(m_state.sync());
      last_sync = std::chrono::steady_clock::now();
    }
  }
  m_progress.finish();
  return m_state.sync();
}

Status Scrubber::recover_paths() {
  // (snapshot, ordinal) -> (content, ref index), for the damaged contents only.
  std::map<std::uint32_t, std::vector<std::tuple<std::uint64_t, std::size_t, std::size_t>>> wanted;
  for (std::size_t c = 0; c < m_contents.size(); ++c) {
    if (!m_contents[c].damaged) {
      continue;
    }
    for (std::size_t r = 0; r < m_contents[c].refs.size(); ++r) {
      const Ref& ref = m_contents[c].refs[r];
      wanted[ref.snap].emplace_back(ref.ordinal, c, r);
    }
  }
  for (auto& [snap, list] : wanted) {
    std::sort(list.begin(), list.end());
    auto opened = open_manifest(m_manifests[snap]);
    if (opened.state != ManifestState::ok) {
      return runtime_error("the manifest changed during the scrub: " + opened.reason, m_manifests[snap]);
    }
    ManifestEntry e;
    std::uint64_t ordinal = 0;
    std::size_t next = 0;
    while (next < list.size()) {
      auto more = opened.reader->next(e);
      if (!more) {
        return std::move(more).error();
      }
      if (!*more) {
        return runtime_error("the manifest changed during the scrub", m_manifests[snap]);
      }
      while (next < list.size() && std::get<0>(list[next]) == ordinal) {
        m_contents[std::get<1>(list[next])].paths.emplace_back(std::get<2>(list[next]), e.path);
        ++next;
      }
      ++ordinal;
    }
  }
  for (auto& c : m_contents) {
    std::sort(c.paths.begin(), c.paths.end());
  }
  return {};
}

void Scrubber::repair(ScrubReport& report) {
  // Staged copies a killed repair left behind (we hold the lock: no repair is running).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(m_state_dir / "repair", ec)) {
    if (entry.path().filename().string().rfind("repair-", 0) == 0) {
      fs::remove(entry.path(), ec);
    }
  }
  // Contents whose data matched their manifest this run, by hash: good copies.
  std::unordered_multimap<std::string, std::size_t> by_hash;
  for (std::size_t i = 0; i < m_contents.size(); ++i) {
    for (const auto& e : m_contents[i].expectations) {
      by_hash.emplace(e.hash, i);
    }
  }
  for (std::size_t i = 0; i < m_contents.size(); ++i) {
    Content& c = m_contents[i];
    if (!c.damaged) {
      continue;
    }
    if (stop_signal() != 0) {
      return;
    }
    c.repair_tried = true;
    // The expectation to restore: every mismatching one must agree.
    std::optional<std::size_t> want;
    bool disagree = false;
    for (std::size_t x = 0; x < c.expectations.size(); ++x) {
      if (c.unreadable || c.verdict(x) != Verdict::intact) {
        if (want && (c.expectations[*want].hash != c.expectations[x].hash ||
                     c.expectations[*want].size != c.expectations[x].size)) {
          disagree = true;
        }
        want = want ? want : std::optional<std::size_t>(x);
      } else {
        disagree = true;  // the data matches another manifest: rewriting would damage that snapshot
      }
    }
    if (!want || disagree) {
      c.repair.note = "not repaired: the manifests of the snapshots sharing this file disagree about its content";
      continue;
    }
    const Expectation& e = c.expectations[*want];
    RepairTarget target;
    target.kind = e.kind;
    target.expected_hash = e.hash;
    target.size = e.size;
    target.mtime_ns = e.mtime_ns;
    target.work_dir = m_state_dir / "repair";
    std::set<std::string> rels;
    for (const auto& [r, rel] : c.paths) {
      target.paths.push_back(m_snapshots[c.refs[r].snap].path / rel);
      if (rels.insert(rel).second) {
        target.source_candidates.push_back(m_preset.source / rel);
      }
    }
    auto range = by_hash.equal_range(e.hash);
    for (auto it = range.first; it != range.second; ++it) {
      const Content& other = m_contents[it->second];
      if (it->second != i && !other.damaged && other.live_size == e.size) {
        target.copy_candidates.push_back(other.read_path);
      }
    }
    c.repair = repair_content(target);
    report.repair_bytes_read += c.repair.bytes_read;
    if (c.repair.repaired) {
      if (auto recorded = m_state.record(c.state_key, now_ns(), false); !recorded) {
        spdlog::warn("{}: {}", m_preset.name, recorded.error().describe());
      }
    }
  }
  if (auto synced = m_state.sync(); !synced) {
    spdlog::warn("{}: {}", m_preset.name, synced.error().describe());
  }
}

// A file missing from a hard-link tree whose inode still lives in another snapshot (same inode
// number on the same device, intact) gets its link back: the same inode, so the same data, mode,
// owner, mtime and xattrs as before.
void Scrubber::relink_missing(ScrubReport& report) {
  std::map<std::size_t, std::pair<std::size_t, std::string>> done;  // finding -> (paths relinked, from)
  for (const Missing& m : m_missing) {
    struct stat root {};
    if (::stat(m_snapshots[m.snap].path.c_str(), &root) != 0) {
      continue;
    }
    auto it = m_index.find(GroupKey{static_cast<std::uint64_t>(root.st_dev), m.entry.ino, 0, 0, 0});
    if (it == m_index.end()) {
      continue;
    }
    Content& c = m_contents[it->second];
    bool expected = std::any_of(c.expectations.begin(), c.expectations.end(), [&](const Expectation& e) {
      return e.hash == m.entry.hash && e.size == m.entry.size && e.mtime_ns == m.entry.mtime_ns;
    });
    if (!expected || c.damaged) {
      continue;
    }
    if (!c.read) {  // never link to data that was not verified in this run
      std::uint64_t bytes = 0;
      auto digest = hash_file(c.read_path, c.expectations.front().kind, HashReadOptions{true, {}}, &bytes);
      report.repair_bytes_read += bytes;
      if (!digest || *digest != c.expectations.front().hash) {
        continue;
      }
    }
    if (::link(c.read_path.c_str(), m.path.c_str()) != 0) {
      spdlog::warn("{}: cannot link {} back: {}", m_preset.name, m.path.string(), std::strerror(errno));
      continue;
    }
    spdlog::info("{}: linked {} back to {}", m_preset.name, m.path.string(), c.read_path.string());
    auto& d = done[m.finding];
    ++d.first;
    d.second = c.read_path.string();
  }
  for (const auto& [index, d] : done) {
    ScrubFinding& f = report.findings[index];
    if (d.first == f.paths.size()) {
      f.repaired = true;
      f.repaired_from = d.second;
      f.repair_note.clear();
    }
  }
}

void Scrubber::build_findings(ScrubReport& report) {
  for (const auto& c : m_contents) {
    if (!c.damaged) {
      continue;
    }
    // One finding per status of this content, listing every path with that status.
    std::map<FindingStatus, ScrubFinding> by_status;
    for (const auto& [r, rel] : c.paths) {
      const Ref& ref = c.refs[r];
      const Expectation& e = c.expectations[ref.expectation];
      FindingStatus status = FindingStatus::unreadable;
      if (!c.unreadable) {
        Verdict v = c.verdict(ref.expectation);
        if (v == Verdict::intact) {
          continue;
        }
        status = v == Verdict::corrupted ? FindingStatus::corrupted : FindingStatus::modified;
      }
      auto [it, fresh] = by_status.try_emplace(status);
      ScrubFinding& f = it->second;
      if (fresh) {
        f.status = status;
        f.size = e.size;
        f.expected_hash = e.hash;
        f.actual_hash = c.unreadable ? std::string() : c.actual[ref.expectation];
        f.detail = c.error;
        f.repaired = c.repair.repaired;
        f.repaired_from = c.repair.repaired ? c.repair.from : std::string();
        f.repair_note = c.repair_tried && !c.repair.repaired ? c.repair.note : std::string();
      }
      f.paths.push_back(m_snapshots[ref.snap].path / rel);
      const std::string& id = m_snapshots[ref.snap].id;
      if (std::find(f.snapshots.begin(), f.snapshots.end(), id) == f.snapshots.end()) {
        f.snapshots.push_back(id);
      }
    }
    for (auto& [status, f] : by_status) {
      report.findings.push_back(std::move(f));
    }
  }
}

void Scrubber::run_fs_scrub(ScrubReport& report) {
  if (m_fs_scrub == nullptr || !m_options.fs_scrub) {
    return;
  }
  if (m_options.max_bytes || m_options.max_seconds || m_options.snapshot) {
    report.fs_scrub_note =
        "skipped: the btrfs scrub covers the whole filesystem and runs only on scrubs without "
        "--snapshot, --max-bytes or --max-time";
    return;
  }
  if (auto why = m_fs_scrub->unavailable()) {
    report.fs_scrub_note = "skipped: " + *why;
    return;
  }
  // Once per filesystem per run: presets sharing a drive point at the report that holds the figures.
  std::string fs_id;
  if (FsScrubsDone* done = m_options.fs_scrubs_done; done != nullptr) {
    if (auto id = m_fs_scrub->filesystem_id(m_preset.preset_dir())) {
      fs_id = *id;
      if (auto it = done->by_filesystem.find(fs_id); it != done->by_filesystem.end()) {
        report.fs_scrub_reported_by = it->second;
        report.fs_scrub_note = "the filesystem " + fs_id + " was scrubbed once in this run; its figures are in " +
                               "the report of preset " + it->second;
        return;
      }
    }
  }
  spdlog::info("{}: running the btrfs filesystem scrub of {}", m_preset.name, m_preset.preset_dir().string());
  auto counters = m_fs_scrub->run(m_preset.preset_dir());
  if (!counters) {
    report.fs_scrub_note = "failed: " + counters.error().describe();
    spdlog::warn("{}: the btrfs scrub failed: {}", m_preset.name, counters.error().describe());
    return;
  }
  report.fs_scrub = *counters;
  if (!fs_id.empty()) {
    m_options.fs_scrubs_done->by_filesystem.emplace(fs_id, m_preset.name);
  }
  if (counters->uncorrectable_errors > 0 || counters->corrected_errors > 0) {
    spdlog::warn(
        "{}: btrfs scrub: {} data checksum errors, {} metadata errors, {} corrected, {} uncorrectable "
        "(the kernel log, dmesg, names the files)",
        m_preset.name, counters->data_csum_errors, counters->tree_errors, counters->corrected_errors,
        counters->uncorrectable_errors);
  }
}

Status Scrubber::init_manifests(std::vector<SnapshotInfo>& todo, const std::vector<SnapshotInfo>& all,
                                ScrubReport& report) {
  SNAPKEEP_TRY(make_dir(manifest_dir(m_state_dir), 0700));
  std::vector<SnapshotInfo> keep;
  for (const auto& snap : todo) {
    fs::path file = manifest_path(m_state_dir, snap.id);
    auto opened = open_manifest(file);
    if (opened.state != ManifestState::missing) {
      keep.push_back(snap);
      continue;
    }
    ManifestBuildOptions options;
    options.checksum = m_preset.checksum;
    options.origin = "init";
    options.progress = &m_progress;
    // Reuse from the snapshot made just before, when it has a manifest by now.
    auto pos = std::find_if(all.begin(), all.end(), [&](const SnapshotInfo& s) { return s.id == snap.id; });
    if (pos != all.begin() && pos != all.end()) {
      options.previous_snapshot = std::prev(pos)->path;
      options.previous_manifest = manifest_path(m_state_dir, std::prev(pos)->id);
    }
    spdlog::info("{}: making the manifest of {} (first seen: recorded, not verified)", m_preset.name, snap.id);
    auto built = build_manifest(snap.path, snap.id, file, options);
    m_progress.finish();
    if (!built) {
      return built.error();
    }
    report.initialized.push_back(snap.id);
  }
  todo = std::move(keep);
  return {};
}

Status Scrubber::run(const std::vector<SnapshotInfo>& snapshots, ScrubReport& report) {
  m_state_dir = m_preset.preset_dir() / k_state_dir_name;
  std::vector<SnapshotInfo> todo = snapshots;
  if (m_options.snapshot) {
    auto found = find_snapshot(m_preset.preset_dir(), *m_options.snapshot);
    if (!found) {
      return std::move(found).error();
    }
    todo = {*found};
  }
  std::vector<std::string> ids;
  for (const auto& s : snapshots) {
    ids.push_back(s.id);
  }
  tidy_manifests(m_state_dir, ids);
  if (m_options.init) {
    SNAPKEEP_TRY(init_manifests(todo, snapshots, report));
  }
  run_fs_scrub(report);

  for (const auto& snap : todo) {
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    fs::path file = manifest_path(m_state_dir, snap.id);
    auto opened = open_manifest(file);
    if (opened.state == ManifestState::missing) {
      report.without_manifest.push_back(snap.id);
      continue;
    }
    if (opened.state == ManifestState::unsupported) {
      spdlog::warn("{}: {}: not verified: {}", m_preset.name, file.string(), opened.reason);
      report.without_manifest.push_back(snap.id);
      continue;
    }
    if (opened.state == ManifestState::damaged || opened.reader->header().snapshot_id != snap.id) {
      ScrubFinding finding;
      finding.status = FindingStatus::manifest_damaged;
      finding.paths.push_back(snap.path);
      finding.snapshots.push_back(snap.id);
      finding.detail =
          file.string() + ": " +
          (opened.state == ManifestState::damaged ? opened.reason
                                                  : "it names snapshot " + opened.reader->header().snapshot_id);
      if (m_options.repair) {
        finding.repair_note =
            "not repaired: a damaged manifest is never trusted; delete it and run `snapkeep scrub "
            "--init` to record the snapshot as it is now (first seen, not verified)";
      }
      report.findings.push_back(std::move(finding));
      continue;
    }
    auto s = static_cast<std::uint32_t>(m_snapshots.size());
    m_snapshots.push_back(snap);
    m_manifests.push_back(file);
    ++report.snapshots_checked;
    SNAPKEEP_TRY(check_snapshot(s, *opened.reader, report));
  }
  report.contents_total = m_contents.size();
  SNAPKEEP_TRY(verify_contents(report));
  SNAPKEEP_TRY(recover_paths());
  if (m_options.repair) {
    repair(report);
    relink_missing(report);
  }
  build_findings(report);

  std::unordered_set<std::uint64_t> live;
  for (const auto& c : m_contents) {
    live.insert(c.state_key);
    if (m_state.find(c.state_key) == nullptr) {
      ++report.contents_unverified;
    }
  }
  if (!m_options.snapshot) {
    if (auto compacted = m_state.compact(live); !compacted) {
      spdlog::warn("{}: {}", m_preset.name, compacted.error().describe());
    }
  }
  return {};
}

}  // namespace

std::string_view finding_status_name(FindingStatus status) {
  switch (status) {
    case FindingStatus::corrupted: return "corrupted";
    case FindingStatus::unreadable: return "unreadable";
    case FindingStatus::missing: return "missing";
    case FindingStatus::modified: return "modified";
    case FindingStatus::manifest_damaged: return "manifest_damaged";
  }
  return "unknown";
}

bool ScrubReport::damage_remains() const {
  bool repaired_unreadable = false;
  for (const auto& f : findings) {
    if (!f.repaired) {
      return true;
    }
    repaired_unreadable = repaired_unreadable || f.status == FindingStatus::unreadable;
  }
  return fs_scrub && fs_scrub->uncorrectable_errors > 0 && !repaired_unreadable;
}

Result<ScrubReport> run_scrub(const Preset& preset, const Backend& backend, const ScrubOptions& options) {
  auto started = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!fs::is_directory(preset.destination, ec)) {
    return runtime_error(preset.name + ": destination " + preset.destination.string() +
                         " does not exist (is the drive mounted?)");
  }
  ScrubReport report;
  fs::path preset_dir = preset.preset_dir();
  if (!fs::is_directory(preset_dir, ec)) {
    return report;  // nothing backed up yet
  }
  fs::path state_dir = preset_dir / k_state_dir_name;
  if (auto made = make_dir(state_dir, 0700); !made) {
    return made.error();
  }
  auto lock = PresetLock::acquire(state_dir, preset.name, options.wait_for_lock);
  if (!lock) {
    return std::move(lock).error();
  }
  auto snapshots = list_snapshots(preset_dir);
  if (!snapshots) {
    return std::move(snapshots).error();
  }
  auto state = ScrubState::open(state_dir);
  if (!state) {
    return std::move(state).error();
  }
  Scrubber scrubber(preset, options, *state, backend.filesystem_scrub());
  if (auto ran = scrubber.run(*snapshots, report); !ran) {
    Error e = std::move(ran).error();
    if (e.message.rfind(preset.name + ":", 0) != 0) {
      e.message = preset.name + ": " + e.message;
    }
    return e;
  }
  // Known damage: snapshots remade as a whole where the backend can (scrub_remake.cpp), then the
  // damage record that backups consult (scrub_damage.cpp).
  if (options.repair && backend.snapshot_remaker() != nullptr) {
    remake_damaged_snapshots(preset, *backend.snapshot_remaker(), *snapshots, report);
  }
  if (auto recorded = record_scrub_damage(preset_dir, *snapshots, options.snapshot, report); !recorded) {
    spdlog::warn("{}: the damage record was not updated: {}", preset.name, recorded.error().describe());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace snapkeep
