#include "core/integrity/scrub_findings.hpp"

#include <algorithm>
#include <numeric>

namespace snapkeep {

std::size_t FindingList::add_entry(const EntryFindingKey& key, const PathPosition& at, const std::string& snapshot_id,
                                   const ManifestEntry& entry, std::string actual, std::string detail) {
  auto [it, fresh] = m_entries.try_emplace(key, m_findings.size());
  if (fresh) {
    Pending pending;
    pending.finding.status = key.status;
    pending.finding.size = entry.size;
    pending.finding.expected_hash = entry.hash;
    pending.finding.actual_hash = std::move(actual);
    pending.finding.detail = std::move(detail);
    if (m_repair) {
      pending.finding.repair_note =
          "not repaired: snapkeep repairs file content, and relinks a missing file whose inode lives on in another "
          "snapshot; restore this entry by hand from another snapshot or the source";
    }
    m_findings.push_back(std::move(pending));
  }
  add_path(it->second, at, snapshot_id);
  return it->second;
}

void FindingList::add_manifest_damaged(std::uint32_t snapshot, const SnapshotInfo& info, std::string detail) {
  Pending pending;
  pending.finding.status = FindingStatus::manifest_damaged;
  pending.finding.detail = std::move(detail);
  if (m_repair) {
    pending.finding.repair_note =
        "not repaired: a damaged manifest is never trusted; delete it and run `snapkeep scrub --init` to record the "
        "snapshot as it is now (first seen, not verified)";
  }
  pending.paths.emplace_back(PathPosition{snapshot, info.path}, info.id);
  m_findings.push_back(std::move(pending));
}

std::size_t FindingList::add_content(ScrubFinding finding, const PathPosition& first) {
  Pending pending;
  pending.finding = std::move(finding);
  pending.phase = 1;
  pending.place = first;
  m_findings.push_back(std::move(pending));
  return m_findings.size() - 1;
}

void FindingList::add_path(std::size_t index, const PathPosition& at, const std::string& snapshot_id) {
  m_findings[index].paths.emplace_back(at, snapshot_id);
}

std::vector<ScrubFinding> FindingList::take() {
  for (auto& pending : m_findings) {
    std::stable_sort(pending.paths.begin(), pending.paths.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  std::vector<std::size_t> order(m_findings.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const Pending& x = m_findings[a];
    const Pending& y = m_findings[b];
    if (x.phase != y.phase) {
      return x.phase < y.phase;
    }
    auto place = [](const Pending& p) -> std::optional<PathPosition> {
      if (p.place) {
        return p.place;
      }
      return p.paths.empty() ? std::nullopt : std::optional<PathPosition>(p.paths.front().first);
    };
    return place(x) < place(y);
  });
  std::vector<ScrubFinding> out;
  out.reserve(order.size());
  for (std::size_t index : order) {
    Pending& pending = m_findings[index];
    ScrubFinding& f = pending.finding;
    for (auto& [at, id] : pending.paths) {
      f.paths.push_back(std::move(at.path));
      if (std::find(f.snapshots.begin(), f.snapshots.end(), id) == f.snapshots.end()) {
        f.snapshots.push_back(std::move(id));
      }
    }
    out.push_back(std::move(f));
  }
  m_findings.clear();
  m_entries.clear();
  return out;
}

}  // namespace snapkeep
