#pragma once
// The btrfs filesystem's own scrub (`btrfs scrub start -B -d -R`), run by `snapkeep scrub` on a
// btrfs destination: it reads every copy of every block, checks its checksum and repairs what a
// redundant profile allows.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/store/backend.hpp"

namespace snapkeep {

// Parses the raw (-R) output of `btrfs scrub start -B -d -R`, summing the devices' counters.
FsScrubCounters parse_btrfs_scrub_output(std::string_view text);

// Runs the scrub of the btrfs filesystem holding `path` in the foreground. Exit status 3 (errors
// found) is a result, not a failure; other failures name btrfs's status and stderr.
Result<FsScrubCounters> run_btrfs_scrub(const std::filesystem::path& path);

// The FilesystemScrub the btrfs backend offers.
const FilesystemScrub& btrfs_filesystem_scrub();

}  // namespace snapkeep
