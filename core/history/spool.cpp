#include "core/history/spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

void put_length(std::string& out, std::uint32_t n) {
  for (int shift = 0; shift < 32; shift += 8) {
    out.push_back(static_cast<char>(n >> shift));
  }
}

std::uint32_t get_length(std::string_view in) {
  std::uint32_t n = 0;
  for (int i = 3; i >= 0; --i) {
    n = (n << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  }
  return n;
}

}  // namespace

Result<Spool> Spool::create(std::size_t block) {
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec);
  if (ec) {
    dir = "/tmp";
  }
  Fd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // No unnamed files here: a named one, unlinked at once.
    std::string name = (dir / "snapkeep-spool-XXXXXX").string();
    fd = Fd(::mkostemp(name.data(), O_CLOEXEC));
    if (fd) {
      ::unlink(name.c_str());
    }
  }
  if (!fd) {
    return sys_error("cannot make a temporary file in", dir);
  }
  return Spool(std::move(fd), dir, block);
}

Status Spool::flush() {
  std::size_t done = 0;
  while (done < m_pending.size()) {
    const ssize_t n =
        ::pwrite(m_fd.get(), m_pending.data() + done, m_pending.size() - done, static_cast<off_t>(m_written + done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return sys_error("cannot write a temporary file in", m_dir);
    }
    done += static_cast<std::size_t>(n);
  }
  m_written += m_pending.size();
  m_pending.clear();
  return {};
}

Result<std::uint64_t> Spool::append(std::string_view record) {
  const std::uint64_t offset = m_written + m_pending.size();
  put_length(m_pending, static_cast<std::uint32_t>(record.size()));
  m_pending.append(record);
  ++m_records;
  if (m_pending.size() >= m_block) {
    SNAPKEEP_TRY(flush());
  }
  return offset;
}

Status Spool::rewind() {
  SNAPKEEP_TRY(flush());
  m_chunk.clear();
  m_chunk_offset = 0;
  m_chunk_pos = 0;
  return {};
}

Status Spool::read_exact(std::uint64_t offset, std::size_t size, std::string& out) {
  out.resize(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(m_fd.get(), out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return sys_error("cannot read a temporary file in", m_dir);
    }
    if (n == 0) {
      return runtime_error("a temporary file ended early", m_dir);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<bool> Spool::next(std::string& record, std::uint64_t* offset) {
  // Make sure the chunk holds the length and then the whole record.
  auto ensure = [&](std::size_t need) -> Result<bool> {
    if (m_chunk.size() - m_chunk_pos >= need) {
      return true;
    }
    const std::uint64_t at = m_chunk_offset + m_chunk_pos;
    if (at >= m_written) {
      return false;
    }
    const std::size_t size = static_cast<std::size_t>(std::min<std::uint64_t>(std::max(need, m_block), m_written - at));
    if (size < need) {
      return runtime_error("a temporary file ended early", m_dir);
    }
    SNAPKEEP_TRY(read_exact(at, size, m_chunk));
    m_chunk_offset = at;
    m_chunk_pos = 0;
    return true;
  };
  SNAPKEEP_TRY_ASSIGN(bool have, ensure(4));
  if (!have) {
    return false;
  }
  if (offset != nullptr) {
    *offset = m_chunk_offset + m_chunk_pos;
  }
  const std::uint32_t size = get_length(std::string_view(m_chunk).substr(m_chunk_pos, 4));
  SNAPKEEP_TRY_ASSIGN(have, ensure(4 + std::size_t{size}));
  if (!have) {
    return runtime_error("a temporary file ended early", m_dir);
  }
  record.assign(m_chunk, m_chunk_pos + 4, size);
  m_chunk_pos += 4 + std::size_t{size};
  return true;
}

Result<std::string> Spool::read_at(std::uint64_t offset) {
  if (!m_pending.empty()) {
    SNAPKEEP_TRY(flush());
  }
  std::string length;
  SNAPKEEP_TRY(read_exact(offset, 4, length));
  std::string record;
  SNAPKEEP_TRY(read_exact(offset + 4, get_length(length), record));
  return record;
}

}  // namespace snapkeep
