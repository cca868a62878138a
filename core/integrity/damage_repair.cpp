#include "core/integrity/damage_repair.hpp"

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

#include "core/base/signals.hpp"
#include "core/integrity/content_identity.hpp"
#include "core/integrity/hashing.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The expectation a damaged content is to be restored to: every mismatching one must agree, and
// none may match (rewriting would damage that snapshot). Null when there is none.
std::optional<std::size_t> expectation_to_restore(const DamagedContent& d) {
  std::optional<std::size_t> want;
  const auto& expectations = d.content.expectations;
  for (std::size_t x = 0; x < expectations.size(); ++x) {
    if (!d.unreadable && d.verdict(x) == Verdict::intact) {
      return std::nullopt;  // the data matches another manifest
    }
    if (want &&
        (expectations[*want].hash != expectations[x].hash || expectations[*want].size != expectations[x].size)) {
      return std::nullopt;
    }
    want = want ? want : std::optional<std::size_t>(x);
  }
  return want;
}

// The full path of a content's first path.
fs::path read_path(const RepairScope& scope, const IndexedContent& c) {
  return scope.snapshots[c.first_snapshot].info.path / c.first_path;
}

// Every snapshot path of a damaged content (in snapshot order), and source files at the same
// relative paths (each once).
void target_paths(const RepairScope& scope, const DamagedContent& d, RepairTarget& target) {
  std::vector<std::pair<std::uint32_t, const std::string*>> paths;
  for (const auto& g : d.groups) {
    for (std::uint32_t s = g.first_snapshot; s <= g.last_snapshot; ++s) {
      paths.emplace_back(s, &g.path);
    }
  }
  std::sort(paths.begin(), paths.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : *a.second < *b.second;
  });
  std::set<std::string> rels;
  for (const auto& [s, rel] : paths) {
    target.paths.push_back(scope.snapshots[s].info.path / *rel);
    if (rels.insert(*rel).second) {
      target.source_candidates.push_back(scope.preset.source / *rel);
    }
  }
}

// Other contents whose manifests record the hash and size wanted by a damaged content: one pass
// over the index gives every damaged content its candidates (at most k_max_copy_candidates).
Status find_copy_candidates(const RepairScope& scope, const std::vector<DamagedContent>& damaged,
                            const std::vector<std::optional<std::size_t>>& wants,
                            std::vector<std::vector<fs::path>>& candidates) {
  std::unordered_multimap<std::string, std::size_t> by_hash;  // wanted hash -> damaged content
  std::unordered_set<ContentKey, ContentKeyHash> damaged_keys;
  for (std::size_t i = 0; i < damaged.size(); ++i) {
    damaged_keys.insert(damaged[i].content.key);
    if (wants[i]) {
      by_hash.emplace(damaged[i].content.expectations[*wants[i]].hash, i);
    }
  }
  candidates.assign(damaged.size(), {});
  if (by_hash.empty()) {
    return {};
  }
  SNAPKEEP_TRY_ASSIGN(ContentStream contents, scope.index.in_order());
  IndexedContent c;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, contents.next(c));
    if (!more) {
      return {};
    }
    if (damaged_keys.count(c.key) != 0) {
      continue;
    }
    std::set<std::size_t> added;  // each damaged content gets this copy once
    for (const auto& e : c.expectations) {
      auto range = by_hash.equal_range(e.hash);
      for (auto it = range.first; it != range.second; ++it) {
        const Expectation& want = damaged[it->second].content.expectations[*wants[it->second]];
        auto& list = candidates[it->second];
        if (c.live_size == want.size && list.size() < k_max_copy_candidates && added.insert(it->second).second) {
          list.push_back(read_path(scope, c));
        }
      }
    }
  }
}

}  // namespace

Status repair_contents(const RepairScope& scope, std::vector<DamagedContent>& damaged, ScrubState& state,
                       ScrubReport& report) {
  // Staged copies a killed repair left behind (we hold the lock: no repair is running).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(scope.state_dir / "repair", ec)) {
    if (entry.path().filename().string().rfind("repair-", 0) == 0) {
      fs::remove(entry.path(), ec);
    }
  }
  std::vector<std::optional<std::size_t>> wants;
  for (const auto& d : damaged) {
    wants.push_back(expectation_to_restore(d));
  }
  std::vector<std::vector<fs::path>> candidates;
  SNAPKEEP_TRY(find_copy_candidates(scope, damaged, wants, candidates));
  for (std::size_t i = 0; i < damaged.size(); ++i) {
    DamagedContent& d = damaged[i];
    if (stop_signal() != 0) {
      break;
    }
    d.repair_tried = true;
    if (!wants[i]) {
      d.repair.note = "not repaired: the manifests of the snapshots sharing this file disagree about its content";
      continue;
    }
    const Expectation& e = d.content.expectations[*wants[i]];
    RepairTarget target;
    target.kind = e.kind;
    target.expected_hash = e.hash;
    target.size = e.size;
    target.mtime_ns = e.mtime_ns;
    target.work_dir = scope.state_dir / "repair";
    target_paths(scope, d, target);
    target.copy_candidates = std::move(candidates[i]);
    d.repair = repair_content(target);
    report.repair_bytes_read += d.repair.bytes_read;
    if (d.repair.repaired) {
      if (auto recorded = state.record(d.content.state_key, now_ns(), false); !recorded) {
        spdlog::warn("{}: {}", scope.preset.name, recorded.error().describe());
      }
    }
  }
  if (auto synced = state.sync(); !synced) {
    spdlog::warn("{}: {}", scope.preset.name, synced.error().describe());
  }
  return {};
}

