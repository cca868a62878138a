#include "core/transfer/native/file_data.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/base/signals.hpp"

namespace snapkeep {
namespace {

constexpr std::size_t k_block = 1 << 20;
constexpr std::size_t k_page = 4096;

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

// A page-aligned block buffer per thread.
char* block_buffer() {
  thread_local std::unique_ptr<char, FreeDeleter> buffer;
  if (!buffer) {
    void* p = nullptr;
    if (::posix_memalign(&p, k_page, k_block) == 0) {
      buffer.reset(static_cast<char*>(p));
    }
  }
  return buffer.get();
}

// A block of zeros to hash holes with.
const char* zero_block() {
  static const std::unique_ptr<char[]> zeros(new char[k_block]());
  return zeros.get();
}

bool all_zero(const char* data, std::size_t size) {
  return size == 0 || (data[0] == 0 && std::memcmp(data, data + 1, size - 1) == 0);
}

Error interrupted() {
  return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
}

// Writes data[0..size) at `offset`, leaving 4 KiB blocks of zeros (aligned in the file) as holes.
Status write_sparse(int out, const char* data, std::size_t size, std::uint64_t offset,
                    const std::filesystem::path& path) {
  std::size_t pos = 0;
  while (pos < size) {
    // A run of zero pages is skipped, a run of data pages is written at once.
    std::size_t page_end = std::min(size, pos + (k_page - (offset + pos) % k_page));
    bool zero = all_zero(data + pos, page_end - pos);
    std::size_t end = page_end;
    while (end < size) {
      std::size_t next = std::min(size, end + k_page);
      if (all_zero(data + end, next - end) != zero) {
        break;
      }
      end = next;
    }
    if (!zero) {
      for (std::size_t done = pos; done < end;) {
        ssize_t n = ::pwrite(out, data + done, end - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n < 0) {
          return sys_error("cannot write", path);
        }
        done += static_cast<std::size_t>(n);
      }
    }
    pos = end;
  }
  return {};
}

// Hashes `size` zero bytes.
void hash_zeros(ContentHasher* hasher, std::uint64_t size) {
  while (hasher != nullptr && size > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, k_block));
    hasher->update(zero_block(), n);
    size -= n;
  }
}

// Copies [offset, end) in the kernel; false (nothing copied of the failing call) when it cannot.
Result<bool> kernel_copy(int in, int out, std::uint64_t& offset, std::uint64_t end,
                         const std::filesystem::path& in_path, const std::filesystem::path& out_path) {
  while (offset < end) {
    if (stop_signal() != 0) {
      return interrupted();
    }
    loff_t from = static_cast<loff_t>(offset);
    loff_t to = from;
    ssize_t n = ::copy_file_range(in, &from, out, &to,
                                  static_cast<std::size_t>(std::min<std::uint64_t>(end - offset, k_block * 16)), 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS || errno == EBADF) {
        return false;
      }
      if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG) {
        return sys_error("cannot write", out_path);
      }
      return sys_error("cannot copy", in_path);
    }
    if (n == 0) {
      return true;  // the file ended early (it shrank)
    }
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

}  // namespace

Result<DataCopy> copy_file_data(int in, int out, ContentHasher* hasher, const std::filesystem::path& in_path,
                                const std::filesystem::path& out_path) {
  char* buffer = block_buffer();
  if (buffer == nullptr) {
    return runtime_error("out of memory for the copy buffer", in_path);
  }
  ::posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
  DataCopy result;
  std::uint64_t pos = 0;  // everything before pos is copied (and hashed)
  bool use_kernel = hasher == nullptr && out >= 0;
  bool ended = false;
  while (!ended) {
    if (stop_signal() != 0) {
      return interrupted();
    }
    off_t data = ::lseek(in, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) {
        break;  // no data after pos: the rest (if any) is a hole
      }
      if (errno != EINVAL && errno != EOPNOTSUPP) {
        return sys_error("cannot read", in_path);
      }
      data = static_cast<off_t>(pos);  // no hole support: all data
    }
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    std::uint64_t segment_end = hole < 0 ? UINT64_MAX : static_cast<std::uint64_t>(hole);
    hash_zeros(hasher, static_cast<std::uint64_t>(data) - pos);
    pos = static_cast<std::uint64_t>(data);
    if (use_kernel && segment_end != UINT64_MAX) {
      std::uint64_t before = pos;
      SNAPKEEP_TRY_ASSIGN(bool copied, kernel_copy(in, out, pos, segment_end, in_path, out_path));
      result.bytes_read += pos - before;
      if (copied) {
        if (pos < segment_end) {
          ended = true;
        }
        continue;
      }
      use_kernel = false;
    }
    while (pos < segment_end) {
      if (stop_signal() != 0) {
        return interrupted();
      }
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(segment_end - pos, k_block));
      ssize_t n = ::pread(in, buffer, want, static_cast<off_t>(pos));
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return sys_error("cannot read", in_path);
      }
      if (n == 0) {
        ended = true;  // end of file (a segment end past it, or the file shrank)
        break;
      }
      std::size_t got = static_cast<std::size_t>(n);
      if (hasher != nullptr) {
        hasher->update(buffer, got);
      }
      if (out >= 0) {
        SNAPKEEP_TRY(write_sparse(out, buffer, got, pos, out_path));
      }
      pos += got;
      result.bytes_read += got;
    }
  }
  // A hole at the end: the size says where the file ends. A file that grew since SEEK_DATA found no
  // data after pos is no hole, though: what it gained after this look is not part of the copy,
  // which stays a prefix of the file (zeros in its place would be data the file never held).
  struct stat st {};
  if (::fstat(in, &st) != 0) {
    return sys_error("cannot stat", in_path);
  }
  if (!ended && static_cast<std::uint64_t>(st.st_size) > pos) {
    errno = 0;
    const bool still_hole = ::lseek(in, static_cast<off_t>(pos), SEEK_DATA) < 0 && errno == ENXIO;
    if (still_hole) {
      hash_zeros(hasher, static_cast<std::uint64_t>(st.st_size) - pos);
      pos = static_cast<std::uint64_t>(st.st_size);
    }
  }
  if (out >= 0 && ::ftruncate(out, static_cast<off_t>(pos)) != 0) {
    return sys_error("cannot write", out_path);
  }
  result.size = pos;
  return result;
}

}  // namespace snapkeep
