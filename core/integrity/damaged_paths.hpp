#pragma once
// Path recovery for damaged contents: the content index keeps every path of every content in a
// sorted work file; one pass over it gives each damaged content all of its snapshot paths.

#include <vector>

#include "core/base/error.hpp"
#include "core/integrity/content_index.hpp"
#include "core/integrity/damaged_content.hpp"

namespace snapkeep {

// Fills `groups` of each of `damaged` from `index`. Fails when a work file cannot be read.
Status find_damaged_paths(const ContentIndex& index, std::vector<DamagedContent>& damaged);

}  // namespace snapkeep
