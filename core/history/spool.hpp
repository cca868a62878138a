#pragma once
// Temporary files of records, for what a command keeps that need not fit in memory (the lists of a
// diff): written once, then read back in order or at an offset. They are unnamed (O_TMPFILE) in the
// temporary folder ($TMPDIR, else /tmp), so they vanish when closed, also when snapkeep is killed.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"

namespace snapkeep {

// One temporary file of length-prefixed records.
class Spool {
 public:
  // An empty spool in the temporary folder that writes and reads in blocks of `block` bytes.
  // Errors keep errno (ENOSPC sets `full`).
  static Result<Spool> create(std::size_t block = std::size_t{1} << 16);

  // Appends one record (buffered); returns its offset for read_at(). Fails on a write error.
  Result<std::uint64_t> append(std::string_view record);
  // Starts reading from the first record; what was appended is written out first.
  Status rewind();
  // The next record in order into `record` (and its offset, when asked); false after the last.
  // Fails on a read error.
  Result<bool> next(std::string& record, std::uint64_t* offset = nullptr);
  // The record at `offset` (from append()); the reading position does not move.
  Result<std::string> read_at(std::uint64_t offset);
  // Records appended.
  std::uint64_t records() const { return m_records; }

 private:
  Spool(Fd fd, std::filesystem::path dir, std::size_t block)
      : m_fd(std::move(fd)), m_dir(std::move(dir)), m_block(block) {}
  // Writes the buffered records to the file.
  Status flush();
  // Reads exactly `size` bytes at `offset` into `out`.
  Status read_exact(std::uint64_t offset, std::size_t size, std::string& out);

  Fd m_fd;
  std::filesystem::path m_dir;  // for messages
  std::size_t m_block;
  std::string m_pending;        // appended, not written yet
  std::uint64_t m_written = 0;  // bytes in the file
  std::uint64_t m_records = 0;
  std::string m_chunk;  // read ahead from m_chunk_offset
  std::uint64_t m_chunk_offset = 0;
  std::size_t m_chunk_pos = 0;
};

}  // namespace snapkeep
