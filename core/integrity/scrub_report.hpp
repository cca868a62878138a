#pragma once
// The report of one scrub: content findings from the damaged contents (one per status of a
// content, listing each of its paths with that status). ScrubReport itself is in scrub.hpp.

#include <vector>

#include "core/integrity/damaged_content.hpp"
#include "core/integrity/scrub_findings.hpp"
#include "core/integrity/snapshot_check.hpp"

namespace snapkeep {

// Adds the findings of `damaged` (paths filled, repair done) to `findings`.
void add_content_findings(FindingList& findings, const std::vector<DamagedContent>& damaged,
                          const std::vector<VerifiedSnapshot>& snapshots);

}  // namespace snapkeep
