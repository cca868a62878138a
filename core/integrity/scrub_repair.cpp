#include "core/integrity/scrub_repair.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"
#include "core/integrity/hashing.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

Status write_all(int fd, const char* data, std::size_t size, off_t offset, const fs::path& path) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd, data + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot write", path);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

// Copies `from` (open) into `to` (open, empty) while hashing; returns the digest of what was copied.
Result<std::string> copy_hashing(int from, const fs::path& from_path, int to, const fs::path& to_path,
                                 ChecksumKind kind, bool from_disk, std::uint64_t& bytes) {
  std::vector<char> buffer(k_hash_block);
  Hasher hasher(kind);
  if (from_disk) {
    ::posix_fadvise(from, 0, 0, POSIX_FADV_DONTNEED);
  }
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::read(from, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot read", from_path);
    }
    if (n == 0) {
      break;
    }
    hasher.update(buffer.data(), static_cast<std::size_t>(n));
    SNAPKEEP_TRY(write_all(to, buffer.data(), static_cast<std::size_t>(n), offset, to_path));
    offset += n;
    bytes += static_cast<std::uint64_t>(n);
  }
  return hasher.hex_digest();
}

// Hashes an open file from the disk (after dropping its cached pages).
Result<std::string> hash_open(int fd, const fs::path& path, ChecksumKind kind, std::uint64_t& bytes) {
  if (::lseek(fd, 0, SEEK_SET) != 0) {
    return sys_error("cannot seek", path);
  }
  std::vector<Hasher> hashers;
  hashers.emplace_back(kind);
  HashReadOptions options;
  options.from_disk = true;
  auto read = hash_fd(fd, hashers, options, path);
  if (!read) {
    return std::move(read).error();
  }
  bytes += *read;
  return hashers.front().hex_digest();
}

// A staged, verified copy of the good data in work_dir; deleted at destruction.
struct Staged {
  Staged() = default;
  Staged(const Staged&) = delete;
  Staged& operator=(const Staged&) = delete;
  ~Staged() {
    if (!path.empty()) {
      ::unlink(path.c_str());
    }
  }
  fs::path path;
  Fd fd;
};

// Copies `candidate` into a new staged file and verifies it twice: while copying, and read back
// from the disk after fsync. Returns an empty string on success, else why the candidate was refused.
std::string stage(const RepairTarget& target, const fs::path& candidate, bool from_disk, Staged& staged,
                  std::uint64_t& bytes) {
  auto in = open_for_reading(candidate);
  if (!in) {
    return in.error().describe();
  }
  if (auto made = make_dir(target.work_dir, 0700); !made) {
    return made.error().describe();
  }
  std::string pattern = (target.work_dir / "repair-XXXXXX").string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  staged.fd.reset(::mkostemp(name.data(), O_CLOEXEC));
  if (!staged.fd) {
    return sys_error("cannot create a staging file", pattern).describe();
  }
  staged.path = name.data();
  int fd = staged.fd.get();
  auto copied = copy_hashing(in->get(), candidate, fd, staged.path, target.kind, from_disk, bytes);
  if (!copied) {
    return copied.error().describe();
  }
  if (*copied != target.expected_hash) {
    return "its data does not match the manifest (hash " + *copied + ")";
  }
  if (::fsync(fd) != 0) {
    return sys_error("cannot sync", staged.path).describe();
  }
  auto again = hash_open(fd, staged.path, target.kind, bytes);
  if (!again) {
    return again.error().describe();
  }
  if (*again != target.expected_hash) {
    return "the staged copy did not read back intact";
  }
  return {};
}

