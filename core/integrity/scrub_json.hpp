#pragma once

// The scrub report as JSON: the form `snapkeep scrub --json` prints (docs/json.md) and the form
// `snapkeep serve` sends back over ssh, so a remote scrub reports exactly what a local one does.

#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/integrity/scrub.hpp"

namespace snapkeep {

// Fields that are empty (a finding's detail, repaired_from, repair_note, unverified_paths; the
// report's fs_scrub_note, fs_scrub_reported_by, snapshot_repairs) are left out; "damage" is
// damage_remains().
nlohmann::json scrub_report_to_json(const ScrubReport& report);

// The inverse; a field of the wrong type, a missing required field or an unknown finding status is
// an error naming it.
Result<ScrubReport> scrub_report_from_json(const nlohmann::json& json);

}  // namespace snapkeep