namespace {

// A content of the index and its place in verification order.
struct Placed {
  IndexedContent content;
  std::uint64_t position = 0;
};

// The contents of `index` among `keys` (one pass over it).
Status find_contents(const ContentIndex& index,
                     std::unordered_map<ContentKey, std::optional<Placed>, ContentKeyHash>& keys) {
  SNAPKEEP_TRY_ASSIGN(ContentStream contents, index.in_order());
  IndexedContent c;
  for (std::uint64_t position = 0;; ++position) {
    SNAPKEEP_TRY_ASSIGN(bool more, contents.next(c));
    if (!more) {
      return {};
    }
    if (auto it = keys.find(c.key); it != keys.end()) {
      it->second = Placed{c, position};
    }
  }
}

// Whether `content` holds what a missing file's manifest record expects, verified by this run or
// now (counting what that reads).
bool good_for(const RepairScope& scope, const Placed& placed, const ManifestEntry& entry, std::uint64_t verified,
              ScrubReport& report) {
  const IndexedContent& content = placed.content;
  bool expected = std::any_of(content.expectations.begin(), content.expectations.end(), [&](const Expectation& e) {
    return e.hash == entry.hash && e.size == entry.size && e.mtime_ns == entry.mtime_ns;
  });
  if (!expected) {
    return false;
  }
  if (placed.position < verified) {
    return true;
  }
  // Never link to data that was not verified in this run.
  std::uint64_t bytes = 0;
  auto digest =
      hash_file(read_path(scope, content), content.expectations.front().kind, HashReadOptions{true, {}}, &bytes);
  report.repair_bytes_read += bytes;
  return digest && *digest == content.expectations.front().hash;
}

}  // namespace

Status relink_missing(const RepairScope& scope, const std::vector<MissingFile>& missing,
                      const std::vector<DamagedContent>& damaged, std::uint64_t verified, FindingList& findings,
                      ScrubReport& report) {
  if (missing.empty()) {
    return {};
  }
  // The content each missing file was: its recorded inode on its snapshot's device.
  std::vector<std::optional<ContentKey>> was(missing.size());
  std::unordered_map<ContentKey, std::optional<Placed>, ContentKeyHash> found;
  for (std::size_t i = 0; i < missing.size(); ++i) {
    struct stat recorded {};
    if (::stat(scope.snapshots[missing[i].snapshot].info.path.c_str(), &recorded) != 0) {
      continue;
    }
    recorded.st_ino = static_cast<ino_t>(missing[i].entry.ino);
    was[i] = content_key(recorded, ContentSharing::hard_links);
    found.emplace(*was[i], std::nullopt);
  }
  SNAPKEEP_TRY(find_contents(scope.index, found));
  std::unordered_set<ContentKey, ContentKeyHash> damaged_keys;
  for (const auto& d : damaged) {
    damaged_keys.insert(d.content.key);
  }
  std::map<std::size_t, std::pair<std::size_t, std::string>> done;  // finding -> (paths relinked, from)
  auto relinked = [&](const MissingFile& m, const fs::path& from) {
    auto& d = done[m.finding];
    ++d.first;
    if (d.second.empty()) {
      d.second = from.string();  // where the good data came from first (the source, for a restore)
    }
  };
  std::vector<std::size_t> unrepaired;
  for (std::size_t i = 0; i < missing.size(); ++i) {
    const MissingFile& m = missing[i];
    if (!was[i] || !found.at(*was[i]) || damaged_keys.count(*was[i]) != 0 ||
        !good_for(scope, *found.at(*was[i]), m.entry, verified, report)) {
      unrepaired.push_back(i);
      continue;
    }
    fs::path from = read_path(scope, found.at(*was[i])->content);
    if (::link(from.c_str(), m.path.c_str()) != 0) {
      spdlog::warn("{}: cannot link {} back: {}", scope.preset.name, m.path.string(), std::strerror(errno));
      continue;
    }
    spdlog::info("{}: linked {} back to {}", scope.preset.name, m.path.string(), from.string());
    relinked(m, from);
  }
  // No copy left on the drive: the source file, when it is still what the manifest recorded. The
  // first path of a lost inode is restored from it, its other paths are linked to that.
  std::map<std::pair<std::uint64_t, std::string>, fs::path> restored;  // (ino, hash) -> restored path
  for (std::size_t i : unrepaired) {
    const MissingFile& m = missing[i];
    const auto key = std::make_pair(m.entry.ino, m.entry.hash);
    if (auto it = restored.find(key); it != restored.end()) {
      if (::link(it->second.c_str(), m.path.c_str()) == 0) {
        relinked(m, it->second);
      }
      continue;
    }
    RepairTarget target;
    target.kind = m.kind;
    target.expected_hash = m.entry.hash;
    target.size = m.entry.size;
    target.mtime_ns = m.entry.mtime_ns;
    target.work_dir = scope.state_dir / "repair";
    target.source_candidates = {scope.preset.source / m.entry.path};
    RepairResult r = restore_missing(target, m.path);
    report.repair_bytes_read += r.bytes_read;
    if (!r.repaired) {
      spdlog::info("{}: {} not restored: {}", scope.preset.name, m.path.string(), r.note);
      continue;
    }
    restored.emplace(key, m.path);
    relinked(m, r.from);
  }
  for (const auto& [index, d] : done) {
    ScrubFinding& f = findings.at(index);
    if (d.first == findings.path_count(index)) {
      f.repaired = true;
      f.repaired_from = d.second;
      f.repair_note.clear();
    }
  }
  return {};
}

}  // namespace snapkeep
