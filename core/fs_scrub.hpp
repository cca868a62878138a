#pragma once
// The btrfs filesystem's own scrub (`btrfs scrub start -B -d -R`), run by `snapkeep scrub` on a
// btrfs destination: it reads every copy of every block, checks its checksum and repairs what a
// redundant profile allows.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace snapkeep {

// Counters of a filesystem scrub, summed over the filesystem's devices.
struct FsScrubCounters {
  std::uint64_t data_bytes_scrubbed = 0;
  std::uint64_t tree_bytes_scrubbed = 0;
  std::uint64_t read_errors = 0;
  std::uint64_t data_csum_errors = 0;  // data blocks whose checksum did not match ("csum_errors")
  std::uint64_t tree_errors = 0;       // metadata blocks that failed verification ("verify_errors")
  std::uint64_t super_errors = 0;
  std::uint64_t corrected_errors = 0;
  std::uint64_t uncorrectable_errors = 0;
};

// Parses the raw (-R) output of `btrfs scrub start -B -d -R`, summing the devices' counters.
FsScrubCounters parse_btrfs_scrub_output(std::string_view text);

// Runs the scrub of the btrfs filesystem holding `path` in the foreground. Exit status 3 (errors
// found) is a result, not a failure; other failures name btrfs's status and stderr.
Result<FsScrubCounters> run_btrfs_scrub(const std::filesystem::path& path);

}  // namespace snapkeep
