#pragma once
// What filesystem a path is on (statfs), for `backend = auto` and for checks.

#include <filesystem>
#include <string>

#include "core/base/error.hpp"

namespace snapkeep {

// "btrfs", "ext4" (ext2/3/4 share a magic), "xfs", "tmpfs", ... or "0x<magic>" when unknown.
Result<std::string> filesystem_type(const std::filesystem::path& path);

}  // namespace snapkeep
