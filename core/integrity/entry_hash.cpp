#include "core/integrity/entry_hash.hpp"

#include <unistd.h>

#include <string>

#include "core/base/fsutil.hpp"

namespace snapkeep {

ManifestEntry entry_from_stat(std::string_view path, const struct stat& st) {
  ManifestEntry record;
  record.path.assign(path);
  record.type = entry_type_of(st.st_mode);
  record.size = static_cast<std::uint64_t>(st.st_size);
  record.mtime_ns = timespec_ns(st.st_mtim);
  record.ctime_ns = timespec_ns(st.st_ctim);
  record.ino = st.st_ino;
  return record;
}

Status hash_entry(const std::filesystem::path& full, std::vector<Hasher>& hashers, ManifestEntry& record,
                  std::uint64_t& bytes_read) {
  record.hash.clear();
  if (hashers.empty()) {
    return {};
  }
  if (record.type == EntryType::symlink) {
    std::string target(record.size + 1, '\0');
    ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
    if (n < 0) {
      return sys_error("cannot read symlink", full);
    }
    target.resize(static_cast<std::size_t>(n));
    record.hash = hash_bytes(hashers.front().kind(), target);
    return {};
  }
  if (record.type != EntryType::file) {
    return {};
  }
  SNAPKEEP_TRY_ASSIGN(Fd fd, open_for_reading(full));
  struct stat now {};
  if (::fstat(fd.get(), &now) != 0) {
    return sys_error("cannot stat", full);
  }
  SNAPKEEP_TRY_ASSIGN(std::uint64_t read, hash_fd(fd.get(), hashers, {}, full));
  record.hash = hashers.front().hex_digest();
  record.size = read;
  record.mtime_ns = timespec_ns(now.st_mtim);
  record.ctime_ns = timespec_ns(now.st_ctim);
  bytes_read += read;
  return {};
}

}  // namespace snapkeep
