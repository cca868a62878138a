#pragma once
// Which mounted filesystem holds a path (/proc/self/mountinfo), and filesystem UUIDs (libblkid):
// the facts behind require_mount and destination_uuid (docs/drives.md).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep {

// One line of /proc/self/mountinfo.
struct MountEntry {
  std::filesystem::path mount_point;
  std::string device_id;   // "major:minor" of the filesystem: the same for every mount of one
                           // filesystem (two subvolumes of one btrfs share it; st_dev does not)
  std::string fs_type;     // "ext4", "btrfs", "fuseblk", ...
  std::string source;      // what was mounted: "/dev/sdb1", "/dev/loop3", ...
  std::string root;        // the folder of the filesystem mounted there ("/" or a subvolume)
  bool read_only = false;  // mounted read-only
};

// Parses mountinfo text (octal escapes such as \040 in paths decoded); malformed lines are skipped.
std::vector<MountEntry> parse_mountinfo(std::string_view text);

// The mount holding `path` (which must exist): the last-listed entry whose mount point is the
// longest prefix of the path with symlinks resolved.
Result<MountEntry> mount_of(const std::filesystem::path& path);

// Is `path` itself a mount point (symlinks resolved)?
Result<bool> is_mount_point(const std::filesystem::path& path);

// What libblkid reads from a device's superblock.
struct DeviceFilesystem {
  std::optional<std::string> uuid;  // lower case; none for filesystems without one
  std::string type;                 // "ext4", "exfat", "vfat", ... ("" when unknown)
};

// Probes the filesystem superblock on `device` (needs read access to the device: root).
Result<DeviceFilesystem> probe_device(const std::string& device);

// The UUID of the filesystem on `device` as blkid prints it ("0c5f…" or "1A2B-3C4D" for FAT/exFAT),
// read from its superblock with libblkid; nullopt when the filesystem has none. Needs read access to
// the device (root); the error says so.
Result<std::optional<std::string>> filesystem_uuid_of_device(const std::string& device);

// The UUID (lower case) of the filesystem holding `path`: its mount's device probed with libblkid.
// Fails, naming the path, when the mount has no block device (tmpfs, network filesystems), the
// device cannot be read (needs root) or shows no UUID. Tells two backup drives at one mount point
// apart (rotating drives, docs/state.md).
Result<std::string> filesystem_uuid(const std::filesystem::path& path);

// A UUID as users write it: lower case, for comparing "A1B2-..." with "a1b2-...".
std::string normalize_uuid(std::string_view uuid);

}  // namespace snapkeep
