#include "core/integrity/scrub_report.hpp"

#include <algorithm>
#include <map>

namespace snapkeep {

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

void add_content_findings(FindingList& findings, const std::vector<DamagedContent>& damaged,
                          const std::vector<VerifiedSnapshot>& snapshots) {
  auto at = [&](std::uint32_t s, const std::string& path) {
    return PathPosition{snapshots[s].order, snapshots[s].info.path / path};
  };
  for (const auto& d : damaged) {
    const IndexedContent& c = d.content;
    // One finding per status of this content, listing every path with that status.
    std::map<FindingStatus, std::pair<ScrubFinding, std::vector<const PathGroup*>>> by_status;
    for (const auto& g : d.groups) {
      auto x = static_cast<std::size_t>(std::find(c.expectations.begin(), c.expectations.end(), g.expectation) -
                                        c.expectations.begin());
      FindingStatus status = FindingStatus::unreadable;
      if (!d.unreadable) {
        Verdict v = d.verdict(x);
        if (v == Verdict::intact) {
          continue;
        }
        status = v == Verdict::corrupted ? FindingStatus::corrupted : FindingStatus::modified;
      }
      auto [it, fresh] = by_status.try_emplace(status);
      if (fresh) {
        ScrubFinding& f = it->second.first;
        f.status = status;
        f.size = g.expectation.size;
        f.expected_hash = g.expectation.hash;
        f.actual_hash = d.unreadable ? std::string() : d.actual[x];
        f.detail = d.error;
        f.repaired = d.repair.repaired;
        f.repaired_from = d.repair.repaired ? d.repair.from : std::string();
        f.repair_note = d.repair_tried && !d.repair.repaired ? d.repair.note : std::string();
      }
      it->second.second.push_back(&g);
    }
    for (auto& [status, found] : by_status) {
      std::size_t index = findings.add_content(std::move(found.first), at(c.first_snapshot, c.first_path));
      for (const PathGroup* g : found.second) {
        for (std::uint32_t s = g->first_snapshot; s <= g->last_snapshot; ++s) {
          findings.add_path(index, at(s, g->path), snapshots[s].info.id);
        }
      }
    }
  }
}

}  // namespace snapkeep