// Rewrites the inode at `path` with the staged data, keeps mode/owner/xattrs, sets the manifest's
// mtime, and verifies it from the disk.
Status rewrite_inode(const RepairTarget& target, const Staged& staged, const fs::path& path, std::uint64_t& bytes) {
  Fd fd(::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot open for repair", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return runtime_error("not a regular file any more", path);
  }
  std::vector<char> buffer(k_hash_block);
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(staged.fd.get(), buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot read", staged.path);
    }
    if (n == 0) {
      break;
    }
    SNAPKEEP_TRY(write_all(fd.get(), buffer.data(), static_cast<std::size_t>(n), offset, path));
    offset += n;
  }
  if (::ftruncate(fd.get(), offset) != 0) {
    return sys_error("cannot set the size", path);
  }
  if (::fsync(fd.get()) != 0) {
    return sys_error("cannot sync", path);
  }
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = static_cast<time_t>(target.mtime_ns / 1000000000LL);
  times[1].tv_nsec = static_cast<long>(target.mtime_ns % 1000000000LL);
  if (times[1].tv_nsec < 0) {
    times[1].tv_nsec += 1000000000L;
    times[1].tv_sec -= 1;
  }
  if (::futimens(fd.get(), times) != 0) {
    return sys_error("cannot set the mtime back", path);
  }
  auto check = hash_open(fd.get(), path, target.kind, bytes);
  if (!check) {
    return std::move(check).error();
  }
  if (*check != target.expected_hash) {
    return runtime_error("the rewritten file still does not match its manifest (hash " + *check + ")", path);
  }
  return {};
}

// One path per distinct regular-file inode among `paths`: rewriting it repairs every hard link.
std::vector<fs::path> distinct_inodes(const std::vector<fs::path>& paths) {
  std::vector<fs::path> inodes;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (const auto& path : paths) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && seen.insert({st.st_dev, st.st_ino}).second) {
      inodes.push_back(path);
    }
  }
  return inodes;
}

// Whether any of `paths` is on a read-only filesystem (a btrfs snapshot).
bool any_read_only(const std::vector<fs::path>& paths) {
  bool read_only = false;
  for (const auto& path : paths) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    read_only = read_only || (!fd && errno == EROFS);
  }
  return read_only;
}

// Tries the candidates of a target (sources first) until one is a verified good copy: staged, or
// only hashed when nothing can be written (`read_only`). Null when none is; result.note then says
// why, candidate by candidate.
std::unique_ptr<Staged> find_good_copy(const RepairTarget& target, bool read_only, RepairResult& result) {
  std::vector<std::string> refusals;
  auto try_candidate = [&](const fs::path& candidate, bool is_source) -> std::unique_ptr<Staged> {
    struct stat st {};
    if (::lstat(candidate.c_str(), &st) != 0) {
      refusals.push_back(candidate.string() + ": " + std::strerror(errno));
      return nullptr;
    }
    if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != target.size ||
        (is_source && timespec_ns(st.st_mtim) != target.mtime_ns)) {
      refusals.push_back(candidate.string() + ": changed since the backup (size or mtime differ)");
      return nullptr;
    }
    if (read_only) {
      auto digest = hash_file(candidate, target.kind, HashReadOptions{!is_source, {}}, nullptr);
      if (!digest || *digest != target.expected_hash) {
        refusals.push_back(candidate.string() + ": " +
                           (digest ? "its data does not match the manifest" : digest.error().describe()));
        return nullptr;
      }
      result.bytes_read += target.size;
      return std::make_unique<Staged>();
    }
    auto staged = std::make_unique<Staged>();
    std::string why = stage(target, candidate, !is_source, *staged, result.bytes_read);
    if (!why.empty()) {
      refusals.push_back(candidate.string() + ": " + why);
      return nullptr;
    }
    return staged;
  };
  for (const auto& candidate : target.source_candidates) {
    if (auto staged = try_candidate(candidate, true)) {
      result.from = candidate.string();
      return staged;
    }
  }
  for (const auto& candidate : target.copy_candidates) {
    if (auto staged = try_candidate(candidate, false)) {
      result.from = candidate.string();
      return staged;
    }
  }
  result.note = "no good copy: ";
  if (refusals.empty()) {
    result.note += "no source file or other copy with this content";
  }
  for (std::size_t i = 0; i < refusals.size(); ++i) {
    result.note += (i > 0 ? "; " : "") + refusals[i];
  }
  return nullptr;
}

}  // namespace

