#pragma once
// `snapkeep adopt PRESET`: hands the old script's date-only snapshots (and other snapshot folders
// snapkeep did not make) over to snapkeep, so retention, min_free, du and scrub treat them like its
// own; docs/usage.md.

#include <string>
#include <vector>

#include "core/store/backend.hpp"

namespace snapkeep {

// One snapshot handed over.
struct AdoptedSnapshot {
  std::string id;
  std::time_t time = 0;        // the moment its folder name says (00:00 local for date-only ids)
  bool manifest_made = false;  // its manifest was made (first seen, not verified), for scrub
};

// Under the preset's lock, records every complete snapshot without a record with the time its id
// names (no sequence number: they come before every snapshot snapkeep made, oldest first), and
// makes the manifests they lack. A dry run changes nothing and lists what would be adopted.
Result<std::vector<AdoptedSnapshot>> adopt_snapshots(const Preset& preset, const Backend& backend, bool dry_run,
                                                     bool wait_for_lock);

}  // namespace snapkeep
