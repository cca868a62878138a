#pragma once
// One manifest entry from a snapshot path: its lstat fields and its content hash. Shared by the
// full manifest build and the patch from a backend's changes (core/integrity/manifest_build,
// manifest_patch), so both write the same record for the same file.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"
#include "core/integrity/hashing.hpp"
#include "core/store/manifest_entry.hpp"

namespace snapkeep {

// The entry of `path` (relative to the snapshot root) as lstat saw it, without a hash.
ManifestEntry entry_from_stat(std::string_view path, const struct stat& st);

// Sets record.hash by reading `full`: a symlink's target, or a regular file's data (the record then
// takes size and times from the file as read, and `bytes_read` grows by what was read). Other
// types, and no hashers (checksum = none), get no hash.
Status hash_entry(const std::filesystem::path& full, std::vector<Hasher>& hashers, ManifestEntry& record,
                  std::uint64_t& bytes_read);

}  // namespace snapkeep
