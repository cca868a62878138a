#include "core/transfer/sparse.hpp"

#include <fcntl.h>
#include <fts.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "core/base/fd.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Owns an FTS walk (fts_close on every path).
struct CloseFts {
  void operator()(FTS* fts) const { ::fts_close(fts); }
};

// Zeros are read and checked in pieces of this size before they are punched.
constexpr std::size_t k_chunk = 1 << 20;

std::uint64_t round_up(std::uint64_t value, std::uint64_t block) {
  return (value + block - 1) / block * block;
}

std::uint64_t round_down(std::uint64_t value, std::uint64_t block) {
  return value / block * block;
}

// Holes of an open file as [start, end) ranges (SEEK_HOLE/SEEK_DATA); the implicit hole at EOF is
// not listed. A filesystem without hole reporting gives none.
Result<std::vector<std::pair<std::uint64_t, std::uint64_t>>> holes_of(int fd, std::uint64_t size,
                                                                      const fs::path& path) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  std::uint64_t pos = 0;
  while (pos < size) {
    off_t hole = ::lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
    if (hole < 0) {
      return errno == ENXIO ? Result<decltype(out)>(out) : Result<decltype(out)>(sys_error("cannot seek", path));
    }
    if (static_cast<std::uint64_t>(hole) >= size) {
      break;
    }
    off_t data = ::lseek(fd, hole, SEEK_DATA);
    std::uint64_t end = size;
    if (data >= 0) {
      end = std::min<std::uint64_t>(static_cast<std::uint64_t>(data), size);
    } else if (errno != ENXIO) {
      return sys_error("cannot seek", path);
    }
    out.emplace_back(static_cast<std::uint64_t>(hole), end);
    pos = end;
  }
  return out;
}

// Punches the all-zero blocks of [start, end) (block-aligned) of `fd`; adds what it freed to *freed.
Status punch_zero_blocks(int fd, std::uint64_t start, std::uint64_t end, std::uint64_t block, const fs::path& path,
                         std::uint64_t* freed) {
  std::vector<char> buffer(k_chunk);
  auto punch = [&](std::uint64_t from, std::uint64_t to) -> Status {
    if (to <= from) {
      return {};
    }
    if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                    static_cast<off_t>(to - from)) != 0) {
      return sys_error("cannot punch a hole into", path);
    }
    *freed += to - from;
    return {};
  };
  // Only where the file holds data: its own holes need nothing.
  std::uint64_t pos = start;
  while (pos < end) {
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) {
        return {};
      }
      return sys_error("cannot seek", path);
    }
    if (static_cast<std::uint64_t>(data) >= end) {
      return {};
    }
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) {
      return sys_error("cannot seek", path);
    }
    std::uint64_t from = round_down(static_cast<std::uint64_t>(data), block);
    std::uint64_t to = std::min<std::uint64_t>(round_up(static_cast<std::uint64_t>(hole), block), end);
    from = std::max(from, start);
    std::uint64_t run = from;  // start of the current run of zero blocks
    for (std::uint64_t at = from; at < to;) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(k_chunk, to - at));
      ssize_t got = ::pread(fd, buffer.data(), want, static_cast<off_t>(at));
      if (got < 0) {
        return sys_error("cannot read", path);
      }
      if (got == 0) {
        break;  // past EOF: the rest is implicitly zero
      }
      for (std::size_t b = 0; b < static_cast<std::size_t>(got); b += block) {
        std::size_t len = std::min<std::size_t>(block, static_cast<std::size_t>(got) - b);
        bool zero = std::all_of(buffer.data() + b, buffer.data() + b + len, [](char c) { return c == 0; });
        if (!zero) {
          SNAPKEEP_TRY(punch(run, at + b));
          run = at + b + block;
        }
      }
      at += static_cast<std::uint64_t>(got);
    }
    SNAPKEEP_TRY(punch(run, to));
    pos = to;
  }
  return {};
}

// Punches the holes of `source_file` into `target_file` (same size); true when it punched any.
Result<bool> punch_file(const fs::path& source_file, const struct stat& source_st, const fs::path& target_file,
                        std::uint64_t* freed) {
  Fd source(::open(source_file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!source) {
    return sys_error("cannot open", source_file);
  }
  Fd target(::open(target_file.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!target) {
    if (errno == ENOENT || errno == ELOOP) {
      return false;
    }
    return sys_error("cannot open", target_file);
  }
  struct stat target_st {};
  if (::fstat(target.get(), &target_st) != 0) {
    return sys_error("cannot stat", target_file);
  }
  if (!S_ISREG(target_st.st_mode) || target_st.st_size != source_st.st_size) {
    return false;
  }
  auto size = static_cast<std::uint64_t>(source_st.st_size);
  std::uint64_t block = target_st.st_blksize > 0 ? static_cast<std::uint64_t>(target_st.st_blksize) : 4096;
  SNAPKEEP_TRY_ASSIGN(auto holes, holes_of(source.get(), size, source_file));
  std::uint64_t before = *freed;
  for (const auto& [hole, data] : holes) {
    // Whole blocks only: a partial block is zeroed by rewriting it, which is what must not happen.
    std::uint64_t start = round_up(hole, block);
    std::uint64_t end = data == size ? round_up(size, block) : round_down(data, block);
    if (start < end) {
      SNAPKEEP_TRY(punch_zero_blocks(target.get(), start, end, block, target_file, freed));
    }
  }
  if (*freed == before) {
    return false;
  }
  // Punching counts as a write; the file's times are those the copy gave it.
  struct timespec times[2] = {target_st.st_atim, target_st.st_mtim};
  if (::futimens(target.get(), times) != 0) {
    return sys_error("cannot set the times of", target_file);
  }
  return true;
}

}  // namespace

Result<SparseStats> punch_holes_like(const fs::path& source, const fs::path& target) {
  SparseStats stats;
  std::string root = source.string();
  char* paths[] = {root.data(), nullptr};
  std::unique_ptr<FTS, CloseFts> walk(::fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, nullptr));
  if (!walk) {
    return sys_error("cannot walk", source);
  }
  for (;;) {
    errno = 0;
    FTSENT* entry = ::fts_read(walk.get());
    if (entry == nullptr) {
      if (errno != 0) {
        return sys_error("cannot walk", source);
      }
      break;
    }
    if (entry->fts_info == FTS_DNR || entry->fts_info == FTS_ERR) {
      return sys_error("cannot read", entry->fts_path, entry->fts_errno);
    }
    if (entry->fts_info != FTS_F) {
      continue;
    }
    const struct stat& st = *entry->fts_statp;
    // Fewer blocks allocated than the size needs: the file has holes.
    if (static_cast<std::uint64_t>(st.st_blocks) * 512 >= static_cast<std::uint64_t>(st.st_size)) {
      continue;
    }
    fs::path rel = fs::path(entry->fts_path).lexically_relative(source);
    SNAPKEEP_TRY_ASSIGN(bool punched, punch_file(entry->fts_path, st, target / rel, &stats.bytes_punched));
    stats.files += punched ? 1 : 0;
  }
  return stats;
}

}  // namespace snapkeep
