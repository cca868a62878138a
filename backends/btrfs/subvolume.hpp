#pragma once
// A thin wrapper over libbtrfsutil: the only place that includes it.

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep::btrfs {

using Uuid = std::array<std::uint8_t, 16>;

// What snapkeep needs to know of a subvolume.
struct SubvolumeInfo {
  std::uint64_t id = 0;
  Uuid uuid{};
  Uuid parent_uuid{};
  Uuid received_uuid{};
  std::uint64_t ctransid = 0;
  bool read_only = false;
};

// True for a subvolume root; false for a plain folder or a path not on btrfs.
Result<bool> is_subvolume(const std::filesystem::path& path);
// Info on the subvolume at path (which must be its root).
Result<SubvolumeInfo> subvolume_info(const std::filesystem::path& path);
// Creates an empty subvolume at path.
Status create_subvolume(const std::filesystem::path& path);
// Snapshots the subvolume `source` as `dest` (read-only if asked); atomic.
Status snapshot(const std::filesystem::path& source, const std::filesystem::path& dest, bool read_only);
// Deletes the subvolume at path (read-only or not).
Status delete_subvolume(const std::filesystem::path& path);
// Is dest a read-only subvolume received from the snapshot whose uuid is source_uuid (a verified
// copy, see docs/btrfs.md)? False when it cannot be examined.
bool is_verified_copy(const std::filesystem::path& dest, const Uuid& source_uuid);
// Swaps the names of two entries of one folder atomically (renameat2 RENAME_EXCHANGE; subvolumes,
// read-only ones included, can be swapped within their folder).
Status exchange_names(const std::filesystem::path& a, const std::filesystem::path& b);
// Commits the btrfs filesystem holding path and wakes its cleaner, which frees deleted subvolumes.
Status sync_and_clean(const std::filesystem::path& path);
// Subvolumes below the subvolume at path, as paths relative to it.
Result<std::vector<std::filesystem::path>> nested_subvolumes(const std::filesystem::path& path);

// The uuid of the btrfs filesystem holding path (BTRFS_IOC_FS_INFO); an error when not on btrfs.
Result<Uuid> filesystem_uuid(const std::filesystem::path& path);

// "0c5f…-…" text form; "-" for the null uuid.
std::string uuid_text(const Uuid& uuid);
bool is_null(const Uuid& uuid);

}  // namespace snapkeep::btrfs
