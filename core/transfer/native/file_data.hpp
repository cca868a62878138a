#pragma once
// Copying and hashing one regular file's data for the native engine: read once, holes kept.

#include <cstdint>
#include <filesystem>

#include "core/base/error.hpp"
#include "core/transfer/native/manifest_port.hpp"

namespace snapkeep {

// What copy_file_data did.
struct DataCopy {
  std::uint64_t size = 0;        // the file's size as copied (holes included)
  std::uint64_t bytes_read = 0;  // data bytes read from `in` (holes are not read)
};

// Copies the open regular file `in` from offset 0 to its end into the empty file `out`. Holes of
// `in` (SEEK_DATA/SEEK_HOLE) and 4 KiB blocks of zeros stay holes in `out`. With a hasher, every
// byte (holes as zeros) is hashed while it is copied, so the data is read once; without one, the
// kernel copies (copy_file_range) where it can. With out < 0 it only reads and hashes. Checks
// the stop signals between blocks. Errors keep errno and name the path concerned.
Result<DataCopy> copy_file_data(int in, int out, ContentHasher* hasher, const std::filesystem::path& in_path,
                                const std::filesystem::path& out_path);

}  // namespace snapkeep
