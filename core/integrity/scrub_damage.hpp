#pragma once
// Keeping the damage record (core/store/damage.hpp) true after a scrub: what it found and did not
// repair goes in, what it repaired or found intact goes out, so backups never build on it.

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/integrity/scrub.hpp"
#include "core/store/damage.hpp"

namespace snapkeep {

// The record after a scrub of `preset_dir` whose report is `report`: entries of snapshots that are
// gone (not in `existing`) are dropped; entries of the snapshots this run checked (`checked`) are
// replaced by the report's unrepaired findings (snapshot id + path relative to it; a finding naming
// a snapshot folder itself, a damaged manifest, is the whole snapshot, path ""); a run stopped by
// its budget keeps their earlier entries except those it repaired. Other entries stay.
DamageRecord updated_damage_record(const DamageRecord& before, const ScrubReport& report,
                                   const std::filesystem::path& preset_dir, const std::set<std::string>& existing,
                                   const std::set<std::string>& checked);

// Reads the record in the preset's state folder, updates it with updated_damage_record and writes it
// back (an unreadable record is replaced, with a warning). `only` is --snapshot's id when given.
// Snapshots listed in report.without_manifest or report.initialized were not checked.
Status record_scrub_damage(const std::filesystem::path& preset_dir, const std::vector<SnapshotInfo>& snapshots,
                           const std::optional<std::string>& only, const ScrubReport& report);

}  // namespace snapkeep