RepairResult repair_content(const RepairTarget& target) {
  RepairResult result;
  std::vector<fs::path> inodes = distinct_inodes(target.paths);
  if (inodes.empty()) {
    result.note = "no file left to repair";
    return result;
  }
  // A read-only snapshot (btrfs) cannot be rewritten: find a good copy, write nothing.
  bool read_only = any_read_only(inodes);
  std::unique_ptr<Staged> staged = find_good_copy(target, read_only, result);
  if (!staged) {
    return result;
  }
  result.good_copy = true;
  if (read_only) {
    result.note = "would rewrite from " + result.from +
                  " (verified), but the snapshot is read-only (btrfs); "
                  "see docs/scrub.md";
    return result;
  }
  for (const auto& path : inodes) {
    if (auto rewritten = rewrite_inode(target, *staged, path, result.bytes_read); !rewritten) {
      result.note = rewritten.error().describe();
      return result;
    }
    spdlog::info("repaired {} from {}", path.string(), result.from);
  }
  result.repaired = true;
  return result;
}

namespace {

// Copies every extended attribute of `from` (a path, not followed) to the open file `to`.
Status copy_xattrs(const fs::path& from, int to, const fs::path& to_path) {
  ssize_t size = ::llistxattr(from.c_str(), nullptr, 0);
  if (size < 0) {
    return errno == ENOTSUP ? Status{} : sys_error("cannot list the xattrs of", from);
  }
  std::vector<char> names(static_cast<std::size_t>(size));
  size = ::llistxattr(from.c_str(), names.data(), names.size());
  if (size < 0) {
    return sys_error("cannot list the xattrs of", from);
  }
  for (const char* name = names.data(); name < names.data() + size; name += std::strlen(name) + 1) {
    ssize_t length = ::lgetxattr(from.c_str(), name, nullptr, 0);
    if (length < 0) {
      return sys_error(std::string("cannot read the xattr ") + name + " of", from);
    }
    std::vector<char> value(static_cast<std::size_t>(length));
    length = ::lgetxattr(from.c_str(), name, value.data(), value.size());
    if (length < 0) {
      return sys_error(std::string("cannot read the xattr ") + name + " of", from);
    }
    if (::fsetxattr(to, name, value.data(), static_cast<std::size_t>(length), 0) != 0) {
      return sys_error(std::string("cannot set the xattr ") + name + " on", to_path);
    }
  }
  return {};
}

// Owner, mode and xattrs of `source` on the restored file (the mode last: chown clears set-id bits).
Status copy_metadata(const fs::path& source, const fs::path& path) {
  struct stat st {};
  if (::lstat(source.c_str(), &st) != 0) {
    return sys_error("cannot stat", source);
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot open", path);
  }
  SNAPKEEP_TRY(copy_xattrs(source, fd.get(), path));
  if (::fchown(fd.get(), st.st_uid, st.st_gid) != 0) {
    return sys_error("cannot set the owner of", path);
  }
  if (::fchmod(fd.get(), st.st_mode & 07777) != 0) {
    return sys_error("cannot set the mode of", path);
  }
  return {};
}

}  // namespace

RepairResult restore_missing(const RepairTarget& target, const fs::path& path) {
  RepairResult result;
  std::unique_ptr<Staged> staged = find_good_copy(target, false, result);
  if (!staged) {
    return result;
  }
  result.good_copy = true;
  {
    Fd made(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!made) {
      result.note = sys_error("cannot create", path).describe();
      return result;
    }
  }
  Status restored = rewrite_inode(target, *staged, path, result.bytes_read);
  if (restored) {
    restored = copy_metadata(result.from, path);
  }
  if (!restored) {
    ::unlink(path.c_str());
    result.note = restored.error().describe();
    return result;
  }
  spdlog::info("restored the missing {} from {}", path.string(), result.from);
  result.repaired = true;
  return result;
}

}  // namespace snapkeep
