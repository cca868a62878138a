#pragma once
// Unnamed temporary files for data that does not fit in memory (sort runs): made in a folder of the
// destination (the preset's .snapkeep/), they have no name, so they vanish when closed, also when
// snapkeep is killed. Where the filesystem cannot make unnamed files (O_TMPFILE), a named file is
// made and unlinked at once; remove_stale_work_files() deletes what a kill in between left.

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"

namespace snapkeep {

// A temporary file that is written by appending and read at offsets.
class WorkFile {
 public:
  // Makes an empty file in `dir` (which must exist). Errors keep errno (ENOSPC sets `full`).
  static Result<WorkFile> create(const std::filesystem::path& dir);

  // Appends bytes at the end. Fails on a write error (a full destination: `full`).
  Status append(const void* data, std::size_t size);
  // Reads up to `size` bytes at `offset`; returns how many (0 at the end). Fails on a read error.
  Result<std::size_t> read_at(std::uint64_t offset, void* data, std::size_t size) const;
  // Bytes appended so far.
  std::uint64_t size() const { return m_size; }

 private:
  WorkFile(Fd fd, std::filesystem::path dir) : m_fd(std::move(fd)), m_dir(std::move(dir)) {}
  Fd m_fd;
  std::filesystem::path m_dir;  // for messages
  std::uint64_t m_size = 0;
};

// Deletes named work files that a run killed between creating and unlinking one left in `dir`.
// Call with the preset's lock held.
void remove_stale_work_files(const std::filesystem::path& dir);

}  // namespace snapkeep
