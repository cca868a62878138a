#pragma once
// Which filesystem a path is on, by the filesystem's UUID: what tells two backup drives apart even
// when both are mounted at the same place (one subvolume of a btrfs is the same filesystem as the
// rest of it). Read with libblkid from the device the mount table names; see docs/state.md.

#include <filesystem>
#include <string>

#include "core/base/error.hpp"

namespace snapkeep {

// The UUID ("0c5f...-...", lower case) of the filesystem holding `path`: the mount containing it is
// found in /proc/self/mountinfo, and the UUID read from that mount's device. Fails (naming the path)
// when the mount has no block device (tmpfs, network and FUSE filesystems), when the device cannot
// be read (needs root) or shows no UUID.
Result<std::string> filesystem_uuid(const std::filesystem::path& path);

}  // namespace snapkeep
