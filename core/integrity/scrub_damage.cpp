#include "core/integrity/scrub_damage.hpp"

#include <optional>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/store/catalog.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

using Entry = std::pair<std::string, std::string>;

// (snapshot id, path relative to the snapshot) of a path below preset_dir; nullopt when it is not
// below it. The snapshot folder itself gives the path "".
std::optional<Entry> locate(const fs::path& path, const fs::path& preset_dir) {
  fs::path rel = path.lexically_relative(preset_dir);
  if (rel.empty() || *rel.begin() == ".." || *rel.begin() == ".") {
    return std::nullopt;
  }
  auto it = rel.begin();
  std::string id = it->string();
  fs::path rest;
  for (++it; it != rel.end(); ++it) {
    if (!it->empty()) {
      rest /= *it;
    }
  }
  return Entry{id, rest.string()};
}

}  // namespace

DamageRecord updated_damage_record(const DamageRecord& before, const ScrubReport& report, const fs::path& preset_dir,
                                   const std::set<std::string>& existing, const std::set<std::string>& checked) {
  std::set<Entry> repaired;
  std::set<Entry> unrepaired;
  for (const auto& finding : report.findings) {
    for (const auto& path : finding.paths) {
      if (auto entry = locate(path, preset_dir)) {
        (finding.repaired ? repaired : unrepaired).insert(*entry);
      }
    }
  }
  DamageRecord out;
  for (const auto& entry : before.entries) {
    if (existing.count(entry.first) == 0) {
      continue;  // the snapshot is gone
    }
    if (checked.count(entry.first) > 0 && (!report.budget_reached || repaired.count(entry) > 0)) {
      continue;  // this run's findings say what is damaged now
    }
    out.entries.insert(entry);
  }
  for (const auto& entry : unrepaired) {
    if (existing.count(entry.first) > 0) {
      out.entries.insert(entry);
    }
  }
  return out;
}

Status record_scrub_damage(const fs::path& preset_dir, const std::vector<SnapshotInfo>& snapshots,
                           const std::optional<std::string>& only, const ScrubReport& report) {
  const fs::path state_dir = preset_dir / k_state_dir_name;
  DamageRecord before;
  if (auto read = read_damage_record(state_dir); read) {
    before = std::move(*read);
  } else {
    spdlog::warn("{}; this scrub replaces it", read.error().describe());
  }
  std::set<std::string> existing;
  for (const auto& snapshot : snapshots) {
    existing.insert(snapshot.id);
  }
  std::set<std::string> checked;
  if (only) {
    checked.insert(*only == k_latest_name && !snapshots.empty() ? snapshots.back().id : *only);
  } else {
    checked = existing;
  }
  for (const auto& list : {report.without_manifest, report.initialized}) {
    for (const auto& id : list) {
      checked.erase(id);
    }
  }
  DamageRecord after = updated_damage_record(before, report, preset_dir, existing, checked);
  if (after.entries == before.entries) {
    return {};  // nothing to write (a read-only drive stays untouched)
  }
  return write_damage_record(state_dir, after);
}

}  // namespace snapkeep
