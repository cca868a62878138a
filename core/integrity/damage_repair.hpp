#pragma once
// Repair orchestration for `scrub --repair`: for each damaged content, the expectation to restore
// and the good-copy candidates (the unchanged source, other contents on the destination with the
// same hash), handed to repair_content (core/integrity/scrub_repair.hpp); and missing files of
// hard-link trees linked back to their inode when it lives on, verified, in another snapshot.
// Memory grows with the damage, not with the contents: candidates are found in one pass over the
// content index.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/integrity/content_index.hpp"
#include "core/integrity/damaged_content.hpp"
#include "core/integrity/scrub.hpp"
#include "core/integrity/scrub_findings.hpp"
#include "core/integrity/scrub_state.hpp"
#include "core/integrity/snapshot_check.hpp"

namespace snapkeep {

// Good copies tried per damaged content, at most, besides its source files.
inline constexpr std::size_t k_max_copy_candidates = 64;

// What repair works on: the run's preset, its verified snapshots, state folder and content index.
struct RepairScope {
  const Preset& preset;
  const std::vector<VerifiedSnapshot>& snapshots;
  std::filesystem::path state_dir;
  const ContentIndex& index;
};

// Repairs each of `damaged` (paths filled) it can, records repaired contents in `state` and counts
// repair_bytes_read. A content whose manifests disagree about it is not repaired (its note says
// why). Stops early on a stop signal; fails only when the content index cannot be read.
Status repair_contents(const RepairScope& scope, std::vector<DamagedContent>& damaged, ScrubState& state,
                       ScrubReport& report);

// Links each of `missing` back to its inode when that inode is a content of the index whose
// manifests expect the same data, not damaged, and verified by this run (`verified`: the first
// contents of ContentIndex::in_order()) or now; a finding whose every path is back is repaired.
// Fails only when the content index cannot be read.
Status relink_missing(const RepairScope& scope, const std::vector<MissingFile>& missing,
                      const std::vector<DamagedContent>& damaged, std::uint64_t verified, FindingList& findings,
                      ScrubReport& report);

}  // namespace snapkeep
